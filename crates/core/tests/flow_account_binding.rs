#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! "Every resource must have a bound account" (SPEC §5) and "an account never learns who
//! its owner is", in the account filter's flow on `MockHost`: a route declares where its
//! account id is or `account: none`; one that declares neither, or nothing at all, is
//! refused (403 `no_account_binding`); owner fields are hidden and counted, not logged as
//! leaks.

use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::{json, Value};

/// The demo's automations answer for `demostore` (SPEC §10), with a backend bug (`a9`).
const AUTOMATIONS: &str = r#"[{"id":"a1","name":"nightly-sync","client":"demostore","owner":"acme"},{"id":"a2","name":"sms-trigger","client":"demostore","owner":"acme"},{"id":"a9","name":"qa-crawler","client":"qa","owner":"acme"}]"#;

fn filter() -> AccountsFilter {
    let config = json!({
        "accounts_claim": "organization",
        "tree": {"acme": "crontech", "demostore": "acme", "qa": "acme"},
        "routes": {
            "automations": {"requirement": "GET: automation:all:read",
                            "account": "path:/accounts/{account}/automations",
                            "response_accounts": "filter: [*].client; hide_owner: [*].owner"},
            "health": {"requirement": "GET: public", "account": "none"},
            "none-checked": {"requirement": "GET: authenticated", "account": "none",
                             "response_accounts": "filter: [*].client"},
            "unbound": {"requirement": "GET: authenticated"},
            "response-only": {"requirement": "GET: authenticated",
                              "response_accounts": "filter: [*].client"}
        }
    });
    AccountsFilter::from_json(config.to_string().as_bytes()).unwrap()
}

fn identity(organization: &[&str]) -> Vec<u8> {
    json!({"provider": "demo", "issuer": "https://accounts.crontech.localhost", "subject": "u1",
           "claims": {"sub": "u1", "organization": organization}})
    .to_string()
    .into_bytes()
}

/// A GET on Envoy route `route` (by name) by a caller with `organization`.
fn get(route: &str, path: &str, organization: &[&str]) -> MockHost {
    MockHost::request("GET", "acme.localhost", path)
        .with_property("xds.route_name", route.as_bytes())
        .with_property("portcullis_identity", &identity(organization))
}

/// Runs the request headers and, if they pass, a JSON 200 answer with `body`.
fn run(filter: &AccountsFilter, host: &mut MockHost, body: &str) -> Action {
    let mut stream = Default::default();
    let request = filter.on_request_headers(&mut stream, host, true);
    if request != Action::Continue {
        return request;
    }
    host.response_headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "application/json".into()),
        ("content-length".into(), body.len().to_string()),
    ];
    host.response_body = body.as_bytes().to_vec();
    filter.on_response_headers(&mut stream, host, false);
    filter.on_response_body(&mut stream, host, body.len(), true)
}

fn refusal(host: &MockHost) -> (u16, String) {
    let sent = host.sent.as_ref().expect("a local answer");
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    (sent.status, body["error"].as_str().unwrap().to_string())
}

fn sent_json(host: &MockHost) -> Value {
    assert_eq!(host.sent, None, "the response went on");
    serde_json::from_slice(&host.response_body).unwrap()
}

fn no_binding() -> (u16, String) {
    (403, "no_account_binding".to_string())
}

#[test]
fn a_route_without_an_account_binding_is_refused() {
    let mut h = get("unbound", "/whoami", &["demostore"]);
    assert_eq!(run(&filter(), &mut h, "{}"), Action::Pause);
    assert_eq!(refusal(&h), no_binding());
    assert_eq!(h.counter("portcullis_403_no_account_binding"), 1);
}

#[test]
fn a_route_with_response_accounts_but_no_account_binding_is_refused() {
    let mut h = get("response-only", "/items", &["demostore"]);
    assert_eq!(run(&filter(), &mut h, "[]"), Action::Pause);
    assert_eq!(refusal(&h), no_binding());
}

#[test]
fn an_unknown_envoy_route_without_metadata_is_refused() {
    let mut h = get("nowhere", "/x", &["demostore"]);
    assert_eq!(run(&filter(), &mut h, "{}"), Action::Pause);
    assert_eq!(refusal(&h), no_binding());
}

#[test]
fn a_request_with_no_route_name_is_refused() {
    let mut h = MockHost::request("GET", "acme.localhost", "/x");
    assert_eq!(run(&filter(), &mut h, "{}"), Action::Pause);
    assert_eq!(refusal(&h), no_binding());
}

#[test]
fn an_unknown_kong_route_is_refused() {
    let mut h = MockHost::request("GET", "acme.localhost", "/x")
        .with_property("kong.route_name", b"nowhere")
        .with_property(
            "xds.route_metadata.filter_metadata.portcullis.account",
            b"none",
        );
    h.kind = HostKind::Kong;
    assert_eq!(run(&filter(), &mut h, "{}"), Action::Pause);
    assert_eq!(refusal(&h), no_binding());
}

#[test]
fn envoy_route_metadata_with_only_a_requirement_is_refused() {
    let mut h = MockHost::request("GET", "acme.localhost", "/x")
        .with_property("xds.route_name", b"meta")
        .with_property(
            "xds.route_metadata.filter_metadata.portcullis.requirement",
            b"GET: public",
        );
    assert_eq!(run(&filter(), &mut h, "{}"), Action::Pause);
    assert_eq!(refusal(&h), no_binding());
}

#[test]
fn envoy_route_metadata_bound_to_no_account_passes_without_identity() {
    let mut h = MockHost::request("GET", "acme.localhost", "/x")
        .with_property("xds.route_name", b"meta")
        .with_property(
            "xds.route_metadata.filter_metadata.portcullis.account",
            b"none",
        );
    assert_eq!(run(&filter(), &mut h, "{}"), Action::Continue);
    assert_eq!(h.sent, None);
}

#[test]
fn a_public_route_bound_to_no_account_needs_no_identity() {
    let mut h = MockHost::request("GET", "acme.localhost", "/public/health")
        .with_property("xds.route_name", b"health");
    assert_eq!(
        run(&filter(), &mut h, r#"{"status":"ok"}"#),
        Action::Continue
    );
    assert_eq!(h.sent, None);
    assert!(h.counters.borrow().is_empty(), "{:?}", h.counters);
}

#[test]
fn a_route_bound_to_no_account_still_checks_its_response_accounts() {
    let body = r#"[{"client":"demostore"},{"client":"qa"}]"#;
    let mut h = get("none-checked", "/items", &["demostore"]);
    assert_eq!(run(&filter(), &mut h, body), Action::Continue);
    assert_eq!(sent_json(&h), json!([{"client": "demostore"}]));
    let mut anonymous = MockHost::request("GET", "acme.localhost", "/items")
        .with_property("xds.route_name", b"none-checked");
    assert_eq!(run(&filter(), &mut anonymous, body), Action::Pause);
    assert_eq!(refusal(&anonymous).1, "account_without_identity");
}

#[test]
fn the_demo_user_gets_its_automations_without_the_owner() {
    let mut h = get(
        "automations",
        "/accounts/demostore/automations",
        &["demostore"],
    );
    assert_eq!(run(&filter(), &mut h, AUTOMATIONS), Action::Continue);
    assert_eq!(
        sent_json(&h),
        json!([{"id": "a1", "name": "nightly-sync", "client": "demostore"},
               {"id": "a2", "name": "sms-trigger", "client": "demostore"}])
    );
    assert_eq!(h.counter("portcullis_leak_filtered"), 1);
    assert_eq!(h.counter("portcullis_owner_hidden"), 1);
}

#[test]
fn a_caller_given_the_owner_gets_every_automation_unchanged() {
    let mut h = get("automations", "/accounts/demostore/automations", &["acme"]);
    assert_eq!(run(&filter(), &mut h, AUTOMATIONS), Action::Continue);
    assert_eq!(h.response_body, AUTOMATIONS.as_bytes());
    assert_eq!(h.counter("portcullis_leak_filtered"), 0);
    assert_eq!(h.counter("portcullis_owner_hidden"), 0);
}

#[test]
fn hiding_an_owner_is_counted_but_not_logged_as_a_leak() {
    let body = r#"[{"id":"a9","client":"qa","owner":"acme"}]"#;
    let mut h = get("automations", "/accounts/qa/automations", &["qa"]);
    assert_eq!(run(&filter(), &mut h, body), Action::Continue);
    assert_eq!(sent_json(&h), json!([{"id": "a9", "client": "qa"}]));
    assert_eq!(h.counter("portcullis_owner_hidden"), 1);
    assert_eq!(h.counter("portcullis_leak_filtered"), 0);
    assert!(
        !h.logs.borrow().iter().any(|l| l.contains("leak_")),
        "{:?}",
        h.logs
    );
}

#[test]
fn every_spelling_and_copy_of_the_owner_is_hidden() {
    let body =
        r#"[{"client":"qa","owner":"acme","Owner":"acme","OWNER":"crontech","owner":"acme"}]"#;
    let mut h = get("automations", "/accounts/qa/automations", &["qa"]);
    assert_eq!(run(&filter(), &mut h, body), Action::Continue);
    assert_eq!(h.response_body, br#"[{"client":"qa"}]"#);
}
