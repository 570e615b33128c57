//! Signature algorithms and verification keys: RSA in `rsa_verify` (on `crypto-bigint`),
//! ECDSA, Ed25519 and HMAC on the RustCrypto crates directly.
//!
//! Keys are decoded once, when a JWKS is loaded (RSA modulus with its Montgomery
//! parameters, EC and Ed25519 points decompressed and checked), so a request pays only for
//! the signature check itself. Only verification is linked into the filters: no signing
//! code, no random numbers, no PEM/DER parsing (see docs/jwt-performance.md for what that
//! does to the size and the speed of the `.wasm`).

use super::native::{self, NativeVerify};
use super::rsa_verify::{Hash, Padding, RsaPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};
use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm this gateway knows (`none` is not one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// RSASSA-PSS SHA-384.
    PS384,
    /// RSASSA-PSS SHA-512.
    PS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// Key families: a key only ever verifies algorithms of its own family (and curve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// HS*.
    Hmac,
    /// RS*, PS*.
    Rsa,
    /// ES*.
    Ec,
    /// EdDSA.
    Ed,
}

impl Algorithm {
    /// The algorithm's key family.
    pub fn family(self) -> Family {
        use Algorithm::*;
        match self {
            HS256 | HS384 | HS512 => Family::Hmac,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Family::Rsa,
            ES256 | ES384 => Family::Ec,
            EdDSA => Family::Ed,
        }
    }
}

impl FromStr for Algorithm {
    type Err = ();

    /// The exact (case-sensitive) JWA name.
    fn from_str(s: &str) -> Result<Self, ()> {
        use Algorithm::*;
        Ok(match s {
            "HS256" => HS256,
            "HS384" => HS384,
            "HS512" => HS512,
            "RS256" => RS256,
            "RS384" => RS384,
            "RS512" => RS512,
            "PS256" => PS256,
            "PS384" => PS384,
            "PS512" => PS512,
            "ES256" => ES256,
            "ES384" => ES384,
            "EdDSA" => EdDSA,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An RSA key in both forms a check may need: the Wasm verifier's, and the DER
/// SubjectPublicKeyInfo the gateway's native check imports ([`super::native`]).
#[derive(Clone)]
pub struct RsaKey {
    /// Modulus, exponent and Montgomery parameters.
    pub key: RsaPublicKey,
    /// The same key, DER encoded.
    pub spki_der: Vec<u8>,
}

/// An ECDSA key and its DER SubjectPublicKeyInfo (for the gateway's native check).
#[derive(Clone)]
pub struct EcKey<K> {
    /// The curve's verifier.
    pub key: K,
    /// The same key, DER encoded.
    pub spki_der: Vec<u8>,
}

/// A decoded verification key.
#[derive(Clone)]
pub enum VerifyingKey {
    /// An HMAC secret.
    Hmac(Vec<u8>),
    /// An RSA public key (boxed: its Montgomery parameters take up to 2 KB).
    Rsa(Box<RsaKey>),
    /// A P-256 public key.
    P256(EcKey<p256::ecdsa::VerifyingKey>),
    /// A P-384 public key.
    P384(EcKey<p384::ecdsa::VerifyingKey>),
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyingKey::Hmac(_) => "Hmac(..)",
            VerifyingKey::Rsa(_) => "Rsa(..)",
            VerifyingKey::P256(_) => "P256(..)",
            VerifyingKey::P384(_) => "P384(..)",
            VerifyingKey::Ed25519(_) => "Ed25519(..)",
        })
    }
}

fn member<'a>(jwk: &'a Value, name: &str) -> Result<&'a str, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{name}` is missing or not a string"))
}

fn b64_member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(member(jwk, name)?.trim_end_matches('='))
        .map_err(|_| format!("`{name}` is not base64url"))
}

impl VerifyingKey {
    /// Decodes one JWK (`kty` `RSA`, `EC` with `P-256`/`P-384`, `OKP` with `Ed25519`, or
    /// `oct`). The error says what is wrong, without echoing key material.
    pub fn from_jwk(jwk: &Value) -> Result<Self, String> {
        match member(jwk, "kty")? {
            "RSA" => {
                let (n, e) = (b64_member(jwk, "n")?, b64_member(jwk, "e")?);
                let key = RsaPublicKey::new(&n, &e)?;
                let spki_der = native::rsa_spki_der(&n, &e);
                Ok(VerifyingKey::Rsa(Box::new(RsaKey { key, spki_der })))
            }
            "EC" => {
                let (x, y) = (b64_member(jwk, "x")?, b64_member(jwk, "y")?);
                let crv = member(jwk, "crv")?;
                let size = match crv {
                    "P-256" => 32,
                    "P-384" => 48,
                    other => return Err(format!("curve `{other}` is not supported")),
                };
                if x.len() != size || y.len() != size {
                    return Err(format!("{crv} coordinates must be {size} bytes"));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let bad = |_| format!("not a point on {crv}");
                let spki_der = native::ec_spki_der(&point).unwrap_or_default();
                if size == 32 {
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(|key| VerifyingKey::P256(EcKey { key, spki_der }))
                        .map_err(bad)
                } else {
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map(|key| VerifyingKey::P384(EcKey { key, spki_der }))
                        .map_err(bad)
                }
            }
            "OKP" => {
                let crv = member(jwk, "crv")?;
                if crv != "Ed25519" {
                    return Err(format!("curve `{crv}` is not supported"));
                }
                let x: [u8; 32] = b64_member(jwk, "x")?
                    .try_into()
                    .map_err(|_| "Ed25519 `x` must be 32 bytes".to_string())?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map(VerifyingKey::Ed25519)
                    .map_err(|_| "not an Ed25519 point".to_string())
            }
            "oct" => Ok(VerifyingKey::Hmac(b64_member(jwk, "k")?)),
            other => Err(format!("key type `{other}` is not supported")),
        }
    }

    /// The key's family.
    pub fn family(&self) -> Family {
        match self {
            VerifyingKey::Hmac(_) => Family::Hmac,
            VerifyingKey::Rsa(_) => Family::Rsa,
            VerifyingKey::P256(_) | VerifyingKey::P384(_) => Family::Ec,
            VerifyingKey::Ed25519(_) => Family::Ed,
        }
    }

    /// True when this key can verify `alg` (family, and curve for ECDSA).
    pub fn fits(&self, alg: Algorithm) -> bool {
        match self {
            VerifyingKey::P256(_) => alg == Algorithm::ES256,
            VerifyingKey::P384(_) => alg == Algorithm::ES384,
            key => key.family() == alg.family(),
        }
    }

    /// What the gateway's native check needs for `alg` with this key (hash name and DER
    /// key), for the algorithms it verifies exactly as [`verify`](Self::verify) does:
    /// RS256/384/512 (RSASSA-PKCS1-v1_5: BoringSSL re-encodes and compares, as we do) and
    /// ES256/384 (r and s in 1..n, either s accepted, as the `p256`/`p384` verifiers do).
    pub fn native_form(&self, alg: Algorithm) -> Option<(&'static str, &[u8])> {
        use Algorithm::*;
        match (self, alg) {
            (VerifyingKey::Rsa(rsa), RS256) => Some(("sha256", &rsa.spki_der)),
            (VerifyingKey::Rsa(rsa), RS384) => Some(("sha384", &rsa.spki_der)),
            (VerifyingKey::Rsa(rsa), RS512) => Some(("sha512", &rsa.spki_der)),
            (VerifyingKey::P256(ec), ES256) => Some(("sha256", &ec.spki_der)),
            (VerifyingKey::P384(ec), ES384) => Some(("sha384", &ec.spki_der)),
            _ => None,
        }
    }

    /// [`verify`](Self::verify), by the gateway's `native` check when it offers one for
    /// this key and algorithm and answers; otherwise in Wasm.
    pub fn verify_preferring(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
        native: NativeVerify<'_>,
    ) -> bool {
        if let Some((hash, der)) = self.native_form(alg) {
            let answer = match self {
                VerifyingKey::P256(_) => native::ecdsa_signature_der(signature, 32)
                    .and_then(|sig| native(hash, der, &sig, message)),
                VerifyingKey::P384(_) => native::ecdsa_signature_der(signature, 48)
                    .and_then(|sig| native(hash, der, &sig, message)),
                _ => native(hash, der, signature, message),
            };
            if let Some(valid) = answer {
                return valid;
            }
        }
        self.verify(alg, message, signature)
    }

    /// Checks `signature` (raw bytes) over `message` with `alg`. False for any mismatch
    /// of key and algorithm, and for any malformed signature.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        use Algorithm::*;
        match (self, alg) {
            (VerifyingKey::Hmac(secret), HS256) => hmac_sha256(secret, message, signature),
            (VerifyingKey::Hmac(secret), HS384) => hmac_sha384(secret, message, signature),
            (VerifyingKey::Hmac(secret), HS512) => hmac_sha512(secret, message, signature),
            (VerifyingKey::Rsa(rsa), RS256) => {
                rsa.key
                    .verify(Padding::Pkcs1v15, Hash::Sha256, message, signature)
            }
            (VerifyingKey::Rsa(rsa), RS384) => {
                rsa.key
                    .verify(Padding::Pkcs1v15, Hash::Sha384, message, signature)
            }
            (VerifyingKey::Rsa(rsa), RS512) => {
                rsa.key
                    .verify(Padding::Pkcs1v15, Hash::Sha512, message, signature)
            }
            (VerifyingKey::Rsa(rsa), PS256) => {
                rsa.key
                    .verify(Padding::Pss, Hash::Sha256, message, signature)
            }
            (VerifyingKey::Rsa(rsa), PS384) => {
                rsa.key
                    .verify(Padding::Pss, Hash::Sha384, message, signature)
            }
            (VerifyingKey::Rsa(rsa), PS512) => {
                rsa.key
                    .verify(Padding::Pss, Hash::Sha512, message, signature)
            }
            (VerifyingKey::P256(ec), ES256) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| {
                    p256::ecdsa::signature::Verifier::verify(&ec.key, message, &s).is_ok()
                }),
            (VerifyingKey::P384(ec), ES384) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| {
                    p384::ecdsa::signature::Verifier::verify(&ec.key, message, &s).is_ok()
                }),
            (VerifyingKey::Ed25519(key), EdDSA) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify_strict(message, &s).is_ok()),
            _ => false,
        }
    }
}

macro_rules! hmac_verifier {
    ($name:ident, $digest:ty) => {
        fn $name(secret: &[u8], message: &[u8], signature: &[u8]) -> bool {
            match <Hmac<$digest> as Mac>::new_from_slice(secret) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.verify_slice(signature).is_ok()
                }
                Err(_) => false,
            }
        }
    };
}

hmac_verifier!(hmac_sha256, Sha256);
hmac_verifier!(hmac_sha384, Sha384);
hmac_verifier!(hmac_sha512, Sha512);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn algorithm_names_are_exact_and_none_is_not_one() {
        assert_eq!("RS256".parse(), Ok(Algorithm::RS256));
        assert_eq!("EdDSA".parse(), Ok(Algorithm::EdDSA));
        for bad in ["none", "rs256", "ES512", "RSA-OAEP", ""] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_jwks_are_refused_with_a_reason() {
        for (jwk, reason) in [
            (json!({"kty": "RSA", "n": "!!", "e": "AQAB"}), "base64url"),
            (
                json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
                "P-521",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
                "32 bytes",
            ),
            (json!({"kty": "OKP", "crv": "X25519", "x": "AA"}), "X25519"),
            (json!({"kty": "XYZ"}), "XYZ"),
            (json!({"n": "AQAB"}), "kty"),
        ] {
            let err = VerifyingKey::from_jwk(&jwk).unwrap_err();
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn a_key_fits_only_its_own_algorithms() {
        let hmac = VerifyingKey::Hmac(vec![7; 32]);
        assert!(hmac.fits(Algorithm::HS384) && !hmac.fits(Algorithm::RS256));
        assert!(!hmac.verify(Algorithm::RS256, b"m", b"s"));
    }
}
