#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The request hold marker: on Envoy the account filter lets request headers go on and
//! checks a `body:` account id when the body arrives, so only Envoy's buffer filter on the
//! route keeps the request from the router until then. A route says it has that buffer by
//! its route metadata `portcullis.request_hold: "true"` (set by `portcullis render
//! envoy`); a body-account route without it is refused (500) before anything continues,
//! whether its settings come from the route table (ECDS) or from route metadata.

use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::json;

const MARKER: &str = "xds.route_metadata.filter_metadata.portcullis.request_hold";
const OWN_BODY: &[u8] = br#"{"account":{"id":"demostore"},"n":1}"#;

fn filter() -> AccountsFilter {
    AccountsFilter::from_json(include_bytes!("fixtures/accounts/request-hold.json")).unwrap()
}

/// A POST by the demo user (organization `demostore`) on route `route` of a `kind` host.
fn post(kind: HostKind, route: &str, path: &str) -> MockHost {
    let identity = json!({
        "provider": "demo",
        "issuer": "https://accounts.crontech.localhost",
        "subject": "u1",
        "claims": {"sub": "u1", "organization": ["demostore"]}
    });
    let name_property = match kind {
        HostKind::Envoy => "xds.route_name",
        HostKind::Kong => "kong.route_name",
    };
    let mut host = MockHost::request("POST", "acme.localhost", path)
        .with_property(name_property, route.as_bytes())
        .with_property("portcullis_identity", identity.to_string().as_bytes());
    host.kind = kind;
    host.request_body = OWN_BODY.to_vec();
    host
}

fn reason(host: &MockHost) -> String {
    let body: serde_json::Value =
        serde_json::from_slice(&host.sent.as_ref().unwrap().body).unwrap();
    body["error"].as_str().unwrap().to_string()
}

/// Runs the request headers (more to come) and, if they go on, the whole body.
fn run(f: &AccountsFilter, host: &mut MockHost) -> (Action, Option<Action>) {
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

fn assert_refused_for_missing_hold(host: &MockHost, headers: Action, body: Option<Action>) {
    assert_eq!(headers, Action::Pause, "the request headers must not go on");
    assert_eq!(body, None);
    assert_eq!(host.sent.as_ref().map(|s| s.status), Some(500));
    assert_eq!(reason(host), "request_hold_missing");
    assert_eq!(host.counter("portcullis_500_request_hold_missing"), 1);
}

#[test]
fn body_account_route_from_the_route_table_without_the_marker_is_refused_on_envoy() {
    let mut h = post(HostKind::Envoy, "by-body", "/items");
    let (headers, body) = run(&filter(), &mut h);
    assert_refused_for_missing_hold(&h, headers, body);
}

#[test]
fn body_account_route_from_route_metadata_without_the_marker_is_refused_on_envoy() {
    let mut h = post(HostKind::Envoy, "hand-written", "/items").with_property(
        "xds.route_metadata.filter_metadata.portcullis.account",
        b"body:account.id",
    );
    let (headers, body) = run(&filter(), &mut h);
    assert_refused_for_missing_hold(&h, headers, body);
}

#[test]
fn marker_other_than_true_does_not_count_as_a_hold() {
    for value in [&b"false"[..], b"TRUE", b"yes", b""] {
        let mut h = post(HostKind::Envoy, "by-body", "/items").with_property(MARKER, value);
        let (headers, body) = run(&filter(), &mut h);
        assert_refused_for_missing_hold(&h, headers, body);
    }
}

#[test]
fn denial_log_names_the_route_and_the_missing_setting() {
    let mut h = post(HostKind::Envoy, "by-body", "/items");
    run(&filter(), &mut h);
    let logs = h.logs.borrow();
    let line = logs
        .iter()
        .find(|l| l.contains("request_hold_missing"))
        .expect("a decision log line");
    assert!(line.contains("by-body"), "{line}");
    assert!(line.contains("portcullis.request_hold"), "{line}");
}

#[test]
fn body_account_route_with_the_marker_checks_the_body_as_before() {
    let mut h = post(HostKind::Envoy, "by-body", "/items").with_property(MARKER, b"true");
    let (headers, body) = run(&filter(), &mut h);
    assert_eq!((headers, body), (Action::Continue, Some(Action::Continue)));
    assert_eq!(h.sent, None);
}

#[test]
fn foreign_body_account_with_the_marker_is_still_refused_with_403() {
    let mut h = post(HostKind::Envoy, "by-body", "/items").with_property(MARKER, b"true");
    h.request_body = br#"{"account":{"id":"qa"}}"#.to_vec();
    let (headers, body) = run(&filter(), &mut h);
    assert_eq!((headers, body), (Action::Continue, Some(Action::Pause)));
    assert_eq!(reason(&h), "account_not_allowed");
}

#[test]
fn kong_checks_a_body_account_without_any_marker() {
    let mut h = post(HostKind::Kong, "by-body", "/items");
    let (headers, body) = run(&filter(), &mut h);
    assert_eq!((headers, body), (Action::Continue, Some(Action::Continue)));
    assert_eq!(h.sent, None);
}

#[test]
fn routes_without_a_body_account_need_no_marker() {
    let mut h = post(HostKind::Envoy, "by-query", "/items?account_id=demostore");
    let (headers, body) = run(&filter(), &mut h);
    assert_eq!((headers, body), (Action::Continue, Some(Action::Continue)));
    assert_eq!(h.sent, None);
}
