//! RSA signature verification for JWS: RS256/RS384/RS512 (RSASSA-PKCS1-v1_5) and
//! PS256/PS384/PS512 (RSASSA-PSS, MGF1 with the same hash, salt as long as the hash,
//! RFC 7518 section 3.5), on `crypto-bigint`'s fixed-size Montgomery arithmetic. Used by
//! `crypto` (`VerifyingKey::Rsa`); keys come from JWKs (`n`, `e`).
//!
//! Why hand-written around `crypto-bigint` rather than the `rsa` crate: verification is
//! one public-key operation, s^e mod n, and `rsa` 0.9 does it with `num-bigint-dig`,
//! which allocates on every operation, is generic over the length, and recomputes the
//! Montgomery parameters of n on every call: a cold RS256 token cost Envoy (V8) ≈ 0.9–1.1
//! ms of CPU (native OpenSSL verifies in ≈ 20 µs). Here the Montgomery parameters (R mod
//! n, R² mod n, −n⁻¹ mod the word) are computed once, when the JWK is decoded (≈ 2 ms in
//! V8 for 2048 bits, 8 ms for 4096), and kept in the key; a verification is then 16
//! squarings and one multiplication (e = 65537: plain square-and-multiply over the
//! exponent's actual bits, half the products of `pow_bounded_exp`'s 4-bit window for so
//! short an exponent) of fixed-width integers on the stack, 32-bit words on wasm32 (one
//! `i64.mul` per word product), no allocation: a cold RS256 token now costs Envoy ≈ 250
//! µs, ≈ 200 of them here (docs/jwt-performance.md: measurements, what is left).
//!
//! Nothing here is secret (public key, public signature), so nothing needs constant
//! time. Checks follow RFC 8017: the signature is exactly as long as the modulus and
//! below it (`rsa` 0.9 does not check the latter for PSS); PKCS#1 v1.5 builds the
//! expected encoding (DigestInfo with the NULL parameter) and compares it byte for byte;
//! PSS checks the encoding's fixed bits, the zero padding and the hash of M'.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Limb, Uint, U2048, U3072, U4096};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The longest modulus accepted, in bytes (4096 bits, the `rsa` crate's default limit).
const MAX_BYTES: usize = 512;
/// The shortest modulus accepted, in bits: no RS* or PS* signature fits in a shorter one
/// (RS256 needs 62 bytes of encoding, PS256 66).
const MIN_BITS: usize = 512;
/// The largest public exponent accepted (as the `rsa` crate: 2³³ − 1).
const MAX_EXPONENT: u64 = (1 << 33) - 1;

/// The hash of a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256 (RS256, PS256).
    Sha256,
    /// SHA-384 (RS384, PS384).
    Sha384,
    /// SHA-512 (RS512, PS512).
    Sha512,
}

/// The signature encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// EMSA-PKCS1-v1_5 (RS*).
    Pkcs1v15,
    /// EMSA-PSS with MGF1 and a salt as long as the hash (PS*).
    Pss,
}

impl Hash {
    /// Output length in bytes.
    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// DER of the DigestInfo before the hash value (RFC 8017 section 9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// Hashes the concatenation of `parts` into `out[..self.len()]`.
    fn digest(self, parts: &[&[u8]], out: &mut [u8; 64]) {
        fn run<D: Digest>(parts: &[&[u8]], out: &mut [u8]) {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            out.copy_from_slice(&hasher.finalize());
        }
        let out = &mut out[..self.len()];
        match self {
            Hash::Sha256 => run::<Sha256>(parts, out),
            Hash::Sha384 => run::<Sha384>(parts, out),
            Hash::Sha512 => run::<Sha512>(parts, out),
        }
    }
}

/// Montgomery parameters of the modulus, in the narrowest of three fixed widths. Not
/// boxed per variant: the whole key is boxed by its user (`VerifyingKey::Rsa`).
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
enum Modulus {
    /// Moduli of up to 2048 bits.
    W2048(DynResidueParams<{ U2048::LIMBS }>),
    /// Moduli of 2049 to 3072 bits.
    W3072(DynResidueParams<{ U3072::LIMBS }>),
    /// Moduli of 3073 to 4096 bits.
    W4096(DynResidueParams<{ U4096::LIMBS }>),
}

/// An RSA public key ready to verify: modulus of 512 to 4096 bits, odd, with its
/// Montgomery parameters, and a public exponent from 2 to 2³³ − 1.
#[derive(Clone)]
pub struct RsaPublicKey {
    modulus: Modulus,
    /// Length of the modulus in bits.
    bits: usize,
    /// Length of the modulus in bytes (the length of every signature).
    size: usize,
    exponent: u64,
}

/// `bytes` without its leading zero bytes.
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// `bytes` (at most `MAX_BYTES`) as a big-endian integer of `L` words.
fn to_uint<const L: usize>(bytes: &[u8]) -> Uint<L> {
    let mut buf = [0u8; MAX_BYTES];
    buf[MAX_BYTES - bytes.len()..].copy_from_slice(bytes);
    Uint::from_be_slice(&buf[MAX_BYTES - Uint::<L>::BYTES..])
}

/// s^e mod n written big-endian at the end of `out`; false when s >= n.
fn public_op<const L: usize>(
    params: &DynResidueParams<L>,
    exponent: u64,
    signature: &[u8],
    out: &mut [u8; MAX_BYTES],
) -> bool {
    let s = to_uint::<L>(signature);
    if &s >= params.modulus() {
        return false;
    }
    let base = DynResidue::new(&s, *params);
    let mut acc = base;
    // Square-and-multiply from the bit below the exponent's top bit.
    for bit in (0..63 - exponent.leading_zeros()).rev() {
        acc = acc.square();
        if (exponent >> bit) & 1 == 1 {
            acc = acc.mul(&base);
        }
    }
    for (i, word) in acc.retrieve().as_words().iter().enumerate() {
        let end = MAX_BYTES - i * Limb::BYTES;
        out[end - Limb::BYTES..end].copy_from_slice(&word.to_be_bytes());
    }
    true
}

impl RsaPublicKey {
    /// A key from the big-endian modulus and exponent of a JWK (`n`, `e`; leading zero
    /// bytes allowed). The error names what is wrong, without key material.
    pub fn new(n: &[u8], e: &[u8]) -> Result<Self, String> {
        let (n, e) = (strip_zeros(n), strip_zeros(e));
        let bits = n
            .first()
            .map_or(0, |top| 8 * n.len() - top.leading_zeros() as usize);
        if bits > 8 * MAX_BYTES {
            return Err(format!("RSA `n` has {bits} bits, more than 4096"));
        }
        if bits < MIN_BITS {
            return Err(format!("RSA `n` has {bits} bits, fewer than {MIN_BITS}"));
        }
        if n.last().is_some_and(|low| low & 1 == 0) {
            return Err("RSA `n` is even".into());
        }
        let exponent = match e.len() {
            0..=8 => e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
            _ => u64::MAX,
        };
        if !(2..=MAX_EXPONENT).contains(&exponent) {
            return Err("RSA `e` must be from 2 to 2^33 - 1".into());
        }
        let modulus = match bits {
            0..=2048 => Modulus::W2048(DynResidueParams::new(&to_uint(n))),
            2049..=3072 => Modulus::W3072(DynResidueParams::new(&to_uint(n))),
            _ => Modulus::W4096(DynResidueParams::new(&to_uint(n))),
        };
        Ok(RsaPublicKey {
            modulus,
            bits,
            size: n.len(),
            exponent,
        })
    }

    /// Length of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Checks `signature` over `message` with this padding and hash. False for any
    /// mismatch, including a signature not exactly as long as the modulus or not below it.
    pub fn verify(&self, padding: Padding, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.size {
            return false;
        }
        let mut out = [0u8; MAX_BYTES];
        let in_range = match &self.modulus {
            Modulus::W2048(p) => public_op(p, self.exponent, signature, &mut out),
            Modulus::W3072(p) => public_op(p, self.exponent, signature, &mut out),
            Modulus::W4096(p) => public_op(p, self.exponent, signature, &mut out),
        };
        if !in_range {
            return false;
        }
        let mut m_hash = [0u8; 64];
        hash.digest(&[message], &mut m_hash);
        let m_hash = &m_hash[..hash.len()];
        let em = &mut out[MAX_BYTES - self.size..];
        match padding {
            Padding::Pkcs1v15 => pkcs1v15_matches(em, hash, m_hash),
            Padding::Pss => pss_matches(em, self.bits - 1, hash, m_hash),
        }
    }
}

/// EM equals EMSA-PKCS1-v1_5(m_hash): 00 01 FF..FF 00 DigestInfo m_hash.
fn pkcs1v15_matches(em: &[u8], hash: Hash, m_hash: &[u8]) -> bool {
    let prefix = hash.digest_info_prefix();
    let t_len = prefix.len() + m_hash.len();
    let k = em.len();
    if k < t_len + 11 {
        return false;
    }
    let mut expected = [0xffu8; MAX_BYTES];
    let expected = &mut expected[..k];
    expected[0] = 0x00;
    expected[1] = 0x01;
    expected[k - t_len - 1] = 0x00;
    expected[k - t_len..k - m_hash.len()].copy_from_slice(prefix);
    expected[k - m_hash.len()..].copy_from_slice(m_hash);
    em == expected
}

/// EMSA-PSS-VERIFY (RFC 8017 section 9.1.2) of `em` (the modulus' length, so one
/// leading byte more than emLen when emBits is a multiple of 8) with sLen = hLen.
fn pss_matches(em: &mut [u8], em_bits: usize, hash: Hash, m_hash: &[u8]) -> bool {
    let em_len = em_bits.div_ceil(8);
    let (head, em) = em.split_at_mut(em.len() - em_len);
    let h_len = hash.len();
    let s_len = h_len;
    if head.iter().any(|&b| b != 0) || em_len < h_len + s_len + 2 || em[em_len - 1] != 0xbc {
        return false;
    }
    let free_bits = 8 * em_len - em_bits; // 0 to 7 leading bits of EM that must be zero
    let top_mask = 0xffu8 >> free_bits;
    let (db, rest) = em.split_at_mut(em_len - h_len - 1);
    let h = &rest[..h_len];
    if db[0] & !top_mask != 0 {
        return false;
    }
    // DB = maskedDB xor MGF1(H, len(DB)).
    let mut block = [0u8; 64];
    for (counter, chunk) in (0u32..).zip(db.chunks_mut(h_len)) {
        hash.digest(&[h, &counter.to_be_bytes()], &mut block);
        for (d, m) in chunk.iter_mut().zip(block.iter()) {
            *d ^= m;
        }
    }
    db[0] &= top_mask;
    let pad = db.len() - s_len - 1;
    if db[..pad].iter().any(|&b| b != 0) || db[pad] != 0x01 {
        return false;
    }
    let salt = &db[pad + 1..];
    hash.digest(&[&[0u8; 8], m_hash, salt], &mut block);
    block[..h_len] == *h
}
