//! Which route a request is on, and that route's Portcullis settings. Envoy gives the
//! route's name as `xds.route_name` and its metadata as leaf strings under
//! `xds.route_metadata.filter_metadata.portcullis.<key>`; Kong gives only
//! `kong.route_name`, so every filter also takes a route table keyed by route name.

use super::host::{Host, HostKind};
use crate::route::RouteEntry;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The route's name as the gateway reports it, if any.
pub fn route_name(host: &dyn Host) -> Option<String> {
    let path: &[&str] = match host.kind() {
        HostKind::Envoy => &["xds", "route_name"],
        HostKind::Kong => &["kong", "route_name"],
    };
    let bytes = host.property(path).ok().flatten()?;
    let name = String::from_utf8(bytes).ok()?;
    (!name.is_empty()).then_some(name)
}

/// One Portcullis key of the route's metadata (Envoy only), as a string.
pub fn metadata(host: &dyn Host, key: &str) -> Result<Option<String>, super::HostError> {
    if host.kind() != HostKind::Envoy {
        return Ok(None);
    }
    let bytes = host.property(&[
        "xds",
        "route_metadata",
        "filter_metadata",
        "portcullis",
        key,
    ])?;
    Ok(bytes
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty()))
}

/// Reads the route's settings: the filter's own route table (by route name) first, then
/// Envoy route metadata. `None` means the route declares nothing.
pub fn route_entry(
    host: &dyn Host,
    table: &HashMap<String, RouteEntry>,
) -> Result<Option<RouteEntry>, super::HostError> {
    if let Some(name) = route_name(host) {
        if let Some(entry) = table.get(&name) {
            if let Some(expected) = &entry.istio_virtual_service {
                if !from_virtual_service(host, expected)? {
                    // Same name, another VirtualService: not this route. No metadata
                    // fallback either (Istio carries none of ours).
                    return Ok(None);
                }
            }
            return Ok(Some(entry.clone()));
        }
    }
    if host.kind() != HostKind::Envoy {
        return Ok(None);
    }
    let entry = RouteEntry {
        requirement: metadata(host, "requirement")?,
        account: metadata(host, "account")?,
        response_accounts: metadata(host, "response_accounts")?,
        shadow: metadata(host, "shadow")?.is_some_and(|v| v == "true"),
        istio_virtual_service: None,
    };
    Ok((!entry.is_empty()).then_some(entry))
}

/// True when the route was made from VirtualService `expected` (`<namespace>/<name>`):
/// Istio puts `/apis/networking.istio.io/<version>/namespaces/<namespace>/virtual-service/
/// <name>` in the route's `istio.config` metadata.
fn from_virtual_service(host: &dyn Host, expected: &str) -> Result<bool, super::HostError> {
    let Some((namespace, name)) = expected.split_once('/') else {
        return Ok(false);
    };
    let config = host.property(&[
        "xds",
        "route_metadata",
        "filter_metadata",
        "istio",
        "config",
    ])?;
    let suffix = format!("/namespaces/{namespace}/virtual-service/{name}");
    Ok(config
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .is_some_and(|config| {
            config.starts_with("/apis/networking.istio.io/") && config.ends_with(&suffix)
        }))
}

/// Compiles each distinct metadata string once per worker and shares the result: the
/// per-request path then only looks it up. Bounded, so hostile churn cannot grow it.
pub struct Memo<T> {
    entries: RefCell<HashMap<String, Rc<T>>>,
    capacity: usize,
}

impl<T> Memo<T> {
    /// A memo holding at most `capacity` compiled entries.
    pub fn new(capacity: usize) -> Self {
        Memo {
            entries: RefCell::new(HashMap::new()),
            capacity,
        }
    }

    /// The compiled form of `key`, compiling it with `compile` on first sight.
    pub fn get_or_compile<E>(
        &self,
        key: &str,
        compile: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Rc<T>, E> {
        if let Some(hit) = self.entries.borrow().get(key) {
            return Ok(hit.clone());
        }
        let value = Rc::new(compile(key)?);
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key.to_string(), value.clone());
        Ok(value)
    }
}
