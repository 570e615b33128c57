//! A route's requirement: which permission (scope or policy), or any-of / all-of lists,
//! optionally per HTTP method, or one of the keywords `public`, `optional`,
//! `authenticated`. The same text is written in Envoy route metadata
//! (`filter_metadata.portcullis.requirement`) and in each filter's route table.
//!
//! Grammar (whitespace around tokens is ignored):
//! ```text
//! route       := clause (";" clause)*  |  expr
//! clause      := METHODS ":" SP expr          e.g.  GET,HEAD: contract:one:read
//! expr        := "public" | "optional" | "authenticated"
//!              | "any(" expr ("," expr)* ")" | "all(" expr ("," expr)* ")"
//!              | permission                   e.g.  contract:one:read::!{user.cpf}
//! ```
//! A route that lists methods refuses every other method; `HEAD` is served as `GET` when
//! only `GET` is listed.

use crate::policy::{Permission, PolicyError};
use serde::Deserialize;
use thiserror::Error;

/// A route's Portcullis settings as written in configuration or route metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// The requirement expression (see the module docs).
    #[serde(default)]
    pub requirement: Option<String>,
    /// Where the request's account id is (accounts filter).
    #[serde(default)]
    pub account: Option<String>,
    /// Which response JSON paths hold account ids, and what to do (accounts filter).
    #[serde(default)]
    pub response_accounts: Option<String>,
    /// Shadow (dry-run) mode: authorization denials are logged and counted, not enforced.
    #[serde(default)]
    pub shadow: bool,
    /// On Istio, the VirtualService (`<namespace>/<name>`) this route must come from: route
    /// names are not namespaced on an ingress gateway, so another namespace's route of the
    /// same name must not get these settings (the route is then treated as unknown).
    #[serde(default)]
    pub istio_virtual_service: Option<String>,
}

impl RouteEntry {
    /// True when the route declares nothing.
    pub fn is_empty(&self) -> bool {
        self.requirement.is_none()
            && self.account.is_none()
            && self.response_accounts.is_none()
            && !self.shadow
    }
}

/// A requirement expression that could not be parsed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RouteError {
    /// A permission inside the expression is malformed (the error names it).
    #[error("{source}")]
    Permission {
        /// Why.
        source: PolicyError,
    },
    /// Brackets do not balance or a list is empty.
    #[error("requirement `{0}`: malformed expression")]
    Malformed(String),
    /// A method name is not an HTTP method token.
    #[error("requirement `{0}`: bad method list")]
    BadMethod(String),
}

/// How the JWT filter treats a request on this route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No token is read; any identity is ignored.
    Public,
    /// A token is validated if present.
    Optional,
    /// A valid token is required.
    Required,
}

/// A requirement expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, no token read.
    Public,
    /// Anyone; a token, if sent, must be valid.
    Optional,
    /// Any valid token of the domain's tenant.
    Authenticated,
    /// One permission must be granted.
    Permission(Permission),
    /// At least one must hold.
    AnyOf(Vec<Requirement>),
    /// Every one must hold.
    AllOf(Vec<Requirement>),
}

impl Requirement {
    /// The token handling this requirement needs.
    pub fn auth_mode(&self) -> AuthMode {
        match self {
            Requirement::Public => AuthMode::Public,
            Requirement::Optional => AuthMode::Optional,
            _ => AuthMode::Required,
        }
    }
}

/// A route's compiled requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteRequirement {
    /// The same requirement for every method.
    AllMethods(Requirement),
    /// Per method; any method not listed is refused.
    ByMethod(Vec<(Vec<String>, Requirement)>),
}

/// Result of looking up a method's requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodRequirement<'a> {
    /// The requirement that applies.
    Applies(&'a Requirement),
    /// The route does not serve this method.
    MethodNotAllowed,
}

impl RouteRequirement {
    /// Parses a route requirement (see module docs).
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        let text = text.trim();
        if let Some(methods) = method_prefix(text) {
            let _ = methods;
            let mut clauses = Vec::new();
            for clause in split_top(text, ';').map_err(|_| RouteError::Malformed(text.into()))? {
                let (methods, expr) = clause
                    .split_once(':')
                    .ok_or_else(|| RouteError::Malformed(text.into()))?;
                let methods: Vec<String> =
                    methods.split(',').map(|m| m.trim().to_string()).collect();
                if methods.iter().any(|m| !is_method(m)) {
                    return Err(RouteError::BadMethod(text.into()));
                }
                clauses.push((methods, parse_expr(expr)?));
            }
            return Ok(RouteRequirement::ByMethod(clauses));
        }
        Ok(RouteRequirement::AllMethods(parse_expr(text)?))
    }

    /// The requirement for `method` (`HEAD` falls back to `GET`).
    pub fn for_method(&self, method: &str) -> MethodRequirement<'_> {
        match self {
            RouteRequirement::AllMethods(r) => MethodRequirement::Applies(r),
            RouteRequirement::ByMethod(clauses) => {
                let find = |m: &str| {
                    clauses
                        .iter()
                        .find(|(ms, _)| ms.iter().any(|x| x == m))
                        .map(|(_, r)| r)
                };
                match find(method).or_else(|| (method == "HEAD").then(|| find("GET")).flatten()) {
                    Some(r) => MethodRequirement::Applies(r),
                    None => MethodRequirement::MethodNotAllowed,
                }
            }
        }
    }
}

fn is_method(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase())
}

/// `Some` when the text starts with `METHOD[,METHOD]*:` followed by whitespace.
fn method_prefix(text: &str) -> Option<&str> {
    let (head, rest) = text.split_once(':')?;
    let methods_ok = head.split(',').all(|m| is_method(m.trim()));
    (methods_ok && rest.starts_with(char::is_whitespace)).then_some(head)
}

/// Deepest `any(`/`all(` nesting accepted. Parsing (and matching, and dropping) recurse
/// once per level: without a bound, a requirement nested thousands deep in route
/// metadata overflows the Wasm stack on its first request (a trap, not a decision).
pub const MAX_NESTING: usize = 32;

fn parse_expr(text: &str) -> Result<Requirement, RouteError> {
    parse_nested(text, 0)
}

fn parse_nested(text: &str, depth: usize) -> Result<Requirement, RouteError> {
    let text = text.trim();
    match text {
        "" => return Err(RouteError::Malformed(text.into())),
        "public" => return Ok(Requirement::Public),
        "optional" => return Ok(Requirement::Optional),
        "authenticated" => return Ok(Requirement::Authenticated),
        _ => {}
    }
    for (prefix, all) in [("any(", false), ("all(", true)] {
        if let Some(inner) = text.strip_prefix(prefix) {
            if depth >= MAX_NESTING {
                let shown: String = text.chars().take(40).collect();
                return Err(RouteError::Malformed(format!(
                    "{shown}...: nested deeper than {MAX_NESTING}"
                )));
            }
            let inner = inner
                .strip_suffix(')')
                .ok_or_else(|| RouteError::Malformed(text.into()))?;
            let parts = split_top(inner, ',').map_err(|_| RouteError::Malformed(text.into()))?;
            let terms = parts
                .into_iter()
                .map(|part| parse_nested(part, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if terms.is_empty() {
                return Err(RouteError::Malformed(text.into()));
            }
            return Ok(if all {
                Requirement::AllOf(terms)
            } else {
                Requirement::AnyOf(terms)
            });
        }
    }
    Permission::parse_requirement(text)
        .map(Requirement::Permission)
        .map_err(|source| RouteError::Permission { source })
}

/// Splits on `sep` outside of (), {} and <>.
fn split_top(text: &str, sep: char) -> Result<Vec<&str>, ()> {
    let mut depth: i32 = 0;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '{' | '<' => depth += 1,
            ')' | '}' | '>' => {
                depth -= 1;
                if depth < 0 {
                    return Err(());
                }
            }
            c if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(());
    }
    parts.push(&text[start..]);
    Ok(parts.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_permission_applies_to_every_method() {
        let r = RouteRequirement::parse("contract:one:read").unwrap();
        assert!(matches!(
            r.for_method("DELETE"),
            MethodRequirement::Applies(_)
        ));
    }

    #[test]
    fn listed_methods_refuse_others_and_head_follows_get() {
        let r =
            RouteRequirement::parse("GET: contract:one:read; POST: contract:one:write").unwrap();
        assert!(matches!(
            r.for_method("HEAD"),
            MethodRequirement::Applies(_)
        ));
        assert_eq!(r.for_method("PUT"), MethodRequirement::MethodNotAllowed);
    }

    #[test]
    fn any_and_all_nest_and_keep_field_filters_whole() {
        let r = RouteRequirement::parse("all(any(a:b:c, x/y), c:d:e::!{user.cpf,mother})").unwrap();
        assert!(
            RouteRequirement::parse("contract:*").is_err(),
            "requirements are concrete"
        );
        let RouteRequirement::AllMethods(Requirement::AllOf(terms)) = r else {
            panic!("expected all-of")
        };
        assert_eq!(terms.len(), 2);
        assert!(matches!(&terms[0], Requirement::AnyOf(t) if t.len() == 2));
    }

    #[test]
    fn keywords_choose_auth_mode() {
        let mode = |t: &str| match RouteRequirement::parse(t).unwrap().for_method("GET") {
            MethodRequirement::Applies(r) => r.auth_mode(),
            MethodRequirement::MethodNotAllowed => panic!("not allowed"),
        };
        assert_eq!(mode("public"), AuthMode::Public);
        assert_eq!(mode("GET: optional"), AuthMode::Optional);
        assert_eq!(mode("authenticated"), AuthMode::Required);
        assert_eq!(mode("contract:one:read"), AuthMode::Required);
    }

    #[test]
    fn unbalanced_expression_is_an_error() {
        assert!(RouteRequirement::parse("any(a:b:c").is_err());
        assert!(RouteRequirement::parse("all()").is_err());
        assert!(RouteRequirement::parse("").is_err());
    }
}
