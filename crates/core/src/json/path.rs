//! Path syntax shared by redaction and account checks.
//!
//! - Dotted field paths (redaction, [`parse_dotted`]): `user.cpf`, `items.*.secret`.
//!   Segments are non-empty keys; `*` (a whole segment) is any key. Arrays are entered
//!   implicitly, so there is no array syntax: `[` and `]` are refused to avoid the
//!   suggestion that `items[0]` selects one element.
//! - Indexed paths (account ids, [`parse_indexed`]): `contractOwner`, `items[*].accountId`,
//!   `[*].contractOwner`, `a.*.b`, `matrix[*][*].id`. `[*]` enters every element of an
//!   array (and marks the element as the one filter mode may remove).
//!
//! Keys cannot contain `.`, whitespace or control characters; there is no quoting.

/// One step of a compiled path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathStep {
    /// An object member with this (decoded) key.
    Key(String),
    /// Any member of an object (`*`).
    AnyKey,
    /// Every element of an array (`[*]`).
    Each,
}

/// Checks one literal key segment; returns the reason it is refused, if it is.
fn check_key(segment: &str) -> Result<PathStep, &'static str> {
    if segment.is_empty() {
        return Err("empty segment");
    }
    if segment == "*" {
        return Ok(PathStep::AnyKey);
    }
    if segment.contains('*') {
        return Err("`*` must be a whole segment");
    }
    if segment.contains(['[', ']']) {
        return Err("unexpected bracket");
    }
    if segment.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace or control character in a segment");
    }
    Ok(PathStep::Key(segment.to_string()))
}

/// Parses a dotted field path (`user.cpf`, `*.secret`).
pub(crate) fn parse_dotted(text: &str) -> Result<Vec<PathStep>, &'static str> {
    if text.is_empty() {
        return Err("empty path");
    }
    text.split('.').map(check_key).collect()
}

/// Parses an indexed path (`items[*].accountId`, `[*].contractOwner`).
pub(crate) fn parse_indexed(text: &str) -> Result<Vec<PathStep>, &'static str> {
    if text.is_empty() {
        return Err("empty path");
    }
    let mut steps = Vec::new();
    for (i, part) in text.split('.').enumerate() {
        let name_end = part.find('[').unwrap_or(part.len());
        let (name, mut brackets) = part.split_at(name_end);
        if !(name.is_empty() && i == 0) {
            steps.push(check_key(name)?);
        }
        if name.is_empty() && brackets.is_empty() {
            return Err("empty segment");
        }
        while !brackets.is_empty() {
            brackets = brackets
                .strip_prefix("[*]")
                .ok_or("only `[*]` may follow a key")?;
            steps.push(PathStep::Each);
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathStep::{AnyKey, Each, Key};

    fn key(k: &str) -> PathStep {
        Key(k.to_string())
    }

    #[test]
    fn dotted_paths_split_on_dots() {
        assert_eq!(parse_dotted("user.cpf"), Ok(vec![key("user"), key("cpf")]));
        assert_eq!(parse_dotted("*.x"), Ok(vec![AnyKey, key("x")]));
    }

    #[test]
    fn dotted_paths_refuse_empty_segments_and_brackets() {
        assert!(parse_dotted("").is_err());
        assert!(parse_dotted("a..b").is_err());
        assert!(parse_dotted("a.").is_err());
        assert!(parse_dotted("items[*]").is_err());
        assert!(parse_dotted("a*").is_err());
        assert!(parse_dotted("a b").is_err());
    }

    #[test]
    fn indexed_paths_understand_each() {
        assert_eq!(
            parse_indexed("items[*].accountId"),
            Ok(vec![key("items"), Each, key("accountId")])
        );
        assert_eq!(
            parse_indexed("[*].contractOwner"),
            Ok(vec![Each, key("contractOwner")])
        );
        assert_eq!(parse_indexed("m[*][*]"), Ok(vec![key("m"), Each, Each]));
    }

    #[test]
    fn indexed_paths_refuse_other_brackets() {
        assert!(parse_indexed("items[0].id").is_err());
        assert!(parse_indexed("a.[*]").is_err());
        assert!(parse_indexed("a[*]b").is_err());
        assert!(parse_indexed(".a").is_err());
        assert!(parse_indexed("a.").is_err());
    }
}
