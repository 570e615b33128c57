//! `_method` in a multipart body. Multipart parsers differ (CRLF or bare LF line ends,
//! where a part's headers end, quoting, RFC 2231 and RFC 2047 names), so the check is in
//! two parts that do not depend on each other:
//!
//! - the structure must parse (a delimiter line, part headers ended by a blank line,
//!   parts up to a closing delimiter; CRLF or LF), else the body is refused as malformed;
//! - independently of how the parts were split, every `Content-Disposition` anywhere in
//!   the body (any case) is read up to the next one or the next delimiter, and every
//!   `name` parameter in that stretch (quoted with `"` or `'`, unquoted, `name*=` with
//!   RFC 2231) is compared with `_method` like a form field name. A name the check
//!   cannot be sure of (RFC 2231 continuations, RFC 2047 encoded words, a charset in which
//!   ASCII is other bytes, an over-long name) is refused too.

use super::{names_method, OverrideError};
use crate::path::decode_lenient;

/// Longest field name read; a longer one is refused rather than cut.
const MAX_NAME: usize = 1024;

/// Checks a multipart body with `boundary`: it must parse, and no field may be named
/// `_method` (whatever its value: parsers disagree on where a value ends).
pub fn check(body: &[u8], boundary: &str) -> Result<(), OverrideError> {
    let delimiter = [b"--", boundary.as_bytes()].concat();
    structure(body, &delimiter)?;
    let lower = body.to_ascii_lowercase();
    let dispositions = occurrences(&lower, b"content-disposition");
    let delimiters = occurrences(body, &delimiter);
    for (n, &start) in dispositions.iter().enumerate() {
        let from = start + b"content-disposition".len();
        let next_disposition = dispositions.get(n + 1).copied().unwrap_or(body.len());
        let next_delimiter = delimiters
            .get(delimiters.partition_point(|&d| d < from))
            .copied()
            .unwrap_or(body.len());
        names(&body[from..next_disposition.min(next_delimiter)])?;
    }
    Ok(())
}

fn unreadable(why: &str) -> OverrideError {
    OverrideError::Unreadable(format!("multipart: {why}"))
}

/// Start of every non-overlapping occurrence of `needle` in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = find(haystack, needle, at) {
        out.push(found);
        at = found + needle.len().max(1);
    }
    out
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= haystack.len() {
        let offset = haystack.get(at..)?.iter().position(|&b| b == first)?;
        at += offset;
        if haystack.get(at..at + needle.len()) == Some(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The end of the line starting at `from` (index of its `\n`), if any.
fn line_end(body: &[u8], from: usize) -> Option<usize> {
    body.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// The next delimiter at `from` or later that starts a line.
fn next_delimiter(body: &[u8], delimiter: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let found = find(body, delimiter, at)?;
        if found == 0 || body.get(found - 1) == Some(&b'\n') {
            return Some(found);
        }
        at = found + 1;
    }
}

/// Parts between delimiter lines, each with header lines (`name: value`, or folded
/// continuations) ended by a blank line, and a closing delimiter.
fn structure(body: &[u8], delimiter: &[u8]) -> Result<(), OverrideError> {
    let mut at = next_delimiter(body, delimiter, 0).ok_or_else(|| unreadable("no delimiter"))?;
    let mut parts = 0;
    loop {
        let after = at + delimiter.len();
        if body.get(after..after + 2) == Some(b"--") {
            return if parts > 0 {
                Ok(())
            } else {
                Err(unreadable("no parts"))
            };
        }
        let end = line_end(body, after).ok_or_else(|| unreadable("no closing delimiter"))?;
        let padding = body.get(after..end).unwrap_or_default();
        if !padding.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Err(unreadable("text after a delimiter"));
        }
        let mut line = end + 1;
        let mut first = true;
        loop {
            let end = line_end(body, line).ok_or_else(|| unreadable("part headers not ended"))?;
            let text = body.get(line..end).unwrap_or_default();
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            line = end + 1;
            if text.is_empty() {
                break;
            }
            let folded = !first && matches!(text.first(), Some(b' ' | b'\t'));
            if !folded && !text.contains(&b':') {
                return Err(unreadable("part header without a colon"));
            }
            first = false;
        }
        parts += 1;
        at = next_delimiter(body, delimiter, line)
            .ok_or_else(|| unreadable("no closing delimiter"))?;
    }
}

/// Checks every `name` parameter in `span` (the text after a `Content-Disposition`).
fn names(span: &[u8]) -> Result<(), OverrideError> {
    let lower = span.to_ascii_lowercase();
    for at in occurrences(&lower, b"name") {
        if at > 0 && lower.get(at - 1).is_some_and(u8::is_ascii_alphanumeric) {
            continue; // `filename`, `xname`: another parameter
        }
        let mut i = skip_space(span, at + 4);
        let extended = span.get(i) == Some(&b'*');
        if extended {
            i += 1;
            if span.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(unreadable("field name in RFC 2231 continuations"));
            }
            i = skip_space(span, i);
        }
        if span.get(i) != Some(&b'=') {
            continue;
        }
        for name in candidates(span, skip_space(span, i + 1), extended)? {
            if find(&name, b"=?", 0).is_some() {
                return Err(unreadable("field name with an encoded word"));
            }
            if names_method(&name) {
                return Err(OverrideError::Override("multipart field _method"));
            }
        }
    }
    Ok(())
}

fn skip_space(span: &[u8], mut i: usize) -> usize {
    while span.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The ways parsers read the parameter value starting at `at`: as a token, and when it
/// starts with a quote (`"` or `'`) as quoted, with and without backslash escapes
/// undone; each also percent-decoded
/// (RFC 2231 `charset'language'value` for `name*`).
fn candidates(span: &[u8], at: usize, extended: bool) -> Result<Vec<Vec<u8>>, OverrideError> {
    let rest = span.get(at..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|&b| b == b';' || b == b',' || b == b'"' || b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let mut out = vec![rest[..end].to_vec()];
    if let Some(&quote @ (b'"' | b'\'')) = rest.first() {
        out.extend(quoted(&rest[1..], quote));
    }
    if out.iter().any(|name| name.len() > MAX_NAME) {
        return Err(unreadable("field name too long"));
    }
    let mut decoded = Vec::new();
    for name in &out {
        let text = if extended {
            rfc2231_value(name)?
        } else {
            name.as_slice()
        };
        decoded.push(decode_lenient(text));
    }
    out.extend(decoded);
    Ok(out)
}

/// A quoted value: up to the closing quote (or the end of the line), with backslash
/// escapes undone and as written (PHP keeps `\x` for a character other than the quote).
fn quoted(rest: &[u8], quote: u8) -> Vec<Vec<u8>> {
    let mut unescaped = Vec::new();
    let mut raw = Vec::new();
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        if b == quote || b == b'\n' || raw.len() > MAX_NAME {
            break;
        }
        raw.push(b);
        if b == b'\\' {
            if let Some(&next) = rest.get(i + 1) {
                unescaped.push(next);
                raw.push(next);
                i += 2;
                continue;
            }
        }
        unescaped.push(b);
        i += 1;
    }
    vec![unescaped, raw]
}

/// The value part of an RFC 2231 `charset'language'value`, refused unless the charset is
/// ASCII-compatible (`_method` in UTF-16 is other bytes).
fn rfc2231_value(text: &[u8]) -> Result<&[u8], OverrideError> {
    let mut parts = text.splitn(3, |&b| b == b'\'');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(charset), Some(_), Some(value)) => {
            let charset = String::from_utf8_lossy(charset).to_ascii_lowercase();
            if matches!(
                charset.as_str(),
                "" | "utf-8" | "utf8" | "us-ascii" | "ascii" | "iso-8859-1" | "latin1"
            ) {
                Ok(value)
            } else {
                Err(unreadable("field name in another charset"))
            }
        }
        _ => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(disposition: &str, eol: &str) -> Vec<u8> {
        format!(
            "--b{eol}Content-Disposition: form-data; name=\"a\"{eol}{eol}1{eol}\
             --b{eol}{disposition}{eol}{eol}DELETE{eol}--b--{eol}"
        )
        .into_bytes()
    }

    fn result(disposition: &str) -> Result<(), OverrideError> {
        check(&body(disposition, "\r\n"), "b")
    }

    fn is_override(disposition: &str) -> bool {
        matches!(result(disposition), Err(OverrideError::Override(_)))
    }

    #[test]
    fn a_field_named_method_is_refused_however_its_name_is_written() {
        for d in [
            "Content-Disposition: form-data; name=\"_method\"",
            "Content-Disposition: form-data; name=_method",
            "content-disposition: FORM-DATA; NAME=\"_METHOD\"",
            "Content-Disposition: form-data;name='_method'",
            "Content-Disposition: form-data; name = \"_method\"",
            "Content-Disposition: form-data; name=\"_meth\\od\"",
            "Content-Disposition: form-data; name=\"_method[]\"",
            "Content-Disposition: form-data; name=\".method\"",
            "Content-Disposition: form-data; name=\"%5Fmethod\"",
            "Content-Disposition: form-data; name*=UTF-8''%5Fmethod",
            "Content-Disposition: form-data; name*=''_method",
            "Content-Disposition: form-data; filename=\"a\"; name=\"_method\"",
            "Content-Disposition: form-data;\r\n name=\"_method\"",
            "Content-Disposition : form-data; name=\"_method\"",
            "X-Other: 1\r\nContent-Disposition: form-data; name=\"_method\"",
        ] {
            assert!(is_override(d), "{d}");
        }
    }

    #[test]
    fn a_name_the_check_cannot_be_sure_of_is_refused() {
        for d in [
            "Content-Disposition: form-data; name*0=_me; name*1=thod",
            "Content-Disposition: form-data; name*0*=UTF-8''_me",
            "Content-Disposition: form-data; name=\"=?utf-8?B?X21ldGhvZA==?=\"",
            "Content-Disposition: form-data; name*=UTF-16''%00_%00m",
        ] {
            assert!(
                matches!(result(d), Err(OverrideError::Unreadable(_))),
                "{d}"
            );
        }
        let long = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            "a".repeat(2000)
        );
        assert!(result(&long).is_err());
    }

    #[test]
    fn other_fields_pass() {
        for d in [
            "Content-Disposition: form-data; name=\"method\"",
            "Content-Disposition: form-data; name=\"x\"; filename=\"_method\"",
            "Content-Disposition: form-data; name=\"payment_method\"",
            "Content-Type: text/plain",
        ] {
            assert_eq!(result(d), Ok(()), "{d}");
        }
    }

    #[test]
    fn bare_lf_line_ends_are_read_too() {
        let lf = body("Content-Disposition: form-data; name=\"_method\"", "\n");
        assert!(matches!(check(&lf, "b"), Err(OverrideError::Override(_))));
        let clean = body("Content-Disposition: form-data; name=\"c\"", "\n");
        assert_eq!(check(&clean, "b"), Ok(()));
    }

    #[test]
    fn a_name_in_a_stretch_only_a_loose_parser_reads_as_headers_is_refused() {
        // Rack 2 reads `name=` anywhere after `Content-Disposition:` up to the blank CRLF
        // line; PHP ends the headers at the bare LF blank line.
        let body = b"--b\r\nContent-Disposition: form-data\n\n; name=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n";
        assert!(check(body, "b").is_err());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b""[..],
            b"no delimiter",
            b"--b--\r\n",
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1",
            b"--b\r\nContent-Disposition: form-data; name=a\r\n",
            b"--bx\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--",
            b"--b\r\nno colon\r\n\r\n1\r\n--b--\r\n",
        ] {
            assert!(
                matches!(check(body, "b"), Err(OverrideError::Unreadable(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_preamble_an_epilogue_and_a_delimiter_inside_content_are_allowed() {
        let body = b"preamble\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx--b\r\n--b--\r\nepilogue";
        assert_eq!(check(body, "b"), Ok(()));
    }
}
