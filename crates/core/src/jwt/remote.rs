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
//! - a fetch whose answer never arrives counts as failed after its timeout;
//! - with OpenID discovery, the issuer's discovery document is fetched first and its
//!   `jwks_uri` gives the key set's path ([`super::discovery`]); a failed key-set fetch
//!   forgets that path, so the next attempt discovers it again.
//!
//! Times are milliseconds since the epoch, passed in, so every rule is tested natively.

use super::config::RemoteJwksConfig;
use super::discovery;
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
    /// Where the key set's path comes from.
    pub location: JwksLocation,
    /// `:authority` of the requests.
    pub authority: String,
    /// Cache duration, ms.
    pub cache_ms: u64,
    /// Fetch timeout, ms.
    pub timeout_ms: u64,
    /// Shortest time between two on-demand fetches, ms.
    pub min_interval_ms: u64,
}

/// Where a provider's key set is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    /// `remote_jwks.path`.
    Path(String),
    /// `remote_jwks.openid_discovery`: the discovery document's path, and the issuer the
    /// document must name.
    Discovery {
        /// `<issuer path>/.well-known/openid-configuration`.
        document_path: String,
        /// The provider's `issuer`.
        issuer: String,
    },
}

impl RemoteSource {
    /// Validates the `remote_jwks` setting of the provider with this `issuer`; the error
    /// names the field.
    pub fn compile(c: &RemoteJwksConfig, issuer: &str) -> Result<Self, String> {
        let clean =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if !clean(&c.cluster) {
            return Err("remote_jwks.cluster: must be a non-empty cluster name".into());
        }
        let (location, default_authority) = match (&c.path, c.openid_discovery) {
            (Some(path), false) => {
                if !path.starts_with('/') || !clean(path) {
                    return Err("remote_jwks.path: must start with `/` and have no spaces".into());
                }
                (JwksLocation::Path(path.clone()), c.cluster.clone())
            }
            (None, true) => {
                let (authority, document_path) = discovery::document_location(issuer)
                    .map_err(|e| format!("remote_jwks.openid_discovery: {e}"))?;
                let location = JwksLocation::Discovery {
                    document_path,
                    issuer: issuer.to_string(),
                };
                (location, authority)
            }
            (Some(_), true) => {
                return Err(
                    "remote_jwks: give either `path` or `openid_discovery`, not both".into(),
                )
            }
            (None, false) => {
                return Err("remote_jwks.path: missing (or set `openid_discovery: true`)".into())
            }
        };
        let authority = c.authority.clone().unwrap_or(default_authority);
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
            location,
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
    /// The discovery document named the key set's path; its fetch is due at once.
    Discovered {
        /// Path (and query) of the `jwks_uri`.
        jwks_path: String,
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
    /// The key set's path: fixed, or discovered (`None` until then).
    jwks_path: Option<String>,
    /// The path of the last fetch started (the key set's, or the discovery document's).
    fetch_path: String,
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
        let jwks_path = match &source.location {
            JwksLocation::Path(path) => Some(path.clone()),
            JwksLocation::Discovery { .. } => None,
        };
        RemoteKeys {
            source,
            jwks_path,
            fetch_path: String::new(),
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

    /// The path of the last fetch started, for log lines.
    pub fn fetch_path(&self) -> &str {
        &self.fetch_path
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
        let (path, accept) = match (&self.jwks_path, &self.source.location) {
            (Some(path), _) => (path, "application/jwk-set+json, application/json"),
            (None, JwksLocation::Discovery { document_path, .. }) => {
                (document_path, "application/json")
            }
            (None, JwksLocation::Path(path)) => (path, "application/json"),
        };
        self.fetch_path = path.clone();
        Some(FetchRequest {
            upstream: self.source.cluster.clone(),
            headers: vec![
                (":method".into(), "GET".into()),
                (":path".into(), path.clone()),
                (":authority".into(), self.source.authority.clone()),
                ("accept".into(), accept.into()),
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
        if self.jwks_path.is_none() {
            return self.on_discovery_document(now, body);
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

    fn on_discovery_document(&mut self, now: u64, body: &[u8]) -> FetchOutcome {
        let JwksLocation::Discovery { issuer, .. } = &self.source.location else {
            return self.fail(now, "no key set path".into());
        };
        match discovery::jwks_path(body, issuer) {
            Ok(path) => {
                self.jwks_path = Some(path.clone());
                self.next_due = now;
                FetchOutcome::Discovered { jwks_path: path }
            }
            Err(reason) => self.fail(now, reason),
        }
    }

    fn succeed(&mut self, now: u64) {
        self.fetched_at = Some(now);
        self.failures = 0;
        self.last_error = None;
        self.next_due = now.saturating_add(self.source.cache_ms);
    }

    fn fail(&mut self, now: u64, reason: String) -> FetchOutcome {
        if matches!(self.source.location, JwksLocation::Discovery { .. }) {
            // The key set may have moved: discover its path again next time.
            self.jwks_path = None;
        }
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
