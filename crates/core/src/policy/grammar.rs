//! [`Permission`]: one scope or policy, optionally with a field filter, parsed and validated
//! once so that matching ([`super::GrantSet`]) can trust its shape.

use super::filter::{parse_filter, Suffix};
use super::{PolicyError, Problem};
use crate::fields::FieldFilter;
use std::fmt;

/// Punctuation allowed in a scope or policy segment besides letters, digits and `*`.
const NAME_PUNCT: &str = "._-~@+=$";

/// Which grammar a permission is written in. Scopes only ever match scopes, and policies
/// only policies, so the two live in separate tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionKind {
    /// `app/segment/...`, `/`-separated, one or more segments.
    Scope,
    /// `domain:function:operation`, `:`-separated.
    Policy,
}

impl PermissionKind {
    /// The segment separator of this grammar (`/` or `:`).
    pub fn separator(self) -> char {
        match self {
            PermissionKind::Scope => '/',
            PermissionKind::Policy => ':',
        }
    }
}

/// A grant (what a caller holds) or a requirement (what a route needs): a scope or a policy,
/// optionally followed by a field filter (`contract:one:read::!{user.cpf,mother}`).
///
/// Always well formed: the only ways to build one are [`Permission::parse`] and
/// [`Permission::parse_requirement`]. Equality is on the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Permission {
    kind: PermissionKind,
    name: String,
    filter: Option<FieldFilter>,
}

impl Permission {
    /// Parses a permission in either grammar, wildcards allowed (a grant, or any permission
    /// whose role is not known yet). Surrounding whitespace is ignored. Errors name the text
    /// as a `permission`; see [`Permission::parse_grant`] for the `grant` wording.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        parse_as(text, "permission")
    }

    /// Same as [`Permission::parse`], with errors naming the text as a `grant` (role tables).
    pub fn parse_grant(text: &str) -> Result<Self, PolicyError> {
        parse_as(text, "grant")
    }

    /// Parses what a route requires: like [`Permission::parse`] but `*` is refused in the
    /// name, because a requirement names one concrete scope or policy (its field filter may
    /// still use `*` for a whole path segment).
    pub fn parse_requirement(text: &str) -> Result<Self, PolicyError> {
        let permission = parse_as(text, "requirement")?;
        if permission.has_wildcard() {
            return Err(PolicyError::Malformed {
                what: "requirement",
                text: text.trim().to_string(),
                problem: Problem::WildcardInRequirement,
            });
        }
        Ok(permission)
    }

    /// Scope or policy.
    pub fn kind(&self) -> PermissionKind {
        self.kind
    }

    /// The scope or policy text without the filter suffix (`contract:one:read`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field filter after `::`, if any.
    pub fn filter(&self) -> Option<&FieldFilter> {
        self.filter.as_ref()
    }

    /// True when the name contains `*` (only grants may).
    pub fn has_wildcard(&self) -> bool {
        self.name.contains('*')
    }
}

impl fmt::Display for Permission {
    /// The canonical form: the name, then the filter in braces form
    /// (`contract:one:read::!{user.cpf,mother}`); parsing it gives back an equal permission.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.filter {
            Some(filter) => Suffix(filter).fmt(f),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = PolicyError;

    /// Same as [`Permission::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Permission::parse(text)
    }
}

fn parse_as(text: &str, what: &'static str) -> Result<Permission, PolicyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PolicyError::Empty(what));
    }
    parse_inner(text).map_err(|problem| PolicyError::Malformed {
        what,
        text: text.to_string(),
        problem,
    })
}

fn parse_inner(text: &str) -> Result<Permission, Problem> {
    let (name, filter) = match filter_start(text) {
        Some(i) => (&text[..i], Some(parse_filter(&text[i + 2..])?)),
        None => (text, None),
    };
    if name.is_empty() {
        return Err(Problem::EmptyName);
    }
    let kind = validate_name(name)?;
    Ok(Permission {
        kind,
        name: name.to_string(),
        filter,
    })
}

/// Byte index of the `::` that starts the filter suffix: the first `::` followed by `!`, `{`
/// or `<`. Any other `::` belongs to the name (and makes it malformed: an empty segment).
fn filter_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find(|&i| {
        bytes[i] == b':' && bytes[i + 1] == b':' && matches!(bytes[i + 2], b'!' | b'{' | b'<')
    })
}

/// Checks a scope or policy name and says which grammar it is in.
fn validate_name(name: &str) -> Result<PermissionKind, Problem> {
    if let Some(c) = name.chars().find(|&c| {
        !(c.is_alphanumeric() || c == '*' || c == '/' || c == ':' || NAME_PUNCT.contains(c))
    }) {
        return Err(Problem::BadChar(c));
    }
    let kind = match (name.contains('/'), name.contains(':')) {
        (true, true) => return Err(Problem::MixedGrammar),
        (false, true) => PermissionKind::Policy,
        _ => PermissionKind::Scope,
    };
    if kind == PermissionKind::Scope && name.ends_with('/') && name.len() > 1 {
        return Err(Problem::TrailingSlash);
    }
    if name.contains("**") {
        return Err(Problem::DoubleStar);
    }
    if name == "*" {
        return Err(Problem::LoneStar);
    }
    let separator = kind.separator();
    let mut parts = 0;
    for segment in name.split(separator) {
        if segment.is_empty() {
            return Err(Problem::EmptySegment);
        }
        parts += 1;
    }
    if kind == PermissionKind::Policy && parts != 3 && !(parts < 3 && name.ends_with('*')) {
        return Err(Problem::PolicyParts(parts));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_start_skips_colons_of_the_name() {
        assert_eq!(filter_start("a:b:c::!{x}"), Some(5));
        assert_eq!(filter_start("a::b"), None);
        assert_eq!(filter_start("a:::!{x}"), Some(2));
        assert_eq!(filter_start("::"), None);
    }

    #[test]
    fn single_segment_names_are_scopes() {
        assert_eq!(validate_name("openid"), Ok(PermissionKind::Scope));
        assert_eq!(validate_name("contract*"), Ok(PermissionKind::Scope));
    }

    #[test]
    fn lone_slash_is_an_empty_segment() {
        assert_eq!(validate_name("/"), Err(Problem::EmptySegment));
    }
}
