//! Shared by the issue-18 suites (`response_splitting`, `flow_forwarded_claims`): the
//! demo JWT filter (inline demo key, `sub` and `organization` forwarded, one route that
//! needs a token) on the in-memory host, and tokens written as exact JSON text, signed
//! by the demo key or not at all.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_core::flow::jwt::{JwtFilter, JwtStream};
use portcullis_core::flow::mock::{MockHost, SentResponse};
use portcullis_core::flow::Filter;
use serde_json::{json, Value};

pub const DEMO_PEM: &str = include_str!("../../../../examples/keys/demo-rs256.pem");
pub const DEMO_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";
pub const ISS: &str = "https://accounts.crontech.localhost";
pub const NOW: u64 = 1_700_000_000;

/// Text an attacker puts in a token field, by name.
pub const INJECTIONS: &[(&str, &str)] = &[
    ("crlf-set-cookie", "RS256\r\nSet-Cookie: pwned=1"),
    ("crlf-crlf-body", "x\r\n\r\n<img src=x>"),
    ("lf", "x\nSet-Cookie: pwned=1"),
    ("cr", "x\rSet-Cookie: pwned=1"),
    ("nul", "RS256\0pwned"),
    ("del", "x\u{7f}pwned"),
    ("utf8", "RS256-\u{e9}-\u{2603}-pwned"),
    ("latin1", "\u{80}\u{ff}pwned"),
    ("line-separator", "x\u{2028}pwned"),
    ("html", "<img src=x onerror=alert(1)>"),
    ("quote-break", "x\", Set-Cookie: pwned=1, \""),
];

/// Fragments of [`INJECTIONS`] that must never come back to the client.
pub const ECHO_MARKERS: &[&str] = &["pwned", "<img", "img src", "onerror", "Set-Cookie"];

/// The demo JWT filter: the demo key inline, `sub` and `organization` forwarded.
pub fn demo_filter() -> JwtFilter {
    let config = json!({
        "providers": [{
            "name": "demo", "issuer": ISS, "audiences": ["users"], "algorithms": ["RS256"],
            "jwks": {"keys": [{"kty": "RSA", "kid": "demo-rs256", "alg": "RS256", "n": DEMO_N, "e": "AQAB"}]},
        }],
        "forward": [
            {"claim": "sub", "header": "x-portcullis-subject"},
            {"claim": "organization", "header": "x-portcullis-accounts"},
        ],
        "routes": {"whoami": {"requirement": "authenticated"}},
    });
    JwtFilter::from_json(&serde_json::to_vec(&config).unwrap()).unwrap()
}

/// The demo user's claims with `changes` (a JSON object) merged in.
pub fn claims(changes: Value) -> Value {
    let mut c = json!({
        "sub": "u1", "tenant": "acme", "organization": ["demostore"], "iss": ISS,
        "aud": "users", "iat": NOW, "exp": NOW + 3600,
    });
    for (k, v) in changes.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// The demo header (`RS256`, kid `demo-rs256`) with `changes` merged in.
pub fn header(changes: Value) -> Value {
    let mut h = json!({"alg": "RS256", "typ": "JWT", "kid": "demo-rs256"});
    for (k, v) in changes.as_object().unwrap() {
        h[k] = v.clone();
    }
    h
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token over exact header and payload bytes, signed by the demo key.
pub fn signed_bytes(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let key = EncodingKey::from_rsa_pem(DEMO_PEM.as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{input}.{signature}")
}

/// A token over `header` and `payload`, signed by the demo key.
pub fn signed(header: &Value, payload: &Value) -> String {
    signed_bytes(
        header.to_string().as_bytes(),
        payload.to_string().as_bytes(),
    )
}

/// `token` with a signature no key verifies.
pub fn broken(token: &str) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64(&[7u8; 256]))
}

/// The demo route's request with `token`, on the in-memory host.
pub fn request(token: &str) -> MockHost {
    let mut host = MockHost::request("GET", "acme.localhost", "/whoami")
        .with_header("authorization", &format!("Bearer {token}"))
        .with_property("xds.route_name", b"whoami");
    host.now_secs = NOW;
    host
}

/// Runs the filter's request-header phase for `token`: the host afterwards.
pub fn run(filter: &JwtFilter, token: &str) -> MockHost {
    let mut host = request(token);
    filter.on_request_headers(&mut JwtStream::default(), &mut host, true);
    host
}

/// The local reply `token` got (panics when the request went on).
pub fn refusal(filter: &JwtFilter, token: &str) -> SentResponse {
    run(filter, token).sent.expect("a refusal")
}

/// The reason code of a local reply.
pub fn code(sent: &SentResponse) -> String {
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    body["error"].as_str().unwrap().to_string()
}
