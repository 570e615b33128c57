//! The response hold: a three-line Envoy Lua filter placed first in the chain (so last
//! on the response path) that buffers the whole response before its headers go to the
//! client. Why it exists: proxy-wasm-cpp-host turns a Wasm filter's `StopIteration` on
//! response headers into `StopAllIterationAndWatermark`, so a Wasm filter that holds its
//! own response headers never receives the body. The Portcullis filters therefore let
//! the headers through and check the body; while this filter still holds the headers,
//! a failed check can answer a clean 502 (Envoy sends the local reply straight to the
//! codec) instead of resetting a response already started.
//!
//! It is disabled per route where no response can be checked or rewritten: routes whose
//! requirement names no permission (public, optional, authenticated, or none) and that
//! declare no response account paths.

use crate::gateway::RouteSpec;
pub use portcullis_core::flow::hold::REQUEST_HOLD_KEY;
use portcullis_core::method_override::is_body_method;
use portcullis_core::route::{Requirement, RouteRequirement};
use serde_json::{json, Value};

/// The hold filter's name in the chain and in per-route configuration.
pub const NAME: &str = "portcullis.hold_response";
const LUA_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";
const LUA_PER_ROUTE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute";
const SOURCE: &str = "function envoy_on_response(response)\n  response:body(true)\nend\n";

/// The HTTP filter entry.
pub fn filter() -> Value {
    json!({
        "name": NAME,
        "typed_config": {"@type": LUA_TYPE, "default_source_code": {"inline_string": SOURCE}},
    })
}

/// `typed_per_filter_config` disabling the hold, for routes that do not need it.
pub fn per_route(spec: &RouteSpec) -> Option<Value> {
    if needs_hold(spec) {
        return None;
    }
    Some(json!({NAME: {"@type": LUA_PER_ROUTE_TYPE, "disabled": true}}))
}

fn needs_hold(spec: &RouteSpec) -> bool {
    if spec.response_accounts.is_some() {
        return true;
    }
    let Some(text) = &spec.requirement else {
        return false;
    };
    match RouteRequirement::parse(text) {
        Ok(RouteRequirement::AllMethods(r)) => names_permission(&r),
        Ok(RouteRequirement::ByMethod(clauses)) => clauses.iter().any(|(_, r)| names_permission(r)),
        // Unparseable: `check` refuses it; hold, to be safe.
        Err(_) => true,
    }
}

fn names_permission(requirement: &Requirement) -> bool {
    match requirement {
        Requirement::Permission(_) => true,
        Requirement::AnyOf(t) | Requirement::AllOf(t) => t.iter().any(names_permission),
        _ => false,
    }
}

/// The request hold: Envoy's buffer filter after the Portcullis filters, so a route whose
/// request body is checked reaches the router only once the body was read and checked (a
/// Wasm filter cannot hold its own request headers and still get the body, for the same
/// reason as above). Enabled on routes that read a `body:` account and on routes that
/// admit a method with a body, whose body the authorization filter reads for a method
/// override (`_method` in a form, multipart or JSON body).
pub const REQUEST_NAME: &str = "envoy.filters.http.buffer";
const BUFFER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
const BUFFER_PER_ROUTE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute";

/// The buffer filter entry, sized like the account filter's request body limit.
pub fn request_filter(max_request_bytes: u64) -> Value {
    json!({
        "name": REQUEST_NAME,
        "typed_config": {"@type": BUFFER_TYPE, "max_request_bytes": max_request_bytes},
    })
}

/// Whether the route gets the request hold: it reads a `body:` account, or admits a
/// method with a body.
pub fn holds_request(spec: &RouteSpec) -> bool {
    reads_body_account(spec) || admits_body_method(spec)
}

/// Whether the route's account id is in the request body (`account: body:...`).
pub fn reads_body_account(spec: &RouteSpec) -> bool {
    spec.account
        .as_deref()
        .is_some_and(|a| a.trim_start().starts_with("body:"))
}

/// Whether the route's requirement admits a method other than GET, HEAD and OPTIONS
/// (one for every method included): the authorization filter then reads the body of
/// such requests for a method override. A route without a requirement is refused
/// whatever its method.
pub fn admits_body_method(spec: &RouteSpec) -> bool {
    let Some(text) = &spec.requirement else {
        return false;
    };
    match RouteRequirement::parse(text) {
        Ok(RouteRequirement::AllMethods(_)) => true,
        Ok(RouteRequirement::ByMethod(clauses)) => clauses
            .iter()
            .any(|(methods, _)| methods.iter().any(|m| is_body_method(m))),
        // Unparseable: `check` refuses it; hold, to be safe.
        Err(_) => true,
    }
}

/// Per-route configuration disabling the request hold where no request body is read.
pub fn request_per_route(spec: &RouteSpec) -> Option<Value> {
    (!holds_request(spec)).then(|| json!({"@type": BUFFER_PER_ROUTE_TYPE, "disabled": true}))
}

/// The route's Portcullis metadata as rendered on an Envoy route: its settings
/// ([`RouteSpec::metadata`]) and, where the request hold is on, the marker
/// `request_hold: "true"`. The account filter (a `body:` account) and the authorization
/// filter (a body it reads for a method override) refuse such a request on an Envoy
/// route without the marker (500 `request_hold_missing`): the route table can change at
/// run time (ECDS) while the routes' buffer switches cannot, and a request on a route
/// without the buffer would reach the backend before its body was checked.
pub fn route_metadata(spec: &RouteSpec) -> Vec<(&'static str, String)> {
    let mut out = spec.metadata();
    if holds_request(spec) {
        out.push((REQUEST_HOLD_KEY, "true".to_string()));
    }
    out
}
