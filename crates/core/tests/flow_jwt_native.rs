#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The JWT filter prefers the gateway's native signature check (Envoy's
//! `verify_signature`) for RS256/384/512 and keeps its own for everything else and for
//! hosts that offer none.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use portcullis_core::flow::jwt::{JwtFilter, JwtStream};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::json;

const DEMO_PEM: &str = include_str!("../../../examples/keys/demo-rs256.pem");
const DEMO_SPKI: &[u8] = include_bytes!("fixtures/rsa/demo-rs256.spki.der");
const DEMO_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";
const ISS: &str = "https://idp.test";
const NOW: u64 = 1_700_000_000;

fn filter() -> JwtFilter {
    let config = json!({
        "providers": [{
            "name": "idp", "issuer": ISS, "audiences": ["users"],
            "algorithms": ["RS256", "HS256"],
            "jwks": {"keys": [{"kty": "RSA", "kid": "demo", "n": DEMO_N, "e": "AQAB"}]},
            "shared_secret_base64": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
        }],
        "routes": {"r": {"requirement": "authenticated"}},
        "token_cache_entries": 0,
    });
    JwtFilter::from_json(&serde_json::to_vec(&config).unwrap()).unwrap()
}

fn claims() -> serde_json::Value {
    json!({"iss": ISS, "aud": "users", "sub": "u1", "iat": NOW, "exp": NOW + 600})
}

fn rs256() -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("demo".into());
    let key = EncodingKey::from_rsa_pem(DEMO_PEM.as_bytes()).unwrap();
    encode(&header, &claims(), &key).unwrap()
}

fn run(host_answer: Option<bool>, kind: HostKind, token: &str) -> MockHost {
    let mut host = MockHost::request("GET", "acme.localhost", "/x")
        .with_header("authorization", &format!("Bearer {token}"))
        .with_property("xds.route_name", b"r");
    host.now_secs = NOW;
    host.kind = kind;
    host.native_signature = host_answer;
    let action = filter().on_request_headers(&mut JwtStream::default(), &mut host, true);
    assert_eq!(action == Action::Continue, host.sent.is_none());
    host
}

#[test]
fn rs256_is_checked_by_the_gateway_with_the_key_as_der_and_the_signed_text() {
    let token = rs256();
    let host = run(Some(true), HostKind::Envoy, &token);
    assert!(host.sent.is_none(), "accepted");
    let checks = host.native_checks.borrow();
    assert_eq!(checks.len(), 1);
    let (hash, key, signature, text) = &checks[0];
    assert_eq!(hash, "sha256");
    assert_eq!(key.as_slice(), DEMO_SPKI);
    assert_eq!(signature.len(), 256);
    let (signed, _) = token.rsplit_once('.').unwrap();
    assert_eq!(text.as_slice(), signed.as_bytes());
    assert_eq!(host.counter("portcullis_jwt_signature_native"), 1);
}

#[test]
fn a_gateway_that_finds_the_signature_invalid_has_the_token_refused() {
    let host = run(Some(false), HostKind::Envoy, &rs256());
    let sent = host.sent.as_ref().expect("refused");
    assert_eq!(sent.status, 401);
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["error"], "signature_invalid");
}

#[test]
fn without_a_native_answer_the_filter_checks_the_signature_itself() {
    let host = run(None, HostKind::Envoy, &rs256());
    assert!(host.sent.is_none(), "accepted by the built-in check");
    assert_eq!(host.native_checks.borrow().len(), 1, "asked first");
    assert_eq!(host.counter("portcullis_jwt_signature_native"), 0);

    let mut forged = rs256();
    forged.pop();
    forged.push('A');
    let host = run(None, HostKind::Envoy, &forged);
    assert_eq!(host.sent.as_ref().map(|s| s.status), Some(401));
}

#[test]
fn hmac_tokens_never_go_to_the_gateway() {
    let secret = b"secret-secret-secret-secret-secret";
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    let host = run(Some(false), HostKind::Envoy, &token);
    assert!(host.sent.is_none(), "checked in Wasm, accepted");
    assert!(host.native_checks.borrow().is_empty());
}
