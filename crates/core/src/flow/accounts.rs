//! The account filter's flow ("every access is bound to an account"): the request's
//! account id, wherever the route says it is, must be one the caller may access, before
//! the backend sees the request; and the response may not carry another account's data:
//! a foreign id blocks the response (502, naming no account) or, in filter mode, removes
//! the foreign array elements. Every leak is logged and counted: it is a backend bug.

use super::body::{self, BodyStep, ResponseKind};
use super::hold::require_request_hold;
use super::route::{route_entry, Memo};
use super::{deny, Action, Filter, Host, LogContext};
use crate::accounts::{AccountLocation, AccountTree, ResponseAccounts};
use crate::claims::ClaimPath;
use crate::decision::Denial;
use crate::identity::{Identity, IDENTITY_PROPERTY};
use crate::path::check_path;
use crate::route::RouteEntry;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The account filter's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConfig {
    /// Claim listing the accounts the caller was given.
    #[serde(default = "default_claim")]
    pub accounts_claim: ClaimPath,
    /// The account tree: child account -> parent (owner) account.
    #[serde(default)]
    pub tree: HashMap<String, String>,
    /// Whether access to an account includes its descendants.
    #[serde(default = "yes")]
    pub include_descendants: bool,
    /// Largest response body checked; a larger one fails closed (502).
    #[serde(default = "default_limit")]
    pub max_body_bytes: usize,
    /// Largest request body read for a `body:` account location; larger: 413.
    #[serde(default = "default_limit")]
    pub max_request_body_bytes: usize,
    /// Route table keyed by route name.
    #[serde(default)]
    pub routes: HashMap<String, RouteEntry>,
}

fn default_claim() -> ClaimPath {
    ClaimPath::dotted("organization")
}
fn yes() -> bool {
    true
}
fn default_limit() -> usize {
    1024 * 1024
}

/// The compiled account filter.
pub struct AccountsFilter {
    config: AccountsConfig,
    tree: AccountTree,
    locations: Memo<AccountLocation>,
    responses: Memo<ResponseAccounts>,
}

/// Per-request state.
#[derive(Default)]
pub struct AccountsStream {
    caller: HashSet<String>,
    pending_body: Option<Rc<AccountLocation>>,
    response: Option<Rc<ResponseAccounts>>,
    log: LogContext,
    body: body::BodyGuard,
}

/// "Every resource must have a bound account" (SPEC §5): a route that does not say where
/// its account id is, nor `account: none`, is refused, as authorization refuses a route
/// without a requirement. So is a route the filter knows nothing of.
fn no_account_binding(log: &LogContext) -> Denial {
    Denial::forbidden(
        "no_account_binding",
        format!(
            "route `{}` declares no account binding (`account`: where the id is, or `none`)",
            log.route.as_deref().unwrap_or("(unnamed)")
        ),
    )
}

impl AccountsFilter {
    /// Parses, validates and compiles a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let config: AccountsConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid configuration: {e}"))?;
        let tree = AccountTree::new(config.tree.clone()).map_err(|e| format!("tree: {e}"))?;
        for (name, entry) in &config.routes {
            if let Some(text) = &entry.account {
                AccountLocation::parse(text).map_err(|e| format!("routes.{name}.account: {e}"))?;
            }
            if let Some(text) = &entry.response_accounts {
                ResponseAccounts::parse(text)
                    .map_err(|e| format!("routes.{name}.response_accounts: {e}"))?;
            }
        }
        Ok(AccountsFilter {
            config,
            tree,
            locations: Memo::new(1024),
            responses: Memo::new(1024),
        })
    }

    fn allows(&self, caller: &HashSet<String>, account: &str) -> bool {
        self.tree
            .allows(caller, account, self.config.include_descendants)
    }

    fn check_account(
        &self,
        caller: &HashSet<String>,
        account: Option<String>,
    ) -> Result<(), Denial> {
        match account {
            None => Err(Denial::forbidden(
                "account_missing",
                "route requires an account id",
            )),
            Some(id) if self.allows(caller, &id) => Ok(()),
            Some(id) => Err(Denial::forbidden(
                "account_not_allowed",
                format!("account `{id}` is not the caller's"),
            )),
        }
    }

    fn request(
        &self,
        stream: &mut AccountsStream,
        host: &mut dyn Host,
        eos: bool,
    ) -> Result<Action, Denial> {
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        let entry = route_entry(host, &self.config.routes).map_err(host_err)?;
        let Some(text) = entry.as_ref().and_then(|e| e.account.as_ref()) else {
            return Err(no_account_binding(&stream.log));
        };
        let location = self
            .locations
            .get_or_compile(text, AccountLocation::parse)
            .map_err(|e| Denial::internal("route_account_invalid", e.to_string()))?;
        let entry = entry.unwrap_or_default();
        if location.is_unbound() && entry.response_accounts.is_none() {
            return Ok(Action::Continue);
        }
        let identity = host
            .property(IDENTITY_PROPERTY)
            .map_err(host_err)?
            .and_then(|b| Identity::from_bytes(&b))
            .ok_or_else(|| {
                Denial::forbidden(
                    "account_without_identity",
                    "account-bound route without a verified token",
                )
            })?;
        stream.log.subject = identity.subject.clone();
        stream.caller = self
            .config
            .accounts_claim
            .strings(&identity.claims)
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(text) = &entry.response_accounts {
            let compiled = self
                .responses
                .get_or_compile(text, ResponseAccounts::parse)
                .map_err(|e| Denial::internal("route_accounts_invalid", e.to_string()))?;
            body::prepare_request(host)?;
            stream.response = Some(compiled);
        }
        if location.is_unbound() {
            return Ok(Action::Continue);
        }
        if location.needs_body() {
            require_request_hold(
                host,
                stream.log.route.as_deref(),
                "reads its account id from the request body",
            )?;
            if eos {
                return Err(Denial::forbidden(
                    "account_missing",
                    "route requires an account id in the body",
                ));
            }
            stream.pending_body = Some(location);
            // Not `Pause`: proxy-wasm hosts turn paused request headers into "stop
            // everything" (Envoy: StopAllIterationAndWatermark), and this filter would
            // never see the body: the request hung. The body is held in
            // `on_request_body` until complete and checked; on Envoy a request hold after
            // this filter (the buffer filter) keeps the headers from the router until then.
            return Ok(Action::Continue);
        }
        let raw_path = host
            .request_header(":path")
            .map_err(host_err)?
            .unwrap_or_default();
        let path =
            check_path(&raw_path).map_err(|e| Denial::bad_request(e.code(), e.to_string()))?;
        let headers = host.request_headers().map_err(host_err)?;
        let account = location
            .extract(path.path, path.query, &headers, None)
            .map_err(|e| Denial::forbidden("account_invalid", e.to_string()))?;
        self.check_account(&stream.caller, account)?;
        Ok(Action::Continue)
    }

    fn response_body(
        &self,
        stream: &mut AccountsStream,
        host: &mut dyn Host,
        size: usize,
        eos: bool,
    ) -> Result<Action, Denial> {
        let Some(check) = stream.response.clone() else {
            return Ok(Action::Continue);
        };
        let body = match stream
            .body
            .next(host, size, eos, self.config.max_body_bytes)?
        {
            BodyStep::Wait => return Ok(Action::Pause),
            BodyStep::Ready(body) => body,
        };
        let caller = &stream.caller;
        let allowed = |id: &str| self.allows(caller, id);
        let outcome = check
            .check(&body, &allowed)
            .map_err(|e| Denial::bad_gateway("response_not_checkable", e.to_string()))?;
        stream.response = None;
        if !outcome.foreign.is_empty() {
            host.log_warn(
                &serde_json::json!({
                    "event": if outcome.blocked { "leak_blocked" } else { "leak_filtered" },
                    "filter": "portcullis_accounts",
                    "route": stream.log.route, "request_id": stream.log.request_id,
                    "subject": stream.log.subject, "foreign_accounts": outcome.foreign,
                })
                .to_string(),
            );
        }
        if outcome.blocked {
            host.count("portcullis_leak_blocked");
            return Err(Denial::bad_gateway(
                "account_leak",
                "response carries another account's data",
            ));
        }
        if let Some(rewritten) = outcome.body {
            body::replace_body(host, size, &rewritten)?;
            if outcome.removed > 0 {
                host.count("portcullis_leak_filtered");
            }
            if outcome.hidden > 0 {
                host.count("portcullis_owner_hidden");
            }
        }
        Ok(Action::Continue)
    }
}

impl Filter for AccountsFilter {
    type Stream = AccountsStream;

    fn name(&self) -> &'static str {
        "portcullis_accounts"
    }

    fn on_request_headers(
        &self,
        stream: &mut AccountsStream,
        host: &mut dyn Host,
        eos: bool,
    ) -> Action {
        stream.log = LogContext::from_host(host);
        match self.request(stream, host, eos) {
            Ok(action) => action,
            Err(denial) => deny(host, self.name(), &denial, &stream.log),
        }
    }

    fn on_request_body(
        &self,
        stream: &mut AccountsStream,
        host: &mut dyn Host,
        size: usize,
        eos: bool,
    ) -> Action {
        let Some(location) = stream.pending_body.clone() else {
            return Action::Continue;
        };
        let result = if size > self.config.max_request_body_bytes {
            // 413, as documented: the body is too large to read, not a foreign account.
            Err(Denial {
                status: 413,
                code: "request_too_large",
                detail: "request body over the limit".into(),
                message: "request body over the limit",
            })
        } else if !eos {
            return Action::Pause;
        } else {
            stream.pending_body = None;
            host.request_body(size)
                .map_err(|e| Denial::internal("host_error", e.to_string()))
                .and_then(|body| {
                    location
                        .extract("", None, &[], body.as_deref())
                        .map_err(|e| Denial::forbidden("account_invalid", e.to_string()))
                })
                .and_then(|account| self.check_account(&stream.caller, account))
        };
        match result {
            Ok(()) => Action::Continue,
            Err(denial) => deny(host, self.name(), &denial, &stream.log),
        }
    }

    fn on_response_headers(
        &self,
        stream: &mut AccountsStream,
        host: &mut dyn Host,
        eos: bool,
    ) -> Action {
        if stream.response.is_none() {
            return Action::Continue;
        }
        match body::check_response_headers(host, eos) {
            Ok(ResponseKind::NoBody) => {
                stream.response = None;
                Action::Continue
            }
            Ok(ResponseKind::Json) => Action::Continue,
            Err(denial) => deny(host, self.name(), &denial, &stream.log),
        }
    }

    fn on_response_body(
        &self,
        stream: &mut AccountsStream,
        host: &mut dyn Host,
        size: usize,
        eos: bool,
    ) -> Action {
        if stream.body.failed() {
            return stream.body.drop_chunk(host, size);
        }
        match self.response_body(stream, host, size, eos) {
            Ok(action) => action,
            Err(denial) => {
                stream.response = None;
                stream
                    .body
                    .fail(host, self.name(), &denial, &stream.log, size)
            }
        }
    }
}
