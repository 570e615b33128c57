#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 18, class 1, natively: no byte of a token reaches a response header or an
//! error body. Every refusal of a hostile token (every injection in every field) is a
//! 401 whose headers pass the one header-value check and whose answer is byte-identical
//! to a benign token's refusal with the same reason; and the in-memory host, like the
//! wasm adapter, refuses unsafe header values itself.
mod support;

use portcullis_core::flow::mock::{MockHost, SentResponse};
use portcullis_core::flow::Host;
use portcullis_core::header_value;
use serde_json::{json, Value};
use std::collections::HashMap;
use support::*;

/// Checks every refusal and that all refusals with one code are the same bytes.
#[derive(Default)]
struct Refusals(HashMap<String, (String, SentResponse)>);

impl Refusals {
    fn check(&mut self, case: &str, sent: SentResponse) -> String {
        assert_eq!(sent.status, 401, "{case}");
        for (name, value) in &sent.headers {
            assert!(header_value::is_safe(value), "{case}: {name}: {value:?}");
        }
        let text = format!("{:?}{}", sent.headers, String::from_utf8_lossy(&sent.body));
        for marker in ECHO_MARKERS {
            assert!(!text.contains(marker), "{case}: echoed {marker}: {text}");
        }
        assert!(sent.body.iter().all(u8::is_ascii), "{case}");
        let code = code(&sent);
        let (first, answer) = self
            .0
            .entry(code.clone())
            .or_insert_with(|| (case.to_string(), sent.clone()));
        assert_eq!(answer, &sent, "{case}: differs from {first}");
        code
    }
}

fn each_injection(mut token: impl FnMut(&str) -> String) -> Vec<(String, String)> {
    INJECTIONS
        .iter()
        .map(|(name, text)| (name.to_string(), token(text)))
        .collect()
}

fn refuse_all(benign: &str, cases: Vec<(String, String)>, expect: &str) {
    let filter = demo_filter();
    let mut refusals = Refusals::default();
    assert_eq!(refusals.check("benign", refusal(&filter, benign)), expect);
    for (name, token) in cases {
        assert_eq!(
            refusals.check(&name, refusal(&filter, &token)),
            expect,
            "{name}"
        );
    }
}

#[test]
fn an_algorithm_name_is_never_echoed() {
    let benign = signed(&header(json!({"alg": "XS999"})), &claims(json!({})));
    let cases = each_injection(|t| signed(&header(json!({ "alg": t })), &claims(json!({}))));
    refuse_all(&benign, cases, "algorithm_unsupported");
}

#[test]
fn a_key_id_is_never_echoed() {
    let benign = signed(&header(json!({"kid": "nope"})), &claims(json!({})));
    let cases = each_injection(|t| signed(&header(json!({ "kid": t })), &claims(json!({}))));
    refuse_all(&benign, cases, "kid_unknown");
}

#[test]
fn a_critical_extension_name_is_never_echoed() {
    let benign = signed(
        &header(json!({"crit": ["ext"], "ext": 1})),
        &claims(json!({})),
    );
    let cases =
        each_injection(|t| signed(&header(json!({ "crit": [t], t: 1 })), &claims(json!({}))));
    refuse_all(&benign, cases, "crit_unsupported");
}

#[test]
fn an_unknown_issuer_is_never_echoed() {
    let benign = signed(&header(json!({})), &claims(json!({"iss": "https://other"})));
    let cases = each_injection(|t| signed(&header(json!({})), &claims(json!({ "iss": t }))));
    refuse_all(&benign, cases, "issuer_unknown");
}

#[test]
fn header_fields_and_claims_are_never_echoed_on_a_bad_signature() {
    let benign = broken(&signed(&header(json!({})), &claims(json!({}))));
    let mut cases = Vec::new();
    for field in ["typ", "cty", "jku", "x5u"] {
        for (name, token) in
            each_injection(|t| broken(&signed(&header(json!({ field: t })), &claims(json!({})))))
        {
            cases.push((format!("{field}-{name}"), token));
        }
    }
    for claim in ["sub", "aud", "tenant", "organization", "scopes", "name"] {
        for (name, token) in
            each_injection(|t| broken(&signed(&header(json!({})), &claims(json!({ claim: t })))))
        {
            cases.push((format!("{claim}-{name}"), token));
        }
    }
    refuse_all(&benign, cases, "signature_invalid");
}

#[test]
fn raw_bytes_that_are_not_utf8_are_refused_as_malformed() {
    let benign = signed_bytes(b"{\"alg\":", b"{}");
    let cases = vec![
        (
            "header".into(),
            signed_bytes(b"{\"alg\":\"RS\xff256\"}", b"{}"),
        ),
        (
            "payload".into(),
            signed_bytes(b"{\"alg\":\"RS256\"}", b"{\"sub\":\"\xc3\"}"),
        ),
        (
            "nul".into(),
            signed_bytes(b"{\"alg\":\"RS\x00256\"}", b"{}"),
        ),
        (
            "crlf".into(),
            signed_bytes(b"{\"alg\":\"RS\r\n256\"}", b"{}"),
        ),
    ];
    refuse_all(&benign, cases, "token_malformed");
}

#[test]
fn a_too_large_token_says_only_that_it_is_too_large() {
    let pad = "pwned\r\nSet-Cookie: x=1 ".repeat(400);
    let benign = signed(
        &header(json!({})),
        &claims(json!({"pad": "x".repeat(9000)})),
    );
    let cases = vec![(
        "injected".into(),
        signed(
            &header(json!({"alg": pad.clone()})),
            &claims(json!({ "pad": pad })),
        ),
    )];
    refuse_all(&benign, cases, "token_too_large");
}

#[test]
fn the_host_refuses_an_unsafe_request_header_value() {
    let mut host = MockHost::request("GET", "acme.localhost", "/");
    for value in ["a\r\nx-evil: 1", "a\0", "d\u{e9}mo", " a"] {
        assert!(
            host.set_request_header("x-h", Some(value)).is_err(),
            "{value:?}"
        );
    }
    assert_eq!(host.upstream_header("x-h"), None);
    assert!(host.set_request_header("x-h", Some("a b")).is_ok());
}

#[test]
fn the_host_refuses_an_unsafe_response_header_value() {
    let mut host = MockHost::default();
    assert!(host
        .set_response_header("x-h", Some("a\r\nSet-Cookie: x=1"))
        .is_err());
    assert!(host.response_headers.is_empty());
}

#[test]
fn a_local_reply_with_an_unsafe_header_becomes_the_fixed_500() {
    let mut host = MockHost::default();
    let headers = vec![(
        "www-authenticate".to_string(),
        "Bearer\r\nSet-Cookie: x=1".to_string(),
    )];
    host.send_response(401, &headers, b"{\"echo\":\"pwned\"}")
        .unwrap();
    let sent = host.sent.unwrap();
    assert_eq!(sent.status, 500);
    assert_eq!(sent.header("www-authenticate"), None);
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["error"], "response_header_invalid");
    assert!(!String::from_utf8_lossy(&sent.body).contains("pwned"));
}
