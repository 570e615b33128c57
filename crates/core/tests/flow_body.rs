#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `flow::body`: what a checked route (account checks, redaction) accepts of the
//! backend's answer, what it removes from it, and how bodies are buffered on each host.

use portcullis_core::decision::Denial;
use portcullis_core::flow::body::*;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, HostKind, LogContext};

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

fn kong(mut h: MockHost) -> MockHost {
    h.kind = HostKind::Kong;
    h
}

#[test]
fn kong_refusal_in_the_headers_fixes_the_headers_of_the_local_reply() {
    let mut h = kong(response(&[
        (":status", "200"),
        ("content-type", "text/html"),
        ("content-length", "5000"),
    ]));
    assert_eq!(
        check_response_headers(&mut h, false).unwrap_err().code,
        "not_json"
    );
    assert!(h
        .response_headers
        .iter()
        .all(|(k, _)| k != "content-length"));
    assert!(h
        .response_headers
        .contains(&("content-type".into(), "application/json".into())));
}

#[test]
fn kong_head_and_empty_answers_have_no_body_though_eos_is_false() {
    let mut head = kong(MockHost::request("HEAD", "a", "/"));
    head.response_headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "application/json".into()),
        ("content-length".into(), "120".into()),
    ];
    assert_eq!(
        check_response_headers(&mut head, false).unwrap(),
        ResponseKind::NoBody
    );
    assert!(head
        .response_headers
        .iter()
        .all(|(k, _)| k != "content-length"));
    let mut empty = kong(MockHost::request("GET", "a", "/"));
    empty.response_headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "text/plain".into()),
        ("content-length".into(), "0".into()),
    ];
    assert_eq!(
        check_response_headers(&mut empty, false).unwrap(),
        ResponseKind::NoBody
    );
}

#[test]
fn envoy_waits_as_long_as_the_body_grows_under_the_limit() {
    let h = MockHost::default();
    let mut guard = BodyGuard::default();
    assert_eq!(guard.next(&h, 4, false, 10).unwrap(), BodyStep::Wait);
    assert_eq!(guard.next(&h, 8, false, 10).unwrap(), BodyStep::Wait);
}

#[test]
fn kong_full_buffers_are_a_failure_and_empty_every_later_chunk() {
    let mut h = kong(MockHost::default());
    h.response_body = b"{\"a\":".to_vec();
    let mut guard = BodyGuard::default();
    assert_eq!(guard.next(&h, 5, false, 10).unwrap(), BodyStep::Wait);
    let denial = guard.next(&h, 5, false, 10).unwrap_err();
    assert_eq!(denial.code, "response_buffers_full");
    let log = LogContext::default();
    assert_eq!(guard.fail(&mut h, "f", &denial, &log, 5), Action::Continue);
    assert!(guard.failed());
    assert!(h.response_body.is_empty());
    assert_eq!(h.sent, None, "no local response after the headers left");
    assert_eq!(h.counter("portcullis_502_response_buffers_full"), 1);
    h.response_body = b"1}".to_vec();
    assert_eq!(guard.drop_chunk(&mut h, 2), Action::Continue);
    assert!(h.response_body.is_empty());
}

#[test]
fn envoy_failure_is_the_local_502() {
    let mut h = MockHost::default();
    let mut guard = BodyGuard::default();
    let denial = Denial::bad_gateway("x", "y");
    let action = guard.fail(&mut h, "f", &denial, &LogContext::default(), 3);
    assert_eq!(action, Action::Pause);
    assert_eq!(h.sent.unwrap().status, 502);
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

#[test]
fn a_request_already_prepared_is_not_written_again() {
    // The second checking filter finds the request prepared by the first: no header write
    // (each one clears Envoy's route cache). Writes fail on this host, so any would show.
    let mut h = MockHost::request("GET", "a", "/").with_header("accept-encoding", "identity");
    h.failing = vec!["set_map_value"];
    prepare_request(&mut h).unwrap();
    let mut twice = MockHost::request("GET", "a", "/")
        .with_header("accept-encoding", "identity")
        .with_header("accept-encoding", "gzip");
    twice.failing = vec!["set_map_value"];
    assert!(
        prepare_request(&mut twice).is_err(),
        "a second encoding must be replaced"
    );
}

// --- the content type of a checked answer ------------------------------------------------

fn json_answer(content_type: &str) -> MockHost {
    response(&[(":status", "200"), ("content-type", content_type)])
}

#[test]
fn utf7_json_is_refused_as_not_utf8() {
    let mut h = json_answer("application/json; charset=utf-7");
    let denial = check_response_headers(&mut h, false).unwrap_err();
    assert_eq!((denial.status, denial.code), (502, "charset_not_utf8"));
}

#[test]
fn utf8_declared_or_not_is_read_as_json() {
    for ct in [
        "application/json",
        "application/json; charset=UTF-8",
        "application/json; charset=\"utf-8\"",
    ] {
        assert_eq!(
            check_response_headers(&mut json_answer(ct), false).unwrap(),
            ResponseKind::Json,
            "{ct}"
        );
    }
}

#[test]
fn two_content_type_headers_are_refused_whichever_comes_first() {
    for pair in [
        ["application/json", "application/json; charset=utf-7"],
        ["application/json; charset=utf-7", "application/json"],
    ] {
        let mut h = response(&[
            (":status", "200"),
            ("content-type", pair[0]),
            ("content-type", pair[1]),
        ]);
        assert_eq!(
            check_response_headers(&mut h, false).unwrap_err().code,
            "content_type_ambiguous"
        );
    }
}

#[test]
fn a_second_content_encoding_header_is_checked_too() {
    let mut h = response(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-encoding", "identity"),
        ("content-encoding", "gzip"),
    ]);
    assert_eq!(
        check_response_headers(&mut h, false).unwrap_err().code,
        "encoded_response"
    );
}

#[test]
fn a_bodiless_answer_needs_no_content_type() {
    let mut h = response(&[
        (":status", "304"),
        ("content-type", "text/html; charset=utf-7"),
    ]);
    assert_eq!(
        check_response_headers(&mut h, false).unwrap(),
        ResponseKind::NoBody
    );
}

// --- headers describing the unchecked body ----------------------------------------------

const DESCRIBING: [(&str, &str); 9] = [
    ("content-length", "182"),
    ("content-range", "bytes 0-181/182"),
    ("accept-ranges", "bytes"),
    ("etag", "\"e\""),
    ("last-modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
    ("content-md5", "x"),
    ("digest", "sha-256=x"),
    ("content-digest", "sha-256=:x:"),
    ("repr-digest", "sha-256=:x:"),
];

fn describing_answer(status: &str, content_type: &str) -> MockHost {
    let mut headers = vec![(":status", status), ("content-type", content_type)];
    headers.extend(DESCRIBING);
    response(&headers)
}

fn describes_nothing(h: &MockHost) -> bool {
    h.response_headers
        .iter()
        .all(|(k, _)| !DESCRIBING.iter().any(|(d, _)| d == k))
}

#[test]
fn bodiless_statuses_lose_every_header_describing_the_body() {
    for status in ["204", "304"] {
        let mut h = describing_answer(status, "application/json");
        assert_eq!(
            check_response_headers(&mut h, false).unwrap(),
            ResponseKind::NoBody
        );
        assert!(describes_nothing(&h), "{status}: {:?}", h.response_headers);
    }
}

#[test]
fn a_head_answer_loses_every_header_describing_the_body() {
    let mut envoy = describing_answer("200", "application/json");
    assert_eq!(
        check_response_headers(&mut envoy, true).unwrap(),
        ResponseKind::NoBody
    );
    assert!(describes_nothing(&envoy));
    let mut kong = MockHost::request("HEAD", "a", "/");
    kong.kind = HostKind::Kong;
    kong.response_headers = describing_answer("200", "application/json").response_headers;
    assert_eq!(
        check_response_headers(&mut kong, false).unwrap(),
        ResponseKind::NoBody
    );
    assert!(describes_nothing(&kong));
}

#[test]
fn json_answers_of_any_status_lose_every_header_describing_the_body() {
    for status in ["200", "404", "500"] {
        let mut h = describing_answer(status, "application/json");
        assert_eq!(
            check_response_headers(&mut h, false).unwrap(),
            ResponseKind::Json
        );
        assert!(describes_nothing(&h), "{status}");
        assert!(h
            .response_headers
            .contains(&("content-type".into(), "application/json".into())));
    }
}

#[test]
fn kong_refusal_leaves_the_local_reply_nothing_describing_the_body() {
    let mut h = describing_answer("200", "application/json; charset=utf-7");
    h.kind = HostKind::Kong;
    h.response_headers
        .push(("content-type".into(), "text/html".into()));
    assert_eq!(
        check_response_headers(&mut h, false).unwrap_err().code,
        "content_type_ambiguous"
    );
    assert!(describes_nothing(&h), "{:?}", h.response_headers);
    let types: Vec<_> = h
        .response_headers
        .iter()
        .filter(|(k, _)| k == "content-type")
        .collect();
    assert_eq!(types, [&("content-type".into(), "application/json".into())]);
}

#[test]
fn a_host_that_cannot_list_the_headers_fails_closed() {
    let mut h = describing_answer("304", "application/json");
    h.failing = vec!["get_map"];
    assert_eq!(
        check_response_headers(&mut h, false).unwrap_err().status,
        500
    );
}

#[test]
fn a_get_loses_its_validators_before_the_backend() {
    let mut h = MockHost::request("GET", "a", "/")
        .with_header("if-none-match", "\"guess\"")
        .with_header("if-modified-since", "Tue, 01 Dec 2026 10:00:00 GMT");
    prepare_request(&mut h).unwrap();
    assert_eq!(h.upstream_header("if-none-match"), None);
    assert_eq!(h.upstream_header("if-modified-since"), None);
}
