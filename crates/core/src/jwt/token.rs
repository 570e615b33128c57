//! Splitting a compact JWS and decoding its header and payload strictly: three
//! base64url (no padding) segments, each of the first two a JSON object without
//! duplicate member names (a duplicate `sub` or `alg` is an attack, not a typo).

use super::error::JwtError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A parsed, not yet verified token.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// `header.payload`, the signed message.
    pub signing_input: &'a str,
    /// The signature segment (base64url).
    pub signature: &'a str,
    /// Decoded header members.
    pub header: Map<String, Value>,
    /// Decoded payload (claims).
    pub claims: Map<String, Value>,
}

impl Parsed<'_> {
    /// The header's `alg`.
    pub fn alg(&self) -> Result<&str, JwtError> {
        match self.header.get("alg") {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(JwtError::BadClaimType("alg")),
            None => Err(JwtError::Malformed("header has no alg")),
        }
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Result<Option<&str>, JwtError> {
        match self.header.get("kid") {
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(JwtError::BadClaimType("kid")),
            None => Ok(None),
        }
    }
}

/// Splits and decodes `token`. Never panics on any input.
pub fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    let mut parts = token.splitn(4, '.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three segments"));
    };
    // An empty signature is left to verification, so `alg: none` is named as such.
    if h.is_empty() || p.is_empty() {
        return Err(JwtError::Malformed("empty segment"));
    }
    let header = decode_object(h).ok_or(JwtError::Malformed("header is not a JSON object"))?;
    let claims = decode_object(p).ok_or(JwtError::Malformed("payload is not a JSON object"))?;
    Ok(Parsed {
        signing_input: &token[..h.len() + 1 + p.len()],
        signature: s,
        header,
        claims,
    })
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let map = de.deserialize_map(UniqueMap).ok()?;
    de.end().ok()?;
    Some(map)
}

/// Deserialises a JSON object, refusing duplicate member names at the top level.
struct UniqueMap;

impl<'de> Visitor<'de> for UniqueMap {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object without duplicate members")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom("duplicate member"));
            }
            map.insert(key, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn well_formed_token_splits_into_header_claims_and_signature() {
        let t = format!(
            "{}.{}.sig",
            seg(r#"{"alg":"RS256"}"#),
            seg(r#"{"sub":"u1"}"#)
        );
        let p = parse(&t).unwrap();
        assert_eq!(p.alg().unwrap(), "RS256");
        assert_eq!(p.claims["sub"], "u1");
        assert_eq!(p.signature, "sig");
    }

    #[test]
    fn duplicate_claims_make_the_token_malformed() {
        let t = format!(
            "{}.{}.sig",
            seg(r#"{"alg":"RS256"}"#),
            seg(r#"{"sub":"a","sub":"b"}"#)
        );
        assert!(matches!(parse(&t), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn non_json_segments_and_wrong_segment_counts_are_malformed() {
        for t in [
            "a.b",
            "a.b.c.d",
            "..",
            "%%%.e30.x",
            &format!("{}.bm90anNvbg.x", seg("{}")),
        ] {
            assert!(matches!(parse(t), Err(JwtError::Malformed(_))), "{t}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = parse(&s);
        }
    }
}
