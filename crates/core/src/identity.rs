//! The verified identity handed from the JWT filter to the later Portcullis filters.
//! It travels as a per-request gateway property (Envoy filter state), which no client
//! can set, never as a request header.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The property path under which the JWT filter stores the verified identity.
pub const IDENTITY_PROPERTY: &[&str] = &["portcullis_identity"];
/// The property path under which the tenant filter stores the resolved tenant id.
pub const TENANT_PROPERTY: &[&str] = &["portcullis_tenant"];
/// The property path under which the authorization filter stores the decision the
/// response-side filters need (field filters to apply).
pub const AUTHZ_PROPERTY: &[&str] = &["portcullis_authz"];
/// Every request header with this prefix is removed from client requests.
pub const IDENTITY_HEADER_PREFIX: &str = "x-portcullis-";

/// A verified token, as later filters see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider (configuration name) that verified the token.
    pub provider: String,
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`, if any.
    pub subject: Option<String>,
    /// The verified payload.
    pub claims: Map<String, Value>,
}

impl Identity {
    /// Serialises for the gateway property.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads the gateway property; `None` when absent or unreadable.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}
