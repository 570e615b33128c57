//! Method overrides in a request's query and body: pure functions over bytes.
//!
//! Rack::MethodOverride (Rails, Sinatra), Symfony, Laravel, Spring's HiddenHttpMethodFilter
//! and ASP.NET's form override run the method a `_method` parameter names instead of the
//! request's. The gateway checked the route's requirement for the request's method, so a
//! `POST` allowed on a route must not become a `DELETE` at the backend: an override naming
//! another method is refused wherever a framework reads one:
//!
//! - the query and form bodies ([`check_form`]): `&` and `;` separate fields (Rack splits
//!   on both), `+` is a space, escapes are decoded, and a key is `_method` the way any
//!   framework may read it ([`names_method`]: ASCII case, `_method[...]`, PHP's `.` and
//!   space for `_`, leading spaces, a NUL ending the name);
//! - multipart bodies (`multipart/*`, Rack parses them all): every field whose
//!   `Content-Disposition` names `_method`, quoted or not, RFC 2231 `name*=` too, is
//!   refused whatever its value; a name the check cannot be sure of is refused too;
//! - JSON bodies (Laravel reads `_method` from JSON input): every top-level member whose
//!   unescaped key is `_method` in any ASCII case, duplicates included, must be a string
//!   naming the request's method.
//!
//! Which bodies are read follows from the content type ([`body_types`]): a missing one is
//! a form (Rack parses a `POST` without a content type as one), so are
//! `application/x-www-form-urlencoded`, any `multipart/*`, and JSON (`application/json`,
//! any `+json`, and what Laravel takes for JSON: a content type containing `/json` or
//! `+json`). A content type frameworks could read differently (a list, a multipart
//! boundary missing or given twice, a charset in which `_method` is other bytes) is
//! refused rather than guessed.

mod content_type;
mod form;
mod json;
mod multipart;

pub use content_type::body_types;
pub use form::{check_form, names_method};

use thiserror::Error;

/// Why a request's query or body was refused. Messages are fixed phrases: they never
/// quote the request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OverrideError {
    /// A `_method` naming another method than the request's, in the place named.
    #[error("{0} names another method")]
    Override(&'static str),
    /// The content type cannot be read one way only.
    #[error("content type: {0}")]
    ContentType(&'static str),
    /// The body does not parse as its content type says (or not surely enough).
    #[error("request body: {0}")]
    Unreadable(String),
}

/// How a JSON body is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JsonRule {
    /// Not as JSON.
    #[default]
    No,
    /// The content type is JSON: the body must parse.
    Strict,
    /// Only Laravel's loose test says JSON (`/json` or `+json` somewhere in the content
    /// type): a body that is not JSON cannot carry a JSON override, but one that is is
    /// checked (and one nested too deep to check is refused).
    IfValid,
}

/// The formats in which frameworks parse a body of a given content type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyTypes {
    /// As a form (`a=1&b=2`).
    pub form: bool,
    /// As multipart, with this boundary.
    pub multipart: Option<String>,
    /// As JSON.
    pub json: JsonRule,
}

impl BodyTypes {
    /// True when some framework parses the body: it must be read and checked.
    pub fn is_read(&self) -> bool {
        self.form || self.multipart.is_some() || self.json != JsonRule::No
    }
}

/// True for the methods whose body may carry an override: all but `GET`, `HEAD` and
/// `OPTIONS` (frameworks override `POST`; the others are covered to be generous).
pub fn is_body_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Checks a body of `types` sent with `method`: every override it carries must name
/// `method`. An empty body carries none.
pub fn check_body(types: &BodyTypes, body: &[u8], method: &str) -> Result<(), OverrideError> {
    if body.is_empty() {
        return Ok(());
    }
    if types.form {
        check_form(body, method, "form field _method")?;
    }
    if let Some(boundary) = &types.multipart {
        multipart::check(body, boundary)?;
    }
    match types.json {
        JsonRule::No => Ok(()),
        JsonRule::Strict => json::check(body, method, true),
        JsonRule::IfValid => json::check(body, method, false),
    }
}

/// Whether an override's value names `method`: trimmed, in any ASCII case.
fn same_method(value: &str, method: &str) -> bool {
    value.trim().eq_ignore_ascii_case(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(content_type: Option<&str>) -> BodyTypes {
        body_types(content_type).unwrap()
    }

    #[test]
    fn body_methods_are_all_but_get_head_and_options() {
        for m in ["POST", "PUT", "PATCH", "DELETE", "get", "PROPFIND"] {
            assert!(is_body_method(m), "{m}");
        }
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(!is_body_method(m), "{m}");
        }
    }

    #[test]
    fn an_empty_body_carries_no_override_whatever_its_type() {
        let json = types(Some("application/json"));
        assert_eq!(check_body(&json, b"", "POST"), Ok(()));
    }

    #[test]
    fn a_form_body_with_an_override_is_refused() {
        let form = types(None);
        assert_eq!(
            check_body(&form, b"a=1&_method=DELETE", "POST"),
            Err(OverrideError::Override("form field _method"))
        );
    }

    #[test]
    fn a_multipart_body_with_an_override_is_refused() {
        let t = types(Some("multipart/form-data; boundary=b"));
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPOST\r\n--b--\r\n";
        assert!(matches!(
            check_body(&t, body, "POST"),
            Err(OverrideError::Override(_))
        ));
    }

    #[test]
    fn a_json_body_with_an_override_is_refused() {
        let t = types(Some("application/json"));
        assert!(matches!(
            check_body(&t, br#"{"_method":"DELETE"}"#, "POST"),
            Err(OverrideError::Override(_))
        ));
    }

    #[test]
    fn a_json_body_that_only_laravel_reads_as_json_is_checked_when_it_parses() {
        let t = types(Some("text/plain; x=/json"));
        assert_eq!(t.json, JsonRule::IfValid);
        assert_eq!(check_body(&t, b"not json", "POST"), Ok(()));
        assert!(check_body(&t, br#"{"_method":"PUT"}"#, "POST").is_err());
    }

    #[test]
    fn override_values_compare_trimmed_in_any_case() {
        assert!(same_method(" post\t", "POST"));
        assert!(!same_method("POST2", "POST"));
        assert!(!same_method("", "POST"));
    }
}
