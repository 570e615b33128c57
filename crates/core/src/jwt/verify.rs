//! The compiled JWT configuration and token verification. `compile` does all parsing
//! (keys, algorithms, sources) once; `verify` is the per-request path.

use super::config::{ForwardClaim, JwtConfig, ProviderConfig};
use super::crypto::{Algorithm, Family};
use super::error::JwtError;
use super::keys::{Key, KeyError, KeySet};
use super::native::{self, NativeVerify};
use super::remote::RemoteSource;
use super::source::{SourceError, TokenSource};
use super::token;
use crate::identity::Identity;
use crate::route::RouteEntry;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::rc::Rc;
use std::str::FromStr;
use thiserror::Error;

/// A JWT configuration that cannot be used. Messages name the field.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum JwtConfigError {
    /// Not valid JSON, or an unknown/missing field.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// No provider configured.
    #[error("providers: at least one provider is required")]
    NoProviders,
    /// A provider field is wrong.
    #[error("providers[{index}] ({name}): {reason}")]
    Provider {
        /// Position.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A source is wrong.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A forward header is not allowed.
    #[error("forward[{index}].header `{header}`: {reason}")]
    Forward {
        /// Position.
        index: usize,
        /// The header.
        header: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A route requirement does not parse.
    #[error("routes.{route}.requirement: {reason}")]
    Route {
        /// Route name.
        route: String,
        /// Why.
        reason: String,
    },
}

/// One compiled provider.
pub struct Provider {
    /// Configuration name.
    pub name: String,
    /// Exact `iss`.
    pub issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    keys: KeySet,
    remote: Option<RemoteSource>,
    require_exp: bool,
    supported_crit: Vec<String>,
}

impl Provider {
    /// The remote JWKS setting, when this provider's keys are (also) fetched.
    pub fn remote(&self) -> Option<&RemoteSource> {
        self.remote.as_ref()
    }
}

/// The compiled JWT filter configuration.
pub struct CompiledJwt {
    providers: Vec<Provider>,
    by_issuer: HashMap<String, usize>,
    /// Token sources in order.
    pub sources: Vec<TokenSource>,
    /// Claims to forward as headers.
    pub forward: Vec<ForwardClaim>,
    /// Keep the token header upstream.
    pub forward_token: bool,
    /// Clock skew in seconds.
    pub skew: u64,
    /// Longest accepted token.
    pub max_token_bytes: usize,
    /// Route table by route name.
    pub routes: HashMap<String, RouteEntry>,
    /// Capacity of the verified-token cache (0: off).
    pub token_cache_entries: usize,
}

/// A refused token: why, and the provider that refused it once the issuer is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub error: JwtError,
    /// Index of the token's provider in [`CompiledJwt::providers`], once known.
    pub provider: Option<usize>,
}

impl From<JwtError> for Refusal {
    fn from(error: JwtError) -> Self {
        Refusal {
            error,
            provider: None,
        }
    }
}

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The identity handed to later filters.
    pub identity: Identity,
    /// `exp`, when present (bounds any cache entry).
    pub expires_at: Option<u64>,
    /// The identity as later filters read it, serialised once: a cache hit hands these
    /// bytes on instead of serialising again (≈ 8 µs per request in Envoy).
    identity_bytes: Vec<u8>,
}

impl Verified {
    /// A verified identity, valid until `expires_at`.
    pub fn new(identity: Identity, expires_at: Option<u64>) -> Self {
        let identity_bytes = identity.to_bytes();
        Verified {
            identity,
            expires_at,
            identity_bytes,
        }
    }

    /// [`Identity::to_bytes`] of the identity.
    pub fn identity_bytes(&self) -> &[u8] {
        &self.identity_bytes
    }
}

fn parse_algorithm(name: &str) -> Result<Algorithm, JwtError> {
    if name.eq_ignore_ascii_case("none") {
        return Err(JwtError::UnsupportedAlgorithm(
            name.chars().take(16).collect(),
        ));
    }
    Algorithm::from_str(name)
        .map_err(|_| JwtError::UnsupportedAlgorithm(name.chars().take(16).collect()))
}

fn compile_provider(index: usize, p: &ProviderConfig) -> Result<Provider, JwtConfigError> {
    let err = |reason: String| JwtConfigError::Provider {
        index,
        name: p.name.clone(),
        reason,
    };
    if p.name.is_empty() {
        return Err(err("name: must not be empty".into()));
    }
    if p.issuer.is_empty() {
        return Err(err("issuer: must not be empty".into()));
    }
    if p.audiences.is_empty() {
        return Err(err("audiences: at least one audience is required".into()));
    }
    if p.algorithms.is_empty() {
        return Err(err("algorithms: at least one algorithm is required".into()));
    }
    let mut algorithms = Vec::new();
    for name in &p.algorithms {
        let alg = parse_algorithm(name)
            .map_err(|_| err(format!("algorithms: `{name}` is not supported")))?;
        algorithms.push(alg);
    }
    let has_hmac = algorithms.iter().any(|a| a.family() == Family::Hmac);
    let has_public = algorithms.iter().any(|a| a.family() != Family::Hmac);
    let mut keys = KeySet::default();
    if let Some(jwks) = &p.jwks {
        let set = KeySet::from_jwks(jwks).map_err(|e: KeyError| err(format!("jwks: {e}")))?;
        keys.extend(set).map_err(|e| err(format!("jwks: {e}")))?;
    }
    match (&p.shared_secret_base64, has_hmac) {
        (Some(secret), true) => {
            let set = KeySet::from_secret(secret).map_err(|e| err(e.to_string()))?;
            keys.extend(set).map_err(|e| err(e.to_string()))?;
        }
        (Some(_), false) => {
            return Err(err(
                "shared_secret_base64: set, but no HS* algorithm is allowed".into(),
            ))
        }
        (None, true) => return Err(err("algorithms: HS* requires shared_secret_base64".into())),
        (None, false) => {}
    }
    let remote = match &p.remote_jwks {
        Some(r) => Some(RemoteSource::compile(r, &p.issuer).map_err(err)?),
        None => None,
    };
    if has_public && p.jwks.is_none() && remote.is_none() {
        return Err(err(
            "jwks: public-key algorithms need a jwks or a remote_jwks".into(),
        ));
    }
    if keys.is_empty() && remote.is_none() {
        return Err(err("jwks: no keys".into()));
    }
    Ok(Provider {
        name: p.name.clone(),
        issuer: p.issuer.clone(),
        audiences: p.audiences.clone(),
        algorithms,
        keys,
        remote,
        require_exp: !p.dangerous_allow_missing_exp,
        supported_crit: p.supported_crit.clone(),
    })
}

impl CompiledJwt {
    /// Parses and compiles a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwtConfigError> {
        let config: JwtConfig =
            serde_json::from_slice(bytes).map_err(|e| JwtConfigError::Parse(e.to_string()))?;
        Self::compile(&config)
    }

    /// Compiles a parsed configuration, validating every field.
    pub fn compile(config: &JwtConfig) -> Result<Self, JwtConfigError> {
        if config.providers.is_empty() {
            return Err(JwtConfigError::NoProviders);
        }
        let mut providers = Vec::new();
        let mut by_issuer = HashMap::new();
        for (index, p) in config.providers.iter().enumerate() {
            let provider = compile_provider(index, p)?;
            if by_issuer.insert(provider.issuer.clone(), index).is_some() {
                return Err(JwtConfigError::Provider {
                    index,
                    name: p.name.clone(),
                    reason: format!("issuer: `{}` is used by another provider", p.issuer),
                });
            }
            providers.push(provider);
        }
        let sources = config
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| TokenSource::compile(i, s))
            .collect::<Result<Vec<_>, _>>()?;
        for (index, f) in config.forward.iter().enumerate() {
            let bad = |reason| JwtConfigError::Forward {
                index,
                header: f.header.clone(),
                reason,
            };
            if f.header.is_empty()
                || f.header.starts_with(':')
                || f.header != f.header.to_ascii_lowercase()
            {
                return Err(bad("must be a lower-case header name"));
            }
            if ["host", "authorization", "cookie", "content-length"].contains(&f.header.as_str()) {
                return Err(bad(
                    "must not overwrite a request header the gateway relies on",
                ));
            }
        }
        for (route, entry) in &config.routes {
            if let Some(text) = &entry.requirement {
                crate::route::RouteRequirement::parse(text).map_err(|e| JwtConfigError::Route {
                    route: route.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(CompiledJwt {
            providers,
            by_issuer,
            sources,
            forward: config.forward.clone(),
            forward_token: config.forward_token,
            skew: config.clock_skew_seconds,
            max_token_bytes: config.max_token_bytes,
            routes: config.routes.clone(),
            token_cache_entries: config.token_cache_entries,
        })
    }

    /// The configured providers.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Verifies `token` at `now` (seconds since the epoch) with the configured (inline)
    /// keys only.
    pub fn verify(&self, token: &str, now: u64) -> Result<Verified, JwtError> {
        self.verify_with(token, now, &|_| None, &native::no_native)
            .map(|(verified, _)| verified)
            .map_err(|r| r.error)
    }

    /// Verifies `token` at `now`, consulting `remote(provider index)` for the live key
    /// set of a provider with a remote JWKS. On success, also the provider's index.
    ///
    /// With a remote JWKS, a `kid` found in neither the inline nor the remote set is
    /// [`JwtError::UnknownKid`], and no usable key at all while no remote key set was
    /// ever fetched is [`JwtError::KeysUnavailable`]; the refusal names the provider so
    /// the caller can ask for a re-fetch and try again. `native` is the gateway's own
    /// signature check, preferred where it offers one ([`super::native`]).
    pub fn verify_with(
        &self,
        token: &str,
        now: u64,
        remote: &dyn Fn(usize) -> Option<Rc<KeySet>>,
        native: NativeVerify<'_>,
    ) -> Result<(Verified, usize), Refusal> {
        if token.len() > self.max_token_bytes {
            return Err(JwtError::TooLarge(self.max_token_bytes).into());
        }
        let parsed = token::parse(token)?;
        let alg = parse_algorithm(parsed.alg()?)?;
        let issuer = match parsed.claims.get("iss") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(JwtError::BadClaimType("iss").into()),
            None => return Err(JwtError::UnknownIssuer.into()),
        };
        let index = *self.by_issuer.get(issuer).ok_or(JwtError::UnknownIssuer)?;
        let provider = self.providers.get(index).ok_or(JwtError::UnknownIssuer)?;
        let refuse = |error: JwtError| Refusal {
            error,
            provider: Some(index),
        };
        if !provider.algorithms.contains(&alg) {
            return Err(refuse(JwtError::AlgorithmNotAllowed(format!("{alg:?}"))));
        }
        check_crit(&parsed.header, &provider.supported_crit).map_err(refuse)?;
        let kid = parsed.kid().map_err(refuse)?;
        let remote_keys = provider.remote.as_ref().and_then(|_| remote(index));
        let keys_pending = provider.remote.is_some() && remote_keys.is_none();
        let mut candidates: Vec<&Key> = Vec::new();
        let known_inline = provider.keys.select(kid, alg, &mut candidates);
        let known_remote = remote_keys
            .as_deref()
            .is_some_and(|k| k.select(kid, alg, &mut candidates));
        if !known_inline && !known_remote {
            return Err(refuse(if keys_pending {
                JwtError::KeysUnavailable
            } else {
                JwtError::UnknownKid
            }));
        }
        if candidates.is_empty() {
            return Err(refuse(if keys_pending {
                JwtError::KeysUnavailable
            } else {
                JwtError::NoKeyForAlgorithm(format!("{alg:?}"))
            }));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(parsed.signature)
            .map_err(|_| refuse(JwtError::BadSignature))?;
        let message = parsed.signing_input.as_bytes();
        let verified = candidates
            .iter()
            .any(|k| k.key.verify_preferring(alg, message, &signature, native));
        if !verified {
            return Err(refuse(JwtError::BadSignature));
        }
        let expires_at =
            check_times(&parsed.claims, now, self.skew, provider.require_exp).map_err(refuse)?;
        check_audience(&parsed.claims, &provider.audiences).map_err(refuse)?;
        let subject = match parsed.claims.get("sub") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(refuse(JwtError::BadClaimType("sub"))),
            None => None,
        };
        Ok((
            Verified::new(
                Identity {
                    provider: provider.name.clone(),
                    issuer: provider.issuer.clone(),
                    subject,
                    claims: parsed.claims,
                },
                expires_at,
            ),
            index,
        ))
    }
}

fn check_crit(header: &Map<String, Value>, supported: &[String]) -> Result<(), JwtError> {
    match header.get("crit") {
        None => Ok(()),
        Some(Value::Array(items)) if !items.is_empty() => {
            let all_known = items.iter().all(|i| {
                i.as_str()
                    .is_some_and(|s| supported.iter().any(|k| k == s) && header.contains_key(s))
            });
            if all_known {
                Ok(())
            } else {
                Err(JwtError::UnsupportedCrit)
            }
        }
        Some(_) => Err(JwtError::UnsupportedCrit),
    }
}

fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().ok_or(JwtError::BadClaimType(name))?;
            if !v.is_finite() || v < 0.0 {
                return Err(JwtError::BadClaimType(name));
            }
            // Saturating conversion: absurdly large values stay absurdly large.
            Ok(Some(v.floor() as u64))
        }
        Some(_) => Err(JwtError::BadClaimType(name)),
    }
}

fn check_times(
    claims: &Map<String, Value>,
    now: u64,
    skew: u64,
    require_exp: bool,
) -> Result<Option<u64>, JwtError> {
    let exp = numeric(claims, "exp")?;
    match exp {
        Some(exp) if exp.saturating_add(skew) <= now => return Err(JwtError::Expired),
        None if require_exp => return Err(JwtError::MissingExp),
        _ => {}
    }
    if let Some(nbf) = numeric(claims, "nbf")? {
        if nbf > now.saturating_add(skew) {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iat) = numeric(claims, "iat")? {
        if iat > now.saturating_add(skew) {
            return Err(JwtError::IssuedInFuture);
        }
    }
    Ok(exp)
}

fn check_audience(claims: &Map<String, Value>, accepted: &[String]) -> Result<(), JwtError> {
    let ok = match claims.get("aud") {
        Some(Value::String(a)) => accepted.iter().any(|x| x == a),
        Some(Value::Array(items)) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|a| accepted.iter().any(|x| x == a))),
        Some(_) => return Err(JwtError::BadClaimType("aud")),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(JwtError::BadAudience)
    }
}
