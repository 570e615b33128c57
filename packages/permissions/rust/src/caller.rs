//! The package's logic in plain Rust (tested natively; `lib.rs` only moves values to and from
//! JavaScript): a caller's grants read from the permissions endpoint's answer, compiled once
//! with the gateway's own [`GrantSet`], and the questions a front end asks of them.

use crate::visibility::{self, Visibility};
use portcullis_core::fields::FieldFilter;
use portcullis_core::policy::{GrantSet, Permission, PolicyError, Problem};
use serde_json::Value;

/// A caller's effective grants, compiled for matching.
#[derive(Debug, Clone)]
pub struct Caller {
    subject: Option<String>,
    tenant: Option<String>,
    set: GrantSet,
}

impl Caller {
    /// Reads the permissions endpoint's answer (`{"subject", "tenant", "grants"}`,
    /// `crates/core/src/flow/authz.rs`) from its text. Errors (as messages): not JSON, then
    /// as [`Caller::from_answer`].
    pub fn from_json(text: &str) -> Result<Caller, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| not_json(&e))?;
        Caller::from_answer(&value)
    }

    /// Reads the permissions endpoint's answer once parsed (by serde_json natively, by the
    /// JavaScript engine's `JSON.parse` in the package: see [`AnswerValue`]). Other members
    /// are ignored so that the gateway may add some. Errors (as messages): not an object,
    /// no `grants` array of strings, `subject`/`tenant` neither a string nor null, or a
    /// malformed grant (named, with the reason).
    pub fn from_answer<V: AnswerValue>(answer: &V) -> Result<Caller, String> {
        if !answer.is_object() {
            return Err(format!(
                "permissions answer must be a JSON object, got {}",
                answer.kind()
            ));
        }
        let grants = match answer.member("grants") {
            None => return Err("permissions answer: no `grants` member".into()),
            Some(list) => match list.items() {
                None => {
                    return Err(format!(
                        "permissions answer: `grants` must be an array of strings, got {}",
                        list.kind()
                    ))
                }
                Some(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        g.text().ok_or_else(|| {
                            format!(
                                "permissions answer: grants[{i}] must be a string, got {}",
                                g.kind()
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            },
        };
        let text_member = |name: &str| -> Result<Option<String>, String> {
            match answer.member(name) {
                None => Ok(None),
                Some(v) if v.is_null() => Ok(None),
                Some(v) => v.text().map(Some).ok_or_else(|| {
                    format!(
                        "permissions answer: `{name}` must be a string or null, got {}",
                        v.kind()
                    )
                }),
            }
        };
        let subject = text_member("subject")?;
        let tenant = text_member("tenant")?;
        let mut caller = Caller::from_grants(grants.iter().map(String::as_str))?;
        caller.subject = subject;
        caller.tenant = tenant;
        Ok(caller)
    }

    /// Compiles a list of grant texts; the first malformed one is an error naming it.
    pub fn from_grants<'a>(grants: impl IntoIterator<Item = &'a str>) -> Result<Caller, String> {
        let parsed = grants
            .into_iter()
            .map(Permission::parse_grant)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Caller {
            subject: None,
            tenant: None,
            set: GrantSet::compile(parsed),
        })
    }

    /// The `subject` of the answer, if any.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The `tenant` of the answer, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The grants, canonical and de-duplicated, in the order given.
    pub fn grants(&self) -> Vec<String> {
        self.set.texts().map(str::to_string).collect()
    }

    /// Whether the gateway grants `requirement` (a scope or a policy, no `*`; a field-filter
    /// suffix is allowed and does not change the answer).
    pub fn can(&self, requirement: &str) -> Result<bool, String> {
        Ok(self.set.allows(&parse_requirement(requirement)?))
    }

    /// What a response to `requirement` shows; `None` when it is not granted.
    pub fn visibility(&self, requirement: &str) -> Result<Option<Visibility>, String> {
        let requirement = parse_requirement(requirement)?;
        Ok(self
            .set
            .check(&requirement)
            .map(|m| visibility::visibility(requirement.filter(), &m.filters)))
    }

    /// Whether the value at the concrete dotted path `path` is missing from a response to
    /// `requirement` (true when the requirement is not granted at all).
    pub fn is_hidden(&self, requirement: &str, path: &str) -> Result<bool, String> {
        let requirement = parse_requirement(requirement)?;
        let path = parse_field_path(path)?;
        Ok(match self.set.check(&requirement) {
            None => true,
            Some(m) => visibility::is_hidden(requirement.filter(), &m.filters, &path),
        })
    }
}

/// The message for an answer that is not JSON (`error` is the parser's).
pub fn not_json(error: &dyn std::fmt::Display) -> String {
    format!("permissions answer is not JSON: {error}")
}

/// A parsed JSON value, as [`Caller::from_answer`] reads it: implemented for
/// `serde_json::Value` here and for JavaScript values in the package, so that both read the
/// answer with the same checks and the same messages.
pub trait AnswerValue: Sized {
    /// A plain object (not an array, not null).
    fn is_object(&self) -> bool;
    /// Member `name` of an object; `None` when missing (or `undefined`).
    fn member(&self, name: &str) -> Option<Self>;
    /// The elements of an array; `None` for anything else.
    fn items(&self) -> Option<Vec<Self>>;
    /// The text of a string; `None` for anything else.
    fn text(&self) -> Option<String>;
    /// True for `null`.
    fn is_null(&self) -> bool;
    /// What the value is, for messages: `an object`, `an array`, `a string`, `a number`,
    /// `a boolean`, `null`.
    fn kind(&self) -> String;
}

impl AnswerValue for Value {
    fn is_object(&self) -> bool {
        self.is_object()
    }

    fn member(&self, name: &str) -> Option<Self> {
        self.get(name).cloned()
    }

    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }

    fn text(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }

    fn is_null(&self) -> bool {
        self.is_null()
    }

    fn kind(&self) -> String {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
        .into()
    }
}

/// Most segments a requirement may have here. The matcher walks a requirement one segment
/// per (recursive) step; the gateway's requirements come from its route configuration, but
/// here anyone's text is asked, and 10,000 segments would overflow the engine's stack (a
/// `RangeError` halfway through the Wasm code, which leaves it unusable). Real scopes and
/// policies have a handful.
pub const MAX_REQUIREMENT_SEGMENTS: usize = 256;

/// [`Permission::parse_requirement`], its error as a message; also refuses requirements of
/// more than [`MAX_REQUIREMENT_SEGMENTS`] segments.
pub fn parse_requirement(text: &str) -> Result<Permission, String> {
    let requirement = Permission::parse_requirement(text).map_err(|e| e.to_string())?;
    let segments = requirement
        .name()
        .split(requirement.kind().separator())
        .count();
    if segments > MAX_REQUIREMENT_SEGMENTS {
        return Err(format!(
            "requirement of {segments} segments: at most {MAX_REQUIREMENT_SEGMENTS} are accepted"
        ));
    }
    Ok(requirement)
}

/// A concrete dotted field path (`mother`, `user.cpf`), checked with the field-filter
/// parser's own rules; `*` is refused (ask about a concrete field).
pub fn parse_field_path(text: &str) -> Result<String, String> {
    let path = text.trim();
    let bad = |why: &str| format!("field path `{path}`: {why}");
    if path.is_empty() {
        return Err(bad("empty"));
    }
    if path.split('.').any(|s| s == "*") {
        return Err(bad("name a concrete field (no `*`)"));
    }
    if path.contains(['{', '}', '<', '>', ',']) {
        return Err(bad("not a single dotted path"));
    }
    // The filter parser validates paths: `x::{path}` parses exactly when `path` is valid.
    match Permission::parse(&format!("x::{{{path}}}")) {
        Ok(p) => match p.filter() {
            Some(FieldFilter { paths, .. }) if paths.len() == 1 => Ok(path.to_string()),
            _ => Err(bad("not a single dotted path")),
        },
        Err(PolicyError::Malformed {
            problem: Problem::FieldPath { why, .. },
            ..
        }) => Err(bad(&why)),
        Err(PolicyError::Malformed { problem, .. }) => Err(bad(&problem.to_string())),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// Whether `grants` grant `requirement`, without keeping the compiled set.
pub fn can(grants: &[String], requirement: &str) -> Result<bool, String> {
    Caller::from_grants(grants.iter().map(String::as_str))?.can(requirement)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DEMO: &str = r#"{"subject":"u1","tenant":"acme","grants":["contract:one:read::!{user.cpf,mother}","contract:all:read::!{user.cpf,mother}","br.com.chaordic.cockpit/sales/customerServices/*"]}"#;

    #[test]
    fn reads_the_demo_answer() {
        let c = Caller::from_json(DEMO).unwrap();
        assert_eq!(c.subject(), Some("u1"));
        assert_eq!(c.tenant(), Some("acme"));
        assert_eq!(c.grants().len(), 3);
        assert!(c.can("contract:one:read").unwrap());
        assert!(c.can("contract:all:read").unwrap());
        assert!(!c.can("br.com.chaordic.cockpit/finance/reports").unwrap());
        assert!(c
            .can("br.com.chaordic.cockpit/sales/customerServices/stockout")
            .unwrap());
        let v = c.visibility("contract:one:read").unwrap().unwrap();
        assert_eq!(v.hidden, ["mother", "user.cpf"]);
        assert!(c.is_hidden("contract:one:read", "mother").unwrap());
        assert!(!c.is_hidden("contract:one:read", "user.name").unwrap());
        assert!(c.is_hidden("contract:one:write", "id").unwrap());
        assert_eq!(c.visibility("contract:one:write").unwrap(), None);
    }

    #[test]
    fn bad_input_is_an_error_message() {
        let e = Caller::from_json("{").unwrap_err();
        assert!(e.starts_with("permissions answer is not JSON"), "{e}");
        let e = Caller::from_json("[]").unwrap_err();
        assert_eq!(e, "permissions answer must be a JSON object, got an array");
        let e = Caller::from_json(r#"{"subject":"u1"}"#).unwrap_err();
        assert_eq!(e, "permissions answer: no `grants` member");
        let e = Caller::from_json(r#"{"grants":["a",1]}"#).unwrap_err();
        assert_eq!(
            e,
            "permissions answer: grants[1] must be a string, got a number"
        );
        let e = Caller::from_json(r#"{"grants":[],"tenant":1}"#).unwrap_err();
        assert_eq!(
            e,
            "permissions answer: `tenant` must be a string or null, got a number"
        );
        let c = Caller::from_json(r#"{"grants":[],"tenant":null,"extra":1}"#).unwrap();
        assert_eq!((c.subject(), c.tenant(), c.grants().len()), (None, None, 0));
        let e = Caller::from_json(r#"{"grants":["app/sales/"]}"#).unwrap_err();
        assert!(e.starts_with("grant `app/sales/`: trailing `/`"), "{e}");
        let e = can(&["*".into()], "a").unwrap_err();
        assert!(e.contains("lone `*`"), "{e}");
        let c = Caller::from_json(DEMO).unwrap();
        let e = c.can("contract:*").unwrap_err();
        assert_eq!(
            e,
            "requirement `contract:*`: a requirement cannot contain `*`"
        );
        assert!(c.can("").unwrap_err().contains("empty requirement"));
        let deep = vec!["a"; MAX_REQUIREMENT_SEGMENTS + 1].join("/");
        assert_eq!(
            c.can(&deep).unwrap_err(),
            "requirement of 257 segments: at most 256 are accepted"
        );
        let deepest = vec!["a"; MAX_REQUIREMENT_SEGMENTS].join("/");
        assert!(!c.can(&deepest).unwrap());
        assert!(Caller::from_grants([deepest.as_str()])
            .unwrap()
            .can(&deepest)
            .unwrap());
    }

    #[test]
    fn field_paths_are_checked() {
        assert_eq!(parse_field_path(" user.cpf ").unwrap(), "user.cpf");
        for bad in ["", "a..b", "*.cpf", "a,b", "us*er", "a}", "a b", ".a"] {
            assert!(parse_field_path(bad).is_err(), "{bad}");
        }
        let e = parse_field_path("a..b").unwrap_err();
        assert_eq!(e, "field path `a..b`: empty segment");
    }
}
