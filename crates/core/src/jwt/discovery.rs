//! OpenID Connect discovery (OpenID Connect Discovery 1.0, section 4): a provider may name
//! its issuer's `/.well-known/openid-configuration` instead of a JWKS path, and the
//! document's `jwks_uri` gives the key set's location.
//!
//! The gateway can only reach the cluster the configuration names, so the `jwks_uri` must
//! point at the issuer's own host (the document's host); anything else is refused
//! with a reason rather than followed (an issuer's document must not be able to send the
//! gateway elsewhere). The document's `issuer` must equal the configured issuer exactly
//! (section 4.3), which guards against a document served for another realm.

use serde::Deserialize;

/// Where an issuer's discovery document is: the `:authority` (host and port of the
/// issuer URL) and the path (`<issuer path>/.well-known/openid-configuration`).
pub fn document_location(issuer: &str) -> Result<(String, String), String> {
    let (_, rest) = split_scheme(issuer).ok_or_else(|| {
        format!("issuer `{issuer}`: discovery needs an https:// (or http://) issuer URL")
    })?;
    let (authority, path) = split_authority(rest);
    if authority.is_empty() || path.contains(['?', '#']) {
        return Err(format!(
            "issuer `{issuer}`: discovery needs an issuer URL with a host and no query"
        ));
    }
    let base = path.trim_end_matches('/');
    Ok((
        authority.to_string(),
        format!("{base}/.well-known/openid-configuration"),
    ))
}

/// The fields of a discovery document this gateway reads.
#[derive(Deserialize)]
struct Document {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// The JWKS request path (path and query of `jwks_uri`) from `issuer`'s discovery
/// document, whose `jwks_uri` must be on the issuer's host; the error says what is wrong
/// with the document.
pub fn jwks_path(body: &[u8], issuer: &str) -> Result<String, String> {
    let (authority, _) = document_location(issuer)?;
    let document: Document = serde_json::from_slice(body)
        .map_err(|_| "openid configuration: not a JSON object".to_string())?;
    match document.issuer.as_deref() {
        Some(found) if found == issuer => {}
        Some(_) => return Err("openid configuration: `issuer` is not the provider's".into()),
        None => return Err("openid configuration: no `issuer`".into()),
    }
    let uri = document
        .jwks_uri
        .ok_or_else(|| "openid configuration: no `jwks_uri`".to_string())?;
    let (_, rest) = split_scheme(&uri)
        .ok_or_else(|| "openid configuration: `jwks_uri` is not an http(s) URL".to_string())?;
    let (found, path) = split_authority(rest);
    if !found.eq_ignore_ascii_case(&authority) {
        return Err(format!(
            "openid configuration: `jwks_uri` is on another host than `{authority}` \
             (set remote_jwks.path and a cluster for it instead)"
        ));
    }
    let path = path.split('#').next().unwrap_or_default();
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("openid configuration: `jwks_uri` has no usable path".into());
    }
    Ok(path.to_string())
}

/// `https://` or `http://` and the rest of the URL.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    ["https://", "http://"]
        .into_iter()
        .find_map(|scheme| url.strip_prefix(scheme).map(|rest| (scheme, rest)))
}

/// The authority (up to the first `/`, `?` or `#`) and the rest, `/` at least.
fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    (authority, if path.is_empty() { "/" } else { path })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_document_is_under_the_issuer_path() {
        assert_eq!(
            document_location("https://kc.example.com/realms/acme").unwrap(),
            (
                "kc.example.com".into(),
                "/realms/acme/.well-known/openid-configuration".into()
            )
        );
        assert_eq!(
            document_location("https://accounts.example.com/")
                .unwrap()
                .1,
            "/.well-known/openid-configuration"
        );
        assert_eq!(
            document_location("http://127.0.0.1:8081").unwrap().0,
            "127.0.0.1:8081"
        );
    }

    #[test]
    fn an_issuer_that_is_not_a_url_cannot_be_discovered() {
        assert!(document_location("accounts")
            .unwrap_err()
            .contains("issuer"));
        assert!(document_location("https://").is_err());
        assert!(document_location("https://a.example/x?y=1").is_err());
    }

    #[test]
    fn jwks_uri_on_the_same_host_gives_its_path_and_query() {
        let doc = br#"{"issuer": "https://kc.example.com/realms/acme",
            "jwks_uri": "https://KC.example.com/realms/acme/certs?v=2#frag"}"#;
        assert_eq!(
            jwks_path(doc, "https://kc.example.com/realms/acme").unwrap(),
            "/realms/acme/certs?v=2"
        );
    }

    #[test]
    fn a_document_for_another_issuer_is_refused() {
        let doc = br#"{"issuer": "https://kc.example.com/realms/other", "jwks_uri": "https://kc.example.com/certs"}"#;
        let err = jwks_path(doc, "https://kc.example.com/realms/acme");
        assert!(err.unwrap_err().contains("issuer"));
    }

    #[test]
    fn jwks_uri_on_another_host_is_refused() {
        let doc = br#"{"issuer": "https://a.example", "jwks_uri": "https://evil.example/certs"}"#;
        assert!(jwks_path(doc, "https://a.example")
            .unwrap_err()
            .contains("another host"));
        let doc = br#"{"issuer": "https://a.example", "jwks_uri": "https://a.example.evil/certs"}"#;
        assert!(jwks_path(doc, "https://a.example").is_err());
    }

    #[test]
    fn garbage_and_missing_fields_are_refused() {
        for doc in [
            &b"not json"[..],
            br#"[]"#,
            br#"{"issuer": "https://a.example"}"#,
            br#"{"jwks_uri": "https://a.example/certs"}"#,
            br#"{"issuer": "https://a.example", "jwks_uri": 7}"#,
            br#"{"issuer": "https://a.example", "jwks_uri": "ftp://a.example/certs"}"#,
        ] {
            let result = jwks_path(doc, "https://a.example");
            assert!(result.is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }
}
