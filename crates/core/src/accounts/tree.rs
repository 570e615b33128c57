//! The account tree: every account but a root has one parent (its owner). Built once from
//! configuration and validated; queried per request with hash lookups only.

use super::AccountError;
use std::collections::{HashMap, HashSet};

/// The account hierarchy, child -> parent. Validated at build: no account is its own
/// parent, parents never form a cycle, no id is empty. So walking up from any account
/// ends at a root after at most as many steps as there are accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountTree {
    parents: HashMap<String, String>,
}

impl AccountTree {
    /// Builds the tree from a map child -> parent, refusing a self-parent, a cycle or an
    /// empty id (the error names an account involved).
    pub fn new(parents: HashMap<String, String>) -> Result<AccountTree, AccountError> {
        let bad = |account: &str, reason| AccountError::InvalidTree {
            account: account.to_string(),
            reason,
        };
        let mut children: Vec<&String> = parents.keys().collect();
        children.sort();
        for child in &children {
            let parent = parents.get(*child).map(String::as_str).unwrap_or_default();
            if child.is_empty() || parent.is_empty() {
                return Err(bad(child, "empty account id"));
            }
            if *child == parent {
                return Err(bad(child, "account is its own parent"));
            }
        }
        // Walk up from each account; `done` accounts are known to reach a root.
        let mut done: HashSet<&str> = HashSet::new();
        for child in children {
            let mut trail: HashSet<&str> = HashSet::new();
            let mut at: &str = child;
            while !done.contains(at) {
                if !trail.insert(at) {
                    return Err(bad(at, "account's parents form a cycle"));
                }
                match parents.get(at) {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
            done.extend(trail);
        }
        Ok(AccountTree { parents })
    }

    /// The parent (owner) of `account`, if it has one.
    pub fn parent(&self, account: &str) -> Option<&str> {
        self.parents.get(account).map(String::as_str)
    }

    /// The owners of `account` from its parent up to its root.
    pub fn ancestors<'a>(&'a self, account: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let mut at = account;
        // Bounded even if the invariant were broken: no chain is longer than the map.
        (0..self.parents.len()).map_while(move |_| {
            let parent = self.parent(at)?;
            at = parent;
            Some(parent)
        })
    }

    /// Whether a caller holding the accounts in `caller` may access `account`: it is one of
    /// the caller's accounts, or `include_descendants` is set and one of its ancestors is.
    /// An empty id is never allowed.
    pub fn allows(
        &self,
        caller: &HashSet<String>,
        account: &str,
        include_descendants: bool,
    ) -> bool {
        if account.is_empty() {
            return false;
        }
        caller.contains(account)
            || (include_descendants && self.ancestors(account).any(|a| caller.contains(a)))
    }

    /// Number of accounts that have a parent.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// True when no account has a parent (every account stands alone).
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }
}
