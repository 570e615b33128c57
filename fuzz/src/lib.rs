//! Shared pieces of the fuzz targets: fixed configurations (the demo's, so the
//! targets exercise what the demo gateway runs) and small input splitters.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use portcullis_core::jwt::CompiledJwt;

/// "Now" for every verification: tokens are judged at a fixed instant so that a
/// crash reproduces byte for byte.
pub const NOW: u64 = 1_800_000_000;

/// The HMAC secret of the fuzz configuration's HS256 provider (the harness signs the
/// fuzzer's claims with it, so verification gets past the signature check).
pub const HMAC_SECRET: &[u8] = b"portcullis-fuzz-hmac-secret-0123456789abcdef";

/// The demo's RS256 provider (inline JWKS from `examples/keys/demo-jwks.json`) and an
/// HS256 provider with [`HMAC_SECRET`], both with the default checks.
pub fn jwt_config() -> CompiledJwt {
    let jwks: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/keys/demo-jwks.json"))
            .unwrap_or_default();
    let config = serde_json::json!({
        "providers": [
            {"name": "demo", "issuer": "https://accounts.crontech.localhost",
             "audiences": ["users"], "algorithms": ["RS256"], "jwks": jwks},
            {"name": "hmac", "issuer": "https://hmac.test", "audiences": ["users", "admins"],
             "algorithms": ["HS256"], "shared_secret_base64": STANDARD.encode(HMAC_SECRET),
             "supported_crit": ["b64x"]},
        ],
        "forward": [{"claim": "sub", "header": "x-portcullis-subject"}],
        "max_token_bytes": 65536,
    });
    match CompiledJwt::from_json(config.to_string().as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("fuzz jwt configuration does not compile: {e}"),
    }
}

/// base64url without padding, as in a compact JWS.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Splits `data` at every `0xFF` byte (never valid UTF-8, so a natural separator for
/// text inputs), giving at most `n` parts; missing parts are empty.
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    while parts.len() < n {
        parts.push(&[]);
    }
    parts
}

/// The bytes as text, lossily (the gateway hands the filters UTF-8 strings).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
