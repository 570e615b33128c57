//! [`Host`] over proxy-wasm host calls. Differences between Envoy and Kong's
//! ngx_wasm_module are decided once, when the root context starts (see [`detect_kind`]).

use portcullis_core::flow::{Host, HostError, HostKind};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::SystemTime;

fn fail(call: &'static str, status: Status) -> HostError {
    HostError {
        call,
        status: format!("{status:?}"),
    }
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

/// Tells Envoy from Kong by asking for a property only Kong's ngx_wasm_module has
/// (`ngx.hostname`, an nginx variable); Envoy answers NotFound.
pub fn detect_kind() -> HostKind {
    match hostcalls::get_property(vec!["ngx", "hostname"]) {
        Ok(Some(_)) => HostKind::Kong,
        _ => HostKind::Envoy,
    }
}

impl Host for WasmHost {
    fn kind(&self) -> HostKind {
        self.kind
    }

    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
            .map_err(|s| fail("get_map_value", s))
    }

    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        hostcalls::get_map(MapType::HttpRequestHeaders).map_err(|s| fail("get_map", s))
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value)
            .map_err(|s| fail("set_map_value", s))
    }

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        hostcalls::get_map_value(MapType::HttpResponseHeaders, name)
            .map_err(|s| fail("get_map_value", s))
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value)
            .map_err(|s| fail("set_map_value", s))
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_property(path.to_vec()).map_err(|s| fail("get_property", s))
    }

    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        hostcalls::set_property(path.to_vec(), Some(value)).map_err(|s| fail("set_property", s))
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
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        hostcalls::send_http_response(u32::from(status), headers, Some(body))
            .map_err(|s| fail("send_http_response", s))
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
