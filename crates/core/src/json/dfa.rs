//! Path automata. Paths are added to a trie-shaped NFA ([`Nfa`]); [`Dfa::build`] turns it
//! into a deterministic automaton by subset construction, so that the walker carries one
//! `u32` per open container and pays one key lookup per visited member.
//!
//! Matching rules, shared by every consumer:
//! - an object member with key `k` moves every active node to the children whose key
//!   equals `k` up to case ([`super::fold`]: `Mother` and `\u004dOTHER` are `mother`) and
//!   to its `*` child;
//! - an array element moves every active node that expects `[*]` to its `[*]` child (the
//!   transition is flagged: the element is a "removal point"), and keeps every node that
//!   expects a key or ends a path: arrays met on the way are entered implicitly;
//! - an object met where `[*]` is expected is matched as if it were the array's only
//!   element (so a shape the configuration did not foresee is still checked).
//!
//! Each NFA node belongs to a group (one filter, or one kind of account path); the label of
//! a DFA state is computed by the consumer from the set of nodes it stands for.

use super::fold;
use super::path::PathStep;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Index of an NFA node.
pub(crate) type NodeId = usize;

/// One node of the path trie.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// Children by literal key.
    pub keys: Vec<(String, NodeId)>,
    /// Child for any key (`*`).
    pub any: Option<NodeId>,
    /// Child for every array element (`[*]`).
    pub each: Option<NodeId>,
    /// A path ends here.
    pub end: bool,
    /// The consumer's group for this node.
    pub group: usize,
}

impl Node {
    /// Whether the node expects an object member (so arrays are entered implicitly).
    fn expects_key(&self) -> bool {
        !self.keys.is_empty() || self.any.is_some()
    }
}

/// A trie of paths, possibly several tries (one root per group) in one arena.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nfa {
    /// All nodes; ids are indices.
    pub nodes: Vec<Node>,
}

impl Nfa {
    /// Adds a fresh node of `group`; returns its id.
    pub fn node(&mut self, group: usize) -> NodeId {
        self.nodes.push(Node {
            group,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// Adds `steps` below `root`, sharing existing prefixes; returns the last node.
    pub fn add_path(&mut self, root: NodeId, steps: &[PathStep]) -> NodeId {
        let mut at = root;
        for step in steps {
            let group = self.nodes.get(at).map_or(0, |n| n.group);
            let existing = self.nodes.get(at).and_then(|n| match step {
                PathStep::Key(k) => n.keys.iter().find(|(key, _)| key == k).map(|e| e.1),
                PathStep::AnyKey => n.any,
                PathStep::Each => n.each,
            });
            at = match existing {
                Some(next) => next,
                None => {
                    let next = self.node(group);
                    if let Some(n) = self.nodes.get_mut(at) {
                        match step {
                            PathStep::Key(k) => n.keys.push((k.clone(), next)),
                            PathStep::AnyKey => n.any = Some(next),
                            PathStep::Each => n.each = Some(next),
                        }
                    }
                    next
                }
            };
        }
        at
    }

    fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// `set` plus the `[*]` children reachable without consuming an array (objects met
    /// where `[*]` is expected).
    pub fn closure(&self, set: &[NodeId]) -> Vec<NodeId> {
        let mut out: BTreeSet<NodeId> = set.iter().copied().collect();
        let mut todo: Vec<NodeId> = set.to_vec();
        while let Some(id) = todo.pop() {
            if let Some(next) = self.get(id).and_then(|n| n.each) {
                if out.insert(next) {
                    todo.push(next);
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Member transitions of one DFA state: folded keys ([`fold::fold`]) in byte order,
/// searched linearly when short.
#[derive(Debug, Clone)]
struct Keys(Vec<(Box<str>, u32)>);

impl Keys {
    /// The transition for `key`, a [`fold::lookup_form`]: compared as if folded.
    #[inline]
    fn get(&self, key: &str) -> Option<u32> {
        if self.0.len() <= 8 {
            // Short keys: an inline byte comparison beats a call to `memcmp`.
            self.0
                .iter()
                .find(|(k, _)| fold::eq_folded(k, key))
                .map(|e| e.1)
        } else {
            self.0
                .binary_search_by(|(k, _)| fold::cmp_folded(k, key))
                .ok()
                .and_then(|i| self.0.get(i))
                .map(|e| e.1)
        }
    }
}

/// One DFA state.
#[derive(Debug, Clone)]
struct State<L> {
    keys: Keys,
    other_key: u32,
    element: u32,
    element_each: bool,
    label: L,
}

/// A deterministic path automaton; state 0 is the root.
#[derive(Debug, Clone)]
pub(crate) struct Dfa<L> {
    states: Vec<State<L>>,
}

/// The DFA had more states than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooComplex;

impl<L: Clone> Dfa<L> {
    /// Subset construction from `roots`. `label` computes a state's label from its node
    /// set (with [`Nfa::closure`] applied). At most `max_states` states are built.
    pub fn build(
        nfa: &Nfa,
        roots: &[NodeId],
        label: impl Fn(&Nfa, &[NodeId]) -> L,
        max_states: usize,
    ) -> Result<Self, TooComplex> {
        let mut ids: HashMap<Vec<NodeId>, u32> = HashMap::new();
        let mut sets: Vec<Vec<NodeId>> = Vec::new();
        let mut queue: VecDeque<u32> = VecDeque::new();
        let mut intern =
            |set: Vec<NodeId>, sets: &mut Vec<Vec<NodeId>>, queue: &mut VecDeque<u32>| {
                if let Some(&id) = ids.get(&set) {
                    return Ok(id);
                }
                if sets.len() >= max_states {
                    return Err(TooComplex);
                }
                let id = u32::try_from(sets.len()).map_err(|_| TooComplex)?;
                ids.insert(set.clone(), id);
                sets.push(set);
                queue.push_back(id);
                Ok(id)
            };
        let mut root: Vec<NodeId> = roots.to_vec();
        root.sort_unstable();
        root.dedup();
        intern(root, &mut sets, &mut queue)?;
        let mut states: Vec<State<L>> = Vec::new();
        while let Some(id) = queue.pop_front() {
            let set = sets.get(id as usize).cloned().unwrap_or_default();
            let closed = nfa.closure(&set);
            let nodes: Vec<&Node> = closed.iter().filter_map(|&n| nfa.get(n)).collect();
            let any: BTreeSet<NodeId> = nodes.iter().filter_map(|n| n.any).collect();
            // Keys that fold alike are one transition, to the union of their children.
            let mut literal: BTreeMap<String, BTreeSet<NodeId>> = BTreeMap::new();
            for n in &nodes {
                for (k, child) in &n.keys {
                    literal.entry(fold::fold(k)).or_default().insert(*child);
                }
            }
            let mut keys = Vec::with_capacity(literal.len());
            for (key, children) in literal {
                let mut next = any.clone();
                next.extend(children);
                let next = intern(next.into_iter().collect(), &mut sets, &mut queue)?;
                keys.push((key.into_boxed_str(), next));
            }
            let other_key = intern(any.into_iter().collect(), &mut sets, &mut queue)?;
            let mut element_each = false;
            let mut elem: BTreeSet<NodeId> = BTreeSet::new();
            for &n in &set {
                let Some(node) = nfa.get(n) else { continue };
                if let Some(next) = node.each {
                    element_each = true;
                    elem.insert(next);
                }
                if node.expects_key() || node.end {
                    elem.insert(n);
                }
            }
            let element = intern(elem.into_iter().collect(), &mut sets, &mut queue)?;
            states.push(State {
                keys: Keys(keys),
                other_key,
                element,
                element_each,
                label: label(nfa, &closed),
            });
        }
        Ok(Dfa { states })
    }
}

impl<L> Dfa<L> {
    /// The state after member `key` (decoded) from state `s`. Keys compare folded
    /// ([`fold`]): `Mother`, `MOTHER` and `mother` take the same transition.
    #[inline]
    pub fn member(&self, s: u32, key: &str) -> u32 {
        let Some(st) = self.states.get(s as usize) else {
            return s;
        };
        if st.keys.0.is_empty() {
            return st.other_key;
        }
        st.keys.get(&fold::lookup_form(key)).unwrap_or(st.other_key)
    }

    /// The state of each element of an array in state `s`, and whether the transition
    /// consumed a `[*]` (the element is a removal point).
    #[inline]
    pub fn element(&self, s: u32) -> (u32, bool) {
        self.states
            .get(s as usize)
            .map_or((s, false), |st| (st.element, st.element_each))
    }

    /// The label of state `s` (`None` only for an id this automaton never produced).
    #[inline]
    pub fn label(&self, s: u32) -> Option<&L> {
        self.states.get(s as usize).map(|st| &st.label)
    }
}
