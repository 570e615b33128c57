//! The content type a checked response must have (a route whose response the accounts
//! filter checks or the redact filter rewrites): one `content-type` header, a JSON type,
//! and UTF-8 text, declared so that no client can read it otherwise.
//!
//! The body is parsed as UTF-8. A backend declaring another charset gets its body read
//! differently by a client that decodes by charset: in `charset=utf-7`, the ASCII key
//! `"+AG0-other"` is `mother` and `"c+AG8-ntractOwner"` is `contractOwner`, keys the
//! gateway never matched. So every charset but UTF-8 is refused, and so is every
//! `content-type` that two parsers could read apart (RFC 9110 §8.3 is the reading used).

use crate::decision::Denial;
use crate::media_type;

/// The spellings of UTF-8 accepted, as written, in any ASCII case: `utf-8` and the
/// WHATWG label `utf8`, plain or quoted. No escapes, no whitespace: a client that does not
/// unescape or trim would read another label.
const UTF8_SPELLINGS: [&str; 4] = ["utf-8", "utf8", "\"utf-8\"", "\"utf8\""];

/// Checks the response's `content-type` headers (`headers`: every response header,
/// repeated names kept). Refuses (502) with:
///
/// - `not_json`: none, or not `application/json` / `application/*+json`;
/// - `content_type_ambiguous`: more than one `content-type` header (clients differ on
///   which one they read; Envoy joins them with `,`, which no media type contains);
/// - `content_type_invalid`: a value RFC 9110 cannot read (whitespace around `=`, an
///   open quote, a parameter without a value, a comma list...);
/// - `charset_ambiguous`: several `charset` parameters, or the text `charset` anywhere
///   else in the value (`x="a;charset=utf-7"`, `xcharset=utf-7`: where a lenient or
///   substring-searching client would find one);
/// - `charset_not_utf8`: a charset other than UTF-8. No charset means UTF-8 (RFC 8259).
pub fn check_json_utf8(headers: &[(String, String)]) -> Result<(), Denial> {
    let mut values = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.as_str());
    let Some(value) = values.next() else {
        return Err(Denial::bad_gateway("not_json", "no content-type"));
    };
    let others = values.count();
    if others > 0 {
        return Err(Denial::bad_gateway(
            "content_type_ambiguous",
            format!("{} content-type headers", others + 1),
        ));
    }
    let media = media_type::parse(value).map_err(|e| {
        Denial::bad_gateway(
            "content_type_invalid",
            format!("content-type `{value}`: {e}"),
        )
    })?;
    if !media.is_json() {
        return Err(Denial::bad_gateway(
            "not_json",
            format!("content-type `{value}`"),
        ));
    }
    let charsets: Vec<_> = media.parameters_named("charset").collect();
    let mentions = value.to_ascii_lowercase().matches("charset").count();
    if charsets.len() > 1 || mentions != charsets.len() {
        return Err(Denial::bad_gateway(
            "charset_ambiguous",
            format!("content-type `{value}`"),
        ));
    }
    match charsets.first() {
        Some(charset)
            if !UTF8_SPELLINGS
                .iter()
                .any(|s| charset.raw.eq_ignore_ascii_case(s)) =>
        {
            Err(Denial::bad_gateway(
                "charset_not_utf8",
                format!("content-type `{value}`"),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[&str]) -> Result<(), &'static str> {
        let headers: Vec<(String, String)> = values
            .iter()
            .map(|v| ("content-type".to_string(), v.to_string()))
            .collect();
        check_json_utf8(&headers).map_err(|d| {
            assert_eq!(d.status, 502);
            d.code
        })
    }

    #[test]
    fn utf8_spelled_plainly_or_no_charset_passes() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"UTF-8\"",
            "application/json; charset=utf8",
            "application/problem+json ; Charset=Utf-8 ; profile=\"a;b\"",
        ] {
            assert_eq!(check(&[ok]), Ok(()), "{ok}");
        }
    }

    #[test]
    fn any_other_charset_is_not_utf8() {
        for bad in [
            "application/json; charset=utf-7",
            "application/json; charset=\"UTF-7\"",
            "application/json; CHARSET=utf-16",
            "application/json; charset=iso-8859-1",
            "application/json; charset=us-ascii",
            "application/json; charset=\"\"",
            "application/json; charset=\"utf\\-8\"",
            "application/json; charset=\"utf-8 \"",
            "application/json; charset='utf-8'",
            "application/json; charset=utf-8x",
        ] {
            assert_eq!(check(&[bad]), Err("charset_not_utf8"), "{bad}");
        }
    }

    #[test]
    fn a_charset_readable_in_two_ways_is_ambiguous() {
        for bad in [
            "application/json; charset=utf-8; charset=utf-7",
            "application/json; charset=utf-8; CHARSET=utf-8",
            "application/json; x=\"a;charset=utf-7\"; charset=utf-8",
            "application/json; xcharset=utf-7",
            "application/json; x=charset",
        ] {
            assert_eq!(check(&[bad]), Err("charset_ambiguous"), "{bad}");
        }
    }

    #[test]
    fn an_unreadable_content_type_is_invalid() {
        for bad in [
            "application/json; charset = utf-8",
            "application/json; charset=",
            "application/json; charset",
            "application/json,application/json; charset=utf-7",
        ] {
            assert_eq!(check(&[bad]), Err("content_type_invalid"), "{bad}");
        }
    }

    #[test]
    fn several_content_type_headers_are_ambiguous() {
        assert_eq!(
            check(&["application/json", "application/json"]),
            Err("content_type_ambiguous")
        );
        let mixed_case = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        assert_eq!(
            check_json_utf8(&mixed_case).unwrap_err().code,
            "content_type_ambiguous"
        );
    }

    #[test]
    fn no_or_a_non_json_content_type_is_not_json() {
        assert_eq!(check(&[]), Err("not_json"));
        assert_eq!(check(&["text/html; charset=utf-8"]), Err("not_json"));
        assert_eq!(check(&["application/jsonx"]), Err("not_json"));
    }
}
