//! The [`Host`] the pipeline's stages share within one callback: it reads each thing
//! from the gateway once and hands the stages what earlier stages wrote.
//!
//! Every host call costs microseconds, and the stages, written as separate filters, ask
//! for the same things: the route name and its metadata, `x-request-id`, the header map,
//! the identity the token stage set. Here:
//! - the request (or response) header map is read once, on the first header lookup, and
//!   kept in step with the stages' own header changes;
//! - header changes are written once, when the callback ends ([`StageHost::flush`]): the
//!   last change of each name, and only if it changes something (removing a header the
//!   request does not carry costs nothing). Envoy clears its route cache on every header
//!   write, so this also saves route matching. Before a local reply they are written
//!   first, so the reply sees them;
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

/// Header writes not yet made, by lower-case name, in order; `None` removes.
type Pending = Vec<(String, Option<String>)>;

/// One side's headers: the map as read, the map with this callback's changes, and the
/// changes still to write.
#[derive(Default)]
struct Side {
    read: Headers,
    current: Headers,
    pending: Pending,
}

/// A [`Host`] over the gateway's, for one callback of the pipeline.
pub struct StageHost<'a> {
    inner: &'a mut dyn Host,
    written: &'a mut Written,
    read: Read,
    request: Side,
    response: Side,
    answered: bool,
}

impl<'a> StageHost<'a> {
    /// Wraps the gateway's host for one callback; `written` carries the properties set
    /// earlier in the request.
    pub fn new(inner: &'a mut dyn Host, written: &'a mut Written) -> Self {
        StageHost {
            inner,
            written,
            read: RefCell::new(Vec::new()),
            request: Side::default(),
            response: Side::default(),
            answered: false,
        }
    }

    /// Writes the header changes the stages made in this callback, unless a local reply
    /// went out (the request goes nowhere then). The pipeline calls it as the callback
    /// ends; an error is a deny.
    pub fn flush(&mut self) -> Result<(), HostError> {
        if self.answered {
            return Ok(());
        }
        self.flush_request()?;
        self.flush_response()
    }

    fn flush_request(&mut self) -> Result<(), HostError> {
        for (name, value) in changes(&mut self.request) {
            self.inner.set_request_header(&name, value.as_deref())?;
        }
        Ok(())
    }

    fn flush_response(&mut self) -> Result<(), HostError> {
        for (name, value) in changes(&mut self.response) {
            self.inner.set_response_header(&name, value.as_deref())?;
        }
        Ok(())
    }
}

/// The pending writes of `side` that change its headers as read (taken out of it).
fn changes(side: &mut Side) -> Pending {
    let pending = std::mem::take(&mut side.pending);
    let read = side.read.borrow();
    pending
        .into_iter()
        .filter(|(name, value)| {
            let Some(map) = read.as_ref() else {
                return true;
            };
            let mut copies = map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
            match value {
                None => copies.next().is_some(),
                Some(value) => {
                    let first = copies.next();
                    !(first.is_some_and(|(_, v)| v == value) && copies.next().is_none())
                }
            }
        })
        .collect()
}

fn same_path(stored: &[String], path: &[&str]) -> bool {
    stored.len() == path.len() && stored.iter().zip(path).all(|(a, b)| a == b)
}

/// Reads the map from the gateway with `read` on first use.
fn load(
    side: &Side,
    read: impl FnOnce() -> Result<Vec<(String, String)>, HostError>,
) -> Result<(), HostError> {
    if side.current.borrow().is_none() {
        let map = read()?;
        *side.read.borrow_mut() = Some(map.clone());
        *side.current.borrow_mut() = Some(map);
    }
    Ok(())
}

/// The map with this callback's changes.
fn headers(
    side: &Side,
    read: impl FnOnce() -> Result<Vec<(String, String)>, HostError>,
) -> Result<Vec<(String, String)>, HostError> {
    load(side, read)?;
    Ok(side.current.borrow().clone().unwrap_or_default())
}

/// The first value of `name`, as the gateways answer a single lookup.
fn lookup(
    side: &Side,
    name: &str,
    read: impl FnOnce() -> Result<Vec<(String, String)>, HostError>,
) -> Result<Option<String>, HostError> {
    load(side, read)?;
    Ok(side.current.borrow().as_ref().and_then(|map| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }))
}

/// Records a header write: the map shows it at once, the gateway gets it at the flush.
fn write(
    side: &mut Side,
    name: &str,
    value: Option<&str>,
    read: impl FnOnce() -> Result<Vec<(String, String)>, HostError>,
) -> Result<(), HostError> {
    load(side, read)?;
    let name = name.to_ascii_lowercase();
    if let Some(map) = side.current.borrow_mut().as_mut() {
        map.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        if let Some(value) = value {
            map.push((name.clone(), value.to_string()));
        }
    }
    side.pending.retain(|(k, _)| *k != name);
    side.pending.push((name, value.map(str::to_string)));
    Ok(())
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
        let inner = &*self.inner;
        write(&mut self.request, name, value, || inner.request_headers())
    }

    fn response_header(&self, name: &str) -> Result<Option<String>, HostError> {
        lookup(&self.response, name, || self.inner.response_headers())
    }

    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        headers(&self.response, || self.inner.response_headers())
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        let inner = &*self.inner;
        write(&mut self.response, name, value, || inner.response_headers())
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
        // On Kong a reply after the response headers is built from them: the changes the
        // stages made to them go first.
        self.flush_response()?;
        self.answered = true;
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
