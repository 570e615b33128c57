#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 18, class 2, through the JWT filter's flow: a verified token whose forwarded
//! claims a backend could read differently from the gateway (a list element holding the
//! separator, edge whitespace, control or non-ASCII bytes) is refused with 403 and its
//! own reason, and no identity header is written; a clean one is forwarded as is.
mod support;

use portcullis_core::flow::mock::MockHost;
use serde_json::{json, Value};
use support::*;

fn with_claims(changes: Value) -> MockHost {
    run(
        &demo_filter(),
        &signed(&header(json!({})), &claims(changes)),
    )
}

fn assert_refused(changes: Value, expect: &str) {
    let host = with_claims(changes.clone());
    let sent = host
        .sent
        .as_ref()
        .unwrap_or_else(|| panic!("{changes}: not refused"));
    assert_eq!(
        (sent.status, code(sent).as_str()),
        (403, expect),
        "{changes}"
    );
    assert_eq!(
        host.upstream_header("x-portcullis-subject"),
        None,
        "{changes}"
    );
    assert_eq!(
        host.upstream_header("x-portcullis-accounts"),
        None,
        "{changes}"
    );
    assert!(
        !host.properties.contains_key("portcullis_identity"),
        "{changes}"
    );
}

#[test]
fn an_account_holding_the_separator_is_refused() {
    assert_refused(
        json!({"organization": ["demostore,qa"]}),
        "forwarded_claim_separator",
    );
    assert_refused(
        json!({"organization": "demostore,qa"}),
        "forwarded_claim_separator",
    );
}

#[test]
fn an_account_with_edge_whitespace_or_empty_is_refused() {
    for value in [
        json!([" demostore"]),
        json!(["demostore "]),
        json!(["demostore", ""]),
    ] {
        assert_refused(
            json!({ "organization": value }),
            "forwarded_claim_separator",
        );
    }
}

#[test]
fn an_account_with_a_header_break_is_refused_not_cleaned_up() {
    assert_refused(
        json!({"organization": ["demostore\r\nx-evil: 1"]}),
        "forwarded_claim_invalid",
    );
}

#[test]
fn a_subject_with_control_or_non_ascii_bytes_is_refused_not_cleaned_up() {
    for sub in [
        "u1\r\nx-portcullis-accounts: qa",
        "u1\0",
        "u1\u{7f}",
        "\u{fc}ser",
        "u1\u{2028}",
    ] {
        assert_refused(json!({ "sub": sub }), "forwarded_claim_invalid");
    }
}

#[test]
fn a_refused_claim_is_logged_by_claim_never_by_value() {
    let host = with_claims(json!({"organization": ["demostore", "qa,pwned"]}));
    let logs = host.logs.borrow().join("\n");
    assert!(logs.contains("forwarded_claim_separator"), "{logs}");
    assert!(!logs.contains("pwned"), "{logs}");
}

#[test]
fn clean_claims_are_forwarded_as_the_gateway_reads_them() {
    let host = with_claims(json!({"sub": "a,b", "organization": ["demostore", "qa"]}));
    assert_eq!(host.sent, None);
    assert_eq!(host.upstream_header("x-portcullis-subject"), Some("a,b"));
    assert_eq!(
        host.upstream_header("x-portcullis-accounts"),
        Some("demostore,qa")
    );
}
