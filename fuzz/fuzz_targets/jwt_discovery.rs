//! `jwt::discovery::jwks_path`: an OpenID configuration document as the identity provider
//! (or whoever answers in its place) sends it. Invariants: no panic; an accepted path
//! starts with `/` and has no whitespace, control character or fragment; the document
//! named the provider's issuer exactly; and its `jwks_uri` is on the issuer's host
//! (compared without case): a document can choose a path, never another host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::jwt::discovery::jwks_path;

const ISSUER: &str = "https://idp.example.com/realms/acme";

fuzz_target!(|data: &[u8]| {
    let Ok(path) = jwks_path(data, ISSUER) else {
        return;
    };
    assert!(path.starts_with('/'), "{path:?}");
    assert!(
        !path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#'),
        "{path:?}"
    );
    // The two fields as any JSON reader sees them (other fields are skipped unread, as
    // serde skips them: their bytes need not even be UTF-8).
    #[derive(serde::Deserialize)]
    struct Fields {
        issuer: Option<String>,
        jwks_uri: Option<String>,
    }
    let document: Fields = serde_json::from_slice(data).expect("accepted: JSON");
    assert_eq!(document.issuer.as_deref(), Some(ISSUER));
    let uri = document.jwks_uri.expect("accepted: a jwks_uri");
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .expect("accepted: an http(s) URL");
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    assert!(host.eq_ignore_ascii_case("idp.example.com"), "{uri:?}");
});
