//! `CompiledJwt::verify` past the signature: the fuzzer writes a token's header and
//! claims (JSON text, split at 0xFF), the harness signs them with the HS256 provider's
//! secret, then verifies at a fixed instant. Invariants: no panic; an accepted token has
//! a JSON-object header with `alg` HS256, the HMAC issuer, an accepted audience, an
//! `exp` in the future (with skew), no `nbf`/`iat` in the future, and a `crit` naming
//! only supported extensions that are present.
#![no_main]

use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use portcullis_core::jwt::CompiledJwt;
use portcullis_fuzz::{b64, split, HMAC_SECRET, NOW};
use serde_json::Value;
use std::sync::OnceLock;

static CONFIG: OnceLock<CompiledJwt> = OnceLock::new();

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

fuzz_target!(|data: &[u8]| {
    let parts = split(data, 2);
    let input = format!("{}.{}", b64(parts[0]), b64(parts[1]));
    let key = EncodingKey::from_secret(HMAC_SECRET);
    let Ok(signature) = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256) else {
        return;
    };
    let token = format!("{input}.{signature}");
    let config = CONFIG.get_or_init(portcullis_fuzz::jwt_config);
    let Ok(verified) = config.verify(&token, NOW) else {
        return;
    };
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(parts[0]).expect("accepted header is a JSON object");
    let claims = &verified.identity.claims;
    assert_eq!(header.get("alg").and_then(Value::as_str), Some("HS256"));
    assert_eq!(verified.identity.issuer, "https://hmac.test");
    assert_eq!(
        claims.get("iss").and_then(Value::as_str),
        Some("https://hmac.test")
    );
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == "users" || a == "admins",
        Some(Value::Array(a)) => a.iter().any(|x| x == "users" || x == "admins"),
        _ => false,
    };
    assert!(aud_ok, "accepted audience {:?}", claims.get("aud"));
    let exp = num(claims.get("exp")).expect("accepted token without a numeric exp");
    assert!(
        exp + 60.0 > NOW as f64,
        "accepted expired token (exp {exp})"
    );
    for name in ["nbf", "iat"] {
        if let Some(t) = num(claims.get(name)) {
            // Times are whole seconds (fractions are floored, RFC 7519 NumericDate).
            assert!(
                t.floor() <= (NOW + 60) as f64,
                "accepted {name} {t} in the future"
            );
        }
    }
    if let Some(crit) = header.get("crit") {
        let items = crit.as_array().expect("accepted non-array crit");
        assert!(!items.is_empty());
        for item in items {
            assert_eq!(item.as_str(), Some("b64x"), "accepted unsupported crit");
            assert!(header.contains_key("b64x"));
        }
    }
    if let Some(sub) = claims.get("sub") {
        assert_eq!(sub.as_str(), verified.identity.subject.as_deref());
    }
});
