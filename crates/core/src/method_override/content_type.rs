//! Which formats frameworks parse a body of a given content type in, read the way the
//! loosest of them reads it: Rack and PHP take the media type up to the first `;`, `,` or
//! space, in any case; Laravel takes a content type containing `/json` or `+json` for
//! JSON; Rack finds the multipart boundary with `boundary=` anywhere in the header, PHP
//! with the first `boundary` and the `=` after it. Where two of them could read one
//! header two ways, the header is refused.

use super::{BodyTypes, JsonRule, OverrideError};

/// Charsets in which `_method`, `=`, `&` and `;` are the ASCII bytes (a framework decoding
/// a form in UTF-16 or EBCDIC would read fields the byte-level check cannot see).
const ASCII_CHARSETS: [&str; 9] = [
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "latin1",
    "iso-8859-15",
    "windows-1252",
    "cp1252",
];

/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// The formats a body sent with `content_type` (the header's value, `None` when absent)
/// is parsed in. Refuses a list of types, a charset other than an ASCII-compatible one,
/// and a multipart type whose boundary is missing, repeated or could be read two ways.
pub fn body_types(content_type: Option<&str>) -> Result<BodyTypes, OverrideError> {
    let value = content_type
        .unwrap_or("")
        .trim_matches(|c: char| c.is_ascii_whitespace());
    if value.is_empty() {
        return Ok(BodyTypes {
            form: true,
            ..BodyTypes::default()
        });
    }
    if value.contains(',') {
        return Err(OverrideError::ContentType("a list of content types"));
    }
    let lower = value.to_ascii_lowercase();
    let essence = lower
        .split(|c: char| c == ';' || c.is_ascii_whitespace())
        .next()
        .unwrap_or("");
    let json_essence = essence.ends_with("/json") || essence.ends_with("+json");
    let types = BodyTypes {
        form: essence.is_empty() || essence == "application/x-www-form-urlencoded",
        multipart: if essence.starts_with("multipart/") {
            Some(boundary(value)?)
        } else {
            None
        },
        json: if json_essence {
            JsonRule::Strict
        } else if lower.contains("/json") || lower.contains("+json") {
            JsonRule::IfValid
        } else {
            JsonRule::No
        },
    };
    if types.is_read() {
        check_charsets(&lower)?;
    }
    Ok(types)
}

/// Every `charset=` in the header (in any parameter, as a substring search finds it)
/// must name an ASCII-compatible charset.
fn check_charsets(lower: &str) -> Result<(), OverrideError> {
    for (at, _) in lower.match_indices("charset") {
        let rest = lower[at + "charset".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        let name = rest
            .split(|c: char| c == '"' || c == ';' || c.is_ascii_whitespace())
            .next()
            .unwrap_or("");
        if !ASCII_CHARSETS.contains(&name) {
            return Err(OverrideError::ContentType(
                "a charset other than an ASCII-compatible one",
            ));
        }
    }
    Ok(())
}

/// The multipart boundary: exactly one `boundary` in the whole header (so the first, the
/// last and the parsed parameter are the same), as a parameter (`;` before it, `=` right
/// after it), of 1 to 70 characters none of which any parser ends it at.
fn boundary(value: &str) -> Result<String, OverrideError> {
    let bad = |why| Err(OverrideError::ContentType(why));
    let lower = value.to_ascii_lowercase();
    let mut hits = lower.match_indices("boundary").map(|(at, _)| at);
    let (Some(at), None) = (hits.next(), hits.next()) else {
        return bad("multipart without exactly one boundary");
    };
    if !value[..at].trim_end().ends_with(';') {
        return bad("multipart boundary not a parameter");
    }
    let Some(rest) = value[at + "boundary".len()..].strip_prefix('=') else {
        return bad("multipart boundary not a parameter");
    };
    let (text, tail) = match rest.strip_prefix('"') {
        Some(quoted) => match quoted.split_once('"') {
            Some((text, tail)) => (text, tail.trim_start()),
            None => return bad("multipart boundary quote not closed"),
        },
        None => rest.split_at(rest.find(';').unwrap_or(rest.len())),
    };
    if !(tail.is_empty() || tail.starts_with(';')) {
        return bad("multipart boundary followed by text");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'()+_-./:=?".contains(c);
    if text.is_empty() || text.len() > MAX_BOUNDARY || !text.chars().all(allowed) {
        return bad("multipart boundary empty, too long or with odd characters");
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(value: &str) -> BodyTypes {
        body_types(Some(value)).unwrap()
    }

    fn refused(value: &str) -> bool {
        matches!(body_types(Some(value)), Err(OverrideError::ContentType(_)))
    }

    #[test]
    fn a_missing_or_empty_content_type_is_a_form() {
        assert!(body_types(None).unwrap().form);
        assert!(types("  ").form);
        assert!(types(";charset=utf-8").form);
    }

    #[test]
    fn the_form_type_is_recognised_in_any_case_and_with_parameters() {
        for value in [
            "application/x-www-form-urlencoded",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "application/x-www-form-urlencoded;charset=UTF-8",
            "application/x-www-form-urlencoded ; charset=utf-8",
        ] {
            assert!(types(value).form, "{value}");
        }
        assert!(!types("application/x-www-form-urlencodedx").form);
    }

    #[test]
    fn json_is_the_json_essence_strictly_and_laravels_substring_loosely() {
        for value in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
            "text/json",
        ] {
            assert_eq!(types(value).json, JsonRule::Strict, "{value}");
        }
        assert_eq!(
            types("multipart/related; boundary=b; type=\"application/json\"").json,
            JsonRule::IfValid
        );
        assert_eq!(types("application/x-ndjson").json, JsonRule::No);
    }

    #[test]
    fn other_types_are_not_read() {
        for value in ["application/octet-stream", "text/plain", "image/png"] {
            assert!(!types(value).is_read(), "{value}");
        }
    }

    #[test]
    fn a_list_of_content_types_is_refused() {
        assert!(refused(
            "application/json, application/x-www-form-urlencoded"
        ));
    }

    #[test]
    fn every_multipart_type_reads_its_boundary() {
        assert_eq!(
            types("multipart/form-data; boundary=abc")
                .multipart
                .as_deref(),
            Some("abc")
        );
        assert_eq!(
            types("MULTIPART/MIXED;BOUNDARY=\"a'()+_-./:=?b\"")
                .multipart
                .as_deref(),
            Some("a'()+_-./:=?b")
        );
        assert_eq!(
            types("multipart/form-data; boundary=\"x\" ; charset=utf-8")
                .multipart
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn a_boundary_missing_repeated_or_ambiguous_is_refused() {
        for value in [
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=\"\"",
            "multipart/form-data; boundary=a; boundary=b",
            "multipart/form-data; x=\"boundary=a\"; boundary=b",
            "multipart/form-data; xboundary=a",
            "multipart/form-data; boundary =a",
            "multipart/form-data; boundary=a b",
            "multipart/form-data; boundary=a\"b",
            "multipart/form-data; boundary=\"a;b\"",
            "multipart/form-data; boundary=\"a\"b",
            "multipart/form-data; boundary=\"unclosed",
            "multipart/form-data; boundary=a\\b",
        ] {
            assert!(refused(value), "{value}");
        }
        assert!(refused(&format!(
            "multipart/form-data; boundary={}",
            "b".repeat(71)
        )));
    }

    #[test]
    fn a_charset_in_which_ascii_is_other_bytes_is_refused() {
        assert!(refused("application/x-www-form-urlencoded; charset=utf-16"));
        assert!(refused("application/json; charset=\"IBM037\""));
        assert!(refused("multipart/form-data; boundary=b; charset=utf-32"));
        assert!(types("application/x-www-form-urlencoded; charset=\"UTF-8\"").form);
        assert!(!types("text/plain; charset=utf-16").is_read());
    }
}
