//! Route selection as Envoy does it for the matches `gateway.yaml` uses: routes are tried
//! in order and the first that matches wins; `path` must equal the path with the query
//! string removed, `prefix` must begin `:path` (query included, as in Envoy), and
//! `safe_regex` must match the whole path without the query (RE2 full match).

use crate::gateway::{RouteMatch, RouteSpec};
use regex::Regex;

/// A route's match, compiled.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exact path.
    Path(String),
    /// Prefix of `:path`.
    Prefix(String),
    /// Whole-path regular expression.
    Regex(Regex),
}

impl Matcher {
    /// Compiles a route's match; the error names the field.
    pub fn compile(spec: &RouteMatch) -> Result<Matcher, String> {
        match (&spec.path, &spec.prefix, &spec.safe_regex) {
            (Some(path), None, None) => {
                starts_with_slash("path", path).map(|()| Matcher::Path(path.clone()))
            }
            (None, Some(prefix), None) => {
                starts_with_slash("prefix", prefix).map(|()| Matcher::Prefix(prefix.clone()))
            }
            (None, None, Some(re)) => Regex::new(&format!("^(?:{re})$"))
                .map(Matcher::Regex)
                .map_err(|e| format!("safe_regex `{re}`: {}", last_line(&e.to_string()))),
            (None, None, None) => Err("give one of `path`, `prefix` or `safe_regex`".into()),
            _ => Err("give only one of `path`, `prefix` or `safe_regex`".into()),
        }
    }

    /// Whether `:path` (query string included) selects this route.
    pub fn matches(&self, raw_path: &str) -> bool {
        let path = raw_path.split_once('?').map_or(raw_path, |(p, _)| p);
        match self {
            Matcher::Path(p) => path == p,
            Matcher::Prefix(p) => raw_path.starts_with(p.as_str()),
            Matcher::Regex(re) => re.is_match(path),
        }
    }

    /// The match as written (`path /whoami`, `safe_regex ^/a$`).
    pub fn describe(&self) -> String {
        match self {
            Matcher::Path(p) => format!("path {p}"),
            Matcher::Prefix(p) => format!("prefix {p}"),
            Matcher::Regex(re) => {
                let text = re.as_str();
                let inner = text
                    .strip_prefix("^(?:")
                    .and_then(|t| t.strip_suffix(")$"))
                    .unwrap_or(text);
                format!("safe_regex {inner}")
            }
        }
    }
}

fn starts_with_slash(field: &str, value: &str) -> Result<(), String> {
    if value.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{field} `{value}`: must start with /"))
    }
}

/// The regex crate's message ends with the reason (`error: unclosed group`).
fn last_line(text: &str) -> String {
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// The first route whose match selects `raw_path`, with its compiled match. Routes whose
/// match does not compile are skipped (`portcullis check` reports them).
pub fn select<'a>(routes: &'a [RouteSpec], raw_path: &str) -> Option<(&'a RouteSpec, Matcher)> {
    routes.iter().find_map(|route| {
        let matcher = Matcher::compile(&route.matcher).ok()?;
        matcher.matches(raw_path).then_some((route, matcher))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn matcher(
        path: Option<&str>,
        prefix: Option<&str>,
        re: Option<&str>,
    ) -> Result<Matcher, String> {
        Matcher::compile(&RouteMatch {
            path: path.map(str::to_string),
            prefix: prefix.map(str::to_string),
            safe_regex: re.map(str::to_string),
        })
    }

    #[test]
    fn exact_path_ignores_the_query() {
        assert!(matcher(Some("/whoami"), None, None)
            .unwrap()
            .matches("/whoami?x=1"));
        assert!(!matcher(Some("/whoami"), None, None)
            .unwrap()
            .matches("/whoami/"));
    }

    #[test]
    fn regex_must_match_the_whole_path() {
        let m = matcher(None, None, Some("/accounts/[^/]+")).unwrap();
        assert!(m.matches("/accounts/demostore?x"));
        assert!(!m.matches("/accounts/demostore/contracts"));
        assert_eq!(m.describe(), "safe_regex /accounts/[^/]+");
    }

    #[test]
    fn two_kinds_of_match_are_refused() {
        assert!(matcher(Some("/a"), Some("/"), None).is_err());
        assert!(matcher(None, None, None).is_err());
        assert!(matcher(None, None, Some("(")).is_err());
    }
}
