//! `_method` in a query or a form body, and which field names frameworks read as
//! `_method` (also used for multipart field names).

use super::{same_method, OverrideError};
use crate::path::decode_lenient;

/// Checks every field of a query or form body (`&` or `;` between fields, `+` a space,
/// escapes decoded): a field [`names_method`] must name `method`. `place` says where the
/// field was (for the refusal).
pub fn check_form(text: &[u8], method: &str, place: &'static str) -> Result<(), OverrideError> {
    for field in text.split(|&b| b == b'&' || b == b';') {
        let (key, value) = match field.iter().position(|&b| b == b'=') {
            Some(at) => (&field[..at], &field[at + 1..]),
            None => (field, &b""[..]),
        };
        if names_method(&form_decoded(key))
            && !same_method(&String::from_utf8_lossy(&form_decoded(value)), method)
        {
            return Err(OverrideError::Override(place));
        }
    }
    Ok(())
}

/// A form field name or value decoded: `+` is a space, then every escape once.
fn form_decoded(bytes: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    decode_lenient(&spaced)
}

/// Whether some framework reads the (decoded) field name `name` as `_method`: up to a NUL
/// (PHP's names end there), without surrounding whitespace (PHP drops leading spaces) and
/// leading brackets (Rack 2), up to the first bracket (`_method[]`, `_method[x]`: Rack
/// and PHP nest), with `.` and space read as `_` (PHP), in any ASCII case.
pub fn names_method(name: &[u8]) -> bool {
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let name = name.trim_ascii();
    let start = name
        .iter()
        .position(|&b| b != b'[' && b != b']')
        .unwrap_or(name.len());
    let name = &name[start..];
    let end = name
        .iter()
        .position(|&b| b == b'[' || b == b']')
        .unwrap_or(name.len());
    let name = name[..end].trim_ascii();
    name.len() == "_method".len()
        && name
            .iter()
            .map(|&b| if b == b'.' || b == b' ' { b'_' } else { b })
            .zip("_method".bytes())
            .all(|(a, b)| a.eq_ignore_ascii_case(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(form: &str) -> bool {
        check_form(form.as_bytes(), "POST", "form").is_err()
    }

    #[test]
    fn names_frameworks_read_as_method_are_recognised() {
        for name in [
            "_method",
            "_METHOD",
            "_Method",
            "_method[]",
            "_method[x]",
            "_method]",
            "[_method]",
            " _method",
            "\t_method ",
            ".method",
            " .method",
            "_method\0junk",
        ] {
            assert!(names_method(name.as_bytes()), "{name:?}");
        }
    }

    #[test]
    fn other_names_are_not_method() {
        for name in [
            "method",
            "x_method",
            "payment_method",
            "_methods",
            "_method_",
            "__method",
            "_meth",
            " method",
            "",
        ] {
            assert!(!names_method(name.as_bytes()), "{name:?}");
        }
    }

    #[test]
    fn an_override_naming_another_method_is_refused() {
        for form in [
            "_method=DELETE",
            "a=1&_method=PUT",
            "a=1;_method=PUT",
            "%5Fmethod=DELETE",
            "%5fmethod=DELETE",
            "_me%74hod=DELETE",
            "+_method=DELETE",
            "_method",
            "_method=",
            "_method=POST&_method=DELETE",
            "_method[]=DELETE",
            "_method%00=DELETE",
        ] {
            assert!(refused(form), "{form}");
        }
    }

    #[test]
    fn an_override_naming_the_request_method_passes() {
        for form in [
            "_method=POST",
            "_method=post",
            "_method=+POST+",
            "_method=%20post",
        ] {
            assert!(!refused(form), "{form}");
        }
    }

    #[test]
    fn forms_without_an_override_pass() {
        for form in ["", "a=1&b=2", "method=DELETE", "x=_method", "a=%zz&b=%"] {
            assert!(!refused(form), "{form}");
        }
    }

    #[test]
    fn the_refusal_names_the_place() {
        assert_eq!(
            check_form(b"_method=PUT", "GET", "query parameter _method"),
            Err(OverrideError::Override("query parameter _method"))
        );
    }
}
