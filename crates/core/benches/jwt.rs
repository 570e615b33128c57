//! JWT verification, natively: a cold signature check per algorithm (`CompiledJwt::verify`
//! on a token it has not seen), the filter's whole request-headers step on a mock host
//! with a distinct token each time (cold) and with a repeated token (verified-token
//! cache hit), and the cache's key (SHA-256 of the token). The in-Envoy counterpart and
//! the recorded numbers are in docs/jwt-performance.md.
//!
//! Keys: the demo RSA key (examples/keys), and bench-only EC P-256 and Ed25519 keys below
//! (generated for this bench; never use them anywhere else).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use portcullis_core::flow::jwt::{JwtFilter, JwtStream};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter};
use portcullis_core::jwt::cache::token_hash;
use portcullis_core::jwt::CompiledJwt;
use serde_json::json;

const RSA_PEM: &str = include_str!("../../../examples/keys/demo-rs256.pem");
const RSA_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";
const EC_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwyModpkwu5TeQaPA
4YqcwhGOEBHUD9bX8+Q35TkViCOhRANCAAQpvRL3CxUj6wyhd06r9ua10Ql0Kr4S
dykci/E/yQTAbpV5UPa5zMmObFxc3gUQNq2QrmXKTJjO8D3ArmcJB7OI
-----END PRIVATE KEY-----
";
const EC_X: &str = "Kb0S9wsVI-sMoXdOq_bmtdEJdCq-EncpHIvxP8kEwG4";
const EC_Y: &str = "lXlQ9rnMyY5sXFzeBRA2rZCuZcpMmM7wPcCuZwkHs4g";
const ED_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIOgWkJIelrYF42CSpdoNABZQiCFiV4HssbPTy541nqV
-----END PRIVATE KEY-----
";
const ED_X: &str = "w8GkbLycISPkbppgOXRrjI_l3tp9qLg-uft-7GaDow8";
const NOW: u64 = 1_700_000_000;

struct Case {
    name: &'static str,
    iss: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

fn cases() -> Option<Vec<Case>> {
    Some(vec![
        Case {
            name: "RS256",
            iss: "https://rsa.bench",
            alg: Algorithm::RS256,
            key: EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).ok()?,
        },
        Case {
            name: "ES256",
            iss: "https://ec.bench",
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_pem(EC_PEM.as_bytes()).ok()?,
        },
        Case {
            name: "EdDSA",
            iss: "https://ed.bench",
            alg: Algorithm::EdDSA,
            key: EncodingKey::from_ed_pem(ED_PEM.as_bytes()).ok()?,
        },
    ])
}

fn config() -> serde_json::Value {
    let provider = |name: &str, iss: &str, alg: &str, jwk: serde_json::Value| {
        json!({"name": name, "issuer": iss, "audiences": ["users"], "algorithms": [alg],
               "jwks": {"keys": [jwk]}})
    };
    json!({
        "providers": [
            provider("rsa", "https://rsa.bench", "RS256",
                     json!({"kty": "RSA", "kid": "k", "n": RSA_N, "e": "AQAB"})),
            provider("ec", "https://ec.bench", "ES256",
                     json!({"kty": "EC", "kid": "k", "crv": "P-256", "x": EC_X, "y": EC_Y})),
            provider("ed", "https://ed.bench", "EdDSA",
                     json!({"kty": "OKP", "kid": "k", "crv": "Ed25519", "x": ED_X})),
        ],
        "routes": {"r": {"requirement": "authenticated"}},
    })
}

fn token(case: &Case, sub: usize) -> Option<String> {
    let mut header = Header::new(case.alg);
    header.kid = Some("k".into());
    let claims = json!({"iss": case.iss, "aud": "users", "sub": format!("u{sub}"),
                        "iat": NOW, "exp": NOW + 3600, "roles": ["a", "b"], "tenant": "acme"});
    encode(&header, &claims, &case.key).ok()
}

fn request(token: &str) -> MockHost {
    let mut host = MockHost::request("GET", "acme.localhost", "/x")
        .with_header("authorization", &format!("Bearer {token}"))
        .with_property("xds.route_name", b"r");
    host.now_secs = NOW;
    host
}

fn bench(c: &mut Criterion) {
    let (Some(cases), Ok(config)) = (cases(), serde_json::to_vec(&config())) else {
        eprintln!("jwt bench: keys or configuration did not load");
        return;
    };
    let Ok(compiled) = CompiledJwt::from_json(&config) else {
        eprintln!("jwt bench: configuration did not compile");
        return;
    };
    let Ok(filter) = JwtFilter::from_json(&config) else {
        return;
    };
    let mut verify = c.benchmark_group("jwt_verify_cold");
    for case in &cases {
        let Some(t) = token(case, 0) else { continue };
        assert!(
            compiled.verify(&t, NOW).is_ok(),
            "{} token verifies",
            case.name
        );
        verify.bench_function(case.name, |b| {
            b.iter(|| compiled.verify(black_box(&t), NOW).is_ok())
        });
    }
    verify.finish();

    let mut flow = c.benchmark_group("jwt_request_headers");
    for case in &cases {
        // Distinct tokens: every request is a cache miss (and a signature check).
        let tokens: Vec<String> = (1..=512).filter_map(|i| token(case, i)).collect();
        let mut next = 0usize;
        flow.bench_function(format!("{}_distinct_tokens", case.name), |b| {
            b.iter_batched(
                || {
                    next = (next + 1) % tokens.len();
                    let fresh = JwtFilter::from_json(&config).ok();
                    (fresh, request(&tokens[next]))
                },
                |(fresh, mut host)| {
                    let f = fresh.as_ref().unwrap_or(&filter);
                    f.on_request_headers(&mut JwtStream::default(), &mut host, true)
                        == Action::Continue
                },
                BatchSize::SmallInput,
            )
        });
        let Some(t) = token(case, 0) else { continue };
        flow.bench_function(format!("{}_repeated_token_cache_hit", case.name), |b| {
            b.iter_batched(
                || request(&t),
                |mut host| filter.on_request_headers(&mut JwtStream::default(), &mut host, true),
                BatchSize::SmallInput,
            )
        });
    }
    flow.finish();

    let t = cases.first().and_then(|c| token(c, 0)).unwrap_or_default();
    c.bench_function("jwt_token_hash_sha256", |b| {
        b.iter(|| token_hash(black_box(&t)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
