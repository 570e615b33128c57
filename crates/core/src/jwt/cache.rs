//! A bounded cache of verified tokens, so a repeated token costs a SHA-256 and a map
//! look-up instead of a signature check.
//!
//! Keyed by the SHA-256 of the whole token (the token itself is never stored). An entry
//! is never used at or after the token's `exp` (the skew tolerance is left to the full
//! check), and is dropped when found expired, when room is needed, on [`purge`], and
//! when its provider's keys change ([`TokenCache::forget_provider`]). Tokens without
//! `exp` are not cached. Eviction is CLOCK (second chance), an LRU approximation with
//! O(1) work per hit. The cache lives in one worker's filter (per-worker; see
//! `docs/jwt-performance.md` for why not proxy-wasm shared data).
//!
//! [`purge`]: TokenCache::purge

use super::verify::Verified;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// SHA-256 of a token: the cache key.
pub type TokenHash = [u8; 32];

/// The cache key of `token`.
pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    verified: Rc<Verified>,
    /// Seconds since the epoch at which the entry stops being usable (the token's `exp`).
    expires_at: u64,
    provider: usize,
    /// Matches the entry's current slot in `order`; older slots are stale.
    slot: u64,
    referenced: bool,
}

/// Verified tokens by hash, at most `capacity` of them.
pub struct TokenCache {
    capacity: usize,
    entries: HashMap<TokenHash, Entry>,
    /// Insertion order for CLOCK eviction: (hash, slot). Stale slots are skipped.
    order: VecDeque<(TokenHash, u64)>,
    next_slot: u64,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; `0` caches nothing.
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_slot: 0,
        }
    }

    /// Number of entries held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The verified token for `hash` at `now` (seconds since the epoch), if cached and
    /// not expired. An expired entry is dropped.
    pub fn get(&mut self, hash: &TokenHash, now: u64) -> Option<Rc<Verified>> {
        let entry = self.entries.get_mut(hash)?;
        if now >= entry.expires_at {
            self.entries.remove(hash);
            return None;
        }
        entry.referenced = true;
        Some(entry.verified.clone())
    }

    /// Remembers a token `provider` verified, usable until `expires_at` (its `exp`).
    pub fn insert(
        &mut self,
        hash: TokenHash,
        verified: Rc<Verified>,
        expires_at: u64,
        provider: usize,
        now: u64,
    ) {
        if self.capacity == 0 || now >= expires_at {
            return;
        }
        if let Some(entry) = self.entries.get_mut(&hash) {
            entry.verified = verified;
            entry.expires_at = expires_at;
            entry.provider = provider;
            return;
        }
        while self.entries.len() >= self.capacity {
            self.evict_one(now);
        }
        let slot = self.take_slot();
        self.entries.insert(
            hash,
            Entry {
                verified,
                expires_at,
                provider,
                slot,
                referenced: false,
            },
        );
        self.order.push_back((hash, slot));
        if self.order.len() > 2 * self.capacity + 16 {
            self.compact();
        }
    }

    /// Drops every entry of `provider` (its keys changed: a removed key must not keep
    /// vouching for tokens through the cache).
    pub fn forget_provider(&mut self, provider: usize) {
        self.entries.retain(|_, e| e.provider != provider);
        self.compact();
    }

    /// Drops every expired entry.
    pub fn purge(&mut self, now: u64) {
        let before = self.entries.len();
        self.entries.retain(|_, e| now < e.expires_at);
        if self.entries.len() != before {
            self.compact();
        }
    }

    fn take_slot(&mut self) -> u64 {
        self.next_slot = self.next_slot.wrapping_add(1);
        self.next_slot
    }

    /// Removes one entry: the oldest expired or not recently used one (CLOCK).
    fn evict_one(&mut self, now: u64) {
        // Each referenced entry is passed over at most once (its bit is cleared), so this
        // ends within two rounds of `order`.
        while let Some((hash, slot)) = self.order.pop_front() {
            let Some(entry) = self.entries.get_mut(&hash) else {
                continue;
            };
            if entry.slot != slot {
                continue;
            }
            if entry.referenced && now < entry.expires_at {
                entry.referenced = false;
                let slot = self.next_slot.wrapping_add(1);
                self.next_slot = slot;
                entry.slot = slot;
                self.order.push_back((hash, slot));
                continue;
            }
            self.entries.remove(&hash);
            return;
        }
        // Unreachable while every entry has a slot in `order`; never let the bound slip.
        self.entries.clear();
    }

    fn compact(&mut self) {
        let entries = &self.entries;
        self.order
            .retain(|(hash, slot)| entries.get(hash).is_some_and(|e| e.slot == *slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use serde_json::Map;

    fn verified(sub: &str) -> Rc<Verified> {
        Rc::new(Verified::new(
            Identity {
                provider: "p".into(),
                issuer: "iss".into(),
                subject: Some(sub.into()),
                claims: Map::new(),
            },
            Some(2000),
        ))
    }

    fn subject(v: Option<Rc<Verified>>) -> Option<String> {
        v.and_then(|v| v.identity.subject.clone())
    }

    #[test]
    fn a_cached_token_is_a_hit_until_its_exp() {
        let mut cache = TokenCache::new(4);
        let h = token_hash("a.b.c");
        cache.insert(h, verified("u1"), 2000, 0, 1000);
        assert_eq!(subject(cache.get(&h, 1000)).as_deref(), Some("u1"));
        assert_eq!(subject(cache.get(&h, 1999)).as_deref(), Some("u1"));
        assert!(cache.get(&h, 2000).is_none(), "never used at or past exp");
        assert!(cache.is_empty(), "the expired entry is dropped when found");
        assert!(cache.get(&token_hash("other"), 1000).is_none());
    }

    #[test]
    fn an_already_expired_token_is_not_cached_and_zero_capacity_caches_nothing() {
        let mut cache = TokenCache::new(4);
        cache.insert(token_hash("x"), verified("u"), 1000, 0, 1000);
        assert!(cache.is_empty());
        let mut off = TokenCache::new(0);
        off.insert(token_hash("x"), verified("u"), 2000, 0, 1000);
        assert!(off.is_empty());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut cache = TokenCache::new(8);
        for i in 0..1000 {
            let h = token_hash(&format!("t{i}"));
            cache.insert(h, verified("u"), 2000, 0, 1000);
            if i % 3 == 0 {
                cache.get(&h, 1000);
            }
            assert!(cache.len() <= 8);
            assert!(cache.order.len() <= 2 * 8 + 16);
        }
        assert_eq!(cache.len(), 8);
    }

    #[test]
    fn a_recently_used_entry_survives_eviction_and_an_expired_one_goes_first() {
        let mut cache = TokenCache::new(3);
        let (a, b, c, d) = (
            token_hash("a"),
            token_hash("b"),
            token_hash("c"),
            token_hash("d"),
        );
        cache.insert(a, verified("a"), 2000, 0, 1000);
        cache.insert(b, verified("b"), 2000, 0, 1000);
        cache.insert(c, verified("c"), 2000, 0, 1000);
        assert!(cache.get(&a, 1000).is_some());
        cache.insert(d, verified("d"), 2000, 0, 1000);
        assert!(cache.get(&a, 1000).is_some(), "a was used: second chance");
        assert!(
            cache.get(&b, 1000).is_none(),
            "b is the oldest unused entry"
        );
        assert!(cache.get(&c, 1000).is_some() && cache.get(&d, 1000).is_some());

        let mut cache = TokenCache::new(2);
        cache.insert(a, verified("a"), 1500, 0, 1000);
        cache.insert(b, verified("b"), 2000, 0, 1000);
        cache.get(&a, 1000);
        cache.get(&b, 1000);
        cache.insert(c, verified("c"), 2000, 0, 1600);
        assert!(
            cache.get(&b, 1600).is_some(),
            "the expired entry went, not b"
        );
        assert!(cache.get(&c, 1600).is_some());
    }

    #[test]
    fn purge_and_forget_provider_drop_entries() {
        let mut cache = TokenCache::new(8);
        cache.insert(token_hash("a"), verified("a"), 1500, 0, 1000);
        cache.insert(token_hash("b"), verified("b"), 3000, 1, 1000);
        cache.insert(token_hash("c"), verified("c"), 3000, 0, 1000);
        cache.purge(1600);
        assert_eq!(cache.len(), 2);
        cache.forget_provider(0);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&token_hash("b"), 1600).is_some());
    }
}
