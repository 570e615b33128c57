//! [`GrantSet`]: grants compiled once into a segment trie per grammar; and [`GrantMatch`], what
//! a decision found (which grants matched, which field filters they impose).

use super::grammar::{Permission, PermissionKind};
use super::trie::{AnyMatch, FastMap, Trie};
use crate::fields::FieldFilter;

/// The grants that granted a requirement, and the field filters they impose on the response.
///
/// Rule: the most permissive matching grant wins. If at least one matching grant has no
/// filter, `filters` is empty and the caller sees every field; otherwise a field is hidden
/// only when every filter in `filters` hides it. The requirement's (route's) own filter is
/// not included here: it always applies on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantMatch {
    /// Canonical text of every matching grant, in the order they were given (logs, explain).
    pub grants: Vec<String>,
    /// Field filters of the matching grants, de-duplicated; empty when any matching grant is
    /// unfiltered.
    pub filters: Vec<FieldFilter>,
}

impl GrantMatch {
    /// True when no grant filter applies (some matching grant has no filter).
    pub fn is_unrestricted(&self) -> bool {
        self.filters.is_empty()
    }

    /// Combines the matches of two grant sets for the same requirement (roles, groups,
    /// direct grants) under the "most permissive wins" rule: grants are concatenated without
    /// duplicates; if either side is unrestricted the result is, else filters are unioned.
    pub fn merge(mut self, other: GrantMatch) -> GrantMatch {
        for grant in other.grants {
            if !self.grants.contains(&grant) {
                self.grants.push(grant);
            }
        }
        if self.filters.is_empty() || other.filters.is_empty() {
            self.filters.clear();
        } else {
            for filter in other.filters {
                if !self.filters.contains(&filter) {
                    self.filters.push(filter);
                }
            }
        }
        self
    }
}

/// A set of grants compiled for matching: one segment trie for scopes and one for policies
/// (see the module docs of [`crate::policy`] for the rules). Built once per configuration or
/// per token; a decision walks the requirement's segments, never every grant.
#[derive(Debug, Clone)]
pub struct GrantSet {
    grants: Vec<Permission>,
    texts: Vec<String>,
    scopes: Trie,
    policies: Trie,
}

impl Default for GrantSet {
    /// An empty set: grants nothing.
    fn default() -> Self {
        GrantSet {
            grants: Vec::new(),
            texts: Vec::new(),
            scopes: Trie::new(b'/'),
            policies: Trie::new(b':'),
        }
    }
}

impl GrantSet {
    /// Compiles `grants`; duplicates (same canonical text) are kept once, in first-seen order.
    pub fn compile(grants: impl IntoIterator<Item = Permission>) -> GrantSet {
        let mut set = GrantSet::default();
        let mut seen = FastMap::default();
        for grant in grants {
            let text = grant.to_string();
            if seen.insert(text.clone(), ()).is_none() {
                set.insert(grant, text);
            }
        }
        set
    }

    fn insert(&mut self, grant: Permission, text: String) {
        let Ok(id) = u32::try_from(self.grants.len()) else {
            return;
        };
        match grant.kind() {
            PermissionKind::Scope => self.scopes.insert(grant.name(), id),
            PermissionKind::Policy => self.policies.insert(grant.name(), id),
        }
        self.grants.push(grant);
        self.texts.push(text);
    }

    /// Which grants match `requirement` (its own filter is ignored here), or `None` when none
    /// does. Matching is by name, in the requirement's grammar only.
    pub fn check(&self, requirement: &Permission) -> Option<GrantMatch> {
        let mut ids: Vec<u32> = Vec::new();
        self.trie(requirement.kind())
            .collect(requirement.name(), &mut ids);
        if ids.is_empty() {
            return None;
        }
        ids.sort_unstable();
        ids.dedup();
        let matched = || ids.iter().filter_map(|&id| self.grants.get(id as usize));
        let unrestricted = matched().any(|g| g.filter().is_none());
        let mut filters: Vec<FieldFilter> = Vec::new();
        if !unrestricted {
            for filter in matched().filter_map(Permission::filter) {
                if !filters.contains(filter) {
                    filters.push(filter.clone());
                }
            }
        }
        let grants = ids
            .iter()
            .filter_map(|&id| self.texts.get(id as usize).cloned())
            .collect();
        Some(GrantMatch { grants, filters })
    }

    /// Whether any grant matches `requirement`; stops at the first match and allocates
    /// nothing when none does (for "can I?" questions that need no filters).
    pub fn allows(&self, requirement: &Permission) -> bool {
        let mut any = AnyMatch::default();
        self.trie(requirement.kind())
            .collect(requirement.name(), &mut any);
        any.0
    }

    fn trie(&self, kind: PermissionKind) -> &Trie {
        match kind {
            PermissionKind::Scope => &self.scopes,
            PermissionKind::Policy => &self.policies,
        }
    }

    /// The grants held, in the order given (without duplicates).
    pub fn iter(&self) -> std::slice::Iter<'_, Permission> {
        self.grants.iter()
    }

    /// The canonical texts of the grants held, in the same order as [`GrantSet::iter`].
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.texts.iter().map(String::as_str)
    }

    /// How many distinct grants the set holds.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// True when the set grants nothing.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

impl FromIterator<Permission> for GrantSet {
    /// Same as [`GrantSet::compile`].
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        GrantSet::compile(iter)
    }
}

impl<'a> IntoIterator for &'a GrantSet {
    type Item = &'a Permission;
    type IntoIter = std::slice::Iter<'a, Permission>;

    /// Same as [`GrantSet::iter`].
    fn into_iter(self) -> Self::IntoIter {
        self.grants.iter()
    }
}
