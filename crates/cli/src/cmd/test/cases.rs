//! The policy case file (docs/policy-tests.md): `cases:`, each a request, who sends it,
//! optionally the backend's answer, and what is expected. Unknown fields are refused at
//! every level, and a malformed case is named with the field at fault
//! (`cases[2].expect.allow`) through `serde_path_to_error`.

use crate::gateway::find_line;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A case file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One policy case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows; unique in its file.
    pub name: String,
    /// The client's request.
    pub request: Request,
    /// Claims taken as verified: signed for the run with its own test key.
    #[serde(default)]
    pub claims: Option<Map<String, Value>>,
    /// A compact JWT, verified by the JWT configuration as it is.
    #[serde(default)]
    pub token: Option<String>,
    /// The backend's answer, for the response-side stages.
    #[serde(default)]
    pub response: Option<Response>,
    /// What must happen.
    pub expect: Expect,
}

/// The client's request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method (default `GET`).
    #[serde(default = "get")]
    pub method: String,
    /// `:authority`.
    pub host: String,
    /// `:path`, query string included, in normal form.
    pub path: String,
    /// Extra request headers by name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON request body (for an account id in the body).
    #[serde(default)]
    pub body: Option<Value>,
}

fn get() -> String {
    "GET".into()
}

/// The backend's answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Status (default 200).
    #[serde(default = "ok")]
    pub status: u16,
    /// Response headers by name (`content-type` defaults to `application/json`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body: JSON, written as YAML; a string is sent as it is.
    #[serde(default)]
    pub body: Option<Value>,
}

fn ok() -> u16 {
    200
}

/// What the case expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Whether the request reaches the backend.
    pub allow: bool,
    /// The status the client gets.
    #[serde(default)]
    pub status: Option<u16>,
    /// Dotted paths absent from the client's body (through arrays, as redaction reads them).
    #[serde(default)]
    pub hidden: Vec<String>,
    /// Exactly the JSON the client gets.
    #[serde(default)]
    pub body: Option<Value>,
    /// Request headers the backend receives (`null`: the header does not reach it).
    #[serde(default)]
    pub upstream_headers: BTreeMap<String, Option<String>>,
}

/// A case file that cannot be run (exit 2). Every message names the file, the case and
/// the field where they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseError {
    /// The file or folder could not be read.
    Read {
        /// The path.
        file: String,
        /// Why.
        reason: String,
    },
    /// Not YAML (or JSON).
    Syntax {
        /// The path.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A field outside any case (`cases` missing, an unknown top-level key).
    File {
        /// The path.
        file: String,
        /// The field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A case is malformed.
    Case {
        /// The path.
        file: String,
        /// 1-based line of the case, when found.
        line: Option<usize>,
        /// The case's name, or `cases[N]` when it has none.
        case: String,
        /// The field, dotted from the case (`expect.allow`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseError::Read { file, reason } => write!(f, "{file}: {reason}"),
            CaseError::Syntax {
                file,
                line: Some(line),
                message,
            } => write!(f, "{file}:{line}: {message}"),
            CaseError::Syntax { file, message, .. } => write!(f, "{file}: {message}"),
            CaseError::File {
                file,
                field,
                message,
            } => write!(f, "{file}: {field}: {message}"),
            CaseError::Case {
                file,
                line,
                case,
                field,
                message,
            } => {
                match line {
                    Some(line) => write!(f, "{file}:{line}: ")?,
                    None => write!(f, "{file}: ")?,
                }
                write!(f, "case `{case}`: {field}: {message}")
            }
        }
    }
}

impl std::error::Error for CaseError {}

/// A loaded case file.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The path, as shown in messages.
    pub file: String,
    /// Its cases.
    pub cases: Vec<Case>,
}

/// Reads and checks one case file. `providers` is the number of JWT providers: with more
/// than one, claims must say which issuer they are from.
pub fn load(path: &Path, providers: usize) -> Result<Loaded, CaseError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CaseError::Read {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let value: Value = crate::yaml::from_str(&text).map_err(|e| CaseError::Syntax {
        file: file.clone(),
        line: e.line,
        message: e.message,
    })?;
    let parsed: CaseFile = serde_path_to_error::deserialize(&value).map_err(|err| {
        let path = err.path().to_string();
        located(&file, &text, &value, &path, err.inner().to_string())
    })?;
    if parsed.cases.is_empty() {
        return Err(CaseError::File {
            file,
            field: "cases".into(),
            message: "no cases: a file that tests nothing cannot fail".into(),
        });
    }
    let mut names = std::collections::HashSet::new();
    for (index, case) in parsed.cases.iter().enumerate() {
        let bad = |field: &str, message: &str| {
            located(
                &file,
                &text,
                &value,
                &format!("cases[{index}].{field}"),
                message.to_string(),
            )
        };
        if !names.insert(case.name.as_str()) {
            return Err(bad("name", "used by an earlier case of this file"));
        }
        validate(case, providers).map_err(|(field, message)| bad(field, &message))?;
    }
    Ok(Loaded {
        file,
        cases: parsed.cases,
    })
}

/// What serde cannot say: fields that contradict each other.
fn validate(case: &Case, providers: usize) -> Result<(), (&'static str, String)> {
    if case.claims.is_some() && case.token.is_some() {
        return Err(("token", "give `claims` or `token`, not both".into()));
    }
    if !case.request.path.starts_with('/') {
        return Err(("request.path", "must start with /".into()));
    }
    let method = &case.request.method;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(("request.method", "an upper-case method, like GET".into()));
    }
    if let Some(claims) = &case.claims {
        match claims.get("iss") {
            None if providers > 1 => {
                let message = "several JWT providers: say which issuer signed the claims";
                return Err(("claims.iss", message.into()));
            }
            Some(iss) if !iss.is_string() => return Err(("claims.iss", "must be a string".into())),
            _ => {}
        }
    }
    if let Some(hidden) = case
        .expect
        .hidden
        .iter()
        .find(|h| h.is_empty() || h.contains(".."))
    {
        return Err(("expect.hidden", format!("`{hidden}` is not a dotted path")));
    }
    if case.expect.allow && case.response.is_none() {
        let needs = [
            ("expect.status", case.expect.status.is_some()),
            ("expect.hidden", !case.expect.hidden.is_empty()),
            ("expect.body", case.expect.body.is_some()),
        ];
        if let Some((field, _)) = needs.iter().find(|(_, given)| *given) {
            let message = "the request reaches the backend, so what the client gets depends \
                           on the backend's answer: give `response`";
            return Err((field, message.into()));
        }
    }
    if !case.expect.allow && !case.expect.upstream_headers.is_empty() {
        let message = "the request is expected not to reach the backend";
        return Err(("expect.upstream_headers", message.into()));
    }
    Ok(())
}

/// Turns a field path from the top (`cases[2].expect.allow`) into an error naming the case
/// (by name when it has one) and the field inside it.
fn located(file: &str, text: &str, value: &Value, path: &str, message: String) -> CaseError {
    let Some(rest) = path.strip_prefix("cases[") else {
        return CaseError::File {
            file: file.into(),
            field: if path == "." {
                "cases".into()
            } else {
                path.into()
            },
            message,
        };
    };
    let (index, field) = rest.split_once(']').unwrap_or((rest, ""));
    let field = field.trim_start_matches('.');
    let name = index
        .parse::<usize>()
        .ok()
        .and_then(|i| value.get("cases")?.get(i)?.get("name")?.as_str());
    let line = name.and_then(|n| find_line(text, &["cases", &format!("name: {n}")]));
    CaseError::Case {
        file: file.into(),
        line,
        case: name.map_or_else(|| format!("cases[{index}]"), str::to_string),
        field: if field.is_empty() {
            "(case)".into()
        } else {
            field.into()
        },
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// (case, field, line, message) of the error a file gives.
    fn error(text: &str) -> Option<(String, String, Option<usize>, String)> {
        let value: Value = crate::yaml::from_str(text).unwrap();
        let err = serde_path_to_error::deserialize::<_, CaseFile>(&value).unwrap_err();
        let path = err.path().to_string();
        match located("f.yaml", text, &value, &path, err.inner().to_string()) {
            CaseError::Case {
                case,
                field,
                line,
                message,
                ..
            } => Some((case, field, line, message)),
            _ => None,
        }
    }

    #[test]
    fn an_unknown_field_names_the_case_and_the_field() {
        let text = "cases:\n- name: first\n  request: {host: a, path: /}\n  expect: {alow: true}\n";
        let (case, field, line, message) = error(text).unwrap();
        assert_eq!(
            (case.as_str(), field.as_str(), line),
            ("first", "expect.alow", Some(2))
        );
        assert!(message.contains("unknown field `alow`"), "{message}");
    }

    #[test]
    fn a_case_without_a_name_is_named_by_its_index() {
        let text = "cases:\n- request: {host: a, path: /}\n  expect: {allow: true}\n";
        let (case, field, _, message) = error(text).unwrap();
        assert_eq!((case.as_str(), field.as_str()), ("cases[0]", "(case)"));
        assert!(message.contains("missing field `name`"), "{message}");
    }
}
