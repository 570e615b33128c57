//! JWT validation (SPEC section 2): providers with inline or remote JWKS or shared secrets,
//! algorithm allow-lists, `exp`/`nbf`/`iat`/`iss`/`aud` with clock skew, `crit`, and
//! token extraction from header, cookie or query parameter. Signatures are checked in
//! `crypto` (RSA in `rsa_verify`, the others by RustCrypto's crates); token parsing and
//! claim checks are ours so that time is an argument and every refusal has a precise,
//! non-echoing reason. `remote` is the state of a fetched JWKS (driven by the gateway
//! adapter) and `cache` the verified-token cache.

pub mod cache;
pub mod config;
pub mod crypto;
pub mod discovery;
pub mod error;
pub mod keys;
pub mod native;
pub mod remote;
pub mod rsa_verify;
pub mod source;
pub mod token;
pub mod verify;

pub use config::{JwtConfig, ProviderConfig};
pub use error::JwtError;
pub use verify::{CompiledJwt, Refusal, Verified};
