//! The authorization filter's method-override checks. The route's requirement is checked
//! for the request's method; many frameworks (Express `method-override`, Rails and
//! Sinatra through Rack::MethodOverride, Symfony, Laravel, Spring, ASP.NET) run another
//! method named by a header, a `_method` query parameter or a `_method` field of the
//! body. An override naming another method than the request's is refused (400
//! `method_override`): a `POST` allowed on a route must not become a `DELETE` at the
//! backend. Headers and query are checked with the request headers; bodies that
//! frameworks parse ([`crate::method_override`]) are read whole before the backend sees
//! them (on Envoy, behind the request hold: [`super::hold`]).

use super::hold::require_request_hold;
use super::{Host, HostError};
use crate::decision::Denial;
use crate::method_override::{self, BodyTypes, OverrideError};

/// Method-override headers (any case, `_` for `-`).
const OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

fn host_error(e: HostError) -> Denial {
    Denial::internal("host_error", e.to_string())
}

/// The refusal for a query or body that carries an override or cannot be read.
fn refusal(error: OverrideError, method: &str) -> Denial {
    match error {
        OverrideError::Override(place) => Denial::bad_request(
            "method_override",
            format!("{place} names another method than {method}"),
        ),
        OverrideError::ContentType(why) => Denial::bad_request("content_type_invalid", why),
        OverrideError::Unreadable(why) => Denial::bad_request("request_body_invalid", why),
    }
}

/// Refuses override headers and `_method` query parameters naming another method.
pub fn check_headers_and_query(
    host: &dyn Host,
    method: &str,
    query: Option<&str>,
) -> Result<(), Denial> {
    for (name, value) in &host.request_headers().map_err(host_error)? {
        let name = name.to_ascii_lowercase().replace('_', "-");
        if OVERRIDE_HEADERS.contains(&name.as_str()) && !value.trim().eq_ignore_ascii_case(method) {
            return Err(Denial::bad_request(
                "method_override",
                format!("{name} names another method than {method}"),
            ));
        }
    }
    let query = query.unwrap_or_default().as_bytes();
    method_override::check_form(query, method, "query parameter _method")
        .map_err(|e| refusal(e, method))
}

/// A request body to read before the request may go on.
#[derive(Debug, Clone)]
pub struct PendingBody {
    method: String,
    types: BodyTypes,
}

/// Decides at request-header time whether the body must be read: a body-carrying method
/// (all but GET, HEAD, OPTIONS) with a body of a type frameworks parse. Refuses repeated
/// content types, content types that cannot be read one way, and encoded bodies (the check
/// cannot read them; the backend may decompress them); on Envoy, a route without the
/// request hold (500 `request_hold_missing`).
pub fn plan_body(
    host: &dyn Host,
    method: &str,
    end_of_stream: bool,
    route: Option<&str>,
) -> Result<Option<PendingBody>, Denial> {
    if end_of_stream || !method_override::is_body_method(method) {
        return Ok(None);
    }
    let headers = host.request_headers().map_err(host_error)?;
    let named = |wanted: &'static str| {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
    };
    let mut content_types = named("content-type");
    let content_type = content_types.next();
    if content_types.next().is_some() {
        return Err(Denial::bad_request(
            "content_type_invalid",
            "repeated content-type header",
        ));
    }
    let types = method_override::body_types(content_type).map_err(|e| refusal(e, method))?;
    if !types.is_read() {
        return Ok(None);
    }
    if named("content-encoding").any(|v| !v.trim().eq_ignore_ascii_case("identity")) {
        return Err(Denial {
            status: 415,
            code: "request_body_encoded",
            detail: "the request body has a content-encoding".into(),
            message: "send the request body unencoded",
        });
    }
    require_request_hold(host, route, "reads request bodies for method overrides")?;
    Ok(Some(PendingBody {
        method: method.to_string(),
        types,
    }))
}

/// What a request body callback decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStep {
    /// More is coming: keep buffering.
    Wait,
    /// The body was checked and may go on.
    Checked,
}

/// Reads the pending body (`size` bytes buffered so far) once it is complete and checks
/// it; over `limit` bytes it is refused (413) without waiting for the rest.
pub fn check_body(
    pending: &PendingBody,
    host: &dyn Host,
    size: usize,
    end_of_stream: bool,
    limit: usize,
) -> Result<BodyStep, Denial> {
    if size > limit {
        return Err(Denial {
            status: 413,
            code: "request_too_large",
            detail: "request body over the limit".into(),
            message: "request body over the limit",
        });
    }
    if !end_of_stream {
        return Ok(BodyStep::Wait);
    }
    let body = host
        .request_body(size)
        .map_err(host_error)?
        .unwrap_or_default();
    if body.len() != size {
        return Err(Denial::internal(
            "request_body_unreadable",
            format!("read {} of {size} body bytes", body.len()),
        ));
    }
    method_override::check_body(&pending.types, &body, &pending.method)
        .map_err(|e| refusal(e, &pending.method))?;
    Ok(BodyStep::Checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::mock::MockHost;

    const MARKER: &str = "xds.route_metadata.filter_metadata.portcullis.request_hold";

    fn post(content_type: Option<&str>) -> MockHost {
        let h = MockHost::request("POST", "a", "/").with_property(MARKER, b"true");
        match content_type {
            Some(ct) => h.with_header("content-type", ct),
            None => h,
        }
    }

    fn pending(content_type: Option<&str>) -> PendingBody {
        plan_body(&post(content_type), "POST", false, None)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn requests_without_a_body_or_with_a_safe_method_are_not_read() {
        let h = post(None);
        assert!(plan_body(&h, "POST", true, None).unwrap().is_none());
        for method in ["GET", "HEAD", "OPTIONS"] {
            assert!(plan_body(&h, method, false, None).unwrap().is_none());
        }
        let binary = post(Some("application/octet-stream"));
        assert!(plan_body(&binary, "POST", false, None).unwrap().is_none());
    }

    #[test]
    fn a_repeated_content_type_is_refused() {
        let h = post(Some("application/json")).with_header("Content-Type", "text/plain");
        let denial = plan_body(&h, "POST", false, None).unwrap_err();
        assert_eq!((denial.status, denial.code), (400, "content_type_invalid"));
    }

    #[test]
    fn an_encoded_body_to_read_is_refused_with_415() {
        let h = post(None).with_header("content-encoding", "gzip");
        let denial = plan_body(&h, "PUT", false, None).unwrap_err();
        assert_eq!((denial.status, denial.code), (415, "request_body_encoded"));
    }

    #[test]
    fn an_envoy_route_without_the_hold_is_refused_before_the_body() {
        let h = MockHost::request("POST", "a", "/").with_header("content-type", "application/json");
        let denial = plan_body(&h, "POST", false, Some("r")).unwrap_err();
        assert_eq!((denial.status, denial.code), (500, "request_hold_missing"));
    }

    #[test]
    fn the_body_is_read_once_complete_and_refused_over_the_limit() {
        let mut h = post(None);
        h.request_body = b"_method=DELETE".to_vec();
        let p = pending(None);
        assert_eq!(check_body(&p, &h, 5, false, 100), Ok(BodyStep::Wait));
        let over = check_body(&p, &h, 101, false, 100).unwrap_err();
        assert_eq!((over.status, over.code), (413, "request_too_large"));
        let refused = check_body(&p, &h, 14, true, 100).unwrap_err();
        assert_eq!((refused.status, refused.code), (400, "method_override"));
    }

    #[test]
    fn a_body_that_cannot_be_read_fails_closed() {
        let mut h = post(None);
        h.failing.push("get_buffer");
        let denial = check_body(&pending(None), &h, 3, true, 100).unwrap_err();
        assert_eq!(denial.status, 500);
        let short = check_body(&pending(None), &post(None), 3, true, 100).unwrap_err();
        assert_eq!(short.code, "request_body_unreadable");
    }

    #[test]
    fn a_malformed_json_body_is_refused_as_invalid() {
        let mut h = post(Some("application/json"));
        h.request_body = b"{".to_vec();
        let denial = check_body(&pending(Some("application/json")), &h, 1, true, 100).unwrap_err();
        assert_eq!(denial.code, "request_body_invalid");
    }

    #[test]
    fn override_headers_and_query_parameters_are_refused() {
        let h = MockHost::request("GET", "a", "/").with_header("X_HTTP_Method_Override", "PUT");
        assert_eq!(
            check_headers_and_query(&h, "GET", None).unwrap_err().code,
            "method_override"
        );
        let q = MockHost::request("GET", "a", "/");
        for query in ["a=1;_method=DELETE", "_method[]=PUT", ".method=PUT"] {
            assert!(
                check_headers_and_query(&q, "GET", Some(query)).is_err(),
                "{query}"
            );
        }
        assert!(check_headers_and_query(&q, "GET", Some("_method=get")).is_ok());
    }
}
