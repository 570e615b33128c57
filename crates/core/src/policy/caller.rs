//! [`CallerGrants`]: one caller's effective grants, made of the role and group sets the table
//! compiled at load (borrowed, not copied) and the token's own scopes/policies (compiled per
//! token; a token carries a handful).

use super::grammar::Permission;
use super::grants::{GrantMatch, GrantSet};
use super::roles::RoleTable;
use super::trie::FastMap;

/// A caller's effective grants: their roles and groups expanded through a [`RoleTable`], plus
/// the token's direct scopes and policies.
///
/// A decision asks each of the caller's sets (a few tries), never every grant; matches are
/// merged with [`GrantMatch::merge`] (most permissive matching grant wins).
#[derive(Debug, Clone)]
pub struct CallerGrants<'a> {
    sets: Vec<&'a GrantSet>,
    direct: GrantSet,
    /// Direct grants from the token that are malformed (or are a lone `*`): skipped, never
    /// fatal, listed here so the filter can log them.
    pub ignored: Vec<String>,
}

impl<'a> CallerGrants<'a> {
    /// Builds a caller's grants from the role and group names found in the token (names the
    /// table does not know are ignored: identity providers add roles of their own) and the
    /// token's direct grant texts (empty or blank entries are skipped silently, malformed ones
    /// are skipped and listed in [`CallerGrants::ignored`]).
    pub fn new(table: &'a RoleTable, roles: &[&str], groups: &[&str], direct: &[&str]) -> Self {
        let mut sets: Vec<&'a GrantSet> = Vec::new();
        let found = roles
            .iter()
            .filter_map(|r| table.role(r))
            .chain(groups.iter().filter_map(|g| table.group(g)));
        for set in found {
            if !sets.iter().any(|s| std::ptr::eq(*s, set)) {
                sets.push(set);
            }
        }
        let mut ignored = Vec::new();
        let mut grants = Vec::with_capacity(direct.len());
        for text in direct {
            if text.trim().is_empty() {
                continue;
            }
            match Permission::parse_grant(text) {
                Ok(grant) => grants.push(grant),
                Err(_) => ignored.push((*text).to_string()),
            }
        }
        CallerGrants {
            sets,
            direct: GrantSet::compile(grants),
            ignored,
        }
    }

    /// Which of the caller's grants match `requirement`, merged across roles, groups and
    /// direct grants; `None` when nothing grants it.
    pub fn check(&self, requirement: &Permission) -> Option<GrantMatch> {
        self.all_sets()
            .filter_map(|set| set.check(requirement))
            .reduce(GrantMatch::merge)
    }

    /// Whether anything grants `requirement` (no filters computed).
    pub fn allows(&self, requirement: &Permission) -> bool {
        self.all_sets().any(|set| set.allows(requirement))
    }

    /// Every effective grant in canonical text, de-duplicated, in a stable order: roles in the
    /// order the token lists them, then groups, then the token's direct grants, each set in
    /// the order its grants were written. This is the answer of `GET /.well-known/permissions`.
    pub fn list(&self) -> Vec<String> {
        let mut seen: FastMap<&str, ()> = FastMap::default();
        let mut out: Vec<String> = Vec::new();
        for text in self.all_sets().flat_map(GrantSet::texts) {
            if seen.insert(text, ()).is_none() {
                out.push(text.to_string());
            }
        }
        out
    }

    /// The token's own (direct) grants, compiled.
    pub fn direct(&self) -> &GrantSet {
        &self.direct
    }

    fn all_sets(&self) -> impl Iterator<Item = &GrantSet> {
        self.sets
            .iter()
            .copied()
            .chain(std::iter::once(&self.direct))
    }
}
