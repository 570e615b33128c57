//! The field-filter suffix of a permission: the part after `::` in
//! `contract:one:read::!{user.cpf,mother}`. Parsed into [`FieldFilter`] (defined in
//! [`crate::fields`], applied by the redactor) and printed back in the braces form.

use super::Problem;
use crate::fields::{FieldFilter, FilterMode};
use std::fmt;

/// Punctuation allowed in a field path segment besides letters and digits.
const FIELD_PUNCT: &str = "_-~@+=$";

/// Parses the text after `::` (`!{a.b,c}`, `{a}`, `!<a>`, `<a>`).
pub(super) fn parse_filter(text: &str) -> Result<FieldFilter, Problem> {
    let (mode, body) = match text.strip_prefix('!') {
        Some(rest) => (FilterMode::Remove, rest),
        None => (FilterMode::Keep, text),
    };
    let close = match body.chars().next() {
        Some('{') => '}',
        Some('<') => '>',
        _ => return Err(Problem::FilterSyntax),
    };
    let inner = &body[1..];
    let Some(end) = inner.find(['{', '}', '<', '>']) else {
        return Err(Problem::Unbalanced);
    };
    let (list, tail) = inner.split_at(end);
    if !tail.starts_with(close) {
        return Err(Problem::Unbalanced);
    }
    let after = &tail[close.len_utf8()..];
    if !after.is_empty() {
        return Err(if after.contains(['{', '}', '<', '>']) {
            Problem::Unbalanced
        } else {
            Problem::AfterFilter
        });
    }
    if list.trim().is_empty() {
        return Err(Problem::EmptyFilter);
    }
    let mut paths: Vec<String> = Vec::new();
    for path in list.split(',') {
        let path = path.trim();
        validate_path(path)?;
        if !paths.iter().any(|p| p == path) {
            paths.push(path.to_string());
        }
    }
    Ok(FieldFilter { mode, paths })
}

/// Checks one dotted field path: non-empty segments of letters, digits and
/// [`FIELD_PUNCT`], or `*` standing for one whole segment.
fn validate_path(path: &str) -> Result<(), Problem> {
    if path.is_empty() {
        return Err(Problem::EmptyPath);
    }
    let bad = |why: String| Problem::FieldPath {
        path: path.to_string(),
        why,
    };
    for segment in path.split('.') {
        if segment.is_empty() {
            return Err(bad("empty segment".into()));
        }
        if segment == "*" {
            continue;
        }
        if segment.contains('*') {
            return Err(bad("`*` must be a whole segment".into()));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_alphanumeric() || FIELD_PUNCT.contains(*c)))
        {
            return Err(bad(format!("unexpected character {c:?}")));
        }
    }
    Ok(())
}

/// Displays a filter in the canonical braces form, with its leading `::`.
pub(super) struct Suffix<'a>(pub(super) &'a FieldFilter);

impl fmt::Display for Suffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bang = match self.0.mode {
            FilterMode::Remove => "!",
            FilterMode::Keep => "",
        };
        write!(f, "::{bang}{{{}}}", self.0.paths.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_and_keep_forms_parse() {
        let f = parse_filter("!{ user.cpf , mother }").unwrap();
        assert_eq!(f.mode, FilterMode::Remove);
        assert_eq!(f.paths, ["user.cpf", "mother"]);
        let f = parse_filter("<id,source>").unwrap();
        assert_eq!(f.mode, FilterMode::Keep);
        assert_eq!(f.paths, ["id", "source"]);
    }

    #[test]
    fn duplicate_paths_are_listed_once() {
        let f = parse_filter("{a,a,b}").unwrap();
        assert_eq!(f.paths, ["a", "b"]);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert_eq!(parse_filter("!{"), Err(Problem::Unbalanced));
        assert_eq!(parse_filter("{a>"), Err(Problem::Unbalanced));
        assert_eq!(parse_filter("{a}}"), Err(Problem::Unbalanced));
        assert_eq!(parse_filter("{a}x"), Err(Problem::AfterFilter));
        assert_eq!(parse_filter("{}"), Err(Problem::EmptyFilter));
        assert_eq!(parse_filter("{a,,b}"), Err(Problem::EmptyPath));
        assert_eq!(parse_filter("x"), Err(Problem::FilterSyntax));
        assert_eq!(parse_filter(""), Err(Problem::FilterSyntax));
        assert!(matches!(
            parse_filter("{a..b}"),
            Err(Problem::FieldPath { .. })
        ));
    }
}
