//! The [`Host`] the pipeline's stages share within one callback: it reads each thing
//! from the gateway once and hands the stages what earlier stages wrote.
//!
//! Every host call costs microseconds, and the stages, written as separate filters, ask
//! for the same things: the route name and its metadata, `x-request-id`, the header map,
//! the identity the token stage set. Here:
//! - the request (or response) header map is read once, on the first header lookup, and
//!   kept in step with the stages' own header changes;
//! - each property is read once; a property a stage sets is kept for the rest of the
//!   request (in [`Written`], which the pipeline keeps in its stream) and also written to
//!   the gateway, so filters after this one (and the access log) still see it;
//! - everything else (bodies, local replies, the clock, counters, logs, signature checks)
//!   goes straight to the gateway.

use super::host::{Host, HostError, HostKind};
use std::cell::RefCell;
use std::time::SystemTime;

/// Properties the stages set during one request, by path.
pub type Written = Vec<(Vec<String>, Vec<u8>)>;

/// Properties read from the gateway during one callback (`None`: absent), by path.
type Read = RefCell<Vec<(Vec<String>, Option<Vec<u8>>)>>;

/// A header map read once, then kept in step with the writes made through this host.
type Headers = RefCell<Option<Vec<(String, String)>>>;

/// A [`Host`] over the gateway's, for one callback of the pipeline.
pub struct StageHost<'a> {
    inner: &'a mut dyn Host,
    written: &'a mut Written,
    read: Read,
    request: Headers,
    response: Headers,
}

impl<'a> StageHost<'a> {
    /// Wraps the gateway's host for one callback; `written` carries the properties set
    /// earlier in the request.
    pub fn new(inner: &'a mut dyn Host, written: &'a mut Written) -> Self {
        StageHost {
            inner,
            written,
            read: RefCell::new(Vec::new()),
            request: RefCell::new(None),
            response: RefCell::new(None),
        }
    }
}

fn same_path(stored: &[String], path: &[&str]) -> bool {
    stored.len() == path.len() && stored.iter().zip(path).all(|(a, b)| a == b)
}

/// The map, read from the gateway with `read` on first use.
fn headers(
    cache: &Headers,
    read: impl FnOnce() -> Result<Vec<(String, String)>, HostError>,
) -> Result<Vec<(String, String)>, HostError> {
    if let Some(map) = cache.borrow().as_ref() {
        return Ok(map.clone());
    }
    let map = read()?;
    *cache.borrow_mut() = Some(map.clone());
    Ok(map)
}

/// The first value of `name` (lower case), as the gateways answer a single lookup.
fn lookup(
    cache: &Headers,
    name: &str,
    read: impl FnOnce() -> Result<Vec<(String, String)>, HostError>,
) -> Result<Option<String>, HostError> {
    if cache.borrow().is_none() {
        let map = read()?;
        *cache.borrow_mut() = Some(map);
    }
    Ok(cache.borrow().as_ref().and_then(|map| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }))
}

/// Mirrors a header write in the cached map (a set replaces every copy).
fn mirror(cache: &Headers, name: &str, value: Option<&str>) {
    if let Some(map) = cache.borrow_mut().as_mut() {
        map.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(value) = value {
            map.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
}

impl Host for StageHost<'_> {
    fn kind(&self) -> HostKind {
        self.inner.kind()
    }

    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        lookup(&self.request, name, || self.inner.request_headers())
    }

    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        headers(&self.request, || self.inner.request_headers())
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.inner.set_request_header(name, value)?;
        mirror(&self.request, name, value);
        Ok(())
    }

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        lookup(&self.response, name, || self.inner.response_headers())
    }

    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        headers(&self.response, || self.inner.response_headers())
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.inner.set_response_header(name, value)?;
        mirror(&self.response, name, value);
        Ok(())
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        if let Some((_, value)) = self.written.iter().find(|(p, _)| same_path(p, path)) {
            return Ok(Some(value.clone()));
        }
        if let Some((_, value)) = self.read.borrow().iter().find(|(p, _)| same_path(p, path)) {
            return Ok(value.clone());
        }
        let value = self.inner.property(path)?;
        let key = path.iter().map(|s| s.to_string()).collect();
        self.read.borrow_mut().push((key, value.clone()));
        Ok(value)
    }

    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.inner.set_property(path, value)?;
        self.read.borrow_mut().retain(|(p, _)| !same_path(p, path));
        self.written.retain(|(p, _)| !same_path(p, path));
        self.written
            .push((path.iter().map(|s| s.to_string()).collect(), value.to_vec()));
        Ok(())
    }

    fn request_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        self.inner.request_body(size)
    }

    fn response_body(&self, size: usize) -> Result<Option<Vec<u8>>, HostError> {
        self.inner.response_body(size)
    }

    fn set_response_body(&mut self, current_size: usize, body: &[u8]) -> Result<(), HostError> {
        self.inner.set_response_body(current_size, body)
    }

    fn send_response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.inner.send_response(status, headers, body)
    }

    fn now(&self) -> Result<SystemTime, HostError> {
        self.inner.now()
    }

    fn count(&mut self, metric: &str) {
        self.inner.count(metric);
    }

    fn log_info(&self, message: &str) {
        self.inner.log_info(message);
    }

    fn log_warn(&self, message: &str) {
        self.inner.log_warn(message);
    }

    fn verify_signature(
        &self,
        hash: &str,
        public_key_der: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Option<bool> {
        self.inner
            .verify_signature(hash, public_key_der, signature, text)
    }
}
