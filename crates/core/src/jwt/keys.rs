//! A provider's verification keys, compiled from an inline JWKS or a shared secret.
//! Keys are indexed by `kid`; a key is only ever used with an algorithm of its family.

use super::crypto::{Algorithm, VerifyingKey};
use super::error::JwtError;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;
use thiserror::Error;

/// A key that could not be loaded.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum KeyError {
    /// The JWKS document is not a JWKS.
    #[error("jwks is not a valid JWK set: {0}")]
    BadJwks(String),
    /// One key could not be turned into a verification key.
    #[error("jwks key {index} (kid {kid:?}) is not usable: {reason}")]
    BadKey {
        /// Position in `keys`.
        index: usize,
        /// Its `kid`, if any.
        kid: Option<String>,
        /// Why.
        reason: String,
    },
    /// Two keys share a `kid`.
    #[error("jwks has two keys with kid `{0}`")]
    DuplicateKid(String),
    /// The shared secret is not base64 or too short.
    #[error("shared_secret_base64 is not usable: {0}")]
    BadSecret(String),
}

/// One verification key.
#[derive(Clone)]
pub struct Key {
    /// Its `kid`, if any.
    pub kid: Option<String>,
    /// The algorithm the JWK pins (`alg`), if any.
    pub alg: Option<Algorithm>,
    /// The key itself.
    pub key: VerifyingKey,
}

/// A provider's keys.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, usize>,
}

/// The shortest RSA modulus a key set may hold: RFC 7518 (sections 3.3 and 3.5) says a
/// key of 2048 bits or larger MUST be used with RS* and PS*; shorter ones can be factored
/// by a determined attacker, who could then sign any token.
pub const MIN_RSA_BITS: usize = 2048;

/// One JWK as a verification key: `alg`, when the JWK pins one, must be a signature
/// algorithm the key can verify.
fn key_from_jwk(index: usize, jwk: &Value) -> Result<Key, KeyError> {
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => {
            return Err(KeyError::BadKey {
                index,
                kid: None,
                reason: "kid is not a string".into(),
            })
        }
    };
    let bad = |reason: String| KeyError::BadKey {
        index,
        kid: kid.clone(),
        reason,
    };
    let key = VerifyingKey::from_jwk(jwk).map_err(bad)?;
    if let VerifyingKey::Rsa(rsa) = &key {
        if rsa.key.bits() < MIN_RSA_BITS {
            return Err(bad(format!(
                "RSA `n` has {} bits: keys under {MIN_RSA_BITS} bits are refused (RFC 7518 section 3.3)",
                rsa.key.bits()
            )));
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(
            Algorithm::from_str(a)
                .map_err(|_| bad(format!("alg {a} is not a signature algorithm")))?,
        ),
        Some(_) => return Err(bad("alg is not a string".into())),
    };
    if let Some(a) = alg {
        if !key.fits(a) {
            return Err(bad("alg does not match the key type".into()));
        }
    }
    Ok(Key { kid, alg, key })
}

/// The `keys` array of a JWKS document.
fn jwks_keys(value: &Value) -> Result<&Vec<Value>, KeyError> {
    value
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(Value::as_array)
        .ok_or_else(|| KeyError::BadJwks("expected an object with a `keys` array".into()))
}

impl KeySet {
    /// Parses a JWKS document. Keys for signature use only; unknown key types are errors.
    pub fn from_jwks(value: &Value) -> Result<Self, KeyError> {
        let mut keys = KeySet::default();
        for (index, jwk) in jwks_keys(value)?.iter().enumerate() {
            keys.push(key_from_jwk(index, jwk)?)?;
        }
        Ok(keys)
    }

    /// Parses a JWKS document fetched from a remote endpoint. Unlike an inline JWKS, a
    /// key this gateway cannot use (an encryption key, an unknown key type or curve) is
    /// skipped and reported, so that an identity provider publishing one more key type
    /// does not take every key away; the document itself must still be a JWK set, with
    /// no two keys sharing a `kid`, and with at least one usable key.
    pub fn from_remote_jwks(body: &[u8]) -> Result<(Self, Vec<KeyError>), KeyError> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| KeyError::BadJwks(e.to_string()))?;
        let mut keys = KeySet::default();
        let mut skipped = Vec::new();
        for (index, value) in jwks_keys(&doc)?.iter().enumerate() {
            let kid = value
                .get("kid")
                .and_then(|k| k.as_str())
                .map(str::to_string);
            let unusable = |reason: String| KeyError::BadKey {
                index,
                kid: kid.clone(),
                reason,
            };
            match value.get("use").and_then(|u| u.as_str()) {
                None | Some("sig") => {}
                Some(other) => {
                    skipped.push(unusable(format!("use `{other}` is not `sig`")));
                    continue;
                }
            }
            // HS* keys come only from a provider's shared secret, never from a document
            // fetched over the network.
            if value.get("kty").and_then(|k| k.as_str()) == Some("oct") {
                skipped.push(unusable(
                    "symmetric (`oct`) keys are never taken from a remote JWKS".into(),
                ));
                continue;
            }
            match key_from_jwk(index, value) {
                Ok(key) => keys.push(key)?,
                Err(err) => skipped.push(err),
            }
        }
        if keys.is_empty() {
            return Err(KeyError::BadJwks("no usable signature key".into()));
        }
        Ok((keys, skipped))
    }

    /// A key set holding one HMAC secret.
    pub fn from_secret(base64_secret: &str) -> Result<Self, KeyError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_secret.trim())
            .map_err(|e| KeyError::BadSecret(e.to_string()))?;
        if bytes.len() < 32 {
            return Err(KeyError::BadSecret("shorter than 32 bytes".into()));
        }
        let mut keys = KeySet::default();
        keys.push(Key {
            kid: None,
            alg: None,
            key: VerifyingKey::Hmac(bytes),
        })?;
        Ok(keys)
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: KeySet) -> Result<(), KeyError> {
        for key in other.keys {
            self.push(key)?;
        }
        Ok(())
    }

    fn push(&mut self, key: Key) -> Result<(), KeyError> {
        if let Some(kid) = &key.kid {
            if self.by_kid.insert(kid.clone(), self.keys.len()).is_some() {
                return Err(KeyError::DuplicateKid(kid.clone()));
            }
        }
        self.keys.push(key);
        Ok(())
    }

    /// True when a key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may verify a token with this `kid` and `alg`: with a `kid`, only
    /// that key (unknown → error); without, every key of the algorithm's family.
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<&Key>, JwtError> {
        let mut found = Vec::new();
        if !self.select(kid, alg, &mut found) {
            return Err(JwtError::UnknownKid);
        }
        if found.is_empty() {
            return Err(JwtError::NoKeyForAlgorithm(format!("{alg:?}")));
        }
        Ok(found)
    }

    /// Adds to `out` the keys that may verify a token with this `kid` and `alg`. False
    /// when the token has a `kid` and this set has no key with it.
    pub fn select<'a>(&'a self, kid: Option<&str>, alg: Algorithm, out: &mut Vec<&'a Key>) -> bool {
        let fits = |k: &&Key| k.key.fits(alg) && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(index) => {
                    out.extend(self.keys.get(*index).into_iter().filter(fits));
                    true
                }
                None => false,
            },
            None => {
                out.extend(self.keys.iter().filter(fits));
                true
            }
        }
    }
}
