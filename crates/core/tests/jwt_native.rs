#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The plain-value side of Envoy's `verify_signature` foreign function (`jwt::native`):
//! the public key as DER SubjectPublicKeyInfo, checked against OpenSSL's encoding, and the
//! protobuf argument and result messages.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_core::jwt::native::{
    decode_result, ec_spki_der, ecdsa_signature_der, encode_request, rsa_spki_der,
};
use proptest::prelude::*;

/// The demo key's modulus (examples/keys/demo-rs256.pem, as in gateway.yaml).
const DEMO_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";

#[test]
fn the_rsa_public_key_is_encoded_as_openssl_encodes_it() {
    // `openssl rsa -in examples/keys/demo-rs256.pem -pubout -outform DER`
    let expected = include_bytes!("fixtures/rsa/demo-rs256.spki.der");
    let n = URL_SAFE_NO_PAD.decode(DEMO_N).unwrap();
    assert_eq!(rsa_spki_der(&n, &[1, 0, 1]), expected.to_vec());
}

#[test]
fn keys_of_every_accepted_size_are_encoded_as_openssl_encodes_them() {
    // `openssl pkey -in rsa-<bits>.pem -pubout -outform DER`, beside each JWK.
    for bits in [2048, 3072, 4096] {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa");
        let jwk: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/rsa-{bits}.jwk.json")).unwrap())
                .unwrap();
        let part = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        let expected = std::fs::read(format!("{dir}/rsa-{bits}.spki.der")).unwrap();
        assert_eq!(
            rsa_spki_der(&part("n"), &part("e")),
            expected,
            "{bits} bits"
        );
    }
}

/// Keys and signatures made by Python's `cryptography` (OpenSSL): each curve's JWK
/// coordinates, its DER SubjectPublicKeyInfo, and signatures both as JWS `r || s` and as
/// DER.
fn ec_fixture() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/ec-native.json")).unwrap()
}

fn b64(value: &serde_json::Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().unwrap()).unwrap()
}

#[test]
fn ec_public_keys_are_encoded_as_openssl_encodes_them() {
    let fixture = ec_fixture();
    for curve in ["P-256", "P-384"] {
        let key = &fixture[curve];
        let mut point = vec![4];
        point.extend(b64(&key["x"]));
        point.extend(b64(&key["y"]));
        assert_eq!(ec_spki_der(&point), Some(b64(&key["spki_der"])), "{curve}");
    }
    assert_eq!(
        ec_spki_der(&[4; 33]),
        None,
        "a compressed or odd-sized point"
    );
}

#[test]
fn jws_ecdsa_signatures_become_the_der_openssl_makes() {
    let fixture = ec_fixture();
    for (curve, size) in [("P-256", 32), ("P-384", 48)] {
        for signature in fixture[curve]["signatures"].as_array().unwrap() {
            let der = ecdsa_signature_der(&b64(&signature["raw"]), size);
            assert_eq!(der, Some(b64(&signature["der"])), "{curve}");
        }
    }
    assert_eq!(ecdsa_signature_der(&[1; 63], 32), None);
}

#[test]
fn leading_zeros_of_a_magnitude_are_dropped_and_a_sign_byte_added_when_needed() {
    let n = URL_SAFE_NO_PAD.decode(DEMO_N).unwrap();
    let mut padded = vec![0, 0];
    padded.extend_from_slice(&n);
    assert_eq!(
        rsa_spki_der(&padded, &[0, 1, 0, 1]),
        rsa_spki_der(&n, &[1, 0, 1])
    );
    let tiny = rsa_spki_der(&[0x80], &[3]);
    // ... BIT STRING { SEQUENCE { INTEGER 00 80, INTEGER 03 } }
    assert!(tiny.ends_with(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x03]));
}

#[test]
fn the_request_carries_the_four_fields_in_order_with_varint_lengths() {
    let der = vec![7u8; 300];
    let bytes = encode_request("sha256", &der, b"sig", b"text");
    let mut expected = vec![0x0a, 6];
    expected.extend_from_slice(b"sha256");
    expected.extend_from_slice(&[0x12, 0xac, 0x02]); // 300 = 0b10_0101100
    expected.extend_from_slice(&der);
    expected.extend_from_slice(&[0x1a, 3]);
    expected.extend_from_slice(b"sig");
    expected.extend_from_slice(&[0x22, 4]);
    expected.extend_from_slice(b"text");
    assert_eq!(bytes, expected);
}

#[test]
fn a_result_says_valid_only_when_its_result_field_is_true() {
    assert_eq!(decode_result(&[0x08, 0x01]), Some(true));
    assert_eq!(decode_result(&[0x08, 0x01, 0x12, 0x00]), Some(true));
    assert_eq!(
        decode_result(&[0x08, 0x00, 0x12, 0x03, b'b', b'a', b'd']),
        Some(false)
    );
    assert_eq!(decode_result(&[0x12, 0x02, b'n', b'o']), Some(false));
    assert_eq!(decode_result(&[]), Some(false), "proto3: absent is false");
}

#[test]
fn an_unreadable_result_is_no_answer() {
    for bytes in [
        &[0x08][..],         // value missing
        &[0x08, 0x02],       // not a bool
        &[0x12, 0x05, b'x'], // length past the end
        &[0x0d, 0, 0, 0, 0], // fixed32: not in this message
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    ] {
        assert_eq!(decode_result(bytes), None, "{bytes:?}");
    }
}

proptest! {
    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_result(&bytes);
    }

    #[test]
    fn any_encoded_request_ends_with_the_signed_text(
        sig in proptest::collection::vec(any::<u8>(), 0..600),
        text in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let bytes = encode_request("sha512", b"k", &sig, &text);
        prop_assert!(bytes.ends_with(&text));
    }
}
