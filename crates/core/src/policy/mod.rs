//! The policy language: scopes (`app/segment/...`) and policies (`domain:function:operation`),
//! with an optional field-filter suffix (`::!{user.cpf,mother}`), compiled grant sets, role and
//! group tables, and a caller's effective grants.
//!
//! The full reference, with examples, is `docs/policy-language.md`; the rules in short (each
//! sentence has a test named after it in `crates/core/tests/policy_*.rs`):
//!
//! - A name containing `:` is a policy; any other name is a scope (`/`-separated, one or more
//!   segments); a name mixing `/` and `:` is malformed.
//! - A policy has exactly three parts (`domain:function:operation`); a grant may have fewer only
//!   when it ends with `*` (`contract:*`).
//! - Segments are non-empty and made of letters, digits and `. _ - ~ @ + = $`; matching is
//!   exact and case-sensitive, segment by segment.
//! - A trailing `/` (`app/sales/`) is rejected as ambiguous: write `app/sales/*` for everything
//!   below `app/sales`, or `app/sales` for the scope itself.
//! - A `*` that ends a grant matches any remainder, separators included: `a/b/*` grants
//!   `a/b/c` and `a/b/c/d` but not `a/b` itself (the `/` before the `*` is literal);
//!   `a/locations*` grants `a/locations`, `a/locations/1` and `a/locationsX`.
//! - A `*` anywhere else matches any characters within one segment, never a separator:
//!   `contract:*:read` grants `contract:one:read`, not `contract:one:write`.
//! - A lone `*` (or `**` anywhere) is rejected: it would not say which grammar it grants, and a
//!   grant of everything should be spelled out (`*:*` grants every policy, `app/*` every scope
//!   below `app`).
//! - Scopes never match policies and policies never match scopes.
//! - A requirement (what a route needs) cannot contain `*` ([`Permission::parse_requirement`]).
//! - A filter suffix `::!{a.b,c}` / `::!<a.b,c>` removes those fields, `::{a,b}` / `::<a,b>`
//!   keeps only those; whitespace around the paths is tolerated; paths are dotted, non-empty
//!   segments, where `*` may stand for one whole segment.
//! - When several grants match, the most permissive wins: if any matching grant has no filter
//!   the caller sees every field ([`GrantMatch::filters`] is empty); otherwise a field is hidden
//!   only when every matching grant's filter hides it. The route's own filter (the
//!   requirement's suffix) always applies on top, whatever the grants say.
//!
//! Why a hand-written trie and not `globset`: `globset` pulls in `regex` (hundreds of KB of
//! wasm against a 400 KB budget per filter) and compiles one big automaton per set; our
//! patterns only ever need "exact segment", "glob within one segment" and "rest of the text",
//! which a segment trie decides with one hash lookup per requirement segment (see
//! [`GrantSet`]).

mod caller;
mod filter;
mod glob;
mod grammar;
mod grants;
mod roles;
mod trie;

pub use caller::CallerGrants;
pub use grammar::{Permission, PermissionKind};
pub use grants::{GrantMatch, GrantSet};
pub use roles::RoleTable;

use thiserror::Error;

/// A permission, role table or grant list that could not be loaded. Every message is lower
/// case and names the input, so a configuration error points at the offending text.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The text is empty (or only whitespace).
    #[error("empty {0}")]
    Empty(&'static str),
    /// The text is not a well-formed permission.
    #[error("{what} `{text}`: {problem}")]
    Malformed {
        /// What was being parsed: `permission`, `grant` or `requirement`.
        what: &'static str,
        /// The offending text, as given.
        text: String,
        /// What is wrong with it.
        problem: Problem,
    },
    /// A grant of a role in a role table is malformed.
    #[error("role `{name}`: {source}")]
    Role {
        /// The role's name.
        name: String,
        /// The grant's error.
        source: Box<PolicyError>,
    },
    /// A grant of a group in a role table is malformed.
    #[error("group `{name}`: {source}")]
    Group {
        /// The group's name.
        name: String,
        /// The grant's error.
        source: Box<PolicyError>,
    },
    /// The role table's YAML or JSON is not of the expected shape.
    #[error("role table: {0}")]
    Table(String),
}

/// Why a permission text is malformed (the part of a [`PolicyError::Malformed`] message after
/// the text). Separate from [`PolicyError`] so callers can match on the reason.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Problem {
    /// Two separators in a row, or a separator at the start (`contract::read`, `/app`).
    #[error("empty segment")]
    EmptySegment,
    /// The name ends with `/` (`app/sales/`), which could mean the scope or everything below.
    #[error("trailing `/` is ambiguous (write `.../*` for everything below, or drop the `/`)")]
    TrailingSlash,
    /// The name contains both `/` and `:`.
    #[error("mixes `/` (scope) and `:` (policy)")]
    MixedGrammar,
    /// A policy that does not have three parts and does not end with `*`.
    #[error("a policy has three parts (domain:function:operation), found {0}")]
    PolicyParts(usize),
    /// A character that is not allowed in a name.
    #[error("unexpected character {0:?}")]
    BadChar(char),
    /// `**`: one `*` already matches any characters.
    #[error("`**` is not allowed (one `*` already matches any characters)")]
    DoubleStar,
    /// The grant is a lone `*`.
    #[error(
        "a lone `*` is not allowed (write `*:*` for every policy, or `app/*` for a scope tree)"
    )]
    LoneStar,
    /// A requirement contains `*`.
    #[error("a requirement cannot contain `*`")]
    WildcardInRequirement,
    /// Nothing before the `::` of a filter suffix.
    #[error("nothing before the field filter")]
    EmptyName,
    /// The text after `::` is not `{...}`, `<...>`, `!{...}` or `!<...>`.
    #[error("a field filter is `::{{...}}`, `::<...>`, `::!{{...}}` or `::!<...>`")]
    FilterSyntax,
    /// Brackets of the field filter do not balance or do not pair (`{a>`).
    #[error("unbalanced brackets in the field filter")]
    Unbalanced,
    /// Something follows the closing bracket of the field filter.
    #[error("text after the field filter")]
    AfterFilter,
    /// The field filter lists no path (`::{}`).
    #[error("empty field filter")]
    EmptyFilter,
    /// A field path is empty (`::{a,,b}`).
    #[error("empty field path")]
    EmptyPath,
    /// A field path is malformed.
    #[error("field path `{path}`: {why}")]
    FieldPath {
        /// The offending path.
        path: String,
        /// Why (`empty segment`, `` `*` must be a whole segment ``, ...).
        why: String,
    },
}
