//! Response-body handling shared by every filter that checks or rewrites a response
//! (account-leak checks, redaction): make the backend answer in a form we can read,
//! refuse what we cannot read, buffer up to a limit, and replace the body once.
//!
//! On Envoy the response headers are held (`Pause`) until the body is complete, so a
//! failure can still answer a clean 502. Kong (ngx_wasm_module) differs, and this module
//! is where the differences are handled (`docs/kong.md` has the sources):
//!
//! - a failure found in the response headers can still answer a local response there,
//!   but ngx_wasm_module ignores that response's headers: [`check_response_headers`]
//!   removes the backend's headers describing its body (as on every checked answer,
//!   [`representation`](super::representation)) and sets a JSON `content-type` first;
//! - `end_of_stream` is always false in the header callbacks, so a HEAD answer or an
//!   empty body is recognised from the method and `content-length: 0` instead;
//! - response headers cannot be paused: once the body callback runs, the headers have
//!   gone and a local response is impossible (ngx_wasm_module traps the filter), so a
//!   failure there empties the body instead (`fail_after_headers`, [`BodyGuard`]);
//! - a body is buffered only up to `wasm_response_body_buffers` after the first
//!   `Pause`: when they are full the callback runs again with part of the body and
//!   `end_of_stream` false, and a second `Pause` is ignored, so the part and every later
//!   chunk would pass unchecked. [`BodyGuard`] treats that callback as a failure and
//!   empties every later chunk. (`kong/kong.conf` also sizes the buffers above the
//!   filters' `max_body_bytes`, so full buffers already exceed the limit.)

use super::{content_type, deny, representation, Action, Host, HostKind, LogContext};
use crate::decision::Denial;

/// Request-side preparation: no partial content, no compression, and no validators on a
/// GET or HEAD (see [`representation::strip_conditionals`]).
pub fn prepare_request(host: &mut dyn Host) -> Result<(), Denial> {
    let err = |e: super::HostError| Denial::internal("host_error", e.to_string());
    let present = host.request_headers().map_err(err)?;
    representation::strip_conditionals(host, &present).map_err(err)?;
    representation::remove_present(host, &present, &["range", "if-range"]).map_err(err)?;
    // Set only when it is not already exactly one `identity` (the second filter to
    // prepare the request finds it so): each mutation clears Envoy's route cache.
    let mut encodings = present
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("accept-encoding"));
    let identity_only = matches!(
        (encodings.next(), encodings.next()),
        (Some((_, v)), None) if v == "identity"
    );
    if identity_only {
        return Ok(());
    }
    host.set_request_header("accept-encoding", Some("identity"))
        .map_err(err)
}

/// What the response headers say about the body to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// A JSON body follows: buffer it.
    Json,
    /// No body to check (HEAD, 204, 304, empty end of stream).
    NoBody,
}

/// Checks the response headers of a route whose body must be read. Refuses partial
/// content, any content encoding but identity, and anything but one unambiguous JSON
/// `content-type` in UTF-8 ([`content_type::check_json_utf8`]): an unreadable body never
/// passes. Whatever the outcome and status, removes every header describing the
/// backend's unchecked body ([`representation::strip_response`]): the body will change,
/// or there is none.
pub fn check_response_headers(
    host: &mut dyn Host,
    end_of_stream: bool,
) -> Result<ResponseKind, Denial> {
    let checked = check_headers(host, end_of_stream);
    let stripped = representation::strip_response(host)
        .map_err(|e| Denial::internal("host_error", e.to_string()));
    let result = checked.and_then(|kind| stripped.map(|()| kind));
    if result.is_err() && host.kind() == HostKind::Kong {
        // ngx_wasm_module keeps the backend's headers on a local response sent from the
        // response headers (only status and body change): without this, the 502's JSON
        // body would go out under the backend's `content-type` (every copy removed first).
        let _ = host.set_response_header("content-length", None);
        let _ = host.set_response_header("content-type", None);
        let _ = host.set_response_header("content-type", Some("application/json"));
    }
    result
}

fn check_headers(host: &mut dyn Host, end_of_stream: bool) -> Result<ResponseKind, Denial> {
    let err = |e: super::HostError| Denial::internal("host_error", e.to_string());
    let status = host
        .response_header(":status")
        .map_err(err)?
        .unwrap_or_default();
    if status == "204" || status == "304" {
        return Ok(ResponseKind::NoBody);
    }
    let end_of_stream = end_of_stream || (host.kind() == HostKind::Kong && kong_no_body(host)?);
    if end_of_stream {
        // A HEAD answer (or an empty one). Its `content-length` is the backend's unchecked
        // body's, which would tell the client how much was hidden: removed with the rest.
        return Ok(ResponseKind::NoBody);
    }
    if status == "206" {
        return Err(Denial::bad_gateway(
            "partial_content",
            "206 on a checked route",
        ));
    }
    let headers = host.response_headers().map_err(err)?;
    let encodings = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-encoding"));
    for (_, encoding) in encodings {
        if !encoding.trim().eq_ignore_ascii_case("identity") {
            return Err(Denial::bad_gateway(
                "encoded_response",
                format!("content-encoding {encoding}"),
            ));
        }
    }
    content_type::check_json_utf8(&headers)?;
    Ok(ResponseKind::Json)
}

/// Kong passes `end_of_stream` false to every header callback, even when no body
/// follows: a HEAD request's answer, or a declared empty body, has none.
fn kong_no_body(host: &dyn Host) -> Result<bool, Denial> {
    let err = |e: super::HostError| Denial::internal("host_error", e.to_string());
    let head = host.request_header(":method").map_err(err)?.as_deref() == Some("HEAD");
    let empty = host
        .response_header("content-length")
        .map_err(err)?
        .is_some_and(|v| v.trim() == "0");
    Ok(head || empty)
}

/// `application/json` or any `application/*+json` type, read by RFC 9110
/// ([`crate::media_type`]); parameters are not looked at (an unreadable value is not JSON).
pub fn is_json(content_type: &str) -> bool {
    crate::media_type::parse(content_type).is_ok_and(|m| m.is_json())
}

/// One body callback's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStep {
    /// More is coming: keep buffering.
    Wait,
    /// The whole body.
    Ready(Vec<u8>),
}

/// Buffers until end of stream, refusing bodies over `limit` bytes.
pub fn buffered_body(
    host: &dyn Host,
    body_size: usize,
    end_of_stream: bool,
    limit: usize,
) -> Result<BodyStep, Denial> {
    if body_size > limit {
        return Err(Denial::bad_gateway(
            "response_too_large",
            format!("{body_size} bytes > limit {limit}"),
        ));
    }
    if !end_of_stream {
        return Ok(BodyStep::Wait);
    }
    let body = host
        .response_body(body_size)
        .map_err(|e| Denial::internal("host_error", e.to_string()))?
        .unwrap_or_default();
    Ok(BodyStep::Ready(body))
}

/// Replaces the buffered body of `old_size` bytes with `new`.
pub fn replace_body(host: &mut dyn Host, old_size: usize, new: &[u8]) -> Result<(), Denial> {
    host.set_response_body(old_size, new)
        .map_err(|e| Denial::internal("host_error", e.to_string()))
}

/// On a host that cannot hold response headers, a failure after they left can only
/// empty the body: never pass the unchecked bytes. (Stateless: it empties this chunk
/// only; [`BodyGuard`] also empties every later one.)
pub fn fail_after_headers(host: &mut dyn Host, body_size: usize) {
    if host.kind() == HostKind::Kong {
        let _ = host.set_response_body(body_size, b"");
    }
}

/// Per-request state of a response body that a filter reads, for the hosts' different
/// buffering (see the module docs). A filter keeps one in its stream and, in
/// `on_response_body`:
///
/// 1. if [`BodyGuard::failed`], returns [`BodyGuard::drop_chunk`] and nothing else;
/// 2. otherwise reads with [`BodyGuard::next`] (`Wait` is `Pause`);
/// 3. on any failure, returns [`BodyGuard::fail`] instead of [`deny`].
///
/// On Envoy it behaves as [`buffered_body`] and [`deny`] do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BodyGuard {
    /// Nothing asked of the gateway yet.
    #[default]
    Reading,
    /// `Pause` was returned once to have the body buffered.
    Buffering,
    /// Refused after the response headers left (Kong): every later chunk is emptied.
    Failed,
}

impl BodyGuard {
    /// One body callback: buffers until end of stream, refusing bodies over `limit`
    /// bytes. On Kong, a callback without end of stream after buffering was asked for
    /// means the buffers are full and this is only part of the body: refused.
    pub fn next(
        &mut self,
        host: &dyn Host,
        body_size: usize,
        end_of_stream: bool,
        limit: usize,
    ) -> Result<BodyStep, Denial> {
        if host.kind() == HostKind::Kong && *self == BodyGuard::Buffering && !end_of_stream {
            return Err(Denial::bad_gateway(
                "response_buffers_full",
                format!(
                    "{body_size} bytes buffered before the end: wasm_response_body_buffers \
                     must hold more than the filter's limit of {limit} bytes"
                ),
            ));
        }
        let step = buffered_body(host, body_size, end_of_stream, limit)?;
        if step == BodyStep::Wait {
            *self = BodyGuard::Buffering;
        }
        Ok(step)
    }

    /// True once the response was refused after its headers left: every later chunk
    /// goes to [`BodyGuard::drop_chunk`].
    pub fn failed(&self) -> bool {
        *self == BodyGuard::Failed
    }

    /// Refuses the response from a body callback. Envoy (headers still held): the
    /// local 502 of [`deny`]. Kong: the headers have gone and a local response would
    /// trap the filter, so the chunk is emptied, the refusal is logged and counted
    /// like a denial, and every later chunk is emptied too; `Continue` (a second
    /// `Pause` would be ignored).
    pub fn fail(
        &mut self,
        host: &mut dyn Host,
        filter: &str,
        denial: &Denial,
        log: &LogContext,
        body_size: usize,
    ) -> Action {
        if host.kind() != HostKind::Kong {
            return deny(host, filter, denial, log);
        }
        *self = BodyGuard::Failed;
        if let Err(err) = host.set_response_body(body_size, b"") {
            host.log_warn(&format!("{filter}: could not empty the body: {err}"));
        }
        host.count(&format!("portcullis_{}_{}", denial.status, denial.code));
        let line = serde_json::json!({
            "decision": "deny",
            "filter": filter,
            "status": denial.status,
            "reason": denial.code,
            "detail": denial.detail,
            "action": "response_body_emptied",
            "request_id": log.request_id,
            "route": log.route,
            "tenant": log.tenant,
            "subject": log.subject,
        });
        host.log_info(&line.to_string());
        Action::Continue
    }

    /// A chunk after a failure: emptied, never passed.
    pub fn drop_chunk(&self, host: &mut dyn Host, body_size: usize) -> Action {
        if body_size > 0 {
            if let Err(err) = host.set_response_body(body_size, b"") {
                host.log_warn(&format!("could not empty a refused body's chunk: {err}"));
            }
        }
        Action::Continue
    }
}
