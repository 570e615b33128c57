//! An in-memory [`Host`] for native tests of the flows. Compiled always (it is small) so
//! the filter crates' and the CLI's tests can use it too.

use super::host::{Host, HostError, HostKind};
use crate::header_value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A local response the flow sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentResponse {
    /// Status code.
    pub status: u16,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl SentResponse {
    /// A header's value by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One native signature check asked of the host: hash name, DER key, signature, text.
pub type NativeCheck = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// An in-memory gateway: headers, properties, bodies, a pinned clock.
#[derive(Debug, Clone)]
pub struct MockHost {
    /// Which gateway to pretend to be.
    pub kind: HostKind,
    /// Request headers in order.
    pub request_headers: Vec<(String, String)>,
    /// Response headers in order.
    pub response_headers: Vec<(String, String)>,
    /// Properties by dotted path.
    pub properties: HashMap<String, Vec<u8>>,
    /// Buffered request body.
    pub request_body: Vec<u8>,
    /// Buffered response body.
    pub response_body: Vec<u8>,
    /// The local response, if one was sent.
    pub sent: Option<SentResponse>,
    /// Seconds since the epoch that `now()` returns.
    pub now_secs: u64,
    /// Counters moved.
    pub counters: RefCell<HashMap<String, u64>>,
    /// Log lines written.
    pub logs: RefCell<Vec<String>>,
    /// Host calls that fail, by call name, to test fail-closed paths.
    pub failing: Vec<&'static str>,
    /// What the native signature check answers (`None`: the host offers none).
    pub native_signature: Option<bool>,
    /// Native signature checks asked for.
    pub native_checks: RefCell<Vec<NativeCheck>>,
}

impl Default for MockHost {
    fn default() -> Self {
        MockHost {
            kind: HostKind::Envoy,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            properties: HashMap::new(),
            request_body: Vec::new(),
            response_body: Vec::new(),
            sent: None,
            now_secs: 1_700_000_000,
            counters: RefCell::new(HashMap::new()),
            logs: RefCell::new(Vec::new()),
            failing: Vec::new(),
            native_signature: None,
            native_checks: RefCell::new(Vec::new()),
        }
    }
}

impl MockHost {
    /// A GET request for `path` on `authority`.
    pub fn request(method: &str, authority: &str, path: &str) -> Self {
        MockHost {
            request_headers: vec![
                (":method".into(), method.into()),
                (":authority".into(), authority.into()),
                (":path".into(), path.into()),
            ],
            ..MockHost::default()
        }
    }

    /// Adds a request header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.request_headers.push((name.into(), value.into()));
        self
    }

    /// Sets a property by dotted path.
    pub fn with_property(mut self, path: &str, value: &[u8]) -> Self {
        self.properties.insert(path.into(), value.to_vec());
        self
    }

    /// A request header's value, as the upstream would see it.
    pub fn upstream_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A counter's value.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.borrow().get(name).copied().unwrap_or(0)
    }

    fn check(&self, call: &'static str) -> Result<(), HostError> {
        if self.failing.contains(&call) {
            Err(HostError {
                call,
                status: "InternalFailure".into(),
            })
        } else {
            Ok(())
        }
    }
}

fn get(map: &[(String, String)], name: &str) -> Option<String> {
    map.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Refuses an unsafe header value as the wasm adapter does (see [`header_value`]).
fn safe(value: Option<&str>) -> Result<(), HostError> {
    match value.map(header_value::check) {
        Some(Err(e)) => Err(HostError {
            call: "set_map_value",
            status: e.to_string(),
        }),
        _ => Ok(()),
    }
}

fn set(map: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    map.retain(|(n, _)| n != name);
    if let Some(v) = value {
        map.push((name.to_string(), v.to_string()));
    }
}

impl Host for MockHost {
    fn kind(&self) -> HostKind {
        self.kind
    }
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.check("get_map_value")?;
        Ok(get(&self.request_headers, name))
    }
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.check("get_map")?;
        Ok(self.request_headers.clone())
    }
    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.check("set_map_value")?;
        safe(value)?;
        set(&mut self.request_headers, name, value);
        Ok(())
    }
    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.check("get_map_value")?;
        Ok(get(&self.response_headers, name))
    }
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.check("get_map")?;
        Ok(self.response_headers.clone())
    }
    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.check("set_map_value")?;
        safe(value)?;
        set(&mut self.response_headers, name, value);
        Ok(())
    }
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        self.check("get_property")?;
        Ok(self.properties.get(&path.join(".")).cloned())
    }
    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.check("set_property")?;
        self.properties.insert(path.join("."), value.to_vec());
        Ok(())
    }
    fn request_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        self.check("get_buffer")?;
        Ok(Some(
            self.request_body[..size.min(self.request_body.len())].to_vec(),
        ))
    }
    fn response_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        self.check("get_buffer")?;
        Ok(Some(
            self.response_body[..size.min(self.response_body.len())].to_vec(),
        ))
    }
    fn set_response_body(&mut self, _current_size: usize, body: &[u8]) -> Result<(), HostError> {
        self.check("set_buffer")?;
        self.response_body = body.to_vec();
        Ok(())
    }
    fn send_response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.check("send_http_response")?;
        // As the wasm adapter: a reply with an unsafe header value is replaced by the
        // fixed 500 that echoes nothing.
        self.sent = Some(match header_value::check_all(headers) {
            Ok(()) => SentResponse {
                status,
                headers: headers.to_vec(),
                body: body.to_vec(),
            },
            Err((name, e)) => {
                self.log_warn(&format!("local reply refused: header {name}: {e}"));
                let (status, headers, body) = header_value::refusal_reply();
                SentResponse {
                    status,
                    headers,
                    body,
                }
            }
        });
        Ok(())
    }
    fn now(&self) -> Result<SystemTime, HostError> {
        self.check("get_current_time")?;
        Ok(UNIX_EPOCH + Duration::from_secs(self.now_secs))
    }
    fn verify_signature(
        &self,
        hash: &str,
        public_key_der: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Option<bool> {
        self.native_checks.borrow_mut().push((
            hash.to_string(),
            public_key_der.to_vec(),
            signature.to_vec(),
            text.to_vec(),
        ));
        self.native_signature
    }

    fn count(&mut self, metric: &str) {
        *self
            .counters
            .borrow_mut()
            .entry(metric.to_string())
            .or_insert(0) += 1;
    }
    fn log_info(&self, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }
    fn log_warn(&self, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }
}
