//! The JWT filter's request flow: remove client-sent identity headers, decide from the
//! route whether a token is needed, verify it, and hand the verified identity on
//! (forwarded claim headers for the backend, a gateway property for later filters).

use super::route::{route_entry, Memo};
use super::{deny, Action, Background, Callout, CalloutResponse, Filter, Host, LogContext};
use crate::decision::Denial;
use crate::forwarded::forwarded_value;
use crate::identity::{IDENTITY_HEADER_PREFIX, IDENTITY_PROPERTY};
use crate::jwt::cache::{token_hash, TokenCache};
use crate::jwt::remote::{FetchOutcome, Refetch, RemoteKeys};
use crate::jwt::source::TokenSource;
use crate::jwt::{CompiledJwt, JwtError, Refusal, Verified};
use crate::route::{AuthMode, MethodRequirement, RouteRequirement};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Shortest and longest timer period while some provider has a remote JWKS.
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_TICK: Duration = Duration::from_secs(1);

/// The JWT filter: a compiled configuration, a per-worker memo of route requirements,
/// the live state of each remote JWKS, and the per-worker verified-token cache.
pub struct JwtFilter {
    config: CompiledJwt,
    requirements: Memo<RouteRequirement>,
    /// By provider index; `None` for providers without a remote JWKS.
    remote: RefCell<Vec<Option<RemoteKeys>>>,
    cache: RefCell<TokenCache>,
    wakeup: Cell<bool>,
}

/// Per-request state: set while the request waits for a key fetch.
#[derive(Debug, Default)]
pub struct JwtStream {
    wait: Option<Wait>,
    /// The request already waited once: it does not wait again.
    waited: bool,
}

#[derive(Debug, Clone, Copy)]
struct Wait {
    provider: usize,
    deadline_ms: u64,
}

/// What `run` did.
enum Step {
    Done,
    Wait(Wait),
}

fn millis(time: SystemTime) -> Option<u64> {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
}

impl JwtFilter {
    /// Wraps a compiled configuration.
    pub fn new(config: CompiledJwt) -> Self {
        let remote = config
            .providers()
            .iter()
            .map(|p| p.remote().cloned().map(RemoteKeys::new))
            .collect();
        let cache = TokenCache::new(config.token_cache_entries);
        JwtFilter {
            config,
            requirements: Memo::new(1024),
            remote: RefCell::new(remote),
            cache: RefCell::new(cache),
            wakeup: Cell::new(false),
        }
    }

    /// Parses and compiles a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        CompiledJwt::from_json(bytes)
            .map(Self::new)
            .map_err(|e| e.to_string())
    }

    /// The remote key state of provider `index`, if it has a remote JWKS (for tests and
    /// diagnostics).
    pub fn remote_state(&self, index: usize) -> Option<RemoteKeys> {
        self.remote.borrow().get(index).cloned().flatten()
    }

    /// Number of verified tokens cached.
    pub fn cached_tokens(&self) -> usize {
        self.cache.borrow().len()
    }

    fn auth_mode(&self, host: &dyn Host) -> Result<AuthMode, Denial> {
        let entry = route_entry(host, &self.config.routes)
            .map_err(|e| Denial::internal("host_error", e.to_string()))?;
        let Some(text) = entry.and_then(|e| e.requirement) else {
            // No requirement: validate a token if one is sent; authorization refuses.
            return Ok(AuthMode::Optional);
        };
        let requirement = self
            .requirements
            .get_or_compile(&text, RouteRequirement::parse)
            .map_err(|e| Denial::internal("route_requirement_invalid", e.to_string()))?;
        let method = host
            .request_header(":method")
            .map_err(|e| Denial::internal("host_error", e.to_string()))?
            .unwrap_or_default();
        Ok(match requirement.for_method(&method) {
            MethodRequirement::Applies(r) => r.auth_mode(),
            MethodRequirement::MethodNotAllowed => AuthMode::Optional,
        })
    }

    /// Removes every client-sent `x-portcullis-*` header and every forward header, and
    /// the token's header unless it is to be forwarded.
    fn strip_client_identity(&self, host: &mut dyn Host) -> Result<(), Denial> {
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        let headers = host.request_headers().map_err(host_err)?;
        for (name, _) in headers {
            let name = name.to_ascii_lowercase();
            // `x_portcullis_subject` is `x-portcullis-subject` to CGI-style backends
            // (WSGI, PHP, Rack, nginx `$http_*`): every spelling is removed.
            let spelled = name.replace('_', "-");
            let forged = spelled.starts_with(IDENTITY_HEADER_PREFIX)
                || self
                    .config
                    .forward
                    .iter()
                    .any(|f| f.header.replace('_', "-") == spelled);
            if forged {
                host.set_request_header(&name, None).map_err(host_err)?;
            }
        }
        Ok(())
    }

    fn find_token(&self, host: &dyn Host) -> Option<(String, &TokenSource)> {
        let lookup = |name: &str| host.request_header(name).ok().flatten();
        self.config
            .sources
            .iter()
            .find_map(|s| s.find(&lookup).map(|t| (t, s)))
    }

    fn run(
        &self,
        host: &mut dyn Host,
        log: &mut LogContext,
        stream: &JwtStream,
    ) -> Result<Step, Denial> {
        self.strip_client_identity(host)?;
        let mode = self.auth_mode(host)?;
        if mode == AuthMode::Public {
            return Ok(Step::Done);
        }
        let Some((token, source)) = self.find_token(host) else {
            return match mode {
                AuthMode::Required => Err(unauthorized(&JwtError::Missing)),
                _ => Ok(Step::Done),
            };
        };
        let now_ms = host
            .now()
            .map_err(|e| Denial::internal("clock_unavailable", e.to_string()))
            .and_then(|t| {
                millis(t).ok_or_else(|| Denial::internal("clock_unavailable", "clock before epoch"))
            })?;
        let now = now_ms / 1000;
        let caching =
            self.config.token_cache_entries > 0 && token.len() <= self.config.max_token_bytes;
        let hash = caching.then(|| token_hash(&token));
        let cached = hash.and_then(|h| self.cache.borrow_mut().get(&h, now));
        let verified = match cached {
            Some(verified) => {
                host.count("portcullis_jwt_cache_hit");
                verified
            }
            None => {
                // Whether the gateway's native check answered (counted: it is the
                // fast path, and operators want to see it taken).
                let native_used = std::cell::Cell::new(false);
                let result = {
                    let remote = self.remote.borrow();
                    let keys = |i: usize| {
                        remote
                            .get(i)
                            .and_then(|r| r.as_ref())
                            .and_then(RemoteKeys::keys)
                    };
                    let native = |hash: &str, key: &[u8], signature: &[u8], text: &[u8]| {
                        let answer = host.verify_signature(hash, key, signature, text);
                        native_used.set(native_used.get() || answer.is_some());
                        answer
                    };
                    self.config.verify_with(&token, now, &keys, &native)
                };
                if native_used.get() {
                    host.count("portcullis_jwt_signature_native");
                }
                match result {
                    Ok((verified, provider)) => {
                        let verified = Rc::new(verified);
                        if let (Some(h), Some(exp)) = (hash, verified.expires_at) {
                            self.cache
                                .borrow_mut()
                                .insert(h, verified.clone(), exp, provider, now);
                        }
                        verified
                    }
                    Err(refusal) => return self.refused(refusal, stream, now_ms),
                }
            }
        };
        self.pass(host, log, &verified, source)?;
        Ok(Step::Done)
    }

    /// A refused token: with a remote JWKS, an unknown `kid` or no key set yet first asks
    /// for a (rate-limited) re-fetch and waits for it, once per request.
    fn refused(&self, refusal: Refusal, stream: &JwtStream, now_ms: u64) -> Result<Step, Denial> {
        let retry = matches!(
            refusal.error,
            JwtError::UnknownKid | JwtError::KeysUnavailable
        );
        if let (true, false, Some(index)) = (retry, stream.waited, refusal.provider) {
            let mut remote = self.remote.borrow_mut();
            if let Some(Some(state)) = remote.get_mut(index) {
                let wait = match state.request_refetch(now_ms) {
                    Refetch::Requested => {
                        self.wakeup.set(true);
                        true
                    }
                    Refetch::Pending => true,
                    Refetch::RateLimited => false,
                };
                if wait {
                    return Ok(Step::Wait(Wait {
                        provider: index,
                        deadline_ms: now_ms.saturating_add(state.source().max_wait_ms()),
                    }));
                }
            }
        }
        Err(unauthorized(&refusal.error))
    }

    /// Hands a verified token on: forwarded claim headers, the token header removed
    /// (unless forwarded), the identity property for later filters.
    fn pass(
        &self,
        host: &mut dyn Host,
        log: &mut LogContext,
        verified: &Verified,
        source: &TokenSource,
    ) -> Result<(), Denial> {
        let identity = &verified.identity;
        log.subject = identity.subject.clone();
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        // Every value is checked before any is written: a value a backend could read
        // another way than the gateway, or with a byte no header may carry, refuses the
        // token (never cleaned up; see `crate::forwarded`).
        let mut values = Vec::with_capacity(self.config.forward.len());
        for forward in &self.config.forward {
            let value = forwarded_value(&forward.claim, &identity.claims)
                .map_err(|refusal| refusal.denial())?;
            values.push((forward.header.as_str(), value));
        }
        for (header, value) in values {
            if let Some(value) = value {
                host.set_request_header(header, Some(&value))
                    .map_err(host_err)?;
            }
        }
        if let (TokenSource::Header { name, .. }, false) = (source, self.config.forward_token) {
            host.set_request_header(name, None).map_err(host_err)?;
        }
        host.set_property(IDENTITY_PROPERTY, verified.identity_bytes())
            .map_err(host_err)?;
        host.count("portcullis_jwt_verified");
        Ok(())
    }

    fn handle(&self, stream: &mut JwtStream, host: &mut dyn Host) -> Action {
        let mut log = LogContext::from_host(host);
        match self.run(host, &mut log, stream) {
            Ok(Step::Done) => Action::Continue,
            Ok(Step::Wait(wait)) => {
                stream.wait = Some(wait);
                host.count("portcullis_jwt_waiting_for_keys");
                Action::Pause
            }
            Err(denial) => deny(host, self.name(), &denial, &log),
        }
    }

    /// Starts every fetch that is due and says when to tick next.
    fn background(&self, now_ms: u64, mut out: Background) -> Background {
        let mut remote = self.remote.borrow_mut();
        let mut next = MAX_TICK;
        let mut any = false;
        for (index, slot) in remote.iter_mut().enumerate() {
            let Some(state) = slot else { continue };
            any = true;
            if let Some(fetch) = state.poll(now_ms) {
                out.callouts.push(Callout {
                    key: index as u64,
                    upstream: fetch.upstream,
                    headers: fetch.headers,
                    timeout: Duration::from_millis(fetch.timeout_ms),
                });
            }
            next = next.min(Duration::from_millis(state.next_event(now_ms)));
        }
        out.next_tick = any.then(|| next.max(MIN_TICK));
        out
    }

    fn provider_name(&self, index: usize) -> &str {
        self.config
            .providers()
            .get(index)
            .map_or("?", |p| p.name.as_str())
    }
}

/// The 401 for a refused token: its fixed description only, never the token's text.
fn unauthorized(err: &JwtError) -> Denial {
    err.denial()
}

impl Filter for JwtFilter {
    type Stream = JwtStream;

    fn name(&self) -> &'static str {
        "portcullis_jwt"
    }

    fn on_request_headers(
        &self,
        stream: &mut JwtStream,
        host: &mut dyn Host,
        _end_of_stream: bool,
    ) -> Action {
        self.handle(stream, host)
    }

    /// While the request waits for a key set, its body waits too: nothing of it may
    /// reach a later filter or the backend before the token is decided.
    fn on_request_body(
        &self,
        stream: &mut JwtStream,
        _host: &mut dyn Host,
        _body_size: usize,
        _end_of_stream: bool,
    ) -> Action {
        if stream.wait.is_some() {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_tick(&self, now: SystemTime) -> Background {
        let Some(now_ms) = millis(now) else {
            return Background::default();
        };
        self.cache.borrow_mut().purge(now_ms / 1000);
        self.background(now_ms, Background::default())
    }

    fn on_callout_response(
        &self,
        key: u64,
        response: CalloutResponse,
        now: SystemTime,
    ) -> Background {
        let Some(now_ms) = millis(now) else {
            return Background::default();
        };
        let index = usize::try_from(key).unwrap_or(usize::MAX);
        let mut out = Background::default();
        let outcome = {
            let mut remote = self.remote.borrow_mut();
            let Some(Some(state)) = remote.get_mut(index) else {
                return out;
            };
            let from = format!("{}{}", state.source().cluster, state.fetch_path());
            let outcome = state.on_response(now_ms, response.status, &response.body);
            let name = self.provider_name(index);
            match &outcome {
                FetchOutcome::Updated {
                    keys,
                    changed,
                    skipped,
                } => {
                    out.logs.push((
                        false,
                        format!(
                            "portcullis_jwt: provider {name}: {keys} signing key(s) fetched from {from}{}",
                            if *changed { " (key set changed)" } else { "" }
                        ),
                    ));
                    for reason in skipped {
                        out.logs.push((
                            true,
                            format!("portcullis_jwt: provider {name}: JWKS from {from}: skipped {reason}"),
                        ));
                    }
                    out.counters.push("portcullis_jwt_jwks_fetch_ok".into());
                }
                FetchOutcome::Unchanged => {
                    out.counters.push("portcullis_jwt_jwks_fetch_ok".into());
                }
                FetchOutcome::Failed {
                    reason,
                    stale_keys_kept,
                } => {
                    let kept = match (stale_keys_kept, state.fetched_at()) {
                        (true, Some(at)) => format!(
                            "keeping the last good key set (fetched {} s ago)",
                            now_ms.saturating_sub(at) / 1000
                        ),
                        _ => "no key set yet: its tokens are refused (keys_unavailable)".into(),
                    };
                    out.logs.push((
                        true,
                        format!(
                            "portcullis_jwt: provider {name}: JWKS fetch from {from} failed: {reason}; {kept}"
                        ),
                    ));
                    out.counters.push("portcullis_jwt_jwks_fetch_failed".into());
                }
                FetchOutcome::Discovered { jwks_path } => {
                    out.logs.push((
                        false,
                        format!(
                            "portcullis_jwt: provider {name}: {from} names the key set {jwks_path}"
                        ),
                    ));
                }
                FetchOutcome::Ignored => {}
            }
            outcome
        };
        if let FetchOutcome::Updated { changed: true, .. } = outcome {
            self.cache.borrow_mut().forget_provider(index);
        }
        self.background(now_ms, out)
    }

    fn take_wakeup(&self) -> bool {
        self.wakeup.replace(false)
    }

    fn is_waiting(&self, stream: &JwtStream) -> bool {
        stream.wait.is_some()
    }

    fn on_resume(&self, stream: &mut JwtStream, host: &mut dyn Host) -> Action {
        let Some(wait) = stream.wait.take() else {
            return Action::Continue;
        };
        let now_ms = host.now().ok().and_then(millis).unwrap_or(u64::MAX);
        let pending = self
            .remote
            .borrow()
            .get(wait.provider)
            .and_then(|r| r.as_ref())
            .is_some_and(RemoteKeys::is_pending);
        if pending && now_ms < wait.deadline_ms {
            stream.wait = Some(wait);
            return Action::Pause;
        }
        stream.waited = true;
        self.handle(stream, host)
    }
}
