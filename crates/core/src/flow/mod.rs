//! Request flows: what each filter does at each phase, written against [`Host`] so the
//! filters stay thin adapters and the flows are tested natively with [`mock::MockHost`].

pub mod accounts;
pub mod authz;
pub mod body;
pub mod host;
pub mod jwt;

pub mod mock;
pub mod redact;
pub mod route;
pub mod tenant;

pub use host::{Host, HostError, HostKind};

use crate::decision::Denial;

/// What the adapter tells the gateway after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Go on to the next filter.
    Continue,
    /// Stop here: a local response was sent, or the body is being buffered.
    Pause,
}

/// One Portcullis filter's behaviour. `Stream` is the per-request state.
pub trait Filter {
    /// Per-request state kept between callbacks.
    type Stream: Default;
    /// The filter's name in logs and metrics (`portcullis_jwt`).
    fn name(&self) -> &'static str;
    /// Request headers arrived.
    fn on_request_headers(
        &self,
        stream: &mut Self::Stream,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Action;
    /// A request body chunk arrived (`body_size` is the total buffered so far).
    fn on_request_body(
        &self,
        _stream: &mut Self::Stream,
        _host: &mut dyn Host,
        _body_size: usize,
        _end_of_stream: bool,
    ) -> Action {
        Action::Continue
    }
    /// Response headers arrived.
    fn on_response_headers(
        &self,
        _stream: &mut Self::Stream,
        _host: &mut dyn Host,
        _end_of_stream: bool,
    ) -> Action {
        Action::Continue
    }
    /// A response body chunk arrived (`body_size` is the total buffered so far).
    fn on_response_body(
        &self,
        _stream: &mut Self::Stream,
        _host: &mut dyn Host,
        _body_size: usize,
        _end_of_stream: bool,
    ) -> Action {
        Action::Continue
    }
}

/// Refuses the request: one structured decision log line, a counter, and the local
/// response. If even the local response fails, the request stays paused (fail closed).
pub fn deny(host: &mut dyn Host, filter: &str, denial: &Denial, context: &LogContext) -> Action {
    host.count(&format!("portcullis_{}_{}", denial.status, denial.code));
    let line = serde_json::json!({
        "decision": "deny",
        "filter": filter,
        "status": denial.status,
        "reason": denial.code,
        "detail": denial.detail,
        "request_id": context.request_id,
        "route": context.route,
        "tenant": context.tenant,
        "subject": context.subject,
    });
    host.log_info(&line.to_string());
    if let Err(err) = host.send_response(denial.status, &denial.headers(), &denial.body()) {
        host.log_warn(&format!("{filter}: could not send the denial: {err}"));
    }
    Action::Pause
}

/// What a decision log line says about the request besides the decision.
#[derive(Debug, Clone, Default)]
pub struct LogContext {
    /// `x-request-id` as the gateway set it.
    pub request_id: Option<String>,
    /// The route's name, when known.
    pub route: Option<String>,
    /// The resolved tenant, when known.
    pub tenant: Option<String>,
    /// The verified subject, when known.
    pub subject: Option<String>,
}

impl LogContext {
    /// Reads what is known at request-header time.
    pub fn from_host(host: &dyn Host) -> Self {
        LogContext {
            request_id: host.request_header("x-request-id").ok().flatten(),
            route: route::route_name(host),
            tenant: None,
            subject: None,
        }
    }
}
