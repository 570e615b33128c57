//! Reading claims by configurable path. Identity providers shape tokens differently
//! (`scopes` array, Keycloak's `realm_access.roles`, Cognito's `cognito:groups`, `scope`
//! as a space-separated string), so every claim a filter reads is found by a
//! [`ClaimPath`], and a claim may be an array of strings or one space-separated string.
//! How a claim is written into an upstream header is [`crate::forwarded`]'s business.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::fmt;

/// A dotted path into the token's claims (`realm_access.roles`). A segment may contain
/// `:` (`cognito:groups`); a claim name that itself contains dots is written as a JSON
/// array of segments in configuration (`["https://example.com/claims", "roles"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// A path from dotted text.
    pub fn dotted(text: &str) -> Self {
        ClaimPath(text.split('.').map(str::to_string).collect())
    }

    /// The path's segments (`["realm_access", "roles"]`).
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// The value at this path, if present.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for segment in rest {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }

    /// The strings at this path: an array's string items, or a string split on
    /// whitespace. Anything else (numbers, objects, absent) gives nothing.
    pub fn strings<'a>(&self, claims: &'a Map<String, Value>) -> Vec<&'a str> {
        match self.lookup(claims) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl<'de> Deserialize<'de> for ClaimPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Dotted(String),
            Segments(Vec<String>),
        }
        let path = match Raw::deserialize(d)? {
            Raw::Dotted(s) => ClaimPath::dotted(&s),
            Raw::Segments(v) => ClaimPath(v),
        };
        if path.0.is_empty() || path.0.iter().any(String::is_empty) {
            return Err(serde::de::Error::custom("empty claim path segment"));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn array_and_space_separated_string_give_the_same_strings() {
        let a = claims(json!({"scopes": ["a/b", "c:d"]}));
        let b = claims(json!({"scopes": "a/b  c:d"}));
        let path = ClaimPath::dotted("scopes");
        assert_eq!(path.strings(&a), vec!["a/b", "c:d"]);
        assert_eq!(path.strings(&b), vec!["a/b", "c:d"]);
    }

    #[test]
    fn nested_path_reads_keycloak_roles() {
        let c = claims(json!({"realm_access": {"roles": ["FINANCEIRO"]}}));
        assert_eq!(
            ClaimPath::dotted("realm_access.roles").strings(&c),
            vec!["FINANCEIRO"]
        );
    }

    #[test]
    fn segment_list_reads_a_claim_name_with_dots() {
        let c = claims(json!({"https://x.io/roles": ["R"]}));
        let path: ClaimPath = serde_json::from_value(json!(["https://x.io/roles"])).unwrap();
        assert_eq!(path.strings(&c), vec!["R"]);
    }

    #[test]
    fn non_string_values_give_no_strings() {
        let c = claims(json!({"scopes": 5, "o": {"a": 1}}));
        assert!(ClaimPath::dotted("scopes").strings(&c).is_empty());
        assert!(ClaimPath::dotted("o").strings(&c).is_empty());
        assert!(ClaimPath::dotted("missing.x").strings(&c).is_empty());
    }
}
