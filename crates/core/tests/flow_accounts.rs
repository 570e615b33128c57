#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The account filter's flow (SPEC §5) driven natively through `MockHost`: request ids
//! checked before the backend, response ids blocked or filtered, and every failure closed.

use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::json;

const CONTRACT: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","cpf":"000.000.370.00","rendaMensal":15000},"mother":{"name":"Mãe","cpf":"000.000.370.00","rendaMensal":15000}}"#;
const FOREIGN: &str = r#"{"id":"999","contractOwner":"qa","user":{"cpf":"SECRET-CPF"}}"#;

/// The demo's account configuration with a route table covering every id location.
fn filter_with(extra: serde_json::Value) -> AccountsFilter {
    let mut config = json!({
        "accounts_claim": "organization",
        "tree": {"acme": "crontech", "demostore": "acme", "qa": "acme"},
        "include_descendants": true,
        "max_body_bytes": 1024,
        "max_request_body_bytes": 64,
        "routes": {
            "contract": {"account": "path:/accounts/{account}/contracts/{id}",
                         "response_accounts": "block: contractOwner"},
            "contracts": {"account": "path:/accounts/{account}/contracts",
                          "response_accounts": "filter: [*].contractOwner"},
            "by-query": {"account": "query:account_id"},
            "by-header": {"account": "header:x-account-id"},
            "by-body": {"account": "body:account.id"},
            "no-account": {"requirement": "GET: authenticated", "account": "none"}
        }
    });
    if let (Some(base), Some(more)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            base.insert(k.clone(), v.clone());
        }
    }
    AccountsFilter::from_json(config.to_string().as_bytes()).unwrap()
}

fn filter() -> AccountsFilter {
    filter_with(json!({}))
}

fn identity(organization: &[&str]) -> Vec<u8> {
    json!({
        "provider": "demo",
        "issuer": "https://accounts.crontech.localhost",
        "subject": "u1",
        "claims": {"sub": "u1", "organization": organization}
    })
    .to_string()
    .into_bytes()
}

/// A request on route `route` by a caller with `organization`.
fn request(
    kind: HostKind,
    route: &str,
    method: &str,
    path: &str,
    organization: &[&str],
) -> MockHost {
    let name_property = match kind {
        HostKind::Envoy => "xds.route_name",
        HostKind::Kong => "kong.route_name",
    };
    let mut host = MockHost::request(method, "acme.localhost", path)
        .with_property(name_property, route.as_bytes())
        .with_property("portcullis_identity", &identity(organization));
    host.kind = kind;
    host
}

/// A POST on the body-account route of an Envoy route that holds requests until the body
/// was checked (the `request_hold` marker `portcullis render envoy` puts with the buffer).
fn held_body_request() -> MockHost {
    request(HostKind::Envoy, "by-body", "POST", "/items", &["demostore"]).with_property(
        "xds.route_metadata.filter_metadata.portcullis.request_hold",
        b"true",
    )
}

fn get(route: &str, path: &str) -> MockHost {
    request(HostKind::Envoy, route, "GET", path, &["demostore"])
}

/// Sets a JSON response with `body` in the mock.
fn respond(host: &mut MockHost, status: &str, body: &[u8]) {
    host.response_headers = vec![
        (":status".into(), status.into()),
        ("content-type".into(), "application/json".into()),
        ("content-length".into(), body.len().to_string()),
    ];
    host.response_body = body.to_vec();
}

/// Runs the request headers (no body) and, if they pass, the whole response in one body
/// callback, as Envoy does behind the response hold.
fn run(filter: &AccountsFilter, host: &mut MockHost) -> (Action, Action, Action) {
    let mut stream = Default::default();
    let req = filter.on_request_headers(&mut stream, host, true);
    let headers = filter.on_response_headers(&mut stream, host, false);
    let size = host.response_body.len();
    let body = filter.on_response_body(&mut stream, host, size, true);
    (req, headers, body)
}

fn sent_status(host: &MockHost) -> Option<u16> {
    host.sent.as_ref().map(|s| s.status)
}

fn sent_body(host: &MockHost) -> String {
    String::from_utf8(host.sent.as_ref().unwrap().body.clone()).unwrap()
}

fn reason(host: &MockHost) -> String {
    let body: serde_json::Value =
        serde_json::from_slice(&host.sent.as_ref().unwrap().body).unwrap();
    body["error"].as_str().unwrap().to_string()
}

// --- request side ------------------------------------------------------------------

#[test]
fn own_account_in_the_path_passes_and_asks_for_identity_encoding_without_ranges() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/123-456")
        .with_header("range", "bytes=0-10")
        .with_header("if-range", "x")
        .with_header("accept-encoding", "gzip, br");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Continue
    );
    assert_eq!(h.sent, None);
    assert_eq!(h.upstream_header("range"), None);
    assert_eq!(h.upstream_header("if-range"), None);
    assert_eq!(h.upstream_header("accept-encoding"), Some("identity"));
}

#[test]
fn foreign_account_in_the_path_is_refused_with_403_and_counted() {
    let f = filter();
    let mut h = get("contract", "/accounts/qa/contracts/123-456");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(403));
    assert_eq!(reason(&h), "account_not_allowed");
    assert!(
        !sent_body(&h).contains("qa"),
        "the 403 body names no account"
    );
    assert_eq!(h.counter("portcullis_403_account_not_allowed"), 1);
    assert!(h
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("\"decision\":\"deny\"")));
}

#[test]
fn parent_account_reaches_its_descendants() {
    let f = filter();
    let mut h = request(
        HostKind::Envoy,
        "contract",
        "GET",
        "/accounts/qa/contracts/1",
        &["acme"],
    );
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Continue
    );
    assert_eq!(h.sent, None);
}

#[test]
fn descendants_are_not_reached_when_the_configuration_says_so() {
    let f = filter_with(json!({"include_descendants": false}));
    let mut h = request(
        HostKind::Envoy,
        "contract",
        "GET",
        "/accounts/qa/contracts/1",
        &["acme"],
    );
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(403));
}

#[test]
fn sibling_account_is_refused() {
    let f = filter();
    let mut h = request(
        HostKind::Envoy,
        "contract",
        "GET",
        "/accounts/demostore/contracts/1",
        &["qa"],
    );
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    assert_eq!(sent_status(&h), Some(403));
}

#[test]
fn percent_encoded_or_case_changed_account_id_is_refused_never_decoded() {
    let f = filter();
    for (path, status) in [
        ("/accounts/%64emostore/contracts/1", 400),
        ("/accounts/demostore%2fqa/contracts/1", 400),
        ("/accounts/demostore%2Fqa/contracts/1", 400),
        ("/accounts/Demostore/contracts/1", 403),
        ("/accounts/demostore/../qa/contracts/1", 400),
    ] {
        let mut h = get("contract", path);
        let mut stream = Default::default();
        assert_eq!(
            f.on_request_headers(&mut stream, &mut h, true),
            Action::Pause,
            "{path}"
        );
        assert_eq!(sent_status(&h), Some(status), "{path}: {:?}", h.sent);
    }
}

#[test]
fn route_bound_to_no_account_is_not_touched() {
    let f = filter();
    let mut h = get("no-account", "/whoami").with_header("accept-encoding", "gzip");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Continue
    );
    assert_eq!(h.upstream_header("accept-encoding"), Some("gzip"));
}

#[test]
fn account_bound_route_without_identity_is_refused() {
    let f = filter();
    let mut h = MockHost::request("GET", "acme.localhost", "/accounts/demostore/contracts/1")
        .with_property("xds.route_name", b"contract");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(403));
    assert_eq!(reason(&h), "account_without_identity");
}

#[test]
fn host_error_reading_the_identity_denies() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/1");
    // The route name is read leniently; the identity read is not.
    h.properties
        .insert("xds.route_name".into(), b"contract".to_vec());
    h.failing = vec!["get_property"];
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
    assert_eq!(reason(&h), "host_error");
}

#[test]
fn host_error_setting_request_headers_denies_with_500() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/1");
    h.failing = vec!["set_map_value"];
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
    assert_eq!(reason(&h), "host_error");
}

#[test]
fn query_parameter_of_the_caller_passes() {
    let f = filter();
    let mut h = get("by-query", "/items?account_id=demostore&x=1");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Continue
    );
}

#[test]
fn foreign_or_missing_query_parameter_is_refused() {
    let f = filter();
    for path in ["/items?account_id=qa", "/items", "/items?other=demostore"] {
        let mut h = get("by-query", path);
        let mut stream = Default::default();
        assert_eq!(
            f.on_request_headers(&mut stream, &mut h, true),
            Action::Pause,
            "{path}"
        );
        assert_eq!(sent_status(&h), Some(403), "{path}");
    }
}

#[test]
fn query_parameter_given_twice_with_different_values_is_refused() {
    let f = filter();
    for path in [
        "/items?account_id=demostore&account_id=qa",
        "/items?account_id=qa&account_id=demostore",
        "/items?account_id=demostore&account%5Fid=qa",
    ] {
        let mut h = get("by-query", path);
        let mut stream = Default::default();
        f.on_request_headers(&mut stream, &mut h, true);
        assert_eq!(sent_status(&h), Some(403), "{path}");
        assert_eq!(reason(&h), "account_invalid", "{path}");
    }
}

#[test]
fn header_of_the_caller_passes_and_foreign_or_repeated_is_refused() {
    let f = filter();
    let mut ok = get("by-header", "/items").with_header("x-account-id", "demostore");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut ok, true),
        Action::Continue
    );

    let mut foreign = get("by-header", "/items").with_header("x-account-id", "qa");
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut foreign, true);
    assert_eq!(sent_status(&foreign), Some(403));

    let mut twice = get("by-header", "/items")
        .with_header("x-account-id", "demostore")
        .with_header("x-account-id", "qa");
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut twice, true);
    assert_eq!(sent_status(&twice), Some(403));
}

#[test]
fn body_location_waits_for_the_body_then_checks_it() {
    let f = filter();
    let body = br#"{"account":{"id":"demostore"},"n":1}"#;
    let mut h = held_body_request();
    h.request_body = body.to_vec();
    let mut stream = Default::default();
    // The headers go on (paused request headers would never get the body on Envoy); the
    // body is held until it is complete and checked.
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, false),
        Action::Continue
    );
    assert_eq!(h.sent, None);
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, 10, false),
        Action::Pause
    );
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, body.len(), true),
        Action::Continue
    );
    assert_eq!(h.sent, None);
}

#[test]
fn foreign_missing_or_invalid_body_account_is_refused() {
    let f = filter();
    for body in [
        &br#"{"account":{"id":"qa"}}"#[..],
        br#"{"account":{}}"#,
        br#"{"account":{"id":"demostore"},"account":{"id":"qa"}}"#,
        br#"{"account":{"id":{"x":1}}}"#,
        br#"{"account":{"id":"demostore"}"#,
        b"",
    ] {
        let mut h = held_body_request();
        h.request_body = body.to_vec();
        let mut stream = Default::default();
        assert_eq!(
            f.on_request_headers(&mut stream, &mut h, false),
            Action::Continue
        );
        assert_eq!(
            f.on_request_body(&mut stream, &mut h, body.len(), true),
            Action::Pause
        );
        assert_eq!(
            sent_status(&h),
            Some(403),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn body_location_without_a_body_is_refused() {
    let f = filter();
    let mut h = held_body_request();
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(403));
    assert_eq!(reason(&h), "account_missing");
}

#[test]
fn request_body_over_the_limit_is_refused_before_the_end() {
    let f = filter();
    let mut h = held_body_request();
    h.request_body = vec![b' '; 100];
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, false),
        Action::Continue
    );
    assert_eq!(
        f.on_request_body(&mut stream, &mut h, 65, false),
        Action::Pause
    );
    assert_eq!(reason(&h), "request_too_large");
    assert_eq!(sent_status(&h), Some(413));
}

// --- response side -----------------------------------------------------------------

#[test]
fn own_contract_passes_unchanged() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/123-456");
    respond(&mut h, "200", CONTRACT.as_bytes());
    assert_eq!(
        run(&f, &mut h),
        (Action::Continue, Action::Continue, Action::Continue)
    );
    assert_eq!(h.sent, None);
    assert_eq!(h.response_body, CONTRACT.as_bytes());
    assert!(
        h.response_headers
            .iter()
            .all(|(k, _)| k != "content-length"),
        "a checked body's length is the gateway's to set"
    );
}

#[test]
fn foreign_contract_is_blocked_with_a_502_naming_no_account_and_a_leak_log_line() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/999");
    respond(&mut h, "200", FOREIGN.as_bytes());
    let (_, _, body) = run(&f, &mut h);
    assert_eq!(body, Action::Pause);
    assert_eq!(sent_status(&h), Some(502));
    assert_eq!(reason(&h), "account_leak");
    let sent = sent_body(&h);
    assert!(
        !sent.contains("qa") && !sent.contains("SECRET-CPF"),
        "{sent}"
    );
    assert_eq!(h.counter("portcullis_leak_blocked"), 1);
    assert_eq!(h.counter("portcullis_502_account_leak"), 1);
    let logs = h.logs.borrow();
    let leak = logs
        .iter()
        .find(|l| l.contains("leak_blocked"))
        .expect("leak event logged");
    let event: serde_json::Value = serde_json::from_str(leak).unwrap();
    assert_eq!(event["foreign_accounts"], json!(["qa"]));
    assert_eq!(event["route"], "contract");
}

#[test]
fn foreign_elements_of_a_list_are_filtered_out() {
    let f = filter();
    let list = format!("[{CONTRACT},{FOREIGN}]");
    let mut h = get("contracts", "/accounts/demostore/contracts");
    respond(&mut h, "200", list.as_bytes());
    assert_eq!(run(&f, &mut h).2, Action::Continue);
    assert_eq!(h.sent, None);
    assert_eq!(h.response_body, format!("[{CONTRACT}]").into_bytes());
    assert_eq!(h.counter("portcullis_leak_filtered"), 1);
    assert!(h
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("leak_filtered") && l.contains("\"qa\"")));
}

#[test]
fn response_over_the_limit_is_a_502() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/1");
    let big = format!(
        r#"{{"contractOwner":"demostore","pad":"{}"}}"#,
        "x".repeat(2000)
    );
    respond(&mut h, "200", big.as_bytes());
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    assert_eq!(
        f.on_response_headers(&mut stream, &mut h, false),
        Action::Continue
    );
    // The limit is enforced while buffering, before the end of the stream.
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, 1025, false),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(502));
    assert_eq!(reason(&h), "response_too_large");
}

#[test]
fn invalid_json_is_a_502_and_never_passes() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/1");
    let broken = br#"{"contractOwner":"demostore","cpf":"SECRET-CPF""#;
    respond(&mut h, "200", broken);
    let (_, _, body) = run(&f, &mut h);
    assert_eq!(body, Action::Pause);
    assert_eq!(sent_status(&h), Some(502));
    assert_eq!(reason(&h), "response_not_checkable");
    assert!(!sent_body(&h).contains("SECRET-CPF"));
}

#[test]
fn id_that_is_an_object_blocks() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/1");
    respond(&mut h, "200", br#"{"contractOwner":{"id":"qa"}}"#);
    run(&f, &mut h);
    assert_eq!(sent_status(&h), Some(502));
}

#[test]
fn encoded_partial_or_non_json_responses_are_refused_at_the_headers() {
    let f = filter();
    let cases: [(&str, &str, Option<&str>, &str); 4] = [
        ("200", "application/json", Some("gzip"), "encoded_response"),
        ("200", "application/json", Some("br"), "encoded_response"),
        ("206", "application/json", None, "partial_content"),
        ("200", "text/html", None, "not_json"),
    ];
    for (status, ctype, encoding, code) in cases {
        let mut h = get("contract", "/accounts/demostore/contracts/1");
        h.response_headers = vec![
            (":status".into(), status.into()),
            ("content-type".into(), ctype.into()),
        ];
        if let Some(e) = encoding {
            h.response_headers
                .push(("content-encoding".into(), e.into()));
        }
        let mut stream = Default::default();
        f.on_request_headers(&mut stream, &mut h, true);
        assert_eq!(
            f.on_response_headers(&mut stream, &mut h, false),
            Action::Pause,
            "{code}"
        );
        assert_eq!(sent_status(&h), Some(502), "{code}");
        assert_eq!(reason(&h), code);
    }
}

#[test]
fn empty_and_no_content_responses_are_not_buffered() {
    let f = filter();
    for (status, eos) in [("204", false), ("304", false), ("200", true)] {
        let mut h = get("contract", "/accounts/demostore/contracts/1");
        h.response_headers = vec![(":status".into(), status.into())];
        let mut stream = Default::default();
        f.on_request_headers(&mut stream, &mut h, true);
        assert_eq!(
            f.on_response_headers(&mut stream, &mut h, eos),
            Action::Continue
        );
        assert_eq!(
            f.on_response_body(&mut stream, &mut h, 0, true),
            Action::Continue
        );
        assert_eq!(h.sent, None, "{status}");
    }
}

#[test]
fn host_error_reading_the_response_body_denies() {
    let f = filter();
    let mut h = get("contract", "/accounts/demostore/contracts/1");
    respond(&mut h, "200", CONTRACT.as_bytes());
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    f.on_response_headers(&mut stream, &mut h, false);
    h.failing = vec!["get_buffer"];
    let size = h.response_body.len();
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, size, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
}

#[test]
fn host_error_replacing_a_filtered_body_denies() {
    let f = filter();
    let list = format!("[{CONTRACT},{FOREIGN}]");
    let mut h = get("contracts", "/accounts/demostore/contracts");
    respond(&mut h, "200", list.as_bytes());
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    f.on_response_headers(&mut stream, &mut h, false);
    h.failing = vec!["set_buffer"];
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, list.len(), true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
}

// --- Kong: response headers cannot be held ----------------------------------------

#[test]
fn kong_leak_found_after_the_headers_left_empties_the_body() {
    let f = filter();
    let mut h = request(
        HostKind::Kong,
        "contract",
        "GET",
        "/accounts/demostore/contracts/999",
        &["demostore"],
    );
    respond(&mut h, "200", FOREIGN.as_bytes());
    run(&f, &mut h);
    assert!(
        h.response_body.is_empty(),
        "the foreign contract never leaves"
    );
    assert_eq!(h.counter("portcullis_leak_blocked"), 1);
}

#[test]
fn kong_invalid_json_after_the_headers_left_empties_the_body() {
    let f = filter();
    let mut h = request(
        HostKind::Kong,
        "contract",
        "GET",
        "/accounts/demostore/contracts/1",
        &["demostore"],
    );
    respond(
        &mut h,
        "200",
        br#"{"contractOwner":"qa","cpf":"SECRET-CPF""#,
    );
    run(&f, &mut h);
    assert!(h.response_body.is_empty());
}

#[test]
fn kong_routes_come_from_the_route_table_by_kong_route_name() {
    let f = filter();
    let mut h = request(
        HostKind::Kong,
        "contract",
        "GET",
        "/accounts/qa/contracts/1",
        &["demostore"],
    );
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    assert_eq!(sent_status(&h), Some(403));
}
