//! The filter chain of `gateway.yaml`, built with each filter's own `from_json` on the JSON
//! the gateway gets, and driven through the core's in-memory host ([`MockHost`]): explain
//! runs exactly the code the gateway runs, callback by callback.

use crate::gateway::Source;
use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::tenant::TenantFilter;
use portcullis_core::flow::{Action, Filter};
use serde_json::Value;

/// One filter with its per-request state.
pub trait Stage {
    /// The filter's name (`portcullis_jwt`).
    fn name(&self) -> &'static str;
    /// Runs the request-headers callback (a request without a body).
    fn request(&mut self, host: &mut MockHost) -> Action;
    /// Runs the response callbacks on the response in `host` (headers, then the whole body).
    fn response(&mut self, host: &mut MockHost) -> Action;
}

struct Running<F: Filter> {
    filter: F,
    stream: F::Stream,
}

impl<F: Filter> Stage for Running<F> {
    fn name(&self) -> &'static str {
        self.filter.name()
    }

    fn request(&mut self, host: &mut MockHost) -> Action {
        self.filter.on_request_headers(&mut self.stream, host, true)
    }

    fn response(&mut self, host: &mut MockHost) -> Action {
        let size = host.response_body.len();
        let action = self
            .filter
            .on_response_headers(&mut self.stream, host, size == 0);
        if host.sent.is_some() || size == 0 {
            return action;
        }
        self.filter
            .on_response_body(&mut self.stream, host, size, true)
    }
}

fn running<F: Filter + 'static>(filter: F) -> Box<dyn Stage> {
    Box::new(Running {
        filter,
        stream: F::Stream::default(),
    })
}

/// Builds filter `name` from its configuration, as the gateway does at load.
pub fn build(source: &Source, name: &str) -> Result<Box<dyn Stage>, String> {
    let config = source
        .filter_json(name)
        .ok_or_else(|| format!("filters.{name}: missing"))?;
    let bytes = config.to_string().into_bytes();
    let bad = |e: String| format!("filters.{name}: {e} (see `portcullis check`)");
    Ok(match name {
        "portcullis_jwt" => running(JwtFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_tenant" => running(TenantFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_authz" => running(AuthzFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_redact" => running(RedactFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_accounts" => running(AccountsFilter::from_json(&bytes).map_err(bad)?),
        _ => return Err(format!("filters.{name}: unknown filter")),
    })
}

/// What a callback did to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed on to the next filter.
    Pass,
    /// The filter answered itself with a non-error (the permissions endpoint).
    Answered {
        /// Status sent.
        status: u16,
        /// Body sent.
        body: String,
    },
    /// Refused.
    Deny {
        /// Status sent.
        status: u16,
        /// Stable reason.
        reason: String,
        /// The decision log's detail.
        detail: String,
    },
    /// Paused without answering: it needs something explain does not simulate.
    Waiting,
}

/// Reads what a callback did from the host: a local response (and its decision log
/// line), a pause, or nothing.
pub fn outcome(host: &MockHost, action: Action) -> Outcome {
    let Some(sent) = &host.sent else {
        return match action {
            Action::Continue => Outcome::Pass,
            Action::Pause => Outcome::Waiting,
        };
    };
    let body = String::from_utf8_lossy(&sent.body).to_string();
    if sent.status < 400 {
        return Outcome::Answered {
            status: sent.status,
            body,
        };
    }
    let line = host
        .logs
        .borrow()
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("decision").and_then(Value::as_str) == Some("deny"));
    let field = |key: &str| {
        line.as_ref()
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Outcome::Deny {
        status: sent.status,
        reason: field("reason"),
        detail: field("detail"),
    }
}
