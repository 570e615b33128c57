//! Response-body handling shared by every filter that checks or rewrites a response
//! (account-leak checks, redaction): make the backend answer in a form we can read,
//! refuse what we cannot read, buffer up to a limit, and replace the body once.
//!
//! On Envoy the response headers are held (`Pause`) until the body is complete, so a
//! failure can still answer a clean 502. Kong (ngx_wasm_module) cannot pause response
//! headers; there the headers have gone and a failure empties the body instead (see
//! `fail_after_headers`).

use super::{Host, HostKind};
use crate::decision::Denial;

/// Request-side preparation: no partial content, no compression.
pub fn prepare_request(host: &mut dyn Host) -> Result<(), Denial> {
    let err = |e: super::HostError| Denial::internal("host_error", e.to_string());
    host.set_request_header("range", None).map_err(err)?;
    host.set_request_header("if-range", None).map_err(err)?;
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

/// Checks the response headers of a route whose body must be read, and removes
/// `content-length` (the body will change). Refuses partial content, any content
/// encoding but identity, and non-JSON bodies: an unreadable body never passes.
pub fn check_response_headers(
    host: &mut dyn Host,
    end_of_stream: bool,
) -> Result<ResponseKind, Denial> {
    let err = |e: super::HostError| Denial::internal("host_error", e.to_string());
    let status = host
        .response_header(":status")
        .map_err(err)?
        .unwrap_or_default();
    if status == "204" || status == "304" {
        return Ok(ResponseKind::NoBody);
    }
    if end_of_stream {
        // A HEAD answer (or an empty one): its length is the backend's unchecked body's,
        // which would tell the client how much was hidden. Never pass it on.
        host.set_response_header("content-length", None)
            .map_err(err)?;
        return Ok(ResponseKind::NoBody);
    }
    if status == "206" {
        return Err(Denial::bad_gateway(
            "partial_content",
            "206 on a checked route",
        ));
    }
    if let Some(encoding) = host.response_header("content-encoding").map_err(err)? {
        if !encoding.trim().eq_ignore_ascii_case("identity") {
            return Err(Denial::bad_gateway(
                "encoded_response",
                format!("content-encoding {encoding}"),
            ));
        }
    }
    let content_type = host
        .response_header("content-type")
        .map_err(err)?
        .unwrap_or_default();
    if !is_json(&content_type) {
        return Err(Denial::bad_gateway(
            "not_json",
            format!("content-type `{content_type}`"),
        ));
    }
    host.set_response_header("content-length", None)
        .map_err(err)?;
    Ok(ResponseKind::Json)
}

/// `application/json` or any `+json` type, parameters ignored.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
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
/// empty the body: never pass the unchecked bytes.
pub fn fail_after_headers(host: &mut dyn Host, body_size: usize) {
    if host.kind() == HostKind::Kong {
        let _ = host.set_response_body(body_size, b"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::mock::MockHost;

    fn response(headers: &[(&str, &str)]) -> MockHost {
        MockHost {
            response_headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MockHost::default()
        }
    }

    #[test]
    fn json_types_with_parameters_and_plus_json_are_json() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn gzip_response_on_a_checked_route_is_refused() {
        let mut h = response(&[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ]);
        assert_eq!(
            check_response_headers(&mut h, false).unwrap_err().status,
            502
        );
    }

    #[test]
    fn partial_content_on_a_checked_route_is_refused() {
        let mut h = response(&[(":status", "206"), ("content-type", "application/json")]);
        assert_eq!(
            check_response_headers(&mut h, false).unwrap_err().code,
            "partial_content"
        );
    }

    #[test]
    fn json_response_loses_its_content_length() {
        let mut h = response(&[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", "9"),
        ]);
        assert_eq!(
            check_response_headers(&mut h, false).unwrap(),
            ResponseKind::Json
        );
        assert!(h
            .response_headers
            .iter()
            .all(|(k, _)| k != "content-length"));
    }

    #[test]
    fn body_over_the_limit_is_refused_before_the_end() {
        let h = MockHost::default();
        assert_eq!(
            buffered_body(&h, 11, false, 10).unwrap_err().code,
            "response_too_large"
        );
        assert_eq!(buffered_body(&h, 5, false, 10).unwrap(), BodyStep::Wait);
    }

    #[test]
    fn request_asks_for_identity_encoding_and_no_ranges() {
        let mut h = MockHost::request("GET", "a", "/")
            .with_header("range", "bytes=0-1")
            .with_header("accept-encoding", "gzip");
        prepare_request(&mut h).unwrap();
        assert_eq!(h.upstream_header("range"), None);
        assert_eq!(h.upstream_header("accept-encoding"), Some("identity"));
    }
}
