//! The redaction filter's flow: take the visibility the authorization filter decided,
//! and on a route where something must be hidden, make the backend answer in plain JSON,
//! buffer the body, rewrite it once, and fail closed (502) on anything it cannot read.
//! An unredacted body never leaves the gateway on a redacting route.

use super::authz::Visibility;
use super::body::{self, BodyStep, ResponseKind};
use super::route::Memo;
use super::{deny, Action, Filter, Host, LogContext};
use crate::decision::Denial;
use crate::identity::AUTHZ_PROPERTY;
use crate::redact::Redactor;
use serde::Deserialize;
use std::rc::Rc;

/// How many distinct authorization decisions keep their compiled redactors per worker.
/// A decision names the route's and the matched grants' filters, so a configuration has
/// few; past this many the memo starts again rather than grow.
const PLAN_MEMO_ENTRIES: usize = 256;

/// The redaction filter's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Largest response body rewritten; a larger one fails closed (502).
    #[serde(default = "default_limit")]
    pub max_body_bytes: usize,
}

fn default_limit() -> usize {
    1024 * 1024
}

/// The compiled redaction filter.
pub struct RedactFilter {
    config: RedactConfig,
    /// Compiled redactors by the bytes of the authorization decision they come from:
    /// compiling (parsing the filters, building the automaton) costs more than a
    /// response's rewrite, and the same few decisions come back on every request.
    plans: Memo<Vec<Redactor>>,
}

/// Per-request state: the redactors to run on this response, if any.
#[derive(Default)]
pub struct RedactStream {
    redactors: Rc<Vec<Redactor>>,
    log: LogContext,
    body: body::BodyGuard,
}

impl RedactFilter {
    /// Parses and validates a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let config: RedactConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid configuration: {e}"))?;
        if config.max_body_bytes == 0 {
            return Err("max_body_bytes: must be greater than 0".into());
        }
        Ok(RedactFilter {
            config,
            plans: Memo::new(PLAN_MEMO_ENTRIES),
        })
    }

    /// The redactors for this request's authorization decision, compiled once per
    /// distinct decision.
    fn plan(&self, host: &dyn Host) -> Result<Rc<Vec<Redactor>>, Denial> {
        let bytes = host
            .property(AUTHZ_PROPERTY)
            .map_err(|e| Denial::internal("host_error", e.to_string()))?
            .ok_or_else(|| {
                Denial::internal(
                    "authz_decision_missing",
                    "portcullis_authz must run before portcullis_redact",
                )
            })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Denial::internal("authz_decision_unreadable", "authz property"))?;
        self.plans
            .get_or_compile(text, |text| Self::compile(text.as_bytes()))
    }

    /// Reads an authorization decision and compiles the redactors it asks for.
    fn compile(bytes: &[u8]) -> Result<Vec<Redactor>, Denial> {
        let visibility: Visibility = serde_json::from_slice(bytes)
            .map_err(|_| Denial::internal("authz_decision_unreadable", "authz property"))?;
        if visibility.is_unrestricted() {
            return Ok(Vec::new());
        }
        let bad =
            |e: crate::redact::RedactError| Denial::internal("redaction_invalid", e.to_string());
        let mut groups = visibility.grants.iter().filter(|g| !g.is_empty());
        let first = groups.next().cloned().unwrap_or_default();
        let mut redactors = vec![Redactor::compile(&visibility.route, &first).map_err(bad)?];
        for group in groups {
            redactors.push(Redactor::compile(&[], group).map_err(bad)?);
        }
        redactors.retain(|r| !r.is_noop());
        Ok(redactors)
    }

    fn fail(
        &self,
        stream: &mut RedactStream,
        host: &mut dyn Host,
        body_size: usize,
        denial: &Denial,
    ) -> Action {
        stream.redactors = Rc::default();
        host.count("portcullis_redaction_failed");
        stream
            .body
            .fail(host, self.name(), denial, &stream.log, body_size)
    }
}

impl Filter for RedactFilter {
    type Stream = RedactStream;

    fn name(&self) -> &'static str {
        "portcullis_redact"
    }

    fn on_request_headers(
        &self,
        stream: &mut RedactStream,
        host: &mut dyn Host,
        _eos: bool,
    ) -> Action {
        stream.log = LogContext::from_host(host);
        let planned = self.plan(host).and_then(|redactors| {
            if !redactors.is_empty() {
                body::prepare_request(host)?;
            }
            Ok(redactors)
        });
        match planned {
            Ok(redactors) => {
                stream.redactors = redactors;
                Action::Continue
            }
            Err(denial) => deny(host, self.name(), &denial, &stream.log),
        }
    }

    fn on_response_headers(
        &self,
        stream: &mut RedactStream,
        host: &mut dyn Host,
        eos: bool,
    ) -> Action {
        if stream.redactors.is_empty() {
            return Action::Continue;
        }
        match body::check_response_headers(host, eos) {
            Ok(ResponseKind::NoBody) => {
                stream.redactors = Rc::default();
                Action::Continue
            }
            Ok(ResponseKind::Json) => Action::Continue,
            // The response headers can still be answered on both hosts (on Kong,
            // `check_response_headers` has made the backend's headers fit a local reply).
            Err(denial) => {
                stream.redactors = Rc::default();
                host.count("portcullis_redaction_failed");
                deny(host, self.name(), &denial, &stream.log)
            }
        }
    }

    fn on_response_body(
        &self,
        stream: &mut RedactStream,
        host: &mut dyn Host,
        size: usize,
        eos: bool,
    ) -> Action {
        if stream.body.failed() {
            return stream.body.drop_chunk(host, size);
        }
        if stream.redactors.is_empty() {
            return Action::Continue;
        }
        let body = match stream
            .body
            .next(host, size, eos, self.config.max_body_bytes)
        {
            Ok(BodyStep::Wait) => return Action::Pause,
            Ok(BodyStep::Ready(body)) => body,
            Err(denial) => return self.fail(stream, host, size, &denial),
        };
        let original_len = body.len();
        let mut out = body;
        for redactor in stream.redactors.iter() {
            out = match redactor.apply(&out) {
                Ok(o) => o,
                Err(e) => {
                    let denial = Denial::bad_gateway("response_not_redactable", e.to_string());
                    return self.fail(stream, host, size, &denial);
                }
            };
        }
        stream.redactors = Rc::default();
        // The output is made of spans of the input, so the same length means nothing was
        // hidden (a body with no such field, or a later filter's own local reply passing
        // back through this one): leave the body alone and do not count it as redacted.
        if out.len() == original_len {
            return Action::Continue;
        }
        if let Err(denial) = body::replace_body(host, size, &out) {
            return self.fail(stream, host, size, &denial);
        }
        host.count("portcullis_redacted");
        Action::Continue
    }
}
