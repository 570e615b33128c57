//! YAML in and out, in one place: `gateway.yaml`, `policies/` and the rendered
//! configurations. Built on `serde-saphyr` (pure Rust, panic-free parsing, maintained;
//! `serde_yaml` is deprecated and unmaintained). Only the CLI reads YAML: the filters get
//! JSON, so no YAML parser is linked into the `.wasm`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// A document that did not parse or did not fit its type: the message without the
/// position, and the 1-based line where the position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong, naming the field where serde knows it (`unknown field `x``).
    pub message: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for YamlError {}

/// Parses one YAML document into `T`. Duplicate keys are an error (the parser's default):
/// a configuration never means two things.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|err| {
        let line = err
            .location()
            .and_then(|l| usize::try_from(l.line()).ok())
            .filter(|l| *l > 0);
        YamlError {
            message: strip_position(&err.to_string()),
            line,
        }
    })
}

/// Writes one YAML document. Long strings stay on one line (no folded `>` blocks): a
/// rendered configuration is read and diffed by people, and grepped.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(value, options).map_err(|e| format!("writing yaml: {e}"))
}

/// The parser's message names the position itself (`... at line 3 column 5`); the CLI
/// puts the line in front (`gateway.yaml:3: ...`), so the suffix goes.
fn strip_position(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    match first.rfind(" at line ") {
        Some(at) => first[..at].to_string(),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::Value;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        a: u32,
    }

    #[test]
    fn unknown_field_names_the_field_and_its_line() {
        let err = from_str::<Small>("a: 1\nb: 2\n").unwrap_err();
        assert!(err.message.contains("unknown field `b`"), "{err}");
        assert_eq!(err.line, Some(2));
        assert!(!err.message.contains("line"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(from_str::<Value>("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn strings_that_look_like_other_types_round_trip_as_strings() {
        let value: Value = serde_json::json!({
            "flag": "true", "number": "10", "requirement": "GET: public", "star": "*.acme.localhost",
            "empty": "", "null": "null", "colon": "a: b", "hash": "# x", "yes": "yes", "octal": "0755",
        });
        let text = to_string(&value).unwrap();
        assert_eq!(from_str::<Value>(&text).unwrap(), value, "{text}");
    }
}
