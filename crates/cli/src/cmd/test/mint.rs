//! "Claims taken as verified", by signing them: the run makes its own Ed25519 key (32
//! bytes of OS randomness, never written anywhere), adds its public half to the inline
//! JWKS of the provider whose issuer the claims name (and `EdDSA` to that provider's
//! algorithms), and signs each case's claims with it. The JWT filter then runs as it does
//! in the gateway: it finds the token, checks signature, `iss`, `aud`, `exp`, `nbf` and
//! `iat`, forwards the configured claim headers and hands the verified identity on. That
//! runs more of the gateway's code than setting the identity property by hand, which
//! would skip the whole JWT stage. Cases with `token:` run the configuration unchanged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};
use std::fmt;

/// Seconds a minted token is valid when the claims give no `exp`.
const LIFETIME: u64 = 300;

/// Why a test token could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    /// The operating system gave no randomness for the key.
    Randomness(String),
    /// Signing failed.
    Signing(String),
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::Randomness(e) => write!(f, "test key: no randomness: {e}"),
            MintError::Signing(e) => write!(f, "test key: signing the claims: {e}"),
        }
    }
}

impl std::error::Error for MintError {}

/// The run's own signing key.
pub struct TestKey {
    /// PKCS#8 DER of the private key, as `jsonwebtoken` reads it.
    pkcs8: Vec<u8>,
    /// The JWK of the public key.
    jwk: Value,
    kid: String,
}

/// PKCS#8 `PrivateKeyInfo` for Ed25519 (RFC 8410), before the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl TestKey {
    /// A fresh key.
    pub fn generate() -> Result<TestKey, MintError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| MintError::Randomness(e.to_string()))?;
        let mut tag = [0u8; 4];
        getrandom::getrandom(&mut tag).map_err(|e| MintError::Randomness(e.to_string()))?;
        let kid = format!("portcullis-test-{}", hex::encode(tag));
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(public),
        });
        let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
        pkcs8.extend_from_slice(&seed);
        Ok(TestKey { pkcs8, jwk, kid })
    }

    /// The JWT filter configuration `jwt` with this key trusted by the provider of
    /// `issuer` (none: unchanged, and the filter refuses the unknown issuer).
    pub fn trusted_by(&self, jwt: &Value, issuer: &str) -> Value {
        let mut config = jwt.clone();
        let providers = config.get_mut("providers").and_then(Value::as_array_mut);
        let provider = providers.and_then(|list| {
            list.iter_mut()
                .find(|p| p.get("issuer").and_then(Value::as_str) == Some(issuer))
        });
        let Some(Value::Object(provider)) = provider else {
            return config;
        };
        let jwks = provider
            .entry("jwks")
            .or_insert_with(|| json!({"keys": []}));
        if let Some(keys) = jwks.get_mut("keys").and_then(Value::as_array_mut) {
            keys.push(self.jwk.clone());
        }
        if let Some(algorithms) = provider.get_mut("algorithms").and_then(Value::as_array_mut) {
            if !algorithms.iter().any(|a| a == "EdDSA") {
                algorithms.push("EdDSA".into());
            }
        }
        config
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, MintError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let key = EncodingKey::from_ed_der(&self.pkcs8);
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| MintError::Signing(e.to_string()))
    }
}

/// The claims a case gives, completed as the identity provider would issue them: `iss`
/// (the first provider's issuer), `aud` (that provider's first audience), `iat` (now) and
/// `exp` (now + 5 minutes), each only where the case does not give it.
pub fn complete(jwt: &Value, claims: &Map<String, Value>, now: u64) -> Map<String, Value> {
    let mut out = claims.clone();
    let providers = jwt.get("providers").and_then(Value::as_array);
    let first = providers.and_then(|p| p.first());
    if !out.contains_key("iss") {
        if let Some(issuer) = first.and_then(|p| p.get("issuer")) {
            out.insert("iss".into(), issuer.clone());
        }
    }
    let issuer = out.get("iss").and_then(Value::as_str).unwrap_or_default();
    let provider = providers.and_then(|list| {
        list.iter()
            .find(|p| p.get("issuer").and_then(Value::as_str) == Some(issuer))
    });
    if !out.contains_key("aud") {
        let audience = provider.and_then(|p| p.get("audiences")?.get(0)).cloned();
        if let Some(audience) = audience {
            out.insert("aud".into(), audience);
        }
    }
    out.entry("iat").or_insert(now.into());
    out.entry("exp").or_insert((now + LIFETIME).into());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use portcullis_core::jwt::CompiledJwt;

    fn config() -> Value {
        json!({"providers": [{"name": "p", "issuer": "https://i", "audiences": ["users"],
            "algorithms": ["HS256"], "shared_secret_base64": "cG9ydGN1bGxpcy10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyEh"}]})
    }

    #[test]
    fn the_jwt_filter_verifies_a_minted_token() {
        let key = TestKey::generate().unwrap();
        let jwt = key.trusted_by(&config(), "https://i");
        let claims = complete(&jwt, json!({"sub": "u1"}).as_object().unwrap(), 1_000);
        let token = key.sign(&claims).unwrap();
        let compiled = CompiledJwt::from_json(jwt.to_string().as_bytes()).unwrap();
        let verified = compiled.verify(&token, 1_000).unwrap();
        assert_eq!(verified.identity.subject.as_deref(), Some("u1"));
        assert_eq!(verified.identity.provider, "p");
    }

    #[test]
    fn another_issuer_gets_no_key() {
        let key = TestKey::generate().unwrap();
        assert_eq!(key.trusted_by(&config(), "https://other"), config());
    }

    #[test]
    fn given_claims_are_kept() {
        let given = json!({"iss": "x", "aud": "y", "exp": 5});
        let claims = complete(&config(), given.as_object().unwrap(), 1_000);
        assert_eq!(
            (claims["iss"].clone(), claims["aud"].clone()),
            (json!("x"), json!("y"))
        );
        assert_eq!(
            (claims["exp"].clone(), claims["iat"].clone()),
            (json!(5), json!(1_000))
        );
    }
}
