//! The one small trait through which request-flow code reaches the gateway. The wasm
//! adapter (`portcullis-proxy`) implements it with proxy-wasm host calls; `mock.rs`
//! implements it in memory so every flow is unit-testable natively.

use std::time::SystemTime;
use thiserror::Error;

/// A host call failed. Every such failure on a request path becomes a deny.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("host call {call} failed: {status}")]
pub struct HostError {
    /// Which host call failed (e.g. `get_map_value`).
    pub call: &'static str,
    /// The status the host returned, as text.
    pub status: String,
}

/// Which gateway runs the filter: where they differ, the flows say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// Envoy (standalone, Istio, Envoy Gateway).
    Envoy,
    /// Kong with ngx_wasm_module.
    Kong,
}

/// Counter metrics a flow may move; the adapter maps them to host metrics.
pub type MetricName = String;

/// Gateway access used by the flows. All calls return `Result`: a host error is a deny.
pub trait Host {
    /// Which gateway this is.
    fn kind(&self) -> HostKind;
    /// One request header (lower-case name), if present.
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError>;
    /// Every request header, including pseudo-headers.
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError>;
    /// Sets (Some) or removes (None) a request header.
    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError>;
    /// One response header, if present. With several of that name, the hosts give one
    /// (Envoy the first): use [`Host::response_headers`] where every copy matters.
    fn response_header(&self, name: &str) -> Result<Option<String>, HostError>;
    /// Every response header in order, repeated names kept, `:status` included: for
    /// checks a client could otherwise read differently (two `content-type` headers).
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError>;
    /// Sets (Some) or removes (None) a response header.
    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError>;
    /// A host property (`["xds", "route_name"]`), raw bytes, if it exists.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    /// Sets a per-request property readable by later filters (filter state on Envoy).
    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError>;
    /// The buffered request body (first `size` bytes).
    fn request_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError>;
    /// The buffered response body (first `size` bytes).
    fn response_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError>;
    /// Replaces the buffered response body of `current_size` bytes with `body`.
    fn set_response_body(&mut self, current_size: usize, body: &[u8]) -> Result<(), HostError>;
    /// Answers the client directly; the request goes no further.
    fn send_response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError>;
    /// The host's wall clock. An error here must deny: a wrong clock would accept
    /// expired tokens.
    fn now(&self) -> Result<SystemTime, HostError>;
    /// Adds one to a counter (created on first use).
    fn count(&mut self, metric: &str);
    /// Writes a log line at info level (decision logs).
    fn log_info(&self, message: &str);
    /// Writes a log line at warn level.
    fn log_warn(&self, message: &str);
    /// The gateway's native signature check (Envoy's `verify_signature` foreign function,
    /// see [`crate::jwt::native`]): `Some(valid)`, or `None` when the host offers none or
    /// cannot answer, and the filter checks the signature itself.
    fn verify_signature(
        &self,
        _hash: &str,
        _public_key_der: &[u8],
        _signature: &[u8],
        _text: &[u8],
    ) -> Option<bool> {
        None
    }
}
