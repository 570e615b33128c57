//! A bench-only proxy-wasm HTTP filter: what a verified-token cache costs per request when it
//! lives in each worker's filter instance (what `portcullis_jwt` does,
//! `crates/core/src/jwt/cache.rs`) and when it lives in proxy-wasm shared data (one store for
//! all workers of the process). No signature is checked: a miss only builds the identity from
//! the token's payload, as the JWT filter does after a good signature, so the modes differ in
//! the cache alone. `bench/token_cache.py` runs it inside Envoy (`make bench-token-cache`).
//!
//! The request header `x-bench-cache` picks the mode per request, so that one Envoy runs
//! every mode and the benchmark can interleave them finely. Every request, in every mode:
//! read that header, `authorization` and the clock, SHA-256 the token (the cache key), hand
//! the serialised identity on with `set_property` (as the JWT filter's `pass` does) and count
//! a hit or a miss (`bench_tc_<mode>_hit`, `bench_tc_<mode>_miss`). The modes:
//!
//! * `none`: nothing else; the identity handed on is the first request's, built once (the
//!   floor every cache sits on).
//! * `worker`: a map from hash to the parsed identity in this worker's VM; a hit clones an
//!   `Rc` and serialises the identity for `set_property` (the product's hit path).
//! * `worker_raw`: the same, but each entry also keeps the serialised identity, which a hit
//!   hands on as it is (no serialisation per hit).
//! * `shared`: shared data with a fixed number of keys (Envoy never deletes a shared-data key,
//!   so a bounded cache needs fixed slots: two candidate slots per token, each value the
//!   token hash, `exp` and the identity JSON); a hit copies the value out of the host,
//!   deserialises the identity and serialises it for `set_property`, as a filter that needs
//!   the claims (forwarded claim headers, the `pass` step) must. A miss writes the slot with
//!   compare-and-swap.
//! * `shared_raw`: the same store, but a hit hands the stored JSON bytes on unparsed: the
//!   best case of shared data, for a filter that never needs the claims itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

/// Entries of the per-worker map: the product's default bound.
const CAPACITY: usize = 1024;
/// Key slots in shared data: one store for all workers, sized like four workers' maps
/// (fewer slot collisions among the benchmark's hot tokens).
const SLOTS: u32 = 4096;
/// Where the identity goes for later filters, as in `crates/core/src/identity.rs`.
const IDENTITY_PROPERTY: &str = "portcullis_identity";
/// Shared-data keys: this prefix and a slot number.
const SLOT_PREFIX: &str = "portcullis_bench_tc/";
/// A shared-data value: token hash (32 bytes), `exp` (8 bytes, big-endian), identity JSON.
const HEADER: usize = 40;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    None,
    Worker,
    WorkerRaw,
    Shared,
    SharedRaw,
}

/// Every mode, by its `x-bench-cache` name.
const MODES: [(&str, Mode); 5] = [
    ("none", Mode::None),
    ("worker", Mode::Worker),
    ("worker_raw", Mode::WorkerRaw),
    ("shared", Mode::Shared),
    ("shared_raw", Mode::SharedRaw),
];

/// The identity the JWT filter hands on (same fields as `portcullis_core::identity`).
#[derive(Serialize, Deserialize)]
struct Identity {
    provider: String,
    issuer: String,
    subject: Option<String>,
    claims: Map<String, Value>,
}

impl Identity {
    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A token taken as verified, and until when.
struct Verified {
    identity: Identity,
    expires_at: u64,
}

/// A per-worker cache entry: the parsed identity and its serialised form.
struct Entry {
    verified: Verified,
    bytes: Rc<Vec<u8>>,
}

type WorkerCache = RefCell<HashMap<TokenHash, Rc<Entry>>>;

type TokenHash = [u8; 32];

/// State shared by a worker's root context and its HTTP contexts.
#[derive(Default)]
struct Shared {
    /// Hit and miss counters, in the order of `MODES`.
    metrics: Vec<(u32, u32)>,
    worker: WorkerCache,
    worker_raw: WorkerCache,
    floor: RefCell<Option<Rc<Vec<u8>>>>,
}

#[derive(Default)]
struct Root {
    state: Rc<Shared>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let mut metrics = Vec::with_capacity(MODES.len());
        for (name, _) in MODES {
            let (Ok(hit), Ok(miss)) = (
                hostcalls::define_metric(MetricType::Counter, &format!("bench_tc_{name}_hit")),
                hostcalls::define_metric(MetricType::Counter, &format!("bench_tc_{name}_miss")),
            ) else {
                return false;
            };
            metrics.push((hit, miss));
        }
        self.state = Rc::new(Shared {
            metrics,
            ..Shared::default()
        });
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            state: self.state.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    state: Rc<Shared>,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        match self.handle() {
            Some(()) => Action::Continue,
            None => {
                let _ = hostcalls::send_http_response(400, vec![], Some(b"bad token"));
                Action::Pause
            }
        }
    }
}

/// The bytes handed on and whether the cache had them.
struct Outcome {
    identity: Rc<Vec<u8>>,
    hit: bool,
}

impl Stream {
    fn handle(&self) -> Option<()> {
        let name = hostcalls::get_map_value(MapType::HttpRequestHeaders, "x-bench-cache")
            .ok()
            .flatten()?;
        let index = MODES.iter().position(|(n, _)| *n == name)?;
        let (hit, miss) = *self.state.metrics.get(index)?;
        let header = hostcalls::get_map_value(MapType::HttpRequestHeaders, "authorization")
            .ok()
            .flatten()?;
        let token = header.strip_prefix("Bearer ")?;
        let now = hostcalls::get_current_time()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_secs();
        let hash: TokenHash = Sha256::digest(token.as_bytes()).into();
        let outcome = match MODES.get(index)?.1 {
            Mode::None => self.floor(token)?,
            Mode::Worker => worker(&self.state.worker, token, &hash, now, true)?,
            Mode::WorkerRaw => worker(&self.state.worker_raw, token, &hash, now, false)?,
            Mode::Shared => shared(token, &hash, now, true)?,
            Mode::SharedRaw => shared(token, &hash, now, false)?,
        };
        hostcalls::set_property(vec![IDENTITY_PROPERTY], Some(&outcome.identity)).ok()?;
        let metric = if outcome.hit { hit } else { miss };
        hostcalls::increment_metric(metric, 1).ok()
    }

    fn floor(&self, token: &str) -> Option<Outcome> {
        let mut floor = self.state.floor.borrow_mut();
        if let Some(bytes) = floor.as_ref() {
            return Some(Outcome {
                identity: bytes.clone(),
                hit: true,
            });
        }
        let bytes = Rc::new(verified_from(token)?.identity.to_bytes());
        *floor = Some(bytes.clone());
        Some(Outcome {
            identity: bytes,
            hit: false,
        })
    }
}

/// A per-worker look-up; a hit serialises the identity when `serialise`, else hands on the
/// stored bytes.
fn worker(
    cache: &WorkerCache,
    token: &str,
    hash: &TokenHash,
    now: u64,
    serialise: bool,
) -> Option<Outcome> {
    let mut cache = cache.borrow_mut();
    if let Some(entry) = cache.get(hash).filter(|e| now < e.verified.expires_at) {
        let identity = if serialise {
            Rc::new(entry.verified.identity.to_bytes())
        } else {
            entry.bytes.clone()
        };
        return Some(Outcome {
            identity,
            hit: true,
        });
    }
    let verified = verified_from(token)?;
    let bytes = Rc::new(verified.identity.to_bytes());
    if cache.len() >= CAPACITY {
        let victim = cache.keys().next().copied();
        if let Some(victim) = victim {
            cache.remove(&victim);
        }
    }
    cache.insert(
        *hash,
        Rc::new(Entry {
            verified,
            bytes: bytes.clone(),
        }),
    );
    Some(Outcome {
        identity: bytes,
        hit: false,
    })
}

/// One candidate slot as read: its key, its CAS token and whether a write may take it
/// without pushing out a live entry.
struct Slot {
    key: String,
    cas: Option<u32>,
    free: bool,
}

fn slot_keys(hash: &TokenHash) -> [String; 2] {
    let slot = |i: usize| {
        let word = [hash[i], hash[i + 1], hash[i + 2], hash[i + 3]];
        u32::from_be_bytes(word) % SLOTS
    };
    [
        format!("{SLOT_PREFIX}{}", slot(0)),
        format!("{SLOT_PREFIX}{}", slot(4)),
    ]
}

fn shared(token: &str, hash: &TokenHash, now: u64, parse: bool) -> Option<Outcome> {
    let mut seen = Vec::with_capacity(2);
    for key in slot_keys(hash) {
        let (value, cas) = hostcalls::get_shared_data(&key).ok()?;
        let value = value.unwrap_or_default();
        let (live, ours) = match (value.get(32..HEADER), value.get(..32)) {
            (Some(exp), Some(stored)) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(exp);
                (now < u64::from_be_bytes(be), stored == hash.as_slice())
            }
            _ => (false, false),
        };
        if live && ours {
            let json = value.get(HEADER..)?;
            let identity = if parse {
                let identity: Identity = serde_json::from_slice(json).ok()?;
                identity.to_bytes()
            } else {
                json.to_vec()
            };
            return Some(Outcome {
                identity: Rc::new(identity),
                hit: true,
            });
        }
        seen.push(Slot {
            key,
            cas,
            free: !live,
        });
    }
    let verified = verified_from(token)?;
    let identity = verified.identity.to_bytes();
    let mut value = Vec::with_capacity(HEADER + identity.len());
    value.extend_from_slice(hash);
    value.extend_from_slice(&verified.expires_at.to_be_bytes());
    value.extend_from_slice(&identity);
    let target = seen.iter().find(|s| s.free).or_else(|| seen.first());
    if let Some(slot) = target {
        // A CAS mismatch means another worker wrote the slot meanwhile: keep its entry.
        let _ = hostcalls::set_shared_data(&slot.key, Some(&value), slot.cas);
    }
    Some(Outcome {
        identity: Rc::new(identity),
        hit: false,
    })
}

/// The identity the JWT filter would build once the signature is good: the payload's
/// claims, issuer, subject and `exp`.
fn verified_from(token: &str) -> Option<Verified> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    let issuer = claims.get("iss")?.as_str()?.to_owned();
    let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
    let expires_at = claims.get("exp")?.as_u64()?;
    Some(Verified {
        identity: Identity {
            provider: "demo".into(),
            issuer,
            subject,
            claims,
        },
        expires_at,
    })
}
