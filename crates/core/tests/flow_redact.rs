#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The redaction filter's flow (SPEC §6) driven natively through `MockHost`: the
//! visibility handed on by the authorization filter, one rewrite of a buffered JSON body,
//! and a 502 for anything it cannot read: an unredacted body never leaves.

use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::json;

const CONTRACT: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","cpf":"000.000.370.00","rendaMensal":15000},"mother":{"name":"Mãe","cpf":"000.000.370.00","rendaMensal":15000}}"#;
const REDACTED: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","rendaMensal":15000}}"#;
const SECRET: &str = "000.000.370.00";

fn filter() -> RedactFilter {
    RedactFilter::from_json(br#"{"max_body_bytes":1024}"#).unwrap()
}

/// The visibility the authorization filter hands on for the demo user (ATENDIMENTO).
fn atendimento() -> Vec<u8> {
    json!({"route": [], "grants": [[{"mode": "remove", "paths": ["user.cpf", "mother"]}]]})
        .to_string()
        .into_bytes()
}

fn request(kind: HostKind, visibility: Option<&[u8]>) -> MockHost {
    let mut host = MockHost::request(
        "GET",
        "acme.localhost",
        "/accounts/demostore/contracts/123-456",
    )
    .with_header("accept-encoding", "gzip, br")
    .with_header("range", "bytes=0-5");
    if let Some(v) = visibility {
        host = host.with_property("portcullis_authz", v);
    }
    host.kind = kind;
    host
}

fn respond(host: &mut MockHost, headers: &[(&str, &str)], body: &[u8]) {
    host.response_headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    host.response_body = body.to_vec();
}

fn json_response(host: &mut MockHost, body: &[u8]) {
    let length = body.len().to_string();
    respond(
        host,
        &[
            (":status", "200"),
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", &length),
        ],
        body,
    );
}

/// Request headers, response headers, then the whole body in one callback.
fn run(filter: &RedactFilter, host: &mut MockHost) -> (Action, Action, Action) {
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

fn reason(host: &MockHost) -> String {
    let body: serde_json::Value =
        serde_json::from_slice(&host.sent.as_ref().unwrap().body).unwrap();
    body["error"].as_str().unwrap().to_string()
}

fn sent_text(host: &MockHost) -> String {
    String::from_utf8_lossy(&host.sent.as_ref().unwrap().body).into_owned()
}

#[test]
fn demo_contract_is_redacted_byte_exact_and_counted() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    json_response(&mut h, CONTRACT.as_bytes());
    assert_eq!(
        run(&f, &mut h),
        (Action::Continue, Action::Continue, Action::Continue)
    );
    assert_eq!(h.sent, None);
    assert_eq!(
        String::from_utf8(h.response_body.clone()).unwrap(),
        REDACTED
    );
    assert!(
        h.response_headers
            .iter()
            .all(|(k, _)| k != "content-length"),
        "the old length is dropped"
    );
    assert_eq!(h.counter("portcullis_redacted"), 1);
}

#[test]
fn redacting_route_asks_for_identity_encoding_and_no_ranges() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento())).with_header("if-range", "x");
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Continue
    );
    assert_eq!(h.upstream_header("accept-encoding"), Some("identity"));
    assert_eq!(h.upstream_header("range"), None);
    assert_eq!(h.upstream_header("if-range"), None);
}

#[test]
fn unrestricted_caller_gets_the_body_whole_and_untouched_headers() {
    let f = filter();
    let open = json!({"route": [], "grants": [[]]})
        .to_string()
        .into_bytes();
    let mut h = request(HostKind::Envoy, Some(&open));
    json_response(&mut h, CONTRACT.as_bytes());
    assert_eq!(
        run(&f, &mut h),
        (Action::Continue, Action::Continue, Action::Continue)
    );
    assert_eq!(h.response_body, CONTRACT.as_bytes());
    assert_eq!(h.upstream_header("accept-encoding"), Some("gzip, br"));
    assert_eq!(h.upstream_header("range"), Some("bytes=0-5"));
    assert!(h
        .response_headers
        .iter()
        .any(|(k, _)| k == "content-length"));
    assert_eq!(h.counter("portcullis_redacted"), 0);
}

#[test]
fn filter_that_hides_nothing_here_does_not_buffer() {
    let f = filter();
    let nothing = json!({"route": [], "grants": [[{"mode": "remove", "paths": []}]]})
        .to_string()
        .into_bytes();
    let mut h = request(HostKind::Envoy, Some(&nothing));
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Continue
    );
    assert_eq!(h.upstream_header("accept-encoding"), Some("gzip, br"));
}

#[test]
fn route_filter_applies_whatever_the_grants() {
    let f = filter();
    let v = json!({"route": [{"mode": "remove", "paths": ["source"]}], "grants": [[]]})
        .to_string()
        .into_bytes();
    let mut h = request(HostKind::Envoy, Some(&v));
    json_response(&mut h, CONTRACT.as_bytes());
    run(&f, &mut h);
    let body: serde_json::Value = serde_json::from_slice(&h.response_body).unwrap();
    assert!(body.get("source").is_none());
    assert!(body["user"].get("cpf").is_some());
}

#[test]
fn missing_authz_property_is_a_500() {
    let f = filter();
    let mut h = request(HostKind::Envoy, None);
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
    assert_eq!(reason(&h), "authz_decision_missing");
    assert_eq!(h.counter("portcullis_500_authz_decision_missing"), 1);
}

#[test]
fn unreadable_authz_property_is_a_500() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(b"not json"));
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
    assert_eq!(reason(&h), "authz_decision_unreadable");
}

#[test]
fn host_error_reading_the_authz_property_denies() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
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
fn host_error_preparing_the_request_denies() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    h.failing = vec!["set_map_value"];
    let mut stream = Default::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut h, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
}

#[test]
fn host_error_reading_the_response_body_denies() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    json_response(&mut h, CONTRACT.as_bytes());
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
    assert!(!sent_text(&h).contains(SECRET));
}

#[test]
fn host_error_writing_the_redacted_body_denies() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    json_response(&mut h, CONTRACT.as_bytes());
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    f.on_response_headers(&mut stream, &mut h, false);
    h.failing = vec!["set_buffer"];
    let size = h.response_body.len();
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, size, true),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(500));
    assert_eq!(h.counter("portcullis_redaction_failed"), 1);
}

#[test]
fn response_over_the_limit_is_a_502_before_the_end_of_the_stream() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    let big = format!(
        r#"{{"user":{{"cpf":"{SECRET}"}},"pad":"{}"}}"#,
        "x".repeat(2000)
    );
    json_response(&mut h, big.as_bytes());
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    assert_eq!(
        f.on_response_headers(&mut stream, &mut h, false),
        Action::Continue
    );
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, 512, false),
        Action::Pause
    );
    assert_eq!(h.sent, None, "still buffering under the limit");
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, 1025, false),
        Action::Pause
    );
    assert_eq!(sent_status(&h), Some(502));
    assert_eq!(reason(&h), "response_too_large");
    assert!(!sent_text(&h).contains(SECRET));
    assert_eq!(h.counter("portcullis_redaction_failed"), 1);
}

#[test]
fn invalid_json_is_a_502_and_the_body_is_never_set_to_the_original() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    let broken = format!(r#"{{"user":{{"cpf":"{SECRET}"}},"mother":1,}}"#);
    json_response(&mut h, broken.as_bytes());
    let (_, _, body) = run(&f, &mut h);
    assert_eq!(body, Action::Pause);
    assert_eq!(sent_status(&h), Some(502));
    assert_eq!(reason(&h), "response_not_redactable");
    assert!(!sent_text(&h).contains(SECRET));
    assert_eq!(h.counter("portcullis_redacted"), 0);
    assert_eq!(h.counter("portcullis_redaction_failed"), 1);
}

#[test]
fn keep_filter_over_a_bare_scalar_is_a_502() {
    let f = filter();
    let keep = json!({"route": [], "grants": [[{"mode": "keep", "paths": ["id"]}]]})
        .to_string()
        .into_bytes();
    let mut h = request(HostKind::Envoy, Some(&keep));
    json_response(&mut h, format!("\"{SECRET}\"").as_bytes());
    run(&f, &mut h);
    assert_eq!(sent_status(&h), Some(502));
}

#[test]
fn encoded_partial_or_non_json_responses_are_refused_at_the_headers() {
    let f = filter();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            "encoded_response",
        ),
        (
            &[
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ],
            "encoded_response",
        ),
        (
            &[(":status", "206"), ("content-type", "application/json")],
            "partial_content",
        ),
        (
            &[(":status", "200"), ("content-type", "text/html")],
            "not_json",
        ),
        (&[(":status", "200")], "not_json"),
    ];
    for (headers, code) in cases {
        let mut h = request(HostKind::Envoy, Some(&atendimento()));
        respond(&mut h, headers, CONTRACT.as_bytes());
        let mut stream = Default::default();
        f.on_request_headers(&mut stream, &mut h, true);
        assert_eq!(
            f.on_response_headers(&mut stream, &mut h, false),
            Action::Pause,
            "{code}"
        );
        assert_eq!(sent_status(&h), Some(502), "{code}");
        assert_eq!(reason(&h), code);
        assert!(!sent_text(&h).contains(SECRET));
    }
}

#[test]
fn plus_json_and_identity_encoding_are_redacted() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    respond(
        &mut h,
        &[
            (":status", "200"),
            ("content-type", "application/vnd.api+json"),
            ("content-encoding", "identity"),
        ],
        CONTRACT.as_bytes(),
    );
    run(&f, &mut h);
    assert_eq!(h.sent, None);
    assert_eq!(h.response_body, REDACTED.as_bytes());
}

#[test]
fn responses_without_a_body_pass() {
    let f = filter();
    for (status, eos) in [("204", false), ("304", false), ("200", true)] {
        let mut h = request(HostKind::Envoy, Some(&atendimento()));
        respond(&mut h, &[(":status", status)], b"");
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
fn array_of_contracts_is_redacted_element_by_element() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    json_response(&mut h, format!("[{CONTRACT},{CONTRACT}]").as_bytes());
    run(&f, &mut h);
    assert_eq!(
        h.response_body,
        format!("[{REDACTED},{REDACTED}]").into_bytes()
    );
}

// --- Kong: response headers cannot be held ----------------------------------------

#[test]
fn kong_invalid_json_after_the_headers_left_empties_the_body() {
    let f = filter();
    let mut h = request(HostKind::Kong, Some(&atendimento()));
    json_response(
        &mut h,
        format!(r#"{{"user":{{"cpf":"{SECRET}"}}"#).as_bytes(),
    );
    run(&f, &mut h);
    assert!(
        h.response_body.is_empty(),
        "{}",
        String::from_utf8_lossy(&h.response_body)
    );
}

#[test]
fn kong_body_over_the_limit_after_the_headers_left_empties_the_body() {
    let f = filter();
    let mut h = request(HostKind::Kong, Some(&atendimento()));
    json_response(
        &mut h,
        format!(r#"{{"cpf":"{SECRET}","pad":"{}"}}"#, "x".repeat(2000)).as_bytes(),
    );
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    f.on_response_headers(&mut stream, &mut h, false);
    let size = h.response_body.len();
    f.on_response_body(&mut stream, &mut h, size, false);
    assert!(h.response_body.is_empty());
}

#[test]
fn envoy_failure_leaves_the_502_to_replace_the_response() {
    // On Envoy the response hold keeps the headers back: the local 502 replaces the
    // whole response, so the buffered body is not touched.
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    let broken = format!(r#"{{"user":{{"cpf":"{SECRET}"}}"#);
    json_response(&mut h, broken.as_bytes());
    run(&f, &mut h);
    assert_eq!(sent_status(&h), Some(502));
    assert_eq!(h.response_body, broken.as_bytes());
}

#[test]
fn head_answer_on_a_redacting_route_does_not_tell_the_unredacted_length() {
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    let length = CONTRACT.len().to_string();
    respond(
        &mut h,
        &[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", &length),
        ],
        b"",
    );
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    assert_eq!(
        f.on_response_headers(&mut stream, &mut h, true),
        Action::Continue
    );
    assert_eq!(h.sent, None);
    assert!(
        h.response_headers
            .iter()
            .all(|(k, _)| k != "content-length"),
        "{:?}",
        h.response_headers
    );
}

#[test]
fn body_with_nothing_to_hide_is_left_alone_and_not_counted_as_redacted() {
    // E.g. the account filter's own 403, sent after this filter planned its redaction,
    // comes back through it on Envoy.
    let f = filter();
    let mut h = request(HostKind::Envoy, Some(&atendimento()));
    let denial = br#"{"error":"account_not_allowed","message":"forbidden","status":403}"#;
    json_response(&mut h, denial);
    h.response_headers[0].1 = "403".into();
    let mut stream = Default::default();
    f.on_request_headers(&mut stream, &mut h, true);
    f.on_response_headers(&mut stream, &mut h, false);
    h.failing = vec!["set_buffer"]; // the body is not rewritten at all
    assert_eq!(
        f.on_response_body(&mut stream, &mut h, denial.len(), true),
        Action::Continue
    );
    assert_eq!(h.sent, None);
    assert_eq!(h.response_body, denial);
    assert_eq!(h.counter("portcullis_redacted"), 0);
}

#[test]
fn one_filter_redacts_each_request_by_its_own_decision() {
    // The filter keeps compiled redactors per decision: a second caller with other grants
    // (and a third with the first one's again) gets what its own decision says.
    let f = filter();
    let only_mother = json!({"route": [], "grants": [[{"mode": "remove", "paths": ["mother"]}]]})
        .to_string()
        .into_bytes();
    for (visibility, hides_user_cpf) in [
        (atendimento(), true),
        (only_mother, false),
        (atendimento(), true),
    ] {
        let mut h = request(HostKind::Envoy, Some(&visibility));
        json_response(&mut h, CONTRACT.as_bytes());
        run(&f, &mut h);
        let body: serde_json::Value = serde_json::from_slice(&h.response_body).unwrap();
        assert!(body.get("mother").is_none());
        assert_eq!(body["user"].get("cpf").is_none(), hides_user_cpf);
    }
}
