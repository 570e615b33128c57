//! `_method` in a JSON body: Laravel reads the JSON input as the request's parameters, so
//! a top-level `{"_method": "DELETE"}` runs a `DELETE`. The project's JSON scanner offers
//! every member with its key unescaped (`"\u005fmethod"` is `_method`) and every copy of a
//! duplicate key, so whichever copy a backend keeps was checked.

use super::{same_method, OverrideError};
use crate::json::{rewrite, JsonError, Scalar, ScalarKind, Step, Visitor, DEFAULT_MAX_DEPTH};

/// Where a value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The document.
    Root,
    /// The value of a top-level `_method` member.
    Override,
}

/// Finds top-level `_method` members whose value is not a string naming `method`.
struct Overrides<'a> {
    method: &'a str,
    found: bool,
}

impl Visitor for Overrides<'_> {
    type State = At;

    fn root(&mut self) -> Step<At> {
        Step::Enter(At::Root)
    }

    fn member(&mut self, parent: &At, key: &str) -> Step<At> {
        if *parent == At::Root && key.eq_ignore_ascii_case("_method") {
            Step::Enter(At::Override)
        } else {
            Step::Copy
        }
    }

    fn element(&mut self, _: &At) -> Step<At> {
        Step::Copy
    }

    fn scalar(&mut self, state: &At, value: Scalar<'_>) -> bool {
        if *state == At::Override
            && !(value.kind == ScalarKind::String && same_method(&value.text(), self.method))
        {
            self.found = true;
        }
        true
    }

    fn close(&mut self, state: &At, _is_object: bool) -> bool {
        if *state == At::Override {
            self.found = true;
        }
        true
    }
}

/// Checks a JSON body. `strict`: the body must be JSON (its content type says so);
/// otherwise a body that is not JSON passes, but one nested deeper than the scanner reads
/// is refused (a backend reading deeper could find an override the check did not).
pub fn check(body: &[u8], method: &str, strict: bool) -> Result<(), OverrideError> {
    let mut overrides = Overrides {
        method,
        found: false,
    };
    match rewrite(body, &mut overrides, DEFAULT_MAX_DEPTH) {
        Ok(_) if overrides.found => Err(OverrideError::Override("json member _method")),
        Ok(_) => Ok(()),
        Err(e @ JsonError::TooDeep { .. }) => Err(OverrideError::Unreadable(e.to_string())),
        Err(e) if strict => Err(OverrideError::Unreadable(e.to_string())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> bool {
        matches!(
            check(body.as_bytes(), "POST", true),
            Err(OverrideError::Override(_))
        )
    }

    #[test]
    fn a_top_level_method_member_naming_another_method_is_refused() {
        for body in [
            r#"{"_method":"DELETE"}"#,
            r#"{"a":1,"_method":"put"}"#,
            r#"{"\u005fmethod":"DELETE"}"#,
            r#"{"_METHOD":"DELETE"}"#,
            r#"{"_method":"POST","_method":"DELETE"}"#,
            r#"{"_method":"DELETE","_method":"POST"}"#,
            r#"{"_method":["POST"]}"#,
            r#"{"_method":{}}"#,
            r#"{"_method":null}"#,
            r#"{"_method":true}"#,
            r#"{"_method":1}"#,
        ] {
            assert!(refused(body), "{body}");
        }
    }

    #[test]
    fn a_method_member_naming_the_request_method_passes() {
        assert!(!refused(r#"{"_method":" post "}"#));
        assert!(!refused(r#"{"_method":"P\u004fST"}"#));
    }

    #[test]
    fn method_members_below_the_top_level_pass() {
        for body in [
            r#"{"a":{"_method":"DELETE"}}"#,
            r#"[{"_method":"DELETE"}]"#,
            r#"{"a":[{"_method":"DELETE"}]}"#,
            r#""_method""#,
            r#"{"method":"DELETE","x_method":"PUT","_method_":"PUT"}"#,
        ] {
            assert!(!refused(body), "{body}");
        }
    }

    #[test]
    fn malformed_json_is_refused_when_the_content_type_is_json() {
        for body in [
            &b"{"[..],
            b"{'a':1}",
            b"{} x",
            b"\xef\xbb\xbf{}",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(matches!(
                check(body, "POST", true),
                Err(OverrideError::Unreadable(_))
            ));
        }
    }

    #[test]
    fn a_body_that_is_not_json_passes_when_only_laravels_test_says_json() {
        assert_eq!(check(b"--b\r\n", "POST", false), Ok(()));
        assert!(check(br#"{"_method":"PUT"}"#, "POST", false).is_err());
    }

    #[test]
    fn json_nested_too_deep_to_check_is_refused_either_way() {
        let deep = format!(
            "{{\"_method\":\"PUT\",\"a\":{}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        for strict in [true, false] {
            assert!(matches!(
                check(deep.as_bytes(), "POST", strict),
                Err(OverrideError::Unreadable(_))
            ));
        }
    }
}
