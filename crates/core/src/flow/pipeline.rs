//! One filter running the stages in one pass: `portcullis`.
//!
//! The stages are the token check, the tenant, authorization, redaction and accounts, in
//! that order on the request and in the reverse order on the response: the order the
//! separate filters ran in, so each stage sees what it saw then. A stage runs when its
//! section is in the configuration. They share one [`StageHost`] per callback, so the
//! header map, the route name and its metadata are read from the gateway once, and what
//! a stage hands on (the identity, the tenant, the authorization decision) is kept in the
//! stream instead of being read back from the gateway.
//!
//! Holding: a stage that stops the request at its headers without answering (the token
//! stage, waiting for a key set) holds the later stages too. A body that arrives meanwhile
//! is remembered and given to the later stages once the request resumes, so a check on
//! the body (a method override, a body-located account) is never skipped.

use super::accounts::{AccountsFilter, AccountsStream};
use super::authz::{AuthzFilter, AuthzStream};
use super::jwt::{JwtFilter, JwtStream};
use super::redact::{RedactFilter, RedactStream};
use super::stage_host::{StageHost, Written};
use super::tenant::TenantFilter;
use super::{deny, Action, Background, CalloutResponse, Filter, Host, LogContext};
use crate::decision::Denial;
use serde::Deserialize;
use serde_json::Value;
use std::time::SystemTime;

/// The one filter's configuration: one section per stage, each the stage's own
/// configuration. A stage runs when its section is present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The token stage (`flow::jwt`).
    pub jwt: Option<Value>,
    /// The tenant stage (`flow::tenant`).
    pub tenant: Option<Value>,
    /// The authorization stage (`flow::authz`).
    pub authz: Option<Value>,
    /// The redaction stage (`flow::redact`).
    pub redact: Option<Value>,
    /// The accounts stage (`flow::accounts`).
    pub accounts: Option<Value>,
    /// The route table (route name to settings), given once for every stage that reads
    /// one (`jwt`, `tenant`, `authz`, `accounts`); a section may not carry its own.
    pub routes: Option<Value>,
}

/// How many stages there are, in request order.
const STAGES: usize = 5;

/// The compiled pipeline.
pub struct Pipeline {
    jwt: Option<JwtFilter>,
    tenant: Option<TenantFilter>,
    authz: Option<AuthzFilter>,
    redact: Option<RedactFilter>,
    accounts: Option<AccountsFilter>,
}

/// Per-request state: each stage's own, and where the request stands among them.
#[derive(Default)]
pub struct PipelineStream {
    jwt: JwtStream,
    tenant: (),
    authz: AuthzStream,
    redact: RedactStream,
    accounts: AccountsStream,
    /// The first stage whose request-headers callback has not let the request go on
    /// ([`STAGES`] once every stage has).
    held_at: usize,
    /// `end_of_stream` of the request headers, for stages run after a resume.
    headers_end: bool,
    /// A request body callback that came while a stage held the headers.
    body_meanwhile: Option<(usize, bool)>,
    /// Properties the stages set on this request.
    written: Written,
}

/// Compiles one section with its stage's own parser, with the route table put in when
/// the stage reads one; the error names the section.
fn section<F>(
    name: &str,
    raw: Option<&Value>,
    routes: Option<&Value>,
    compile: fn(&[u8]) -> Result<F, String>,
) -> Result<Option<F>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let mut config = raw.clone();
    if let (Some(routes), Value::Object(map)) = (routes, &mut config) {
        if map.contains_key("routes") {
            return Err(format!(
                "{name}.routes: the route table is given once, as the top-level `routes`"
            ));
        }
        map.insert("routes".into(), routes.clone());
    }
    compile(config.to_string().as_bytes())
        .map(Some)
        .map_err(|e| format!("{name}: {e}"))
}

impl Pipeline {
    /// Parses, validates and compiles the configuration; errors name the section.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let config: PipelineConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid configuration: {e}"))?;
        let routes = config.routes.as_ref();
        let pipeline = Pipeline {
            jwt: section("jwt", config.jwt.as_ref(), routes, JwtFilter::from_json)?,
            tenant: section(
                "tenant",
                config.tenant.as_ref(),
                routes,
                TenantFilter::from_json,
            )?,
            authz: section(
                "authz",
                config.authz.as_ref(),
                routes,
                AuthzFilter::from_json,
            )?,
            redact: section(
                "redact",
                config.redact.as_ref(),
                None,
                RedactFilter::from_json,
            )?,
            accounts: section(
                "accounts",
                config.accounts.as_ref(),
                routes,
                AccountsFilter::from_json,
            )?,
        };
        if pipeline.jwt.is_none()
            && pipeline.tenant.is_none()
            && pipeline.authz.is_none()
            && pipeline.redact.is_none()
            && pipeline.accounts.is_none()
        {
            return Err(
                "configuration names no stage (jwt, tenant, authz, redact, accounts)".into(),
            );
        }
        Ok(pipeline)
    }

    /// Runs stage `i`'s `call` with its filter and its stream; `None` when the stage is
    /// not configured.
    fn stage(
        &self,
        i: usize,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        call: StageCall,
    ) -> Option<Action> {
        macro_rules! run {
            ($filter:expr, $stream:expr) => {
                $filter.as_ref().map(|f| call.run(f, $stream, host))
            };
        }
        match i {
            0 => run!(self.jwt, &mut s.jwt),
            1 => run!(self.tenant, &mut s.tenant),
            2 => run!(self.authz, &mut s.authz),
            3 => run!(self.redact, &mut s.redact),
            4 => run!(self.accounts, &mut s.accounts),
            _ => None,
        }
    }

    /// Runs the request-headers callbacks from stage `from` on; stops at the first
    /// stage that does not let the request go on.
    fn request_headers_from(
        &self,
        from: usize,
        s: &mut PipelineStream,
        host: &mut dyn Host,
    ) -> Action {
        let end = s.headers_end;
        for i in from..STAGES {
            s.held_at = i;
            if self.stage(i, s, host, StageCall::RequestHeaders(end)) == Some(Action::Pause) {
                return Action::Pause;
            }
        }
        s.held_at = STAGES;
        Action::Continue
    }

    /// Gives a request body callback to every stage that has let the headers through,
    /// in order, stopping at the first that holds it.
    fn request_body(
        &self,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        size: usize,
        end: bool,
    ) -> Action {
        for i in 0..s.held_at.min(STAGES) {
            if self.stage(i, s, host, StageCall::RequestBody(size, end)) == Some(Action::Pause) {
                return Action::Pause;
            }
        }
        Action::Continue
    }
}

/// One callback, for [`Pipeline::stage`].
#[derive(Clone, Copy)]
enum StageCall {
    RequestHeaders(bool),
    RequestBody(usize, bool),
    ResponseHeaders(bool),
    ResponseBody(usize, bool),
}

impl StageCall {
    fn run<F: Filter>(self, filter: &F, stream: &mut F::Stream, host: &mut dyn Host) -> Action {
        match self {
            StageCall::RequestHeaders(end) => filter.on_request_headers(stream, host, end),
            StageCall::RequestBody(size, end) => filter.on_request_body(stream, host, size, end),
            StageCall::ResponseHeaders(end) => filter.on_response_headers(stream, host, end),
            StageCall::ResponseBody(size, end) => filter.on_response_body(stream, host, size, end),
        }
    }
}

impl Filter for Pipeline {
    type Stream = PipelineStream;

    fn name(&self) -> &'static str {
        "portcullis"
    }

    fn on_request_headers(
        &self,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Action {
        s.headers_end = end_of_stream;
        self.callback(s, host, |p, s, host| p.request_headers_from(0, s, host))
    }

    fn on_request_body(
        &self,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        self.callback(s, host, |p, s, host| {
            let action = p.request_body(s, host, body_size, end_of_stream);
            if action == Action::Continue && s.held_at < STAGES {
                // A stage still holds the headers: the body waits with them, for the
                // stages after it to see once the request resumes.
                s.body_meanwhile = Some((body_size, end_of_stream));
                Action::Pause
            } else {
                action
            }
        })
    }

    fn on_response_headers(
        &self,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Action {
        self.response(s, host, StageCall::ResponseHeaders(end_of_stream))
    }

    fn on_response_body(
        &self,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        self.response(s, host, StageCall::ResponseBody(body_size, end_of_stream))
    }

    fn on_tick(&self, now: SystemTime) -> Background {
        self.jwt
            .as_ref()
            .map_or_else(Background::default, |jwt| jwt.on_tick(now))
    }

    fn on_callout_response(
        &self,
        key: u64,
        response: CalloutResponse,
        now: SystemTime,
    ) -> Background {
        self.jwt.as_ref().map_or_else(Background::default, |jwt| {
            jwt.on_callout_response(key, response, now)
        })
    }

    fn take_wakeup(&self) -> bool {
        self.jwt.as_ref().is_some_and(JwtFilter::take_wakeup)
    }

    fn is_waiting(&self, s: &PipelineStream) -> bool {
        s.held_at == 0 && self.jwt.as_ref().is_some_and(|jwt| jwt.is_waiting(&s.jwt))
    }

    fn on_resume(&self, s: &mut PipelineStream, host: &mut dyn Host) -> Action {
        let Some(jwt) = &self.jwt else {
            return Action::Continue;
        };
        if s.held_at != 0 {
            return Action::Continue;
        }
        self.callback(s, host, |p, s, host| {
            let resumed = jwt.on_resume(&mut s.jwt, host) == Action::Continue
                && p.request_headers_from(1, s, host) == Action::Continue;
            if !resumed {
                // Still waiting (the body stays remembered), or answered.
                Action::Pause
            } else if let Some((size, end)) = s.body_meanwhile.take() {
                p.request_body(s, host, size, end)
            } else {
                Action::Continue
            }
        })
    }
}

impl Pipeline {
    /// A response callback through the stages in reverse order, stopping at the first
    /// that holds the response (or answers it).
    fn response(&self, s: &mut PipelineStream, host: &mut dyn Host, call: StageCall) -> Action {
        self.callback(s, host, |p, s, host| {
            for i in (0..STAGES).rev() {
                if p.stage(i, s, host, call) == Some(Action::Pause) {
                    return Action::Pause;
                }
            }
            Action::Continue
        })
    }

    /// Runs `run` over one [`StageHost`] for this callback, then writes the header
    /// changes the stages made; if that fails, the request is refused (500).
    fn callback(
        &self,
        s: &mut PipelineStream,
        host: &mut dyn Host,
        run: impl FnOnce(&Self, &mut PipelineStream, &mut dyn Host) -> Action,
    ) -> Action {
        let mut written = std::mem::take(&mut s.written);
        let mut stage_host = StageHost::new(host, &mut written);
        let action = run(self, s, &mut stage_host);
        let flushed = stage_host.flush();
        drop(stage_host);
        s.written = written;
        match flushed {
            Ok(()) => action,
            Err(err) => {
                let denial = Denial::internal("host_error", err.to_string());
                let log = LogContext::from_host(host);
                deny(host, self.name(), &denial, &log)
            }
        }
    }
}
