//! The gateway's own signature check, where it offers one: Envoy registers a
//! `verify_signature` foreign function (`source/extensions/common/wasm/foreign.cc`) that
//! runs BoringSSL natively. An RSA PKCS#1 v1.5 check there costs tens of microseconds
//! where the same arithmetic in Wasm costs hundreds (docs/jwt-performance.md), and every
//! new token pays it once per worker.
//!
//! This module holds the plain-value side of that call, so it is tested natively: the
//! public key in the form Envoy imports (DER `SubjectPublicKeyInfo`), the argument
//! message and the result message (protobuf, `ext/verify_signature.proto`). Both are a
//! handful of fixed fields; they are written by hand rather than with `der`/`prost`,
//! whose generic machinery would add tens of kilobytes to every `.wasm` for two fixed
//! shapes (each is checked against an independent encoder in the tests).
//!
//! The answer is trusted only as `Some(true)` or `Some(false)`; anything else (no such
//! function, an error, an unreadable result) is `None`, and the built-in check decides.

/// OID 1.2.840.113549.1.1.1 (rsaEncryption) with NULL parameters, DER.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// id-ecPublicKey (1.2.840.10045.2.1), DER.
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7), DER.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (1.3.132.0.34), DER.
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A gateway's native signature check: `(hash, public key DER, signature, signed text)`
/// to `Some(valid)`, or `None` when it cannot answer.
pub type NativeVerify<'a> = &'a dyn Fn(&str, &[u8], &[u8], &[u8]) -> Option<bool>;

/// A native check that never answers: verification stays in Wasm (Kong, tests, CLI).
pub fn no_native(_: &str, _: &[u8], _: &[u8], _: &[u8]) -> Option<bool> {
    None
}

/// The DER `SubjectPublicKeyInfo` of the RSA key with big-endian modulus `n` and
/// exponent `e`.
pub fn rsa_spki_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(n.len() + e.len() + 16);
    der_integer(&mut key, n);
    der_integer(&mut key, e);
    let rsa_public_key = der_wrap(0x30, &key);
    let mut bits = Vec::with_capacity(rsa_public_key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&rsa_public_key);
    let mut info = RSA_ALGORITHM.to_vec();
    info.extend_from_slice(&der_wrap(0x03, &bits));
    der_wrap(0x30, &info)
}

/// The DER `SubjectPublicKeyInfo` of a P-256 (`coordinate_bytes` 32) or P-384 (48)
/// public key given as its uncompressed SEC1 point (`04 || x || y`); `None` for another
/// size.
pub fn ec_spki_der(sec1_uncompressed: &[u8]) -> Option<Vec<u8>> {
    let curve = match sec1_uncompressed.len() {
        65 => P256,
        97 => P384,
        _ => return None,
    };
    let mut algorithm = EC_PUBLIC_KEY.to_vec();
    algorithm.extend_from_slice(curve);
    let mut bits = Vec::with_capacity(sec1_uncompressed.len() + 1);
    bits.push(0);
    bits.extend_from_slice(sec1_uncompressed);
    let mut info = der_wrap(0x30, &algorithm);
    info.extend_from_slice(&der_wrap(0x03, &bits));
    Some(der_wrap(0x30, &info))
}

/// A JWS ECDSA signature (`r || s`, each `size` bytes) as the DER `ECDSA-Sig-Value`
/// BoringSSL verifies; `None` when it is not `2 * size` bytes.
pub fn ecdsa_signature_der(raw: &[u8], size: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * size {
        return None;
    }
    let (r, s) = raw.split_at(size);
    let mut value = Vec::with_capacity(raw.len() + 8);
    der_integer(&mut value, r);
    der_integer(&mut value, s);
    Some(der_wrap(0x30, &value))
}

/// A DER INTEGER of an unsigned big-endian magnitude (leading zeros removed, a zero
/// byte added when the top bit is set).
fn der_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[start..];
    let mut value = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(digits);
    out.extend_from_slice(&der_wrap(0x02, &value));
}

/// `tag`, DER length, `content`.
fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The `VerifySignatureArguments` message: `hash_function` (1), `public_key` (2, DER),
/// `signature` (3), `text` (4).
pub fn encode_request(hash: &str, public_key_der: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(hash.len() + public_key_der.len() + signature.len() + text.len() + 16);
    for (field, value) in [
        (1u8, hash.as_bytes()),
        (2, public_key_der),
        (3, signature),
        (4, text),
    ] {
        out.push(field << 3 | 2);
        push_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a `VerifySignatureResult` (`result` (1, bool), `error` (2, string)):
/// `Some(result)`, or `None` when the bytes are not such a message.
pub fn decode_result(bytes: &[u8]) -> Option<bool> {
    let mut rest = bytes;
    let mut result = false;
    while !rest.is_empty() {
        let key = read_varint(&mut rest)?;
        match key & 7 {
            0 => {
                let value = read_varint(&mut rest)?;
                if key >> 3 == 1 {
                    result = match value {
                        0 => false,
                        1 => true,
                        _ => return None,
                    };
                }
            }
            2 => {
                let len = usize::try_from(read_varint(&mut rest)?).ok()?;
                rest = rest.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(result)
}

fn read_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}
