//! Within-segment glob patterns (`x*y`, `locations*`, `*`) and an index that finds the
//! patterns matching a segment without trying them all, plus the hash map the trie uses.
//!
//! Hashing is a word-at-a-time multiplicative hash rather than std's SipHash: keys come from
//! configuration and requirements from route configuration (no flooding concern), it is
//! several times faster on short segments, and it needs no random seed inside the wasm
//! sandbox.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A word-at-a-time multiplicative hash (the `FxHash` scheme): 8 bytes per multiply, so a
/// 20-byte segment costs three rounds instead of twenty.
#[derive(Clone, Copy, Default)]
pub(super) struct WordHash(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHash {
    fn round(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHash {
    fn finish(&self) -> u64 {
        // hashbrown takes the bucket from the low bits and a tag from the top 7: spread both.
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.round(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            self.round(u64::from_le_bytes(word) ^ ((tail.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.round(u64::from(byte));
    }
}

/// A hash map hashed with [`WordHash`].
pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHash>>;

/// A pattern with at least one `*`, matched against one whole segment; `*` matches any
/// characters (possibly none). Stored as the literal pieces between the stars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Glob {
    pieces: Vec<Box<str>>,
}

impl Glob {
    /// Compiles `pattern` (which contains `*`, never `**`).
    pub(super) fn new(pattern: &str) -> Self {
        Glob {
            pieces: pattern.split('*').map(Box::from).collect(),
        }
    }

    /// Whether the whole of `text` matches: the first piece is a prefix, the last a suffix,
    /// the middle ones appear in order in between (leftmost-first is exact for `*`-only
    /// patterns).
    pub(super) fn matches(&self, text: &str) -> bool {
        let Some((first, rest)) = self.pieces.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return text == &**first;
        };
        if text.len() < first.len() + last.len()
            || !text.starts_with(&**first)
            || !text.ends_with(&**last)
        {
            return false;
        }
        let Some(mut inner) = text.get(first.len()..text.len() - last.len()) else {
            return false;
        };
        for piece in middle {
            match inner.find(&**piece) {
                Some(i) => inner = inner.get(i + piece.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        true
    }

    fn first(&self) -> &str {
        self.pieces.first().map_or("", |p| p)
    }

    fn last(&self) -> &str {
        self.pieces.last().map_or("", |p| p)
    }
}

/// Globs with a value each, bucketed by their literal prefix (or, when they start with `*`,
/// their literal suffix) so that a segment is only tried against the globs whose fixed part
/// it actually has: one lookup per distinct prefix/suffix length present, then the bucket.
#[derive(Debug, Clone)]
pub(super) struct GlobIndex<T> {
    by_prefix: FastMap<Box<str>, Vec<(Glob, T)>>,
    prefix_lens: Vec<usize>,
    by_suffix: FastMap<Box<str>, Vec<(Glob, T)>>,
    suffix_lens: Vec<usize>,
    other: Vec<(Glob, T)>,
    /// Exact pattern text to value, for [`GlobIndex::get_or_insert`] (glob children).
    by_text: FastMap<Box<str>, T>,
}

impl<T> Default for GlobIndex<T> {
    fn default() -> Self {
        GlobIndex {
            by_prefix: FastMap::default(),
            prefix_lens: Vec::new(),
            by_suffix: FastMap::default(),
            suffix_lens: Vec::new(),
            other: Vec::new(),
            by_text: FastMap::default(),
        }
    }
}

impl<T> GlobIndex<T> {
    /// The bucket `glob` belongs in, created if missing.
    fn bucket(&mut self, glob: &Glob) -> &mut Vec<(Glob, T)> {
        let (first, last) = (glob.first(), glob.last());
        let (map, lens, key) = if !first.is_empty() {
            (&mut self.by_prefix, &mut self.prefix_lens, first)
        } else if !last.is_empty() {
            (&mut self.by_suffix, &mut self.suffix_lens, last)
        } else {
            return &mut self.other;
        };
        if let Err(at) = lens.binary_search(&key.len()) {
            lens.insert(at, key.len());
        }
        map.entry(key.into()).or_default()
    }

    /// Adds `pattern` with `value`.
    pub(super) fn push(&mut self, pattern: &str, value: T) {
        let glob = Glob::new(pattern);
        self.bucket(&glob).push((glob, value));
    }

    /// The value stored for exactly `pattern`, or `value` stored for it; the flag says
    /// whether `value` was inserted.
    pub(super) fn get_or_insert(&mut self, pattern: &str, value: T) -> (T, bool)
    where
        T: Copy,
    {
        if let Some(existing) = self.by_text.get(pattern) {
            return (*existing, false);
        }
        self.by_text.insert(pattern.into(), value);
        self.push(pattern, value);
        (value, true)
    }

    /// Calls `f` with the value of every glob matching `segment`; stops when `f` returns
    /// `false`.
    pub(super) fn for_each_match(&self, segment: &str, mut f: impl FnMut(&T) -> bool) {
        let mut candidates = self
            .prefix_lens
            .iter()
            .filter_map(|&len| segment.get(..len).and_then(|p| self.by_prefix.get(p)));
        let from_prefix = candidates.try_for_each(|bucket| visit(bucket, segment, &mut f));
        if from_prefix.is_none() {
            return;
        }
        let from_suffix = self.suffix_lens.iter().try_for_each(|&len| {
            match segment
                .len()
                .checked_sub(len)
                .and_then(|at| segment.get(at..))
                .and_then(|s| self.by_suffix.get(s))
            {
                Some(bucket) => visit(bucket, segment, &mut f),
                None => Some(()),
            }
        });
        if from_suffix.is_none() {
            return;
        }
        let _ = visit(&self.other, segment, &mut f);
    }
}

/// Tries every glob of `bucket`; `None` when `f` asked to stop.
fn visit<T>(bucket: &[(Glob, T)], segment: &str, f: &mut impl FnMut(&T) -> bool) -> Option<()> {
    for (glob, value) in bucket {
        if glob.matches(segment) && !f(value) {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_within_a_segment() {
        let g = Glob::new("x*y*z");
        assert!(g.matches("xyz"));
        assert!(g.matches("x1y2z"));
        assert!(!g.matches("xz"));
        assert!(!g.matches("xyzq"));
        assert!(Glob::new("*").matches("anything"));
        assert!(!Glob::new("ab*ba").matches("aba"));
    }

    #[test]
    fn index_finds_prefix_suffix_and_other_globs() {
        let mut index = GlobIndex::default();
        for (i, p) in ["loc*", "*tion", "*", "l*n", "x*", "*q"].iter().enumerate() {
            assert_eq!(index.get_or_insert(p, i), (i, true));
        }
        let mut found = Vec::new();
        index.for_each_match("location", |v| {
            found.push(*v);
            true
        });
        found.sort_unstable();
        assert_eq!(found, [0, 1, 2, 3]);
        assert_eq!(index.get_or_insert("l*n", 9), (3, false));
        assert_eq!(index.get_or_insert("l*m", 9), (9, true));
    }
}
