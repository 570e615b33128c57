//! Request flows: what each filter does at each phase, written against [`Host`] so the
//! filters stay thin adapters and the flows are tested natively with [`mock::MockHost`].

pub mod accounts;
pub mod authz;
pub mod body;
pub mod content_type;
pub mod hold;
pub mod host;
pub mod jwt;

pub mod mock;
mod overrides;
pub mod pipeline;
pub mod redact;
pub mod representation;
pub mod route;
pub mod stage_host;
pub mod tenant;

pub use host::{Host, HostError, HostKind};

use crate::decision::Denial;
use std::time::{Duration, SystemTime};

/// What the adapter tells the gateway after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Go on to the next filter.
    Continue,
    /// Stop here: a local response was sent, or the body is being buffered.
    Pause,
}

/// An HTTP call a filter wants made outside any request (through the gateway: an Envoy
/// cluster, a Kong upstream). The adapter makes it from the root context, so it outlives
/// the request that may have asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// The filter's own key for the call, handed back with the answer.
    pub key: u64,
    /// Envoy cluster name (Kong: `host[:port]`).
    pub upstream: String,
    /// Request headers, `:method`, `:path` and `:authority` included.
    pub headers: Vec<(String, String)>,
    /// Gives up after this long.
    pub timeout: Duration,
}

/// The answer to a [`Callout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalloutResponse {
    /// HTTP status; `None` when the call failed (refused, reset, timed out, no cluster).
    pub status: Option<u16>,
    /// The body (possibly truncated by the adapter to a sane size).
    pub body: Vec<u8>,
}

/// What a filter asks of the gateway after background work (a tick, a callout answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Background {
    /// Calls to make now.
    pub callouts: Vec<Callout>,
    /// When to tick next; `None`: no timer.
    pub next_tick: Option<Duration>,
    /// Log lines (warn when `true`, info otherwise).
    pub logs: Vec<(bool, String)>,
    /// Counters to move by one.
    pub counters: Vec<String>,
}

/// One Portcullis filter's behaviour. `Stream` is the per-request state.
///
/// Besides the request callbacks, a filter may do background work (the hooks after
/// `on_response_body`, all with do-nothing defaults): a timer with outgoing calls, run
/// by the adapter on the root context, and requests parked until that work is done: a
/// callback that returns [`Action::Pause`] without answering, with
/// [`is_waiting`](Filter::is_waiting) true, is parked, and [`on_resume`](Filter::on_resume)
/// runs for it (in its own request's context) after each tick and callout answer.
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
    /// The timer fired (and once right after configuration): background work to do.
    fn on_tick(&self, _now: SystemTime) -> Background {
        Background::default()
    }
    /// A [`Callout`] was answered (or failed).
    fn on_callout_response(
        &self,
        _key: u64,
        _response: CalloutResponse,
        _now: SystemTime,
    ) -> Background {
        Background::default()
    }
    /// Asked after a request callback: true (once) when the filter wants its timer to
    /// fire as soon as possible (a request is waiting for background work to start).
    fn take_wakeup(&self) -> bool {
        false
    }
    /// After a callback returned [`Action::Pause`] without answering: true while the
    /// stream waits for background work (the adapter then parks it).
    fn is_waiting(&self, _stream: &Self::Stream) -> bool {
        false
    }
    /// A parked stream's chance to go on, after background progress: `Continue` resumes
    /// the request; `Pause` with a local response sent ends it; `Pause` while
    /// [`is_waiting`](Filter::is_waiting) keeps it parked.
    fn on_resume(&self, _stream: &mut Self::Stream, _host: &mut dyn Host) -> Action {
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
