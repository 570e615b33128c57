//! [`Host`] over proxy-wasm host calls. Differences between Envoy and Kong's
//! ngx_wasm_module are decided once, when the root context starts (see [`detect_kind`]),
//! and handled here where they are about host calls rather than request flows:
//!
//! - Portcullis hands data between the filters of one request as gateway properties
//!   (`portcullis_identity`, ...). Envoy stores any unknown property as filter state.
//!   ngx_wasm_module answers NotFound for a property outside its namespaces (and the
//!   proxy-wasm SDK turns that into a panic), so on Kong they live in the request's
//!   `kong.ctx.shared` table instead, through Kong's own property handlers (see
//!   [`property_path`]; `docs/kong.md`).

use portcullis_core::flow::{Host, HostError, HostKind};
use portcullis_core::header_value;
use portcullis_core::jwt::native;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::SystemTime;

/// Refuses a header value the gateway would write as given (CR/LF would split the
/// message; see `portcullis_core::header_value`): a host error, which every flow turns
/// into a deny.
fn safe(value: Option<&str>) -> Result<(), HostError> {
    match value.map(header_value::check) {
        Some(Err(e)) => Err(HostError {
            call: "set_map_value",
            status: e.to_string(),
        }),
        _ => Ok(()),
    }
}

fn fail(call: &'static str, status: Status) -> HostError {
    HostError {
        call,
        status: format!("{status:?}"),
    }
}

/// A header value as text. Header values are bytes: a client (or a backend) may send
/// any byte >= 0x80, and the SDK's `get_map`/`get_map_value` unwrap them as UTF-8, so a
/// single such byte panicked the VM (every later request on the worker then failed).
/// Read as bytes instead; a value that is not UTF-8 is a host error, which every flow
/// turns into a deny (never lossily converted: the gateway would decide on other text
/// than the backend receives).
fn utf8(call: &'static str, value: Vec<u8>) -> Result<String, HostError> {
    String::from_utf8(value).map_err(|_| HostError {
        call,
        status: "header value is not UTF-8".into(),
    })
}

/// One header's value through [`utf8`].
fn map_value(map: MapType, name: &str) -> Result<Option<String>, HostError> {
    hostcalls::get_map_value_bytes(map, name)
        .map_err(|s| fail("get_map_value", s))?
        .map(|value| utf8("get_map_value", value))
        .transpose()
}

/// Counter ids by name, shared by every HTTP context of one root context.
pub type Counters = Rc<RefCell<HashMap<String, u32>>>;

/// The current HTTP context's host. proxy-wasm host calls act on the context the host
/// is calling into, so this holds no context id, only shared per-worker state.
pub struct WasmHost {
    kind: HostKind,
    counters: Counters,
}

impl WasmHost {
    /// A host of `kind`, moving counters in `counters`.
    pub fn new(kind: HostKind, counters: Counters) -> Self {
        WasmHost { kind, counters }
    }
}

/// Tells Envoy from Kong by asking for `ngx.hostname`, a property only ngx_wasm_module
/// has (the nginx variable `$hostname`); see [`kind_from_probe`] for how the answer
/// reads. Called from `on_vm_start`, in the root context.
pub fn detect_kind() -> HostKind {
    kind_from_probe(hostcalls::get_property(vec!["ngx", "hostname"]))
}

/// Reads the `ngx.hostname` probe:
///
/// - Envoy answers NotFound (`Ok(None)`) in every context: `ngx` is no Envoy attribute,
///   so Envoy looks for filter state `wasm.ngx`, which nothing sets.
/// - ngx_wasm_module answers the host name inside a request (`Ok(Some)`), and refuses
///   any dotted property outside a request with an internal failure (`Err`): that is
///   what the root context's `on_vm_start` gets on Kong. (The previous reading, "only
///   `Ok(Some)` is Kong", took every Kong for Envoy.)
pub fn kind_from_probe(probe: Result<Option<Vec<u8>>, Status>) -> HostKind {
    match probe {
        Ok(None) => HostKind::Envoy,
        Ok(Some(_)) | Err(_) => HostKind::Kong,
    }
}

/// Kong's table for data shared by everything that runs on one request (Lua plugins and
/// the Wasm filter chain), reached as properties `kong.ctx.shared.<key>`.
const KONG_SHARED: [&str; 3] = ["kong", "ctx", "shared"];

/// The gateway property path for a flow's property path. Portcullis's own per-request
/// properties are single segments starting with `portcullis_`; on Kong they map to
/// `kong.ctx.shared.<name>` (readable and writable by filters, never by clients; Kong
/// registers these handlers for every filter chain). Every other path is unchanged.
pub fn property_path<'a>(kind: HostKind, path: &[&'a str]) -> Vec<&'a str> {
    match (kind, path) {
        (HostKind::Kong, [name]) if name.starts_with("portcullis_") => {
            let mut mapped = KONG_SHARED.to_vec();
            mapped.push(name);
            mapped
        }
        _ => path.to_vec(),
    }
}

impl Host for WasmHost {
    fn kind(&self) -> HostKind {
        self.kind
    }

    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        map_value(MapType::HttpRequestHeaders, name)
    }

    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        let pairs = hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
            .map_err(|s| fail("get_map", s))?;
        pairs
            .into_iter()
            .map(|(name, value)| Ok((name, utf8("get_map", value)?)))
            .collect()
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        safe(value)?;
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value)
            .map_err(|s| fail("set_map_value", s))
    }

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        map_value(MapType::HttpResponseHeaders, name)
    }

    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        hostcalls::get_map(MapType::HttpResponseHeaders).map_err(|s| fail("get_map", s))
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        safe(value)?;
        hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value)
            .map_err(|s| fail("set_map_value", s))
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_property(property_path(self.kind, path)).map_err(|s| fail("get_property", s))
    }

    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        hostcalls::set_property(property_path(self.kind, path), Some(value))
            .map_err(|s| fail("set_property", s))
    }

    fn request_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .map_err(|s| fail("get_buffer", s))
    }

    fn response_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
            .map_err(|s| fail("get_buffer", s))
    }

    fn set_response_body(&mut self, current_size: usize, body: &[u8]) -> Result<(), HostError> {
        hostcalls::set_buffer(BufferType::HttpResponseBody, 0, current_size, body)
            .map_err(|s| fail("set_buffer", s))
    }

    fn send_response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        // Envoy writes a local reply's header values as given: one with an unsafe value
        // is replaced by a fixed 500 that echoes nothing.
        let refused;
        let (status, headers, body) = match header_value::check_all(headers) {
            Ok(()) => (status, headers, body),
            Err((name, e)) => {
                self.log_warn(&format!("local reply refused: header {name}: {e}"));
                refused = header_value::refusal_reply();
                (refused.0, refused.1.as_slice(), refused.2.as_slice())
            }
        };
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        hostcalls::send_http_response(u32::from(status), headers, Some(body))
            .map_err(|s| fail("send_http_response", s))
    }

    /// Envoy's `verify_signature` foreign function (BoringSSL). Not on Kong:
    /// ngx_wasm_module has no such function, and the filter checks signatures itself.
    fn verify_signature(
        &self,
        hash: &str,
        public_key_der: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Option<bool> {
        if self.kind != HostKind::Envoy {
            return None;
        }
        let arguments = native::encode_request(hash, public_key_der, signature, text);
        match hostcalls::call_foreign_function("verify_signature", Some(&arguments)) {
            Ok(Some(result)) => native::decode_result(&result),
            Ok(None) | Err(_) => None,
        }
    }

    fn now(&self) -> Result<SystemTime, HostError> {
        hostcalls::get_current_time().map_err(|s| fail("get_current_time", s))
    }

    fn count(&mut self, metric: &str) {
        let mut counters = self.counters.borrow_mut();
        let id = match counters.get(metric) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, metric) {
                Ok(id) => {
                    counters.insert(metric.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::increment_metric(id, 1);
    }

    fn log_info(&self, message: &str) {
        let _ = hostcalls::log(LogLevel::Info, message);
    }

    fn log_warn(&self, message: &str) {
        let _ = hostcalls::log(LogLevel::Warn, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsafe_header_value_is_a_host_error_before_any_host_call() {
        for value in ["a\r\nSet-Cookie: x=1", "a\0", "d\u{e9}mo", "a "] {
            assert!(safe(Some(value)).is_err(), "{value:?}");
        }
        assert_eq!(safe(Some("Bearer error=\"invalid_token\"")), Ok(()));
        assert_eq!(safe(None), Ok(()), "removing a header is always safe");
    }

    #[test]
    fn a_header_value_that_is_not_utf8_is_a_host_error_not_a_panic() {
        assert!(utf8("get_map", b"\xff\xfe".to_vec()).is_err());
        assert_eq!(
            utf8("get_map", "d\u{e9}mo".as_bytes().to_vec()),
            Ok("d\u{e9}mo".into())
        );
    }

    #[test]
    fn envoy_answers_not_found_and_is_envoy() {
        assert_eq!(kind_from_probe(Ok(None)), HostKind::Envoy);
    }

    #[test]
    fn ngx_wasm_module_is_kong_inside_and_outside_a_request() {
        assert_eq!(kind_from_probe(Ok(Some(b"gw-1".to_vec()))), HostKind::Kong);
        // The root context (on_vm_start): ngx_wasm_module refuses dotted properties.
        assert_eq!(
            kind_from_probe(Err(Status::InternalFailure)),
            HostKind::Kong
        );
    }

    #[test]
    fn portcullis_properties_live_in_kong_ctx_shared_on_kong() {
        assert_eq!(
            property_path(HostKind::Kong, &["portcullis_identity"]),
            ["kong", "ctx", "shared", "portcullis_identity"]
        );
        assert_eq!(
            property_path(HostKind::Envoy, &["portcullis_identity"]),
            ["portcullis_identity"]
        );
    }

    #[test]
    fn gateway_properties_are_never_remapped() {
        for kind in [HostKind::Envoy, HostKind::Kong] {
            assert_eq!(
                property_path(kind, &["kong", "route_name"]),
                ["kong", "route_name"]
            );
            assert_eq!(
                property_path(kind, &["xds", "route_name"]),
                ["xds", "route_name"]
            );
            assert_eq!(property_path(kind, &["plugin_name"]), ["plugin_name"]);
        }
    }
}
