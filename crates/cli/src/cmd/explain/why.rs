//! Why each filter decided as it did: the same core functions the filters call, asked one
//! at a time on the request in the in-memory host, so each step can be named.

use portcullis_core::accounts::{AccountLocation, AccountTree};
use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::flow::accounts::AccountsConfig;
use portcullis_core::flow::authz::{AuthzConfig, Visibility};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::route::route_entry;
use portcullis_core::flow::Host;
use portcullis_core::identity::{Identity, AUTHZ_PROPERTY, IDENTITY_PROPERTY};
use portcullis_core::path::check_path;
use portcullis_core::policy::{CallerGrants, Permission, RoleTable};
use portcullis_core::route::{MethodRequirement, Requirement, RouteEntry, RouteRequirement};
use portcullis_core::tenant::{host_header_name, normalize_host, TenantConfig, TenantTable};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn identity(host: &MockHost) -> Option<Identity> {
    host.property(IDENTITY_PROPERTY)
        .ok()
        .flatten()
        .and_then(|b| Identity::from_bytes(&b))
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The route's settings as filter `config` sees them: its own route table, then metadata.
pub fn entry(host: &MockHost, config: &Value) -> Option<RouteEntry> {
    let table: HashMap<String, RouteEntry> = config
        .get("routes")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default();
    route_entry(host, &table).ok().flatten()
}

/// The JWT stage, after it ran: what the route needs and what was verified.
pub fn jwt(host: &MockHost, config: &Value, method: &str) -> Vec<String> {
    let mut out = Vec::new();
    let requirement = entry(host, config).and_then(|e| e.requirement);
    let mode = requirement
        .as_deref()
        .and_then(|t| RouteRequirement::parse(t).ok())
        .map(|r| match r.for_method(method) {
            MethodRequirement::Applies(Requirement::Public) => "public route: no token is read",
            MethodRequirement::Applies(Requirement::Optional) => {
                "optional token: validated if sent"
            }
            MethodRequirement::Applies(_) => "the route needs a valid token",
            MethodRequirement::MethodNotAllowed => {
                "method not served by the route: a token is validated if sent"
            }
        });
    out.push(
        mode.unwrap_or("no requirement: a token is validated if sent")
            .to_string(),
    );
    if let Some(id) = identity(host) {
        out.push(format!(
            "token verified by provider `{}` (issuer {}), subject {}",
            id.provider,
            id.issuer,
            id.subject.as_deref().unwrap_or("(none)")
        ));
        for (name, value) in host
            .request_headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-portcullis-"))
        {
            out.push(format!("forwards {name}: {value}"));
        }
    }
    out
}

/// The tenant stage: host normal form, the tenant and pattern, the token's binding.
pub fn tenant(host: &MockHost, config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(table) = serde_json::from_value::<TenantConfig>(config.clone())
        .ok()
        .and_then(|c| TenantTable::compile(&c).ok())
    else {
        return out;
    };
    let header = host_header_name(host.kind);
    let raw = host.upstream_header(header).unwrap_or_default().to_string();
    let normal = match normalize_host(&raw) {
        Ok(normal) => normal,
        Err(e) => return vec![format!("{header} `{raw}`: {e}")],
    };
    let Some(tenant) = table.resolve(&normal) else {
        out.push(format!(
            "host `{normal}` (from {header} `{raw}`): no tenant serves it"
        ));
        return out;
    };
    let pattern = tenant
        .domains
        .iter()
        .find(|d| **d == normal)
        .or_else(|| {
            tenant
                .domains
                .iter()
                .find(|d| d.strip_prefix('*').is_some_and(|s| normal.ends_with(s)))
        })
        .cloned()
        .unwrap_or_default();
    out.push(format!(
        "host `{normal}` is tenant `{}` (domain {pattern})",
        tenant.id
    ));
    match identity(host) {
        None => out.push("no verified token: nothing to bind".into()),
        Some(id) => {
            let trusted = if tenant.accepts_issuer(&id.issuer) {
                "is"
            } else {
                "is not"
            };
            out.push(format!(
                "issuer {} {trusted} valid for tenant `{}`",
                id.issuer, tenant.id
            ));
            match table.token_tenant(&id.issuer, &id.claims) {
                Ok(token_tenant) => {
                    let how = match table
                        .tenant_claim()
                        .filter(|c| c.lookup(&id.claims).is_some())
                    {
                        Some(claim) => format!("claim `{claim}`"),
                        None => "derived from the issuer".into(),
                    };
                    out.push(format!("token tenant `{token_tenant}` ({how})"));
                }
                Err(e) => out.push(e.to_string()),
            }
        }
    }
    out
}

/// The authorization stage: the method's requirement and, per permission, the grants of
/// the caller that match it and where they come from.
pub fn authz(host: &MockHost, config: &Value, method: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(parsed) = serde_json::from_value::<AuthzConfig>(config.clone()) else {
        return out;
    };
    let raw_path = host.upstream_header(":path").unwrap_or_default();
    if let Err(e) = check_path(raw_path) {
        out.push(format!("path not in normal form: {e}"));
        return out;
    }
    if parsed
        .permissions_path
        .as_deref()
        .is_some_and(|p| raw_path.split('?').next() == Some(p))
    {
        out.push("permissions endpoint: answered by the filter with the caller's grants".into());
        return out;
    }
    let Some(text) = entry(host, config).and_then(|e| e.requirement) else {
        out.push("the route declares no requirement: refused".into());
        return out;
    };
    let Ok(requirement) = RouteRequirement::parse(&text) else {
        out.push(format!("requirement `{text}` does not parse"));
        return out;
    };
    let MethodRequirement::Applies(applies) = requirement.for_method(method) else {
        out.push(format!("requirement `{text}`: {method} is not served"));
        return out;
    };
    out.push(format!(
        "requirement `{text}`: {method} needs {}",
        describe(applies)
    ));
    let Some(id) = identity(host) else {
        return out;
    };
    let empty = RoleTable::default();
    let table = parsed.policies.as_ref().unwrap_or(&empty);
    let roles = parsed.roles_claim.strings(&id.claims);
    let groups = parsed.groups_claim.strings(&id.claims);
    let direct = parsed.scopes_claim.strings(&id.claims);
    let caller = CallerGrants::new(table, &roles, &groups, &direct);
    out.push(format!(
        "caller: roles {} (claim {}); groups {} (claim {}); token grants {} (claim {})",
        list(&roles),
        parsed.roles_claim,
        list(&groups),
        parsed.groups_claim,
        list(&direct),
        parsed.scopes_claim
    ));
    let mut leaves = Vec::new();
    permissions(applies, &mut leaves);
    for permission in leaves {
        match caller.check(permission) {
            None => out.push(format!("`{permission}`: not granted")),
            Some(found) => {
                let granted: Vec<String> = found
                    .grants
                    .iter()
                    .map(|g| format!("`{g}` ({})", origin(g, table, &roles, &groups)))
                    .collect();
                out.push(format!("`{permission}`: granted by {}", granted.join(", ")));
            }
        }
    }
    out
}

fn describe(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Public => "nothing (public)".into(),
        Requirement::Optional => "nothing (optional token)".into(),
        Requirement::Authenticated => "any valid token".into(),
        Requirement::Permission(p) => format!("`{p}`"),
        Requirement::AnyOf(t) => format!(
            "any of ({})",
            t.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Requirement::AllOf(t) => format!(
            "all of ({})",
            t.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn permissions<'a>(requirement: &'a Requirement, out: &mut Vec<&'a Permission>) {
    match requirement {
        Requirement::Permission(p) => out.push(p),
        Requirement::AnyOf(t) | Requirement::AllOf(t) => t.iter().for_each(|r| permissions(r, out)),
        _ => {}
    }
}

fn origin(grant: &str, table: &RoleTable, roles: &[&str], groups: &[&str]) -> String {
    let has = |set: Option<&portcullis_core::policy::GrantSet>| {
        set.is_some_and(|s| s.texts().any(|t| t == grant))
    };
    let mut from: Vec<String> = roles
        .iter()
        .filter(|r| has(table.role(r)))
        .map(|r| format!("role {r}"))
        .collect();
    from.extend(
        groups
            .iter()
            .filter(|g| has(table.group(g)))
            .map(|g| format!("group {g}")),
    );
    if from.is_empty() {
        from.push("token".into());
    }
    from.join(", ")
}

/// The fields the response loses, from the authorization filter's decision: every route
/// filter, and for each matched permission what every matching grant hides. Returns the
/// lines to print and the hidden paths.
pub fn redact(host: &MockHost) -> (Vec<String>, Vec<String>) {
    let visibility: Visibility = match host.property(AUTHZ_PROPERTY).ok().flatten() {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => {
            return (
                vec!["no authorization decision: nothing planned".into()],
                Vec::new(),
            )
        }
    };
    if visibility.is_unrestricted() {
        return (
            vec!["nothing hidden: every field is shown".into()],
            Vec::new(),
        );
    }
    let mut lines = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    let mut add = |paths: Vec<String>| {
        paths.into_iter().for_each(|p| {
            if !hidden.contains(&p) {
                hidden.push(p)
            }
        })
    };
    for filter in &visibility.route {
        lines.push(format!("route filter {}", show(filter)));
        if filter.mode == FilterMode::Remove {
            add(filter.paths.clone());
        }
    }
    for group in visibility.grants.iter().filter(|g| !g.is_empty()) {
        let shown: Vec<String> = group.iter().map(show).collect();
        lines.push(format!(
            "grant filter {} (a field is hidden when every one hides it)",
            shown.join(" and ")
        ));
        if group.iter().all(|f| f.mode == FilterMode::Remove) {
            let mut common: Vec<String> =
                group.first().map(|f| f.paths.clone()).unwrap_or_default();
            common.retain(|p| group.iter().all(|f| f.paths.contains(p)));
            add(common);
        }
    }
    if !hidden.is_empty() {
        lines.push(format!("hides {}", hidden.join(", ")));
    }
    if host.upstream_header("accept-encoding") == Some("identity") {
        lines.push("asks the backend for identity encoding and buffers the JSON response".into());
    }
    (lines, hidden)
}

fn show(filter: &FieldFilter) -> String {
    match filter.mode {
        FilterMode::Remove => format!("removes {{{}}}", filter.paths.join(",")),
        FilterMode::Keep => format!("keeps only {{{}}}", filter.paths.join(",")),
    }
}

/// The account stage: where the id is, which it is, and whether the caller may access it.
pub fn accounts(host: &MockHost, config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(parsed) = serde_json::from_value::<AccountsConfig>(config.clone()) else {
        return out;
    };
    let Some(route) =
        entry(host, config).filter(|e| e.account.is_some() || e.response_accounts.is_some())
    else {
        return vec!["the route declares no account settings: nothing checked".into()];
    };
    let id = identity(host);
    let caller: Vec<&str> = id
        .as_ref()
        .map(|id| parsed.accounts_claim.strings(&id.claims))
        .unwrap_or_default();
    let descendants = if parsed.include_descendants {
        " and their descendants"
    } else {
        ""
    };
    out.push(format!(
        "caller's accounts (claim {}): {}{descendants}",
        parsed.accounts_claim,
        list(&caller)
    ));
    if let (Some(text), Ok(path)) = (
        &route.account,
        check_path(host.upstream_header(":path").unwrap_or_default()),
    ) {
        let Ok(tree) = AccountTree::new(parsed.tree.clone()) else {
            return out;
        };
        let found = AccountLocation::parse(text)
            .and_then(|l| l.extract(path.path, path.query, &host.request_headers, None));
        match found {
            Ok(Some(id)) => {
                let set: HashSet<String> = caller.iter().map(|s| s.to_string()).collect();
                let verdict = if tree.allows(&set, &id, parsed.include_descendants) {
                    "allowed"
                } else {
                    "not the caller's"
                };
                let owners: Vec<&str> = tree.ancestors(&id).collect();
                out.push(format!(
                    "account `{id}` from `{text}` (owned by {}): {verdict}",
                    list(&owners)
                ));
            }
            Ok(None) => out.push(format!("no account id at `{text}`")),
            Err(e) => out.push(format!("`{text}`: {e}")),
        }
    }
    if let Some(rule) = &route.response_accounts {
        out.push(format!(
            "response checked with `{rule}` when the backend answers"
        ));
    }
    out
}
