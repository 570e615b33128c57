//! Request-path checks. The gateway routes on the path Envoy normalised (HCM
//! `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`); this module
//! refuses, as a second line, anything a misconfigured gateway would let through, so that
//! the path a route matched is exactly the path the backend sees (CVE-2019-9901,
//! CVE-2021-29492 classes: `/finance/../sales`, `%2e%2e`, `//`, `%2F`, `\`, `;`).
//!
//! Nothing is decoded or repaired: a path not already in normal form is refused. An
//! accepted path:
//! - starts with `/`, and has no empty segment except a trailing one (`/a/` is fine,
//!   `/a//b` is not);
//! - has no `.` or `..` segment, written plainly or percent-encoded in any case or depth;
//! - has no `\`, no `;` (Tomcat/Spring strip `;params`, so `/admin;x=1` reaches
//!   `/admin`), no `#`, no control character, no whitespace, no non-ASCII byte, and only
//!   RFC 3986 `pchar` characters besides `/`, `%`, `[` and `]` (the last two are left
//!   raw by Envoy's normaliser, which escapes the others: space, `"`, `<`, `>`, `^`,
//!   `` ` ``, `{`, `|`, `}`);
//! - percent-encodes only what must be: `%2F`/`%5C` (encoded separators), escapes of
//!   unreserved characters (`%41` is `A`), of control characters, and double encodings
//!   (`%25` followed by two hex digits) are refused, as are lower-case hex digits
//!   (`%c3` is written `%C3`), malformed escapes (`%zz`, `%4`) and escapes that do not
//!   decode to UTF-8 (overlong `%C0%AE`).
//!
//! Case is not changed: routes are case-sensitive and `/FINANCE/reports` is another path.
//! The query is split off and checked only for what no request may carry (control
//! characters, whitespace, non-ASCII, `#`); it is not routed on, and whoever reads a
//! parameter from it decodes and validates that parameter itself.

use thiserror::Error;

/// Longest piece of input shown in an error message, in characters.
const SHOWN_CHARS: usize = 40;

/// A request target split into its path and its query, both as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPath<'a> {
    /// The path, from the leading `/` up to (not including) `?`.
    pub path: &'a str,
    /// The text after the first `?`, if there is one (possibly empty).
    pub query: Option<&'a str>,
}

impl<'a> RequestPath<'a> {
    /// The path's segments (see [`segments`]).
    pub fn segments(&self) -> impl Iterator<Item = &'a str> {
        segments(self.path)
    }
}

/// Why a request path was refused. [`PathError::code`] is the stable reason used in
/// metrics and decision logs; each message names the offending piece.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (empty, `*`, or an absolute URI).
    #[error("path {0:?} does not start with `/`")]
    NotAbsolute(String),
    /// A `.` or `..` segment, plain or percent-encoded.
    #[error("path has a dot segment {0:?}")]
    DotSegment(String),
    /// `//`: an empty segment before the last.
    #[error("path has an empty segment")]
    EmptySegment,
    /// `%2F` or `%5C` (any case, also as `%252F`): an encoded `/` or `\`.
    #[error("path has an encoded slash or backslash {0:?}")]
    EncodedSeparator(String),
    /// A raw `\`, which some servers treat as `/`.
    #[error("path has a backslash")]
    Backslash,
    /// `;`: path parameters, which some backends strip before routing.
    #[error("path has a `;` path parameter")]
    PathParameter,
    /// `#`: a fragment is never sent to a server.
    #[error("path has a `#` fragment")]
    Fragment,
    /// A control character, raw or percent-encoded (`%00`).
    #[error("path has a control character")]
    ControlCharacter,
    /// A byte outside ASCII; non-ASCII must be percent-encoded UTF-8.
    #[error("path has a non-ascii character {0:?}")]
    NonAscii(char),
    /// A character that must be percent-encoded in a path (space, `"`, `<`, `{`, ...).
    #[error("path has the character {0:?}, which must be percent-encoded")]
    InvalidCharacter(char),
    /// An escape that is not in normal form: an unreserved character encoded (`%41`),
    /// or lower-case hex digits (`%c3`).
    #[error("path has the escape {0:?}, which is not in normal form")]
    NonNormalEncoding(String),
    /// `%25` followed by two hex digits: a double encoding.
    #[error("path has the double-encoded escape {0:?}")]
    DoubleEncoding(String),
    /// `%` not followed by two hex digits.
    #[error("path has a malformed escape {0:?}")]
    MalformedEscape(String),
    /// Escapes that do not decode to UTF-8 (e.g. the overlong `%C0%AE`).
    #[error("path segment {0:?} does not decode to utf-8")]
    InvalidUtf8(String),
}

impl PathError {
    /// The stable, machine-readable reason (metrics labels, decision log `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            PathError::NotAbsolute(_) => "path_not_absolute",
            PathError::DotSegment(_) => "path_dot_segment",
            PathError::EmptySegment => "path_empty_segment",
            PathError::EncodedSeparator(_) => "path_encoded_separator",
            PathError::Backslash => "path_backslash",
            PathError::PathParameter => "path_parameter",
            PathError::Fragment => "path_fragment",
            PathError::ControlCharacter => "path_control_character",
            PathError::NonAscii(_) => "path_non_ascii",
            PathError::InvalidCharacter(_) => "path_invalid_character",
            PathError::NonNormalEncoding(_) => "path_non_normal_encoding",
            PathError::DoubleEncoding(_) => "path_double_encoding",
            PathError::MalformedEscape(_) => "path_malformed_escape",
            PathError::InvalidUtf8(_) => "path_invalid_utf8",
        }
    }
}

/// Splits `:path` into path and query and refuses any path not in normal form (see the
/// module docs). The returned slices borrow `raw` unchanged.
pub fn check_path(raw: &str) -> Result<RequestPath<'_>, PathError> {
    let (path, query) = match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(PathError::NotAbsolute(shown(path)));
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        if segment.is_empty() && segments.peek().is_some() {
            return Err(PathError::EmptySegment);
        }
        check_segment(segment)?;
    }
    if let Some(query) = query {
        check_query(query)?;
    }
    Ok(RequestPath { path, query })
}

/// The segments of a path, in order, without the leading `/`; a trailing `/` gives no
/// empty last segment. Meant for paths [`check_path`] accepted (empty segments are
/// skipped, so `//` cannot shift positions even if an unchecked path is given).
pub fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .filter(|segment| !segment.is_empty())
}

/// One segment: characters first, then dot segments, then every escape.
fn check_segment(segment: &str) -> Result<(), PathError> {
    if !segment.bytes().all(is_path_byte) {
        // Slow path, only for refused input: name the first offending character.
        if let Some(c) = segment
            .chars()
            .find(|c| !c.is_ascii() || !is_path_byte(*c as u8))
        {
            return Err(path_char_error(c));
        }
    }
    if !segment.contains('%') {
        return match segment {
            "." | ".." => Err(PathError::DotSegment(segment.to_string())),
            _ => Ok(()),
        };
    }
    if is_encoded_dot_segment(segment) {
        return Err(PathError::DotSegment(shown(segment)));
    }
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            decoded.push(b);
            i += 1;
            continue;
        }
        let escape = segment
            .get(i..i + 3)
            .unwrap_or(segment.get(i..).unwrap_or_default());
        let value = escape_value(bytes.get(i + 1..i + 3))
            .ok_or_else(|| PathError::MalformedEscape(escape.to_string()))?;
        check_escape(escape, value, bytes.get(i + 3..i + 5))?;
        decoded.push(value);
        i += 3;
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(PathError::InvalidUtf8(shown(segment)));
    }
    Ok(())
}

/// Bytes allowed raw in a path segment: RFC 3986 `pchar` less `;`, plus `%`, `[` and
/// `]` (not pchar, but Envoy's own normaliser leaves them raw, and no server treats them
/// as separators: refusing them would refuse Envoy's normal form).
fn is_path_byte(b: u8) -> bool {
    PATH_BYTES[usize::from(b)]
}

/// [`is_path_byte`] as a table, built at compile time: one load per byte.
const PATH_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*'
            )
            || matches!(c, b'+' | b',' | b'=' | b':' | b'@' | b'%' | b'[' | b']');
        b += 1;
    }
    table
};

/// Why a character [`is_path_byte`] refused is refused.
fn path_char_error(c: char) -> PathError {
    match c {
        ';' => PathError::PathParameter,
        '\\' => PathError::Backslash,
        '#' => PathError::Fragment,
        c if c.is_ascii_control() => PathError::ControlCharacter,
        c if !c.is_ascii() => PathError::NonAscii(c),
        c => PathError::InvalidCharacter(c),
    }
}

/// Refuses an escape whose value is `value`; `next` holds the two bytes after it.
fn check_escape(escape: &str, value: u8, next: Option<&[u8]>) -> Result<(), PathError> {
    match value {
        b'/' | b'\\' => return Err(PathError::EncodedSeparator(escape.to_string())),
        v if v.is_ascii_control() => return Err(PathError::ControlCharacter),
        v if is_unreserved(v) => return Err(PathError::NonNormalEncoding(escape.to_string())),
        _ => {}
    }
    if escape.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(PathError::NonNormalEncoding(escape.to_string()));
    }
    if value == b'%' {
        if let Some(inner) = escape_value(next) {
            let double = format!(
                "{escape}{}",
                String::from_utf8_lossy(next.unwrap_or_default())
            );
            return Err(match inner {
                b'/' | b'\\' => PathError::EncodedSeparator(double),
                _ => PathError::DoubleEncoding(double),
            });
        }
    }
    Ok(())
}

/// True when percent-decoding the segment (repeatedly, for double encodings) gives `.`
/// or `..`.
fn is_encoded_dot_segment(segment: &str) -> bool {
    let mut current = segment.as_bytes().to_vec();
    for _ in 0..4 {
        if matches!(current.as_slice(), b"." | b"..") {
            return true;
        }
        let next = decode_lenient(&current);
        if next == current {
            return false;
        }
        current = next;
    }
    matches!(current.as_slice(), b"." | b"..")
}

/// Decodes every well-formed escape once; malformed ones are kept as they are. The
/// crate's one percent-decoder (also for form fields: `crate::method_override`).
pub(crate) fn decode_lenient(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, escape_value(bytes.get(i + 1..i + 3))) {
            (b'%', Some(value)) => {
                out.push(value);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The byte two hex digits stand for (either case); `None` unless exactly two digits.
fn escape_value(hex: Option<&[u8]>) -> Option<u8> {
    match hex? {
        [hi, lo] => Some((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
        _ => None,
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved characters: never to be percent-encoded in normal form.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The query may hold anything a client legitimately sends (`[`, `|`, escapes of any
/// kind) but nothing no request may carry.
fn check_query(query: &str) -> Result<(), PathError> {
    for c in query.chars() {
        match c {
            '#' => return Err(PathError::Fragment),
            c if c.is_ascii_control() => return Err(PathError::ControlCharacter),
            c if !c.is_ascii() => return Err(PathError::NonAscii(c)),
            ' ' => return Err(PathError::InvalidCharacter(' ')),
            _ => {}
        }
    }
    Ok(())
}

/// Input as shown in error messages: at most [`SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_are_split_at_the_first_question_mark() {
        let p = check_path("/a/b?x=1?y=/").unwrap();
        assert_eq!((p.path, p.query), ("/a/b", Some("x=1?y=/")));
        assert_eq!(check_path("/a?").unwrap().query, Some(""));
        assert_eq!(check_path("/a").unwrap().query, None);
    }

    #[test]
    fn segments_skip_the_leading_and_trailing_slash() {
        assert_eq!(segments("/a/b/").collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(segments("/").count(), 0);
    }

    #[test]
    fn escape_value_reads_two_hex_digits_only() {
        assert_eq!(escape_value(Some(b"2F")), Some(b'/'));
        assert_eq!(escape_value(Some(b"2")), None);
        assert_eq!(escape_value(Some(b"zz")), None);
        assert_eq!(escape_value(None), None);
    }

    #[test]
    fn every_error_has_a_distinct_code() {
        let all = [
            PathError::NotAbsolute(String::new()),
            PathError::DotSegment(String::new()),
            PathError::EmptySegment,
            PathError::EncodedSeparator(String::new()),
            PathError::Backslash,
            PathError::PathParameter,
            PathError::Fragment,
            PathError::ControlCharacter,
            PathError::NonAscii('é'),
            PathError::InvalidCharacter(' '),
            PathError::NonNormalEncoding(String::new()),
            PathError::DoubleEncoding(String::new()),
            PathError::MalformedEscape(String::new()),
            PathError::InvalidUtf8(String::new()),
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(PathError::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
