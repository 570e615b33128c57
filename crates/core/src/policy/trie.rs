//! The segment trie behind [`super::GrantSet`]: one per grammar, built once from the grants,
//! walked once per decision.
//!
//! Each node holds, for the requirement segment at its depth:
//! - `exact`: children by exact segment text (one hash lookup);
//! - `globs`: children whose segment pattern has a `*` inside (`x*y`, `*`), matched within
//!   the segment only;
//! - `rest`: grants whose last segment ends with `*` (`locations*`, `*`), which match the
//!   segment and everything after it, separators included;
//! - `ends`: grants whose last segment is this node.
//!
//! Glob children and rest grants are kept in a [`GlobIndex`], bucketed by literal prefix or
//! suffix, so a decision costs one lookup per requirement segment plus a few bucket lookups,
//! never a pass over every grant.

pub(super) use super::glob::FastMap;
use super::glob::GlobIndex;

#[derive(Debug, Clone, Default)]
struct Node {
    exact: FastMap<Box<str>, u32>,
    /// Boxed and optional: most nodes have no glob (keeps a node at ~70 bytes).
    globs: Option<Box<GlobIndex<u32>>>,
    rest: Option<Box<GlobIndex<u32>>>,
    ends: Vec<u32>,
}

/// A segment trie for one grammar; node 0 is the root.
#[derive(Debug, Clone)]
pub(super) struct Trie {
    separator: u8,
    nodes: Vec<Node>,
}

impl Trie {
    /// An empty trie for names separated by `separator` (an ASCII byte).
    pub(super) fn new(separator: u8) -> Self {
        Trie {
            separator,
            nodes: vec![Node::default()],
        }
    }

    /// Adds grant `id` with (validated) name `name`.
    pub(super) fn insert(&mut self, name: &str, id: u32) {
        let mut node = 0usize;
        let mut segments = name.split(char::from(self.separator)).peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() && segment.ends_with('*') {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.rest.get_or_insert_with(Box::default).push(segment, id);
                }
                return;
            }
            node = self.child(node, segment);
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.ends.push(id);
        }
    }

    /// The child of `node` for `segment`, created if missing.
    fn child(&mut self, node: usize, segment: &str) -> usize {
        let next = self.nodes.len() as u32;
        let Some(n) = self.nodes.get_mut(node) else {
            return 0;
        };
        let (child, created) = if segment.contains('*') {
            n.globs
                .get_or_insert_with(Box::default)
                .get_or_insert(segment, next)
        } else {
            match n.exact.get(segment) {
                Some(&child) => (child, false),
                None => {
                    n.exact.insert(segment.into(), next);
                    (next, true)
                }
            }
        };
        if created {
            self.nodes.push(Node::default());
        }
        child as usize
    }

    /// Feeds `sink` the ids of every grant matching the requirement name `name` (same
    /// grammar, already validated), stopping early once the sink says it is done.
    pub(super) fn collect(&self, name: &str, sink: &mut impl Sink) {
        self.walk(0, name, sink);
    }

    fn walk(&self, node: usize, rest: &str, sink: &mut impl Sink) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        let (segment, tail) = match rest.bytes().position(|b| b == self.separator) {
            Some(at) => (rest.get(..at).unwrap_or_default(), rest.get(at + 1..)),
            None => (rest, None),
        };
        if let Some(rest) = &n.rest {
            rest.for_each_match(segment, |&id| {
                sink.add(&[id]);
                !sink.done()
            });
        }
        if sink.done() {
            return;
        }
        if let Some(&child) = n.exact.get(segment) {
            self.descend(child as usize, tail, sink);
        }
        if let Some(globs) = &n.globs {
            if sink.done() {
                return;
            }
            globs.for_each_match(segment, |&child| {
                self.descend(child as usize, tail, sink);
                !sink.done()
            });
        }
    }

    fn descend(&self, child: usize, tail: Option<&str>, sink: &mut impl Sink) {
        match tail {
            Some(tail) => self.walk(child, tail, sink),
            None => {
                if let Some(n) = self.nodes.get(child) {
                    sink.add(&n.ends);
                }
            }
        }
    }
}

/// Where a walk puts the grant ids it finds.
pub(super) trait Sink {
    /// Takes matching grant ids (possibly none).
    fn add(&mut self, ids: &[u32]);
    /// True when the walk may stop.
    fn done(&self) -> bool;
}

impl Sink for Vec<u32> {
    fn add(&mut self, ids: &[u32]) {
        self.extend_from_slice(ids);
    }

    fn done(&self) -> bool {
        false
    }
}

/// A sink that only records whether anything matched, and stops at the first match.
#[derive(Debug, Default)]
pub(super) struct AnyMatch(pub(super) bool);

impl Sink for AnyMatch {
    fn add(&mut self, ids: &[u32]) {
        self.0 |= !ids.is_empty();
    }

    fn done(&self) -> bool {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(t: &Trie, name: &str) -> Vec<u32> {
        let mut out = Vec::new();
        t.collect(name, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn trie_collects_exact_glob_and_rest_matches() {
        let mut t = Trie::new(b'/');
        t.insert("a/b/c", 0);
        t.insert("a/*/c", 1);
        t.insert("a/b*", 2);
        t.insert("a/*x*", 3);
        t.insert("a/b/d", 4);
        t.insert("a/*/c", 5);
        assert_eq!(collect(&t, "a/b/c"), [0, 1, 2, 5]);
        assert_eq!(collect(&t, "a/bx"), [2, 3]);
        assert_eq!(collect(&t, "a/q/c"), [1, 5]);
        assert_eq!(collect(&t, "a"), Vec::<u32>::new());
    }

    #[test]
    fn first_only_stops_at_one_match() {
        let mut t = Trie::new(b':');
        t.insert("c:*", 0);
        t.insert("c:o*", 1);
        t.insert("c:*:r", 2);
        let mut any = AnyMatch::default();
        t.collect("c:one:r", &mut any);
        assert!(any.0);
        let mut any = AnyMatch::default();
        t.collect("d:one:r", &mut any);
        assert!(!any.0);
    }
}
