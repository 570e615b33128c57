//! Response-side account checks: foreign account ids block the response or are filtered
//! out of arrays; owner fields are hidden from everyone but the owner.

use super::paths::{compile, IdLabel};
use super::AccountError;
use crate::json::dfa::Dfa;
use crate::json::path::{parse_indexed, PathStep};
use crate::json::{self, Scalar, ScalarKind, Step, Visitor, DEFAULT_MAX_DEPTH};
use std::collections::HashSet;

/// What a foreign id does to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Any foreign id blocks the whole response.
    Block,
    /// A foreign id removes the element of the innermost written `[*]` on its path; one
    /// not under any `[*]` blocks.
    Filter,
}

/// A route's response account rule, parsed from configuration. Clauses are separated by
/// `;`, each is `name: path, path, …` in the indexed path syntax (`contractOwner`,
/// `items[*].accountId`, `[*].contractOwner`, `*` for any key). Keys match up to case
/// ([`crate::json::fold_key`]): `ContractOwner` and `CONTRACTOWNER` are checked as
/// `contractOwner`, in every copy, as a case-insensitive client would read either:
///
/// - `block: …` or `filter: …` (at most one of them): the paths whose values are account
///   ids. A string id compares decoded, a number or boolean by its literal text (`1e2` is
///   not `100`), `null` and a missing field (missing in every case spelling of its key)
///   are no id, an array there is a list of ids, an object there blocks (fail closed).
///   Arrays on a path are entered even where no `[*]` is written (checked, never
///   filtered there).
/// - `hide_owner: …`: owner fields, removed from the response unless the caller may see
///   the owner (see [`ResponseAccounts::check`]). An object or array there is always
///   removed; `null` is kept.
///
/// Example: `filter: [*].contractOwner; hide_owner: [*].owner`.
#[derive(Debug, Clone)]
pub struct ResponseAccounts {
    mode: Option<Mode>,
    dfa: Dfa<IdLabel>,
    max_depth: usize,
}

/// The result of checking one response body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountOutcome {
    /// The body to send instead of the original, when elements or owner fields were
    /// removed; `None` when the body is unchanged, and always `None` when blocked.
    pub body: Option<Vec<u8>>,
    /// Every distinct foreign id found, in order of first appearance (for the log; never
    /// for the client).
    pub foreign: Vec<String>,
    /// The response must not be sent (the caller answers with an error naming no account).
    pub blocked: bool,
    /// Array elements removed in filter mode.
    pub removed: usize,
    /// Objects found where an id was expected (each blocks).
    pub malformed: usize,
    /// Owner fields removed because the caller may not see the owner (`hide_owner`),
    /// counting those inside elements the filter removed too. Not a leak: the backend
    /// answered as designed, the gateway applies "an account never learns its owner".
    pub hidden: usize,
}

impl ResponseAccounts {
    /// Parses a rule such as `block: contractOwner, items[*].accountId` or
    /// `filter: [*].contractOwner; hide_owner: [*].owner`.
    pub fn parse(text: &str) -> Result<ResponseAccounts, AccountError> {
        let bad = |reason| AccountError::InvalidRule {
            text: text.to_string(),
            reason,
        };
        let mut mode = None;
        let mut ids: Vec<Vec<PathStep>> = Vec::new();
        let mut owners: Vec<Vec<PathStep>> = Vec::new();
        for clause in text.split(';') {
            let (name, list) = clause
                .split_once(':')
                .ok_or_else(|| bad("expected `block:`, `filter:` or `hide_owner:`"))?;
            let paths = list
                .split(',')
                .map(|p| parse_indexed(p.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            match name.trim() {
                "block" | "filter" if mode.is_some() => {
                    return Err(bad("only one `block:` or `filter:` clause"))
                }
                "block" => mode = Some(Mode::Block),
                "filter" => mode = Some(Mode::Filter),
                "hide_owner" if !owners.is_empty() => {
                    return Err(bad("only one `hide_owner:` clause"))
                }
                "hide_owner" => {
                    owners = paths;
                    continue;
                }
                _ => {
                    return Err(bad(
                        "unknown clause (expected `block`, `filter` or `hide_owner`)",
                    ))
                }
            }
            ids = paths;
        }
        Ok(ResponseAccounts {
            mode,
            dfa: compile(&ids, &owners)?,
            max_depth: DEFAULT_MAX_DEPTH,
        })
    }

    /// Sets the nesting limit for bodies; deeper bodies are an error.
    pub fn with_max_depth(mut self, max_depth: usize) -> ResponseAccounts {
        self.max_depth = max_depth;
        self
    }

    /// Checks `body`: `allowed(id)` says whether the caller may access account `id`. Owner
    /// fields stay only when `allowed(owner)` holds: the caller is the owner, or (where
    /// access includes descendants) one of the owner's own owners, and so already sees
    /// the owner account. Invalid JSON is an error (fail closed).
    pub fn check(
        &self,
        body: &[u8],
        allowed: &dyn Fn(&str) -> bool,
    ) -> Result<AccountOutcome, AccountError> {
        self.check_with_owner(body, allowed, allowed)
    }

    /// As [`ResponseAccounts::check`], with a separate test for owner fields (for example
    /// "the owner is one of the caller's own accounts", ignoring descendants).
    pub fn check_with_owner(
        &self,
        body: &[u8],
        allowed: &dyn Fn(&str) -> bool,
        owner_visible: &dyn Fn(&str) -> bool,
    ) -> Result<AccountOutcome, AccountError> {
        let mut check = Check {
            rule: self,
            allowed,
            owner_visible,
            doomed: Vec::new(),
            seen: HashSet::new(),
            outcome: AccountOutcome::default(),
        };
        let rewritten = json::rewrite(body, &mut check, self.max_depth)?;
        let mut outcome = check.outcome;
        outcome.body = if outcome.blocked { None } else { rewritten };
        Ok(outcome)
    }
}

/// Per-value state of the check.
#[derive(Debug, Clone, Copy)]
struct At {
    /// Automaton state.
    s: u32,
    /// Depth of the innermost removal point around the value (0: none).
    removal: usize,
    /// The value itself is a removal point (an element of a written `[*]`).
    point: bool,
}

struct Check<'a> {
    rule: &'a ResponseAccounts,
    allowed: &'a dyn Fn(&str) -> bool,
    owner_visible: &'a dyn Fn(&str) -> bool,
    /// One flag per open removal point: a foreign id was found inside.
    doomed: Vec<bool>,
    seen: HashSet<String>,
    outcome: AccountOutcome,
}

impl Check<'_> {
    fn label(&self, s: u32) -> IdLabel {
        self.rule.dfa.label(s).copied().unwrap_or_default()
    }

    fn step(&mut self, s: u32, removal: usize, each: bool) -> Step<At> {
        if self.label(s).dead {
            return Step::Copy;
        }
        let point = each && self.rule.mode == Some(Mode::Filter);
        if point {
            self.doomed.push(false);
        }
        Step::Enter(At {
            s,
            removal: if point { self.doomed.len() } else { removal },
            point,
        })
    }

    /// A foreign id (or a malformed one, `id == None`) was found under `at`.
    fn foreign(&mut self, at: &At, id: Option<String>) {
        match id {
            Some(id) => {
                if self.seen.insert(id.clone()) {
                    self.outcome.foreign.push(id);
                }
            }
            None => {
                self.outcome.malformed += 1;
                self.outcome.blocked = true;
            }
        }
        match (self.rule.mode, at.removal.checked_sub(1)) {
            (Some(Mode::Filter), Some(i)) => {
                if let Some(flag) = self.doomed.get_mut(i) {
                    *flag = true;
                }
            }
            _ => self.outcome.blocked = true,
        }
    }

    /// Ends a value: pops its removal flag; returns whether it survives.
    fn finish(&mut self, at: &At, keep: bool) -> bool {
        if at.point && self.doomed.pop().unwrap_or(true) {
            self.outcome.removed += 1;
            return false;
        }
        keep
    }
}

impl Visitor for Check<'_> {
    type State = At;

    fn root(&mut self) -> Step<At> {
        self.step(0, 0, false)
    }

    fn member(&mut self, parent: &At, key: &str) -> Step<At> {
        let s = self.rule.dfa.member(parent.s, key);
        self.step(s, parent.removal, false)
    }

    fn element(&mut self, parent: &At) -> Step<At> {
        let (s, each) = self.rule.dfa.element(parent.s);
        self.step(s, parent.removal, each)
    }

    fn scalar(&mut self, at: &At, value: Scalar<'_>) -> bool {
        let label = self.label(at.s);
        let mut keep = true;
        if value.kind != ScalarKind::Null && (label.id || label.owner) {
            let text = value.text();
            if label.id && !(self.allowed)(&text) {
                self.foreign(at, Some(text.clone().into_owned()));
            }
            keep = !label.owner || (self.owner_visible)(&text);
            if !keep {
                self.outcome.hidden += 1;
            }
        }
        self.finish(at, keep)
    }

    fn close(&mut self, at: &At, is_object: bool) -> bool {
        let label = self.label(at.s);
        if label.id && is_object {
            self.foreign(at, None);
        }
        if label.owner {
            self.outcome.hidden += 1;
        }
        self.finish(at, !label.owner)
    }
}
