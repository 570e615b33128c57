#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! RSA signature verification (RS256/384/512, PS256/384/512) as the filters run it
//! (`VerifyingKey::from_jwk` + `verify`, on `jwt::rsa_verify`), differentially against
//! `jsonwebtoken` (the `rsa` crate) signing and verifying, with keys of 1024, 2048 (e = 65537
//! and e = 3), 2049, 3072 and 4096 bits (tests/fixtures/rsa, generated for these tests only).
//! Every malformed input is a denial, never a panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{crypto, Algorithm as JwtAlg, DecodingKey, EncodingKey};
use portcullis_core::jwt::crypto::{Algorithm, VerifyingKey};
use portcullis_core::jwt::keys::{KeyError, KeySet};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

const NAMES: [&str; 6] = [
    "rsa-1024",
    "rsa-2048",
    "rsa-2048-e3",
    "rsa-2049",
    "rsa-3072",
    "rsa-4096",
];
const ALGS: [(Algorithm, JwtAlg); 6] = [
    (Algorithm::RS256, JwtAlg::RS256),
    (Algorithm::RS384, JwtAlg::RS384),
    (Algorithm::RS512, JwtAlg::RS512),
    (Algorithm::PS256, JwtAlg::PS256),
    (Algorithm::PS384, JwtAlg::PS384),
    (Algorithm::PS512, JwtAlg::PS512),
];
const MESSAGE: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTEifQ";

struct Fixture {
    name: &'static str,
    jwk: Value,
    signer: EncodingKey,
    checker: DecodingKey,
    key: VerifyingKey,
}

fn read(file: &str) -> String {
    let path = format!("{}/tests/fixtures/rsa/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        NAMES
            .iter()
            .map(|&name| {
                let jwk: Value = serde_json::from_str(&read(&format!("{name}.jwk.json"))).unwrap();
                let (n, e) = (jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap());
                Fixture {
                    name,
                    signer: EncodingKey::from_rsa_pem(read(&format!("{name}.pem")).as_bytes())
                        .unwrap(),
                    checker: DecodingKey::from_rsa_components(n, e).unwrap(),
                    key: VerifyingKey::from_jwk(&jwk).unwrap(),
                    jwk,
                }
            })
            .collect()
    })
}

fn fixture(name: &str) -> &'static Fixture {
    fixtures().iter().find(|f| f.name == name).unwrap()
}

/// A signature by jsonwebtoken; none for PS512 with the 1024-bit key, too short for it
/// (the verifier refuses such a pair too: `every_key_size_...`).
fn try_sign(f: &Fixture, alg: JwtAlg, message: &[u8]) -> Option<Vec<u8>> {
    if f.name == "rsa-1024" && alg == JwtAlg::PS512 {
        return None;
    }
    Some(unb64(&crypto::sign(message, &f.signer, alg).unwrap()))
}

/// `try_sign` of `MESSAGE`, once per key and algorithm (signing is slow in debug builds).
fn signed(f: &Fixture, alg: JwtAlg) -> Option<Vec<u8>> {
    type Signatures = Mutex<HashMap<(&'static str, JwtAlg), Option<Vec<u8>>>>;
    static SIGNATURES: OnceLock<Signatures> = OnceLock::new();
    let mut map = SIGNATURES.get_or_init(Default::default).lock().unwrap();
    map.entry((f.name, alg))
        .or_insert_with(|| try_sign(f, alg, MESSAGE))
        .clone()
}

/// jsonwebtoken's verdict (the `rsa` crate).
fn reference(f: &Fixture, alg: JwtAlg, message: &[u8], signature: &[u8]) -> bool {
    crypto::verify(&b64(signature), message, &f.checker, alg).unwrap_or(false)
}

fn modulus(f: &Fixture) -> Vec<u8> {
    unb64(f.jwk["n"].as_str().unwrap())
}

fn jwk_with(n: &[u8], e: &[u8]) -> Value {
    json!({"kty": "RSA", "n": b64(n), "e": b64(e)})
}

fn load_error(n: &[u8], e: &[u8]) -> String {
    VerifyingKey::from_jwk(&jwk_with(n, e)).unwrap_err()
}

#[test]
fn every_key_size_verifies_what_jsonwebtoken_signs_with_every_rsa_algorithm() {
    for f in fixtures() {
        for (alg, jwt_alg) in ALGS {
            match signed(f, jwt_alg) {
                Some(signature) => {
                    assert!(f.key.verify(alg, MESSAGE, &signature), "{} {alg}", f.name)
                }
                // What a 1024-bit key could verify as PS512: nothing, not even a PS384 signature.
                None => {
                    let other = signed(f, JwtAlg::PS384).unwrap();
                    assert!(!f.key.verify(alg, MESSAGE, &other), "{} {alg}", f.name)
                }
            }
        }
    }
}

#[test]
fn a_tampered_signature_or_message_is_refused() {
    for f in fixtures() {
        for (alg, jwt_alg) in ALGS {
            let Some(signature) = signed(f, jwt_alg) else {
                continue;
            };
            for index in [0, signature.len() / 2, signature.len() - 1] {
                let mut bad = signature.clone();
                bad[index] ^= 0x01;
                assert!(
                    !f.key.verify(alg, MESSAGE, &bad),
                    "{} {alg} {index}",
                    f.name
                );
            }
            assert!(!f.key.verify(alg, b"another message", &signature));
        }
    }
}

#[test]
fn a_signature_of_the_wrong_length_is_refused() {
    let f = fixture("rsa-2048");
    let signature = signed(f, JwtAlg::RS256).unwrap();
    let longer = [&[0u8][..], &signature].concat();
    for bad in [
        &signature[1..],
        &longer[..],
        &signature[..signature.len() - 1],
        &[],
    ] {
        assert!(
            !f.key.verify(Algorithm::RS256, MESSAGE, bad),
            "{}",
            bad.len()
        );
    }
}

#[test]
fn a_signature_not_below_the_modulus_is_refused() {
    let f = fixture("rsa-2049");
    let n = modulus(f);
    for (alg, jwt_alg) in [
        (Algorithm::RS256, JwtAlg::RS256),
        (Algorithm::PS256, JwtAlg::PS256),
    ] {
        let signature = signed(f, jwt_alg).unwrap();
        // s + n: the same residue, one byte shorter than 2^(8k) since n has 2049 bits.
        let mut sum = vec![0u8; n.len()];
        let mut carry = 0u16;
        for i in (0..n.len()).rev() {
            let digit = u16::from(signature[i]) + u16::from(n[i]) + carry;
            sum[i] = digit as u8;
            carry = digit >> 8;
        }
        assert_eq!(carry, 0);
        for bad in [sum, n.clone(), vec![0xff; n.len()]] {
            assert!(!f.key.verify(alg, MESSAGE, &bad), "{alg}");
        }
    }
}

#[test]
fn a_signature_made_with_another_hash_or_padding_is_refused() {
    for f in fixtures() {
        for (signer_alg, checked) in [
            (JwtAlg::RS384, Algorithm::RS256),
            (JwtAlg::RS256, Algorithm::RS512),
            (JwtAlg::PS256, Algorithm::RS256),
            (JwtAlg::RS256, Algorithm::PS256),
            (JwtAlg::PS512, Algorithm::PS384),
        ] {
            let Some(signature) = signed(f, signer_alg) else {
                continue;
            };
            assert!(
                !f.key.verify(checked, MESSAGE, &signature),
                "{} {checked}",
                f.name
            );
        }
    }
}

#[test]
fn a_signature_with_a_leading_zero_byte_verifies_and_not_without_it() {
    let case: Value = serde_json::from_str(&read("rsa-2048-leading-zero-rs256.json")).unwrap();
    let message = case["message"].as_str().unwrap().as_bytes();
    let signature = unb64(case["signature"].as_str().unwrap());
    assert_eq!(signature[0], 0);
    let key = &fixture("rsa-2048").key;
    assert!(key.verify(Algorithm::RS256, message, &signature));
    assert!(!key.verify(Algorithm::RS256, message, &signature[1..]));
}

#[test]
fn a_modulus_with_leading_zero_bytes_in_the_jwk_verifies_the_same() {
    let f = fixture("rsa-2048");
    let padded = [&[0u8, 0][..], &modulus(f)].concat();
    let key = VerifyingKey::from_jwk(&jwk_with(&padded, &[0, 1, 0, 1])).unwrap();
    let signature = signed(f, JwtAlg::RS256).unwrap();
    assert!(key.verify(Algorithm::RS256, MESSAGE, &signature));
    assert!(!key.verify(
        Algorithm::RS256,
        MESSAGE,
        &[&[0u8][..], &signature].concat()
    ));
}

#[test]
fn trivial_signatures_are_refused() {
    for f in fixtures() {
        let n = modulus(f);
        let mut one = vec![0u8; n.len()];
        *one.last_mut().unwrap() = 1;
        let mut minus_one = n.clone();
        *minus_one.last_mut().unwrap() -= 1;
        for bad in [vec![0u8; n.len()], one, minus_one] {
            for (alg, _) in ALGS {
                assert!(!f.key.verify(alg, MESSAGE, &bad), "{} {alg}", f.name);
            }
        }
    }
}

#[test]
fn moduli_longer_than_4096_bits_are_refused_at_load() {
    let mut n = vec![0xffu8; 513];
    n[0] = 0x01;
    assert!(load_error(&n, &[1, 0, 1]).contains("4097 bits"));
}

#[test]
fn moduli_shorter_than_512_bits_are_refused_at_load() {
    assert!(load_error(&[0xff; 63], &[1, 0, 1]).contains("504 bits"));
    assert!(load_error(&[], &[1, 0, 1]).contains("0 bits"));
}

#[test]
fn even_moduli_are_refused_at_load() {
    assert!(load_error(&[0xfe; 256], &[1, 0, 1]).contains("even"));
}

#[test]
fn exponents_outside_2_to_2_pow_33_minus_1_are_refused_at_load() {
    for e in [&[][..], &[1], &[0, 0, 1], &[2, 0, 0, 0, 0], &[1; 9]] {
        assert!(load_error(&[0xff; 256], e).contains("`e`"), "{e:?}");
    }
    assert!(VerifyingKey::from_jwk(&jwk_with(&[0xff; 256], &[1, 0xff, 0xff, 0xff, 0xff])).is_ok());
}

#[test]
fn a_refused_rsa_key_is_named_in_the_key_set_error() {
    let jwk = json!({"kty": "RSA", "kid": "tiny", "n": b64(&[0xff; 63]), "e": "AQAB"});
    let err = KeySet::from_jwks(&json!({"keys": [jwk]})).err().unwrap();
    assert!(matches!(&err, KeyError::BadKey { index: 0, kid: Some(k), .. } if k == "tiny"));
    assert!(err.to_string().contains("504 bits"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_messages_and_bit_flips_get_the_verdict_of_jsonwebtoken(
        which in 0..NAMES.len(),
        alg in 0..ALGS.len(),
        message in prop::collection::vec(any::<u8>(), 0..300),
        flip in prop::option::of(any::<prop::sample::Index>()),
        bit in 0u8..8,
    ) {
        let f = &fixtures()[which];
        let (alg, jwt_alg) = ALGS[alg];
        let Some(mut signature) = try_sign(f, jwt_alg, &message) else {
            return Ok(());
        };
        if let Some(at) = flip {
            let at = at.index(signature.len());
            signature[at] ^= 1 << bit;
        }
        let ours = f.key.verify(alg, &message, &signature);
        prop_assert_eq!(ours, reference(f, jwt_alg, &message, &signature));
        prop_assert_eq!(ours, flip.is_none());
    }

    #[test]
    fn arbitrary_signatures_are_refused(
        which in 0..NAMES.len(),
        alg in 0..ALGS.len(),
        seed in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let f = &fixtures()[which];
        let size = modulus(f).len();
        let signature: Vec<u8> = seed.iter().cycle().take(size).copied().collect();
        prop_assert!(!f.key.verify(ALGS[alg].0, MESSAGE, &signature));
    }
}

#[test]
fn a_key_set_refuses_rsa_keys_under_2048_bits() {
    // RFC 7518 section 3.3: RS* and PS* keys MUST be 2048 bits or larger.
    let jwk: Value = serde_json::from_str(&read("rsa-1024.jwk.json")).unwrap();
    let err = KeySet::from_jwks(&json!({"keys": [jwk]})).err().unwrap();
    assert!(err.to_string().contains("under 2048 bits"), "{err}");
    let jwk: Value = serde_json::from_str(&read("rsa-2048.jwk.json")).unwrap();
    assert!(KeySet::from_jwks(&json!({"keys": [jwk]})).is_ok());
}
