//! Account-id paths compiled into the shared path automaton ([`crate::json::dfa`]).

use super::AccountError;
use crate::json::dfa::{Dfa, Nfa, NodeId};
use crate::json::path::PathStep;

/// Most automaton states one rule may compile to.
const MAX_STATES: usize = 4096;

/// Group of id paths.
const IDS: usize = 0;
/// Group of owner paths.
const OWNERS: usize = 1;

/// What the automaton says about a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct IdLabel {
    /// The value is an account id (an array here is a list of ids).
    pub id: bool,
    /// The value is an owner field to hide unless the caller may see it.
    pub owner: bool,
    /// No path continues here or below: nothing inside needs looking at.
    pub dead: bool,
}

/// Compiles id paths and owner paths into one automaton.
pub(super) fn compile(
    ids: &[Vec<PathStep>],
    owners: &[Vec<PathStep>],
) -> Result<Dfa<IdLabel>, AccountError> {
    let mut nfa = Nfa::default();
    let mut roots = Vec::new();
    for (group, paths) in [(IDS, ids), (OWNERS, owners)] {
        let root = nfa.node(group);
        roots.push(root);
        for steps in paths {
            let end = nfa.add_path(root, steps);
            if let Some(node) = nfa.nodes.get_mut(end) {
                node.end = true;
            }
        }
    }
    Dfa::build(&nfa, &roots, label, MAX_STATES).map_err(|_| AccountError::TooComplex)
}

fn label(nfa: &Nfa, set: &[NodeId]) -> IdLabel {
    let mut out = IdLabel {
        dead: true,
        ..IdLabel::default()
    };
    for node in set.iter().filter_map(|&id| nfa.nodes.get(id)) {
        out.id |= node.end && node.group == IDS;
        out.owner |= node.end && node.group == OWNERS;
        out.dead &=
            !(node.end || node.any.is_some() || node.each.is_some() || !node.keys.is_empty());
    }
    out
}
