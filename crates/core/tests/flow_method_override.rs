#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Method overrides in the request body, through the authorization filter's flow on the
//! in-memory host: an allowed request whose body a framework parses for `_method` goes on
//! at its headers with the body still to check; the body is held until complete and
//! refused (400 `method_override`) when it names another method, before anything reaches
//! the backend. On Envoy the route must carry the request hold marker (500
//! `request_hold_missing` otherwise); Kong needs none.

use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::{json, Value};

const MARKER: &str = "xds.route_metadata.filter_metadata.portcullis.request_hold";
const STOCKOUT: &str = "POST: br.com.chaordic.cockpit/sales/customerServices/stockout";

fn filter(extra: Value) -> AuthzFilter {
    let mut config = json!({"scopes_claim": "scopes"});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    AuthzFilter::from_json(config.to_string().as_bytes()).unwrap()
}

/// A POST by a caller with the stockout scope on Envoy route `stockout`, with the request
/// hold marker, carrying `body` as `content_type`.
fn post(content_type: Option<&str>, body: &[u8]) -> MockHost {
    let claims =
        json!({"sub": "u1", "scopes": ["br.com.chaordic.cockpit/sales/customerServices/*"]});
    let identity = json!({"provider": "demo", "issuer": "i", "subject": "u1", "claims": claims});
    let mut host = MockHost::request("POST", "acme.localhost", "/sales/customerServices/stockout")
        .with_property("portcullis_identity", identity.to_string().as_bytes())
        .with_property("xds.route_name", b"stockout")
        .with_property(
            "xds.route_metadata.filter_metadata.portcullis.requirement",
            STOCKOUT.as_bytes(),
        )
        .with_property(MARKER, b"true");
    if let Some(ct) = content_type {
        host = host.with_header("content-type", ct);
    }
    host.request_body = body.to_vec();
    host
}

/// Runs the headers (a body follows) and, if they go on, the whole body in one callback.
fn run(f: &AuthzFilter, host: &mut MockHost) -> (Action, Option<Action>) {
    let mut stream = Default::default();
    let headers = f.on_request_headers(&mut stream, host, false);
    if headers != Action::Continue {
        return (headers, None);
    }
    let size = host.request_body.len();
    (
        headers,
        Some(f.on_request_body(&mut stream, host, size, true)),
    )
}

fn reason(host: &MockHost) -> Option<String> {
    let sent = host.sent.as_ref()?;
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    Some(body["error"].as_str().unwrap().to_string())
}

#[test]
fn form_body_naming_another_method_is_refused_when_the_body_is_complete() {
    let mut h = post(
        Some("application/x-www-form-urlencoded"),
        b"a=1&_method=DELETE",
    );
    assert_eq!(
        run(&filter(json!({})), &mut h),
        (Action::Continue, Some(Action::Pause))
    );
    assert_eq!(h.sent.as_ref().unwrap().status, 400);
    assert_eq!(reason(&h).as_deref(), Some("method_override"));
    assert_eq!(h.counter("portcullis_400_method_override"), 1);
}

#[test]
fn json_and_multipart_overrides_are_refused_too() {
    let multipart = b"--b\r\nContent-Disposition: form-data; name=_method\r\n\r\nPUT\r\n--b--\r\n";
    for (ct, body) in [
        ("application/json", &br#"{"_method":"PATCH"}"#[..]),
        ("multipart/form-data; boundary=b", &multipart[..]),
    ] {
        let mut h = post(Some(ct), body);
        run(&filter(json!({})), &mut h);
        assert_eq!(reason(&h).as_deref(), Some("method_override"), "{ct}");
    }
}

#[test]
fn body_without_an_override_goes_on_unchanged() {
    let body = br#"{"sku":1,"item":{"_method":"DELETE"}}"#;
    let mut h = post(Some("application/json"), body);
    assert_eq!(
        run(&filter(json!({})), &mut h),
        (Action::Continue, Some(Action::Continue))
    );
    assert_eq!(h.sent, None);
    assert_eq!(h.request_body, body.to_vec());
}

#[test]
fn body_is_held_until_complete_and_refused_at_the_chunk_that_passes_the_limit() {
    let f = filter(json!({"max_request_body_bytes": 10}));
    let mut h = post(None, b"sku=1&x=123456789");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, false),
        Action::Continue
    );
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, 6, false),
        Action::Pause
    );
    assert_eq!(h.sent, None);
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, 17, false),
        Action::Pause
    );
    assert_eq!(h.sent.as_ref().unwrap().status, 413);
    assert_eq!(reason(&h).as_deref(), Some("request_too_large"));
}

#[test]
fn after_a_refusal_later_body_callbacks_stay_paused() {
    let f = filter(json!({}));
    let mut h = post(None, b"_method=DELETE");
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, false);
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, 14, true),
        Action::Pause
    );
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, 14, true),
        Action::Pause
    );
    assert_eq!(h.counter("portcullis_400_method_override"), 1);
}

#[test]
fn envoy_route_without_the_request_hold_is_refused_at_the_headers() {
    let mut h = post(Some("application/json"), b"{}");
    h.properties.remove(MARKER);
    assert_eq!(run(&filter(json!({})), &mut h), (Action::Pause, None));
    assert_eq!(h.sent.as_ref().unwrap().status, 500);
    assert_eq!(reason(&h).as_deref(), Some("request_hold_missing"));
}

#[test]
fn kong_reads_the_body_without_any_marker() {
    let mut h = post(None, b"_method=PUT");
    h.properties.remove(MARKER);
    h.kind = HostKind::Kong;
    let name = h.properties.remove("xds.route_name").unwrap();
    h.properties.insert("kong.route_name".into(), name);
    let f = filter(json!({"routes": {"stockout": {"requirement": STOCKOUT}}}));
    assert_eq!(run(&f, &mut h), (Action::Continue, Some(Action::Pause)));
    assert_eq!(reason(&h).as_deref(), Some("method_override"));
}

#[test]
fn request_without_a_body_or_of_an_unparsed_type_needs_no_hold_and_is_not_read() {
    let f = filter(json!({}));
    let mut empty = post(Some("application/json"), b"");
    empty.properties.remove(MARKER);
    assert_eq!(
        f.on_request_headers(&mut Default::default(), &mut empty, true),
        Action::Continue
    );
    let mut binary = post(Some("application/octet-stream"), b"_method=DELETE");
    binary.properties.remove(MARKER);
    assert_eq!(
        run(&f, &mut binary),
        (Action::Continue, Some(Action::Continue))
    );
    assert_eq!(binary.sent, None);
}

#[test]
fn a_caller_refused_at_the_headers_is_refused_before_any_body_check() {
    let mut h = post(None, b"_method=DELETE");
    h.properties.insert(
        "xds.route_metadata.filter_metadata.portcullis.requirement".into(),
        b"POST: finance/reports".to_vec(),
    );
    assert_eq!(run(&filter(json!({})), &mut h), (Action::Pause, None));
    assert_eq!(reason(&h).as_deref(), Some("no_matching_grant"));
}

#[test]
fn shadow_route_still_refuses_a_body_override() {
    let mut h = post(None, b"_method=DELETE");
    h.properties.insert(
        "xds.route_metadata.filter_metadata.portcullis.requirement".into(),
        b"POST: finance/reports".to_vec(),
    );
    h.properties.insert(
        "xds.route_metadata.filter_metadata.portcullis.shadow".into(),
        b"true".to_vec(),
    );
    assert_eq!(
        run(&filter(json!({})), &mut h),
        (Action::Continue, Some(Action::Pause))
    );
    assert_eq!(reason(&h).as_deref(), Some("method_override"));
}

#[test]
fn malformed_json_and_repeated_content_types_are_refused() {
    let mut bad = post(Some("application/json"), b"{\"_method\":");
    run(&filter(json!({})), &mut bad);
    assert_eq!(reason(&bad).as_deref(), Some("request_body_invalid"));
    let mut twice = post(Some("application/json"), b"{}").with_header("content-type", "text/plain");
    run(&filter(json!({})), &mut twice);
    assert_eq!(reason(&twice).as_deref(), Some("content_type_invalid"));
}

#[test]
fn query_fields_separated_by_semicolons_are_checked() {
    let mut h = post(None, b"");
    h.request_headers.retain(|(name, _)| name != ":path");
    h.request_headers.push((
        ":path".into(),
        "/sales/customerServices/stockout?a=1;_method=DELETE".into(),
    ));
    assert_eq!(run(&filter(json!({})), &mut h).0, Action::Pause);
    assert_eq!(reason(&h).as_deref(), Some("method_override"));
}
