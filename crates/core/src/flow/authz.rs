//! The authorization filter's flow: refuse paths not in normal form and method overrides
//! (headers, query, body: `flow::overrides`), answer the permissions endpoint, find the
//! route's requirement (none: 403), and match it against the caller's grants (scopes, role
//! and group expansions). The field filters go on to the redaction filter.

use super::overrides::{self, BodyStep, PendingBody};
use super::route::{route_entry, Memo};
use super::{deny, Action, Filter, Host, LogContext};
use crate::claims::ClaimPath;
use crate::decision::Denial;
use crate::fields::FieldFilter;
use crate::identity::{Identity, AUTHZ_PROPERTY, IDENTITY_PROPERTY, TENANT_PROPERTY};
use crate::path::check_path;
use crate::policy::{CallerGrants, RoleTable};
use crate::route::{MethodRequirement, Requirement, RouteEntry, RouteRequirement};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The authorization filter's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthzConfig {
    /// Role and group tables (rendered from `policies/`).
    #[serde(default)]
    pub policies: Option<RoleTable>,
    /// Claim with the token's own scopes/policies (array or space-separated string).
    #[serde(default = "default_scopes")]
    pub scopes_claim: ClaimPath,
    /// Claim with the caller's roles.
    #[serde(default = "default_roles")]
    pub roles_claim: ClaimPath,
    /// Claim with the caller's groups.
    #[serde(default = "default_groups")]
    pub groups_claim: ClaimPath,
    /// Path answered by the filter with the caller's effective grants (GET only).
    #[serde(default)]
    pub permissions_path: Option<String>,
    /// Largest request body read for a method override (forms, multipart, JSON on
    /// methods other than GET, HEAD, OPTIONS); larger: 413.
    #[serde(default = "default_request_limit")]
    pub max_request_body_bytes: usize,
    /// Route table keyed by route name.
    #[serde(default)]
    pub routes: HashMap<String, RouteEntry>,
}

fn default_scopes() -> ClaimPath {
    ClaimPath::dotted("scopes")
}
fn default_roles() -> ClaimPath {
    ClaimPath::dotted("roles")
}
fn default_groups() -> ClaimPath {
    ClaimPath::dotted("groups")
}
fn default_request_limit() -> usize {
    1024 * 1024
}

/// What the response may show, handed to the redaction filter: every filter in `route`
/// applies; within each group of `grants`, a field is hidden only if every filter of the
/// group hides it (the most permissive matching grant wins); groups all apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// The route requirement's own filters.
    pub route: Vec<FieldFilter>,
    /// One group per matched permission of the requirement.
    pub grants: Vec<Vec<FieldFilter>>,
}

impl Visibility {
    /// True when nothing is hidden.
    pub fn is_unrestricted(&self) -> bool {
        self.route.is_empty() && self.grants.iter().all(Vec::is_empty)
    }
}

/// The compiled authorization filter.
pub struct AuthzFilter {
    config: AuthzConfig,
    empty_roles: RoleTable,
    requirements: Memo<RouteRequirement>,
}

impl AuthzFilter {
    /// Parses and validates a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let config: AuthzConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid configuration: {e}"))?;
        for (name, entry) in &config.routes {
            if let Some(text) = &entry.requirement {
                RouteRequirement::parse(text)
                    .map_err(|e| format!("routes.{name}.requirement: {e}"))?;
            }
        }
        if let Some(path) = &config.permissions_path {
            if !path.starts_with('/') {
                return Err(format!("permissions_path `{path}`: must start with /"));
            }
        }
        let empty_roles =
            RoleTable::from_value(&serde_json::json!({})).map_err(|e| e.to_string())?;
        Ok(AuthzFilter {
            config,
            empty_roles,
            requirements: Memo::new(1024),
        })
    }

    fn roles(&self) -> &RoleTable {
        self.config.policies.as_ref().unwrap_or(&self.empty_roles)
    }

    fn caller<'a>(&'a self, identity: &'a Identity) -> CallerGrants<'a> {
        let roles = self.config.roles_claim.strings(&identity.claims);
        let groups = self.config.groups_claim.strings(&identity.claims);
        let direct = self.config.scopes_claim.strings(&identity.claims);
        CallerGrants::new(self.roles(), &roles, &groups, &direct)
    }

    fn permissions(
        &self,
        host: &mut dyn Host,
        identity: &Identity,
        tenant: Option<&str>,
    ) -> Result<(), Denial> {
        let caller = self.caller(identity);
        let body = serde_json::json!({
            "subject": identity.subject,
            "tenant": tenant,
            "grants": caller.list(),
        });
        host.send_response(
            200,
            &[
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body.to_string().as_bytes(),
        )
        .map_err(|e| Denial::internal("host_error", e.to_string()))
    }

    /// `Ok(Some(v))`: allowed with visibility `v`; `Ok(None)`: answered locally.
    fn decide(
        &self,
        host: &mut dyn Host,
        log: &mut LogContext,
    ) -> Result<Option<Visibility>, Denial> {
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        let raw_path = host
            .request_header(":path")
            .map_err(host_err)?
            .unwrap_or_default();
        let path =
            check_path(&raw_path).map_err(|e| Denial::bad_request(e.code(), e.to_string()))?;
        let identity = match host.property(IDENTITY_PROPERTY).map_err(host_err)? {
            Some(bytes) => Some(
                Identity::from_bytes(&bytes)
                    .ok_or_else(|| Denial::internal("identity_unreadable", "identity property"))?,
            ),
            None => None,
        };
        log.subject = identity.as_ref().and_then(|i| i.subject.clone());
        // The tenant is informational here (decision log, permissions answer): the
        // tenant filter has already decided on it.
        log.tenant = host
            .property(TENANT_PROPERTY)
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok());
        let method = host
            .request_header(":method")
            .map_err(host_err)?
            .unwrap_or_default();
        overrides::check_headers_and_query(host, &method, path.query)?;
        if self.config.permissions_path.as_deref() == Some(path.path)
            && (method == "GET" || method == "HEAD")
        {
            let identity =
                identity.ok_or_else(|| Denial::unauthorized("token_missing", "no bearer token"))?;
            self.permissions(host, &identity, log.tenant.as_deref())?;
            return Ok(None);
        }
        let entry = route_entry(host, &self.config.routes).map_err(host_err)?;
        let shadow = entry.as_ref().is_some_and(|e| e.shadow);
        let text = entry
            .and_then(|e| e.requirement)
            .ok_or_else(|| Denial::forbidden("no_requirement", "route declares no requirement"))?;
        let requirement = self
            .requirements
            .get_or_compile(&text, RouteRequirement::parse)
            .map_err(|e| Denial::internal("route_requirement_invalid", e.to_string()))?;
        let applies = match requirement.for_method(&method) {
            MethodRequirement::MethodNotAllowed => None,
            MethodRequirement::Applies(r) => Some(r),
        };
        let decision = match applies {
            None => Err(Denial::forbidden(
                "method_not_allowed",
                format!("{method} not served"),
            )),
            Some(r) => self.evaluate(r, identity.as_ref()),
        };
        match decision {
            Ok(v) => Ok(Some(v)),
            Err(denial) if shadow && denial.status == 403 => {
                host.count(&format!("portcullis_shadow_403_{}", denial.code));
                let line = serde_json::json!({
                    "decision": "shadow_deny",
                    "filter": self.name(),
                    "status": denial.status,
                    "reason": denial.code,
                    "detail": denial.detail,
                    "request_id": log.request_id,
                    "route": log.route,
                    "tenant": log.tenant,
                    "subject": log.subject,
                });
                host.log_info(&line.to_string());
                // Shadow lets the request through, but the route's own field filters
                // always apply (docs/policy-language.md): no grant matched, so no grant
                // filter can loosen them.
                let mut visibility = Visibility::default();
                if let Some(r) = applies {
                    route_filters(r, &mut visibility.route);
                }
                Ok(Some(visibility))
            }
            Err(denial) => Err(denial),
        }
    }

    fn evaluate(
        &self,
        requirement: &Requirement,
        identity: Option<&Identity>,
    ) -> Result<Visibility, Denial> {
        match requirement {
            Requirement::Public | Requirement::Optional => Ok(Visibility::default()),
            _ => {
                let identity = identity
                    .ok_or_else(|| Denial::unauthorized("token_missing", "no bearer token"))?;
                let caller = self.caller(identity);
                let mut visibility = Visibility::default();
                if satisfy(requirement, &caller, &mut visibility) {
                    Ok(visibility)
                } else {
                    Err(Denial::forbidden(
                        "no_matching_grant",
                        format!("missing {}", describe(requirement)),
                    ))
                }
            }
        }
    }
}

/// True when `requirement` holds for `caller`; collects the filters of what matched.
fn satisfy(
    requirement: &Requirement,
    caller: &CallerGrants<'_>,
    visibility: &mut Visibility,
) -> bool {
    match requirement {
        Requirement::Public | Requirement::Optional | Requirement::Authenticated => true,
        Requirement::Permission(p) => match caller.check(p) {
            Some(m) => {
                visibility.route.extend(p.filter().cloned());
                visibility.grants.push(m.filters);
                true
            }
            None => false,
        },
        // A branch that fails part-way must leave no filters behind: only the branch
        // that satisfied the requirement decides what the response shows.
        Requirement::AnyOf(terms) => terms.iter().any(|t| {
            let mut branch = Visibility::default();
            let satisfied = satisfy(t, caller, &mut branch);
            if satisfied {
                visibility.route.extend(branch.route);
                visibility.grants.extend(branch.grants);
            }
            satisfied
        }),
        Requirement::AllOf(terms) => terms.iter().all(|t| satisfy(t, caller, visibility)),
    }
}

/// Every field filter a requirement itself carries (the route's own filters).
fn route_filters(requirement: &Requirement, out: &mut Vec<FieldFilter>) {
    match requirement {
        Requirement::Permission(p) => out.extend(p.filter().cloned()),
        Requirement::AnyOf(terms) | Requirement::AllOf(terms) => {
            terms.iter().for_each(|t| route_filters(t, out));
        }
        Requirement::Public | Requirement::Optional | Requirement::Authenticated => {}
    }
}

fn describe(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Public => "public".into(),
        Requirement::Optional => "optional".into(),
        Requirement::Authenticated => "authenticated".into(),
        Requirement::Permission(p) => p.to_string(),
        Requirement::AnyOf(t) => format!(
            "any({})",
            t.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Requirement::AllOf(t) => format!(
            "all({})",
            t.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Per-request state: the body still to check for a method override.
#[derive(Default)]
pub struct AuthzStream {
    pending: Option<PendingBody>,
    refused: bool,
    log: LogContext,
}

impl AuthzFilter {
    /// The request-header decision; an allowed request whose body may carry a method
    /// override goes on with the body still to check (see [`overrides::plan_body`]).
    fn request(
        &self,
        stream: &mut AuthzStream,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Result<Action, Denial> {
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        let Some(visibility) = self.decide(host, &mut stream.log)? else {
            return Ok(Action::Pause);
        };
        let method = host
            .request_header(":method")
            .map_err(host_err)?
            .unwrap_or_default();
        stream.pending =
            overrides::plan_body(host, &method, end_of_stream, stream.log.route.as_deref())?;
        let bytes = serde_json::to_vec(&visibility).unwrap_or_default();
        host.set_property(AUTHZ_PROPERTY, &bytes)
            .map_err(host_err)?;
        host.count("portcullis_allowed");
        Ok(Action::Continue)
    }
}

impl Filter for AuthzFilter {
    type Stream = AuthzStream;

    fn name(&self) -> &'static str {
        "portcullis_authz"
    }

    fn on_request_headers(
        &self,
        stream: &mut AuthzStream,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Action {
        stream.log = LogContext::from_host(host);
        match self.request(stream, host, end_of_stream) {
            Ok(action) => action,
            Err(denial) => deny(host, self.name(), &denial, &stream.log),
        }
    }

    /// Holds the body (Envoy buffers it while this returns `Pause`) until it is whole,
    /// then checks it; the request hold after the filters keeps the headers from the
    /// router meanwhile. Not called on Kong for a request without a body: nothing to check.
    fn on_request_body(
        &self,
        stream: &mut AuthzStream,
        host: &mut dyn Host,
        size: usize,
        end_of_stream: bool,
    ) -> Action {
        if stream.refused {
            return Action::Pause;
        }
        let Some(pending) = &stream.pending else {
            return Action::Continue;
        };
        let limit = self.config.max_request_body_bytes;
        match overrides::check_body(pending, host, size, end_of_stream, limit) {
            Ok(BodyStep::Wait) => Action::Pause,
            Ok(BodyStep::Checked) => {
                stream.pending = None;
                Action::Continue
            }
            Err(denial) => {
                stream.refused = true;
                deny(host, self.name(), &denial, &stream.log)
            }
        }
    }
}
