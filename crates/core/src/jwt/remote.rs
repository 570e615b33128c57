//! A provider's remote JWKS: the key state that the gateway adapter drives, with no
//! proxy-wasm in it. It answers "what to fetch next and when" ([`RemoteKeys::poll`],
//! [`RemoteKeys::next_event`]), takes a fetch's answer ([`RemoteKeys::on_response`]),
//! and holds the live key set that verification consults ([`RemoteKeys::keys`]).
//!
//! Rules:
//! - the first fetch is due at once; after a good answer the next is due after the
//!   configured cache duration; after a failure, retries back off from
//!   `refetch_min_interval` (at least 1 s), doubling, up to the cache duration;
//! - a failed or garbage answer never replaces the last good key set (stale on error);
//! - a token with an unknown `kid` (or any token while no key set was ever fetched) may
//!   ask for one early re-fetch ([`RemoteKeys::request_refetch`]), at most one per
//!   `refetch_min_interval`, and never two at once;
//! - a fetch whose answer never arrives counts as failed after its timeout.
//!
//! Times are milliseconds since the epoch, passed in, so every rule is tested natively.

use super::config::RemoteJwksConfig;
use super::keys::KeySet;
use sha2::{Digest, Sha256};
use std::rc::Rc;

/// Largest JWKS body accepted.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Extra time past a fetch's timeout before a missing answer counts as a failure (the
/// gateway answers every dispatched call itself, with a failure at the latest at its
/// timeout; this only guards against a lost callback).
const LOST_ANSWER_SLACK_MS: u64 = 1000;

/// A compiled `remote_jwks` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSource {
    /// Envoy cluster (Kong: `host[:port]`).
    pub cluster: String,
    /// Request path.
    pub path: String,
    /// `:authority` of the request.
    pub authority: String,
    /// Cache duration, ms.
    pub cache_ms: u64,
    /// Fetch timeout, ms.
    pub timeout_ms: u64,
    /// Shortest time between two on-demand fetches, ms.
    pub min_interval_ms: u64,
}

impl RemoteSource {
    /// Validates a `remote_jwks` setting; the error names the field.
    pub fn compile(c: &RemoteJwksConfig) -> Result<Self, String> {
        let clean =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if !clean(&c.cluster) {
            return Err("remote_jwks.cluster: must be a non-empty cluster name".into());
        }
        if !c.path.starts_with('/') || !clean(&c.path) {
            return Err("remote_jwks.path: must start with `/` and have no spaces".into());
        }
        let authority = c.authority.clone().unwrap_or_else(|| c.cluster.clone());
        if !clean(&authority) {
            return Err("remote_jwks.authority: must be a host name".into());
        }
        if c.cache_duration_seconds == 0 || c.cache_duration_seconds > 7 * 86_400 {
            return Err("remote_jwks.cache_duration_seconds: must be 1 to 604800".into());
        }
        if c.timeout_ms == 0 || c.timeout_ms > 60_000 {
            return Err("remote_jwks.timeout_ms: must be 1 to 60000".into());
        }
        if c.refetch_min_interval_seconds > 86_400 {
            return Err("remote_jwks.refetch_min_interval_seconds: must be at most 86400".into());
        }
        Ok(RemoteSource {
            cluster: c.cluster.clone(),
            path: c.path.clone(),
            authority,
            cache_ms: c.cache_duration_seconds * 1000,
            timeout_ms: c.timeout_ms,
            min_interval_ms: c.refetch_min_interval_seconds * 1000,
        })
    }

    /// How long a request may wait for a fetch of this source to end: the fetch's own
    /// timeout, plus a margin for the timer that starts it and for a lost answer.
    pub fn max_wait_ms(&self) -> u64 {
        self.timeout_ms + 2 * LOST_ANSWER_SLACK_MS
    }
}

/// An HTTP GET for the gateway to make (`dispatch_http_call`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Cluster (Kong: `host[:port]`).
    pub upstream: String,
    /// Request headers, pseudo-headers first.
    pub headers: Vec<(String, String)>,
    /// Timeout, ms.
    pub timeout_ms: u64,
}

/// What an answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The answer's key set is in use. `changed`: it differs from the one before (cached
    /// verifications of the provider are to be forgotten). `skipped`: unusable keys.
    Updated {
        /// Keys in use.
        keys: usize,
        /// The key set differs from the previous one.
        changed: bool,
        /// Keys left out, with why.
        skipped: Vec<String>,
    },
    /// The same document as last time: nothing changed but the time of the next fetch.
    Unchanged,
    /// The fetch failed; the last good key set (if any) keeps serving.
    Failed {
        /// Why (status, transport failure, or what is wrong with the document).
        reason: String,
        /// A key set from an earlier fetch is still in use.
        stale_keys_kept: bool,
    },
    /// No fetch was in flight: the answer is ignored.
    Ignored,
}

/// The answer to [`RemoteKeys::request_refetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refetch {
    /// A fetch was asked for; it starts at the next [`RemoteKeys::poll`] (which the
    /// adapter should run soon). The request may wait for it.
    Requested,
    /// A fetch is already asked for or in flight. The request may wait for it.
    Pending,
    /// Too soon after the last fetch: the request is answered with what there is.
    RateLimited,
}

/// One provider's remote key state.
#[derive(Clone)]
pub struct RemoteKeys {
    source: RemoteSource,
    keys: Option<Rc<KeySet>>,
    digest: Option<[u8; 32]>,
    fetched_at: Option<u64>,
    in_flight: Option<u64>,
    last_start: Option<u64>,
    wanted: bool,
    failures: u32,
    next_due: u64,
    last_error: Option<String>,
}

impl RemoteKeys {
    /// No key set yet; the first fetch is due at once.
    pub fn new(source: RemoteSource) -> Self {
        RemoteKeys {
            source,
            keys: None,
            digest: None,
            fetched_at: None,
            in_flight: None,
            last_start: None,
            wanted: false,
            failures: 0,
            next_due: 0,
            last_error: None,
        }
    }

    /// The setting this state fetches.
    pub fn source(&self) -> &RemoteSource {
        &self.source
    }

    /// The live key set: the last good one, if any fetch ever succeeded.
    pub fn keys(&self) -> Option<Rc<KeySet>> {
        self.keys.clone()
    }

    /// True when a key set is known and has a key with this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.as_ref().is_some_and(|k| k.has_kid(kid))
    }

    /// A fetch is asked for or in flight: a waiting request should go on waiting.
    pub fn is_pending(&self) -> bool {
        self.in_flight.is_some() || self.wanted
    }

    /// Consecutive failed fetches.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Why the last fetch failed, while it is the latest news.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// When the key set in use was fetched (ms), if ever.
    pub fn fetched_at(&self) -> Option<u64> {
        self.fetched_at
    }

    fn rate_allows(&self, now: u64) -> bool {
        self.last_start
            .is_none_or(|t| now >= t.saturating_add(self.source.min_interval_ms))
    }

    /// Asks for an early fetch because a token needs a key this state does not have.
    pub fn request_refetch(&mut self, now: u64) -> Refetch {
        if self.is_pending() {
            return Refetch::Pending;
        }
        if self.rate_allows(now) {
            self.wanted = true;
            return Refetch::Requested;
        }
        Refetch::RateLimited
    }

    /// Starts a fetch if one is due at `now` (first fetch, refresh, retry, or an asked-for
    /// re-fetch), returning what to send. The state is then in flight until
    /// [`on_response`](Self::on_response). A fetch in flight for longer than its timeout
    /// plus a margin counts as failed first.
    pub fn poll(&mut self, now: u64) -> Option<FetchRequest> {
        if let Some(started) = self.in_flight {
            let lost_at = started
                .saturating_add(self.source.timeout_ms)
                .saturating_add(LOST_ANSWER_SLACK_MS);
            if now < lost_at {
                return None;
            }
            self.in_flight = None;
            self.fail(now, "no answer from the gateway".into());
        }
        let due = now >= self.next_due || (self.wanted && self.rate_allows(now));
        if !due {
            return None;
        }
        self.wanted = false;
        self.in_flight = Some(now);
        self.last_start = Some(now);
        Some(FetchRequest {
            upstream: self.source.cluster.clone(),
            headers: vec![
                (":method".into(), "GET".into()),
                (":path".into(), self.source.path.clone()),
                (":authority".into(), self.source.authority.clone()),
                (
                    "accept".into(),
                    "application/jwk-set+json, application/json".into(),
                ),
            ],
            timeout_ms: self.source.timeout_ms,
        })
    }

    /// Milliseconds from `now` until [`poll`](Self::poll) may have something to do.
    pub fn next_event(&self, now: u64) -> u64 {
        if let Some(started) = self.in_flight {
            return started
                .saturating_add(self.source.timeout_ms)
                .saturating_add(LOST_ANSWER_SLACK_MS)
                .saturating_sub(now);
        }
        let mut due = self.next_due;
        if self.wanted {
            let allowed = self
                .last_start
                .map_or(0, |t| t.saturating_add(self.source.min_interval_ms));
            due = due.min(allowed);
        }
        due.saturating_sub(now)
    }

    /// Takes the answer to the fetch in flight: `status` is `None` when the call failed
    /// (connection refused, reset, timeout).
    pub fn on_response(&mut self, now: u64, status: Option<u16>, body: &[u8]) -> FetchOutcome {
        if self.in_flight.take().is_none() {
            return FetchOutcome::Ignored;
        }
        let failure = match status {
            Some(200) => None,
            Some(code) => Some(format!("HTTP status {code}")),
            None => Some("no response (connection failed, reset or timed out)".into()),
        };
        if let Some(reason) = failure {
            return self.fail(now, reason);
        }
        if body.len() > MAX_JWKS_BYTES {
            return self.fail(
                now,
                format!("document is larger than {MAX_JWKS_BYTES} bytes"),
            );
        }
        let digest: [u8; 32] = Sha256::digest(body).into();
        if self.keys.is_some() && self.digest == Some(digest) {
            self.succeed(now);
            return FetchOutcome::Unchanged;
        }
        match KeySet::from_remote_jwks(body) {
            Ok((set, skipped)) => {
                let changed = self.keys.is_some();
                let keys = set.len();
                self.keys = Some(Rc::new(set));
                self.digest = Some(digest);
                self.succeed(now);
                FetchOutcome::Updated {
                    keys,
                    changed,
                    skipped: skipped.iter().map(ToString::to_string).collect(),
                }
            }
            Err(err) => self.fail(now, err.to_string()),
        }
    }

    fn succeed(&mut self, now: u64) {
        self.fetched_at = Some(now);
        self.failures = 0;
        self.last_error = None;
        self.next_due = now.saturating_add(self.source.cache_ms);
    }

    fn fail(&mut self, now: u64, reason: String) -> FetchOutcome {
        self.failures = self.failures.saturating_add(1);
        let base = self.source.min_interval_ms.max(1000);
        let cap = self.source.cache_ms.max(base);
        let shift = self.failures.saturating_sub(1).min(20);
        let delay = base.saturating_mul(1u64 << shift).min(cap);
        self.next_due = now.saturating_add(delay);
        self.last_error = Some(reason.clone());
        FetchOutcome::Failed {
            reason,
            stale_keys_kept: self.keys.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RSA_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";

    fn jwks(kids: &[&str]) -> Vec<u8> {
        let keys: Vec<_> = kids
            .iter()
            .map(|kid| json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": RSA_N, "e": "AQAB"}))
            .collect();
        serde_json::to_vec(&json!({ "keys": keys })).unwrap()
    }

    fn state() -> RemoteKeys {
        RemoteKeys::new(
            RemoteSource::compile(&RemoteJwksConfig {
                cluster: "idp".into(),
                path: "/jwks".into(),
                authority: None,
                cache_duration_seconds: 600,
                timeout_ms: 2000,
                refetch_min_interval_seconds: 30,
            })
            .unwrap(),
        )
    }

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn the_first_fetch_is_due_at_once_and_names_the_cluster_path_and_authority() {
        let mut s = state();
        assert_eq!(s.next_event(T0), 0);
        let req = s.poll(T0).unwrap();
        assert_eq!(req.upstream, "idp");
        assert!(req.headers.contains(&(":path".into(), "/jwks".into())));
        assert!(req.headers.contains(&(":authority".into(), "idp".into())));
        assert_eq!(req.timeout_ms, 2000);
        assert!(s.is_pending());
        assert!(s.poll(T0 + 10).is_none(), "never two fetches at once");
        assert!(s.keys().is_none());
    }

    #[test]
    fn a_good_answer_is_used_until_the_cache_duration_then_refetched() {
        let mut s = state();
        s.poll(T0).unwrap();
        let out = s.on_response(T0 + 5, Some(200), &jwks(&["k1"]));
        assert_eq!(
            out,
            FetchOutcome::Updated {
                keys: 1,
                changed: false,
                skipped: vec![]
            }
        );
        assert!(s.has_kid("k1") && !s.has_kid("k2"));
        assert!(!s.is_pending());
        assert_eq!(s.next_event(T0 + 5), 600_000);
        assert!(s.poll(T0 + 599_000).is_none());
        assert!(s.poll(T0 + 600_005).is_some());
        assert_eq!(
            s.on_response(T0 + 600_010, Some(200), &jwks(&["k1"])),
            FetchOutcome::Unchanged
        );
        s.poll(T0 + 1_200_010).unwrap();
        let out = s.on_response(T0 + 1_200_020, Some(200), &jwks(&["k2"]));
        assert!(matches!(out, FetchOutcome::Updated { changed: true, .. }));
        assert!(
            s.has_kid("k2") && !s.has_kid("k1"),
            "rotation replaces the set"
        );
    }

    #[test]
    fn failures_and_garbage_keep_the_last_good_set_and_back_off() {
        let mut s = state();
        s.poll(T0).unwrap();
        s.on_response(T0, Some(200), &jwks(&["k1"]));
        let t = T0 + 600_000;
        for (i, (status, body)) in [
            (None, &b""[..]),
            (Some(503), &b"down"[..]),
            (Some(200), &b"<html>not json</html>"[..]),
            (Some(200), &br#"{"keys": []}"#[..]),
            (
                Some(200),
                &br#"{"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}"#[..],
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let now = s.next_event(t) + t + i as u64 * 10_000_000;
            assert!(s.poll(now).is_some(), "attempt {i}");
            match s.on_response(now, status, body) {
                FetchOutcome::Failed {
                    stale_keys_kept, ..
                } => assert!(stale_keys_kept),
                other => panic!("attempt {i}: {other:?}"),
            }
            assert!(s.has_kid("k1"), "attempt {i}: last good set kept");
            assert!(s.last_error().is_some());
        }
        assert_eq!(s.failures(), 5);
    }

    #[test]
    fn retries_back_off_from_the_min_interval_up_to_the_cache_duration() {
        let mut s = state();
        let mut now = T0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            s.poll(now).unwrap();
            s.on_response(now, None, b"");
            let d = s.next_event(now);
            delays.push(d / 1000);
            now += d;
        }
        assert_eq!(delays, vec![30, 60, 120, 240, 480, 600, 600, 600]);
        s.poll(now).unwrap();
        s.on_response(now, Some(200), &jwks(&["k1"]));
        assert_eq!(s.failures(), 0);
        assert_eq!(s.next_event(now), 600_000);
    }

    #[test]
    fn an_unknown_kid_asks_for_one_rate_limited_refetch() {
        let mut s = state();
        s.poll(T0).unwrap();
        s.on_response(T0, Some(200), &jwks(&["k1"]));
        let t = T0 + 60_000;
        assert_eq!(s.request_refetch(t), Refetch::Requested);
        assert_eq!(s.request_refetch(t), Refetch::Pending);
        assert_eq!(s.next_event(t), 0);
        assert!(s.poll(t).is_some());
        assert_eq!(s.request_refetch(t + 1), Refetch::Pending);
        s.on_response(t + 2, Some(200), &jwks(&["k1", "k2"]));
        assert!(s.has_kid("k2"));
        assert_eq!(s.request_refetch(t + 10_000), Refetch::RateLimited);
        assert!(s.poll(t + 10_000).is_none());
        assert_eq!(s.request_refetch(t + 30_000), Refetch::Requested);
        assert!(s.poll(t + 30_000).is_some());
    }

    #[test]
    fn a_wanted_refetch_waits_for_the_rate_limit_when_the_timer_runs_first() {
        let mut s = state();
        s.poll(T0).unwrap();
        s.on_response(T0, Some(200), &jwks(&["k1"]));
        // The timer's refresh ran at T0 + 600 s: the on-demand window restarts from it.
        s.poll(T0 + 600_000).unwrap();
        s.on_response(T0 + 600_001, Some(200), &jwks(&["k1"]));
        assert_eq!(s.request_refetch(T0 + 610_000), Refetch::RateLimited);
        assert_eq!(s.request_refetch(T0 + 630_000), Refetch::Requested);
        assert_eq!(s.next_event(T0 + 630_000), 0);
    }

    #[test]
    fn a_lost_answer_counts_as_a_failure_after_the_timeout() {
        let mut s = state();
        s.poll(T0).unwrap();
        assert_eq!(s.next_event(T0), 3000);
        assert!(s.poll(T0 + 2999).is_none());
        assert!(s.poll(T0 + 3000).is_none(), "failed, retry not yet due");
        assert_eq!(s.failures(), 1);
        assert_eq!(
            s.on_response(T0 + 3001, Some(200), &jwks(&["k"])),
            FetchOutcome::Ignored
        );
        assert!(s.keys().is_none());
    }

    #[test]
    fn before_any_key_set_a_request_may_ask_for_a_fetch_once_per_interval() {
        let mut s = state();
        s.poll(T0).unwrap();
        assert_eq!(s.request_refetch(T0 + 1), Refetch::Pending);
        s.on_response(T0 + 2, None, b"");
        assert!(s.keys().is_none());
        assert_eq!(s.request_refetch(T0 + 3), Refetch::RateLimited);
        assert_eq!(s.request_refetch(T0 + 30_000), Refetch::Requested);
        s.poll(T0 + 30_000).unwrap();
        s.on_response(T0 + 30_001, Some(200), &jwks(&["k1"]));
        assert!(s.has_kid("k1"));
    }

    #[test]
    fn remote_documents_skip_unusable_keys_but_refuse_duplicates_and_symmetric_keys() {
        let body = serde_json::to_vec(&json!({"keys": [
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": RSA_N, "e": "AQAB"},
            {"kty": "XYZ", "kid": "odd"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "sig", "alg": "RS256", "n": RSA_N, "e": "AQAB"},
        ]}))
        .unwrap();
        let (set, skipped) = KeySet::from_remote_jwks(&body).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.has_kid("sig") && !set.has_kid("hmac"));
        assert_eq!(skipped.len(), 3);
        let dup = jwks(&["a", "a"]);
        assert!(KeySet::from_remote_jwks(&dup).is_err());
        assert!(KeySet::from_remote_jwks(b"{\"keys\": 1}").is_err());
    }

    #[test]
    fn settings_are_validated() {
        let ok = RemoteJwksConfig {
            cluster: "idp".into(),
            path: "/jwks".into(),
            authority: Some("idp.example.com".into()),
            cache_duration_seconds: 600,
            timeout_ms: 2000,
            refetch_min_interval_seconds: 30,
        };
        assert_eq!(
            RemoteSource::compile(&ok).unwrap().authority,
            "idp.example.com"
        );
        let mut bad = ok.clone();
        bad.path = "jwks".into();
        assert!(RemoteSource::compile(&bad).unwrap_err().contains("path"));
        let mut bad = ok.clone();
        bad.cluster = String::new();
        assert!(RemoteSource::compile(&bad).unwrap_err().contains("cluster"));
        let mut bad = ok;
        bad.timeout_ms = 0;
        assert!(RemoteSource::compile(&bad)
            .unwrap_err()
            .contains("timeout_ms"));
    }
}
