//! Media types (`content-type` values) read strictly by RFC 9110 §8.3.1, so that the
//! gateway decides on a response's type and charset from exactly what a conforming client
//! reads, and refuses a value it cannot read that way.
//!
//! ```text
//! media-type      = type "/" subtype parameters
//! parameters      = *( OWS ";" OWS [ parameter ] )
//! parameter       = parameter-name "=" parameter-value
//! parameter-value = ( token / quoted-string )
//! quoted-string   = DQUOTE *( qdtext / quoted-pair ) DQUOTE
//! ```
//!
//! No whitespace around `=`, no comma lists, no unterminated quotes. Names compare in
//! ASCII case-insensitively (returned lower-case); values are returned unescaped and, for
//! the callers that must reject unusual spellings, as written.

use thiserror::Error;

/// Why a media type could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MediaTypeError {
    /// `type/subtype` missing or not two tokens.
    #[error("no type/subtype at byte {0}")]
    BadEssence(usize),
    /// A parameter that is not `name=value` with a token name and a token or quoted value.
    #[error("malformed parameter at byte {0}")]
    BadParameter(usize),
    /// Something else where `;` or the end was expected.
    #[error("unexpected byte at {0}")]
    Unexpected(usize),
}

/// One `name=value` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The name, lower-cased.
    pub name: String,
    /// The value, quotes removed and `\` escapes resolved.
    pub value: String,
    /// The value exactly as written (a quoted-string with its quotes and escapes).
    pub raw: String,
}

/// A parsed media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// The type, lower-cased (`application`).
    pub kind: String,
    /// The subtype, lower-cased (`json`, `problem+json`).
    pub subtype: String,
    /// The parameters in order, repeated names kept.
    pub parameters: Vec<Parameter>,
}

impl MediaType {
    /// `application/json` or any `application/*+json` type.
    pub fn is_json(&self) -> bool {
        self.kind == "application"
            && (self.subtype == "json"
                || (self.subtype.len() > "+json".len() && self.subtype.ends_with("+json")))
    }

    /// Every parameter called `name` (give it lower-case).
    pub fn parameters_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Parameter> {
        self.parameters.iter().filter(move |p| p.name == name)
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.at += 1;
        }
    }

    /// A non-empty token, or `None` (nothing consumed).
    fn token(&mut self) -> Option<String> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        let token = self.bytes.get(start..self.at)?;
        (!token.is_empty()).then(|| String::from_utf8_lossy(token).into_owned())
    }

    /// A quoted-string after its opening quote: (value, raw), or `None`.
    fn quoted(&mut self, start: usize) -> Option<(String, String)> {
        let mut value = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = self.peek().filter(|&e| e == b'\t' || e >= 0x20)?;
                    if escaped == 0x7f {
                        return None;
                    }
                    value.push(escaped);
                    self.at += 1;
                }
                b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => value.push(b),
                _ => return None,
            }
        }
        let raw = self.bytes.get(start..self.at)?;
        Some((
            String::from_utf8_lossy(&value).into_owned(),
            String::from_utf8_lossy(raw).into_owned(),
        ))
    }

    fn parameter(&mut self) -> Result<Parameter, MediaTypeError> {
        let start = self.at;
        let bad = || MediaTypeError::BadParameter(start);
        let name = self.token().ok_or_else(bad)?.to_ascii_lowercase();
        if self.peek() != Some(b'=') {
            return Err(bad());
        }
        self.at += 1;
        let value_start = self.at;
        let (value, raw) = if self.peek() == Some(b'"') {
            self.at += 1;
            self.quoted(value_start).ok_or_else(bad)?
        } else {
            let token = self.token().ok_or_else(bad)?;
            (token.clone(), token)
        };
        Ok(Parameter { name, value, raw })
    }
}

/// Parses one `content-type` field value (leading and trailing whitespace allowed).
pub fn parse(text: &str) -> Result<MediaType, MediaTypeError> {
    let mut r = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    r.skip_ows();
    let kind = r.token().ok_or(MediaTypeError::BadEssence(r.at))?;
    if r.peek() != Some(b'/') {
        return Err(MediaTypeError::BadEssence(r.at));
    }
    r.at += 1;
    let subtype = r.token().ok_or(MediaTypeError::BadEssence(r.at))?;
    let mut parameters = Vec::new();
    loop {
        r.skip_ows();
        match r.peek() {
            None => break,
            Some(b';') => r.at += 1,
            Some(_) => return Err(MediaTypeError::Unexpected(r.at)),
        }
        r.skip_ows();
        match r.peek() {
            None | Some(b';') => continue,
            Some(_) => parameters.push(r.parameter()?),
        }
    }
    Ok(MediaType {
        kind: kind.to_ascii_lowercase(),
        subtype: subtype.to_ascii_lowercase(),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_subtype_and_parameters_are_read() {
        let m = parse(" Application/Problem+JSON ;charset=\"UTF-8\"; Q=\"a\\\"b\" ").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.subtype.as_str()),
            ("application", "problem+json")
        );
        assert!(m.is_json());
        assert_eq!(m.parameters[0].value, "UTF-8");
        assert_eq!(m.parameters[0].raw, "\"UTF-8\"");
        assert_eq!(m.parameters[1].name, "q");
        assert_eq!(m.parameters[1].value, "a\"b");
    }

    #[test]
    fn empty_parameters_are_allowed() {
        assert!(parse("application/json;").unwrap().parameters.is_empty());
        assert_eq!(
            parse("application/json;; a=1 ;").unwrap().parameters.len(),
            1
        );
    }

    #[test]
    fn whitespace_around_equals_commas_and_open_quotes_are_errors() {
        for bad in [
            "application/json; charset = utf-8",
            "application/json; charset= utf-8",
            "application/json; charset =utf-8",
            "application/json, text/html",
            "application/json; charset=\"utf-8",
            "application/json; charset",
            "application/json; =x",
            "application/ json",
            "application",
            "",
            "application/json; a=b c",
            "application/json; q=a\\\"b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plus_json_needs_a_prefix() {
        assert!(!parse("application/+json").unwrap().is_json());
        assert!(!parse("text/json").unwrap().is_json());
        assert!(!parse("application/jsonx").unwrap().is_json());
    }
}
