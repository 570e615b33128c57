//! The JWT filter's configuration, as written in the gateway (JSON). Unknown fields are
//! refused; `CompiledJwt::compile` turns it into keys and lookups once, at load.

use crate::claims::ClaimPath;
use crate::route::RouteEntry;
use serde::Deserialize;
use std::collections::HashMap;

/// The whole JWT filter configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Token issuers this gateway accepts.
    pub providers: Vec<ProviderConfig>,
    /// Where to look for the token, in order; default: `Authorization: Bearer`.
    #[serde(default = "default_sources")]
    pub sources: Vec<TokenSourceConfig>,
    /// Tolerated clock difference for `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
    /// Longest token accepted, in bytes.
    #[serde(default = "default_max_token")]
    pub max_token_bytes: usize,
    /// Verified claims copied to upstream request headers.
    #[serde(default)]
    pub forward: Vec<ForwardClaim>,
    /// Keep the token's own header on the upstream request (default: removed, as
    /// Envoy's `jwt_authn` does, so backends never see bearer credentials).
    #[serde(default)]
    pub forward_token: bool,
    /// Route table keyed by route name (the portable form; Envoy may use metadata).
    #[serde(default)]
    pub routes: HashMap<String, RouteEntry>,
    /// Verified tokens remembered per worker (by SHA-256 of the token, never past
    /// `exp`), so a repeated token costs no signature check; `0` turns the cache off.
    #[serde(default = "default_token_cache")]
    pub token_cache_entries: usize,
}

fn default_token_cache() -> usize {
    1024
}

fn default_sources() -> Vec<TokenSourceConfig> {
    vec![TokenSourceConfig {
        header: Some("authorization".into()),
        prefix: Some("Bearer ".into()),
        cookie: None,
        query: None,
    }]
}

fn default_skew() -> u64 {
    60
}

fn default_max_token() -> usize {
    8192
}

/// One token issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name used in logs and in the identity handed to later filters.
    pub name: String,
    /// The exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; the token must name at least one.
    pub audiences: Vec<String>,
    /// Accepted algorithms (`RS256`, `ES256`, `EdDSA`, ...). HS* only with a secret.
    pub algorithms: Vec<String>,
    /// An inline JWKS document (`{"keys": [...]}`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// A shared secret for HS256/384/512, base64 (standard alphabet).
    #[serde(default)]
    pub shared_secret_base64: Option<String>,
    /// Accept tokens without `exp`. Weakens a check, hence the name.
    #[serde(default)]
    pub dangerous_allow_missing_exp: bool,
    /// `crit` header extensions this provider understands (default: none).
    #[serde(default)]
    pub supported_crit: Vec<String>,
    /// A JWKS fetched through the gateway, cached and refreshed (with or besides `jwks`).
    #[serde(default)]
    pub remote_jwks: Option<RemoteJwksConfig>,
}

/// Where and how often to fetch a provider's JWKS. The call goes through the gateway:
/// `cluster` is an Envoy cluster name (on Kong, the upstream `host[:port]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwksConfig {
    /// Envoy cluster (Kong: `host[:port]`) serving the JWKS.
    pub cluster: String,
    /// Request path, starting with `/` (`/realms/x/protocol/openid-connect/certs`).
    /// Exactly one of `path` and `openid_discovery` is given.
    #[serde(default)]
    pub path: Option<String>,
    /// Find the path through the issuer's `/.well-known/openid-configuration` (its
    /// `jwks_uri`, which must be on the same host), fetched from `cluster` too.
    #[serde(default)]
    pub openid_discovery: bool,
    /// `:authority` (Host) of the requests; default: `cluster`, or with
    /// `openid_discovery` the issuer URL's host.
    #[serde(default)]
    pub authority: Option<String>,
    /// How long a fetched key set is used before it is fetched again.
    #[serde(default = "default_cache_duration")]
    pub cache_duration_seconds: u64,
    /// Timeout of one fetch; requests waiting for a first key set wait about as long.
    #[serde(default = "default_fetch_timeout")]
    pub timeout_ms: u64,
    /// Shortest time between two fetches started by tokens with an unknown `kid` (or
    /// by requests while no key set was ever fetched); also the first retry delay.
    #[serde(default = "default_refetch_interval")]
    pub refetch_min_interval_seconds: u64,
}

fn default_cache_duration() -> u64 {
    600
}

fn default_fetch_timeout() -> u64 {
    5000
}

fn default_refetch_interval() -> u64 {
    30
}

/// Where a token may be found. Exactly one of `header`, `cookie`, `query`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSourceConfig {
    /// A request header (lower-case name).
    #[serde(default)]
    pub header: Option<String>,
    /// With `header`: a prefix to strip, matched case-insensitively (`Bearer `).
    #[serde(default)]
    pub prefix: Option<String>,
    /// A cookie name.
    #[serde(default)]
    pub cookie: Option<String>,
    /// A query parameter name.
    #[serde(default)]
    pub query: Option<String>,
}

/// A verified claim copied into an upstream header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardClaim {
    /// Claim path (`sub`, `realm_access.roles`).
    pub claim: ClaimPath,
    /// Upstream header name (lower case). Client copies are always removed.
    pub header: String,
}
