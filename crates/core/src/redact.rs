//! Response field redaction: which fields of a JSON response a caller may see, applied in
//! one pass over the body by the shared walker ([`crate::json`]).
//!
//! # What a filter hides
//!
//! A [`FieldFilter`] is a list of dotted paths (`user.cpf`, `items.*.secret`) and a mode.
//! Paths are matched against the keys of nested objects; `*` is any key at one level; an
//! array met anywhere (also at the top level, and also at the end of a path) is entered
//! and every element is matched at the same path position, so a body that is an array of
//! contracts is filtered contract by contract. Keys compare after unescaping and up to
//! case ([`crate::json::fold_key`]), as case-insensitive clients (Go, .NET, Jackson) bind
//! them: `!{mother}` hides `Mother`, `MOTHER` and `\u004dother`, `!{user.cpf}` hides
//! `USER.Cpf` and `uſer.cpf`, and `{id}` keeps `ID`. There is no Unicode normalisation.
//! Every copy of a duplicated key, also one repeated in another case, is treated alike.
//!
//! - **Remove** (`!{a.b,c}`): a value is hidden when its path matches one of the paths;
//!   everything under it goes with it. Nothing else changes.
//! - **Keep** (`{a.b,c}`): a value is visible when its path matches one of the paths (then
//!   everything under it is visible too), or when it is an *object or array* on the way to
//!   a listed path (an ancestor, kept with only its visible content, possibly empty).
//!   Everything else is hidden: members not on any listed path, and scalars where an
//!   object was expected on the way (`{user.name}` hides `"user": "bob"`: keeping it would
//!   show more than the filter names). With `{user.name}`, `{"id":1,"user":{"name":"a",
//!   "cpf":"b"}}` becomes `{"user":{"name":"a"}}`.
//!
//! A top-level value can never be hidden (only a Keep filter over a scalar body would do
//! that): that is an error, so the caller fails closed rather than sending an empty body.
//!
//! # Route and grant filters
//!
//! `Redactor::compile(route, grants)`: a value is hidden when **any** route filter hides
//! it, or when `grants` is non-empty and **every** grant filter hides it. The route's
//! filters always apply; among the caller's matching grants the most permissive wins
//! field by field: a grant without a filter hides nothing, so pass it as a Remove filter
//! with no paths (or pass no grants at all). Both rules only ever hide whole subtrees, so
//! hiding a value hides everything under it.
//!
//! # Output
//!
//! Kept bytes are copied verbatim (numbers, escapes and whitespace as the backend wrote
//! them); a removed member or element takes one adjacent comma with it. Invalid JSON,
//! trailing data, or nesting deeper than the limit (128 by default) is an error: the
//! caller must not send the body.

use crate::fields::{FieldFilter, FilterMode};
use crate::json::dfa::{Dfa, Nfa, NodeId};
use crate::json::path::parse_dotted;
use crate::json::{self, JsonError, Scalar, Step, Visitor, DEFAULT_MAX_DEPTH};
use thiserror::Error;

/// Most automaton states a set of filters may compile to.
const MAX_STATES: usize = 4096;

/// Why filters could not be compiled or a body could not be redacted. Messages name the
/// configured path or a byte offset, never body content.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RedactError {
    /// A filter path is not a valid dotted path.
    #[error("invalid field path {path:?}: {reason}")]
    InvalidPath {
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The filters together compile to too large an automaton.
    #[error("field filters too complex: more than {MAX_STATES} matcher states")]
    TooComplex,
    /// The body is not valid JSON, nests too deep, or would be hidden as a whole.
    #[error("cannot redact response body: {0}")]
    Json(#[from] JsonError),
}

/// What a compiled automaton state says about the value it is reached at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    /// An object or array here is hidden.
    hide_container: bool,
    /// A scalar here is hidden (implied by `hide_container`).
    hide_scalar: bool,
    /// Nothing here or below is hidden: copy verbatim.
    copy: bool,
}

/// Role of one filter in the combination.
#[derive(Debug, Clone, Copy)]
struct Group {
    route: bool,
    mode: FilterMode,
}

/// A compiled set of route and grant filters, ready to rewrite bodies.
#[derive(Debug, Clone)]
pub struct Redactor {
    dfa: Dfa<Verdict>,
    max_depth: usize,
}

impl Redactor {
    /// Compiles the route's filters (all apply) and the caller's matching grant filters
    /// (alternatives: a value is hidden by the grants only if every one of them hides it;
    /// none = no grant restriction). See the module docs for the exact rules.
    pub fn compile(route: &[FieldFilter], grants: &[FieldFilter]) -> Result<Redactor, RedactError> {
        let mut nfa = Nfa::default();
        let mut roots = Vec::new();
        let mut groups = Vec::new();
        let all = route
            .iter()
            .map(|f| (f, true))
            .chain(grants.iter().map(|f| (f, false)));
        for (g, (filter, is_route)) in all.enumerate() {
            groups.push(Group {
                route: is_route,
                mode: filter.mode,
            });
            let root = nfa.node(g);
            roots.push(root);
            let mut ends = Vec::new();
            for path in &filter.paths {
                let steps =
                    parse_dotted(path.trim()).map_err(|reason| RedactError::InvalidPath {
                        path: path.clone(),
                        reason,
                    })?;
                ends.push(nfa.add_path(root, &steps));
            }
            mark_ends(&mut nfa, g, filter.mode, &ends);
        }
        let label = |nfa: &Nfa, set: &[NodeId]| verdict(nfa, set, &groups);
        let dfa =
            Dfa::build(&nfa, &roots, label, MAX_STATES).map_err(|_| RedactError::TooComplex)?;
        Ok(Redactor {
            dfa,
            max_depth: DEFAULT_MAX_DEPTH,
        })
    }

    /// Sets the nesting limit (arrays and objects) for bodies; deeper bodies are an error.
    pub fn with_max_depth(mut self, max_depth: usize) -> Redactor {
        self.max_depth = max_depth;
        self
    }

    /// True when the filters hide nothing in any body, so the body need not be buffered.
    pub fn is_noop(&self) -> bool {
        self.dfa.label(0).is_some_and(|v| v.copy)
    }

    /// Rewrites `body` without the hidden fields. Fails on invalid JSON, on nesting deeper
    /// than the limit, and when the whole body would be hidden.
    pub fn apply(&self, body: &[u8]) -> Result<Vec<u8>, RedactError> {
        let mut walk = Walk(&self.dfa);
        let out = json::rewrite(body, &mut walk, self.max_depth)?;
        Ok(out.unwrap_or_else(|| body.to_vec()))
    }
}

/// Marks path ends. An end gets every child pointing to a node that matches anything and
/// is itself an end: everything under a kept path is kept, and everything under a removed
/// path is removed. The latter matters when grant filters combine: with `!{mother}` and
/// `!{mother.cpf}`, `mother.cpf` is hidden by both (under `mother` for the first), so it
/// stays hidden even though `mother` itself is shown.
fn mark_ends(nfa: &mut Nfa, group: usize, _mode: FilterMode, ends: &[NodeId]) {
    let under = {
        let u = nfa.node(group);
        if let Some(n) = nfa.nodes.get_mut(u) {
            n.any = Some(u);
            n.end = true;
        }
        Some(u)
    };
    for &end in ends {
        if let Some(n) = nfa.nodes.get_mut(end) {
            n.end = true;
            if under.is_some() {
                n.keys.clear();
                n.any = under;
                n.each = None;
            }
        }
    }
}

/// Computes the verdict of a state from its node set.
fn verdict(nfa: &Nfa, set: &[NodeId], groups: &[Group]) -> Verdict {
    // Per group: (any node present, any end, any live node).
    let mut seen = vec![(false, false, false); groups.len()];
    for node in set.iter().filter_map(|&id| nfa.nodes.get(id)) {
        if let Some(s) = seen.get_mut(node.group) {
            s.0 = true;
            s.1 |= node.end;
            s.2 |= node.end || node.any.is_some() || !node.keys.is_empty();
        }
    }
    let mut route = Verdict {
        hide_container: false,
        hide_scalar: false,
        copy: true,
    };
    let mut grants: Option<Verdict> = None;
    for (group, &(present, end, live)) in groups.iter().zip(&seen) {
        let v = match group.mode {
            FilterMode::Remove => Verdict {
                hide_container: end,
                hide_scalar: end,
                copy: !live,
            },
            FilterMode::Keep if end => Verdict {
                hide_container: false,
                hide_scalar: false,
                copy: true,
            },
            FilterMode::Keep => Verdict {
                hide_container: !present,
                hide_scalar: true,
                copy: false,
            },
        };
        if group.route {
            route.hide_container |= v.hide_container;
            route.hide_scalar |= v.hide_scalar;
            route.copy &= v.copy;
        } else {
            let g = grants.get_or_insert(Verdict {
                hide_container: true,
                hide_scalar: true,
                copy: false,
            });
            g.hide_container &= v.hide_container;
            g.hide_scalar &= v.hide_scalar;
            g.copy |= v.copy;
        }
    }
    match grants {
        None => route,
        Some(g) => Verdict {
            hide_container: route.hide_container || g.hide_container,
            hide_scalar: route.hide_scalar || g.hide_scalar,
            copy: route.copy && g.copy,
        },
    }
}

/// The redaction visitor: the state is the automaton state of the value.
struct Walk<'a>(&'a Dfa<Verdict>);

impl Walk<'_> {
    fn step(&self, s: u32) -> Step<u32> {
        match self.0.label(s) {
            None => Step::Drop,
            Some(v) if v.hide_container => Step::Drop,
            Some(v) if v.copy => Step::Copy,
            Some(_) => Step::Enter(s),
        }
    }
}

impl Visitor for Walk<'_> {
    type State = u32;

    fn root(&mut self) -> Step<u32> {
        self.step(0)
    }

    fn member(&mut self, parent: &u32, key: &str) -> Step<u32> {
        self.step(self.0.member(*parent, key))
    }

    fn element(&mut self, parent: &u32) -> Step<u32> {
        self.step(self.0.element(*parent).0)
    }

    fn scalar(&mut self, state: &u32, _value: Scalar<'_>) -> bool {
        self.0.label(*state).is_some_and(|v| !v.hide_scalar)
    }

    fn close(&mut self, state: &u32, _is_object: bool) -> bool {
        self.0.label(*state).is_some_and(|v| !v.hide_container)
    }
}
