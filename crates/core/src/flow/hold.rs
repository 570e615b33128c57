//! The request hold marker, shared by the filters that read request bodies (the account
//! filter for a `body:` account id, the authorization filter for a method override).
//!
//! A proxy-wasm filter cannot hold its own request headers and still receive the body
//! (Envoy turns the pause into `StopAllIterationAndWatermark`), so these filters let the
//! headers go on and check the body as it comes; only Envoy's buffer filter after them
//! keeps the request from the router until the body is complete. `portcullis render
//! envoy` switches that buffer on per route and marks such a route with the route metadata
//! `filter_metadata.portcullis.request_hold: "true"`. The route table (which ECDS can
//! change at run time) cannot vouch for the buffer: only the Envoy route, where the buffer
//! is switched on, can. Kong reads the whole request body before proxying, so it needs no
//! marker.

use super::route::metadata;
use super::{Host, HostKind};
use crate::decision::Denial;

/// The route metadata key by which a route says Envoy holds its requests until the body
/// was checked (`portcullis render envoy` sets it where it enables the buffer filter).
pub const REQUEST_HOLD_KEY: &str = "request_hold";

/// Fails closed (500 `request_hold_missing`) on an Envoy route without the marker, for a
/// request whose body must be read before the backend sees it. `route` names the route in
/// the log; `reads` says what the body is read for (`reads its account id from the
/// request body`).
pub fn require_request_hold(
    host: &dyn Host,
    route: Option<&str>,
    reads: &str,
) -> Result<(), Denial> {
    if host.kind() != HostKind::Envoy {
        return Ok(());
    }
    let marker = metadata(host, REQUEST_HOLD_KEY)
        .map_err(|e| Denial::internal("host_error", e.to_string()))?;
    if marker.as_deref() == Some("true") {
        return Ok(());
    }
    Err(Denial::internal(
        "request_hold_missing",
        format!(
            "route `{}` {reads} but its envoy route has no request hold (route metadata \
             `filter_metadata.portcullis.{REQUEST_HOLD_KEY}: \"true\"` with the buffer \
             filter enabled); render and load the envoy routes",
            route.unwrap_or("(unnamed)")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::mock::MockHost;

    const MARKER: &str = "xds.route_metadata.filter_metadata.portcullis.request_hold";

    #[test]
    fn an_envoy_route_with_the_marker_holds() {
        let h = MockHost::default().with_property(MARKER, b"true");
        assert_eq!(require_request_hold(&h, Some("r"), "reads"), Ok(()));
    }

    #[test]
    fn an_envoy_route_without_the_marker_is_refused_naming_the_route() {
        let denial = require_request_hold(&MockHost::default(), Some("r1"), "reads x").unwrap_err();
        assert_eq!((denial.status, denial.code), (500, "request_hold_missing"));
        assert!(
            denial.detail.contains("route `r1` reads x"),
            "{}",
            denial.detail
        );
    }

    #[test]
    fn kong_needs_no_marker() {
        let h = MockHost {
            kind: HostKind::Kong,
            ..MockHost::default()
        };
        assert_eq!(require_request_hold(&h, None, "reads"), Ok(()));
    }
}
