//! `portcullis render envoy`: the Envoy static configuration of the demo gateway.
//!
//! - A Lua response hold comes first (see [`hold`]): it keeps response headers back
//!   until the body is checked, so a failed check answers a clean 502.
//! - Each filter of `filters` becomes an `envoy.filters.http.wasm` entry, in that order,
//!   with its JSON configuration (see [`Source::filter_json`]) in a `StringValue`; the
//!   router ends the chain.
//! - Each route forwards to the backend cluster and carries its Portcullis settings as
//!   route metadata (`filter_metadata.portcullis.{requirement,account,response_accounts,
//!   shadow}`), leaf strings as the filters read them.
//! - The connection manager routes on a normalised path (`normalize_path`,
//!   `merge_slashes`) and refuses encoded slashes; the listener and the backend cluster
//!   buffer up to 8 MiB per connection (bodies the filters check are buffered whole).

use super::hold;
use crate::gateway::{Address, RouteSpec, Source};
use serde_json::{json, Map, Value};

/// The request hold's limit: the account filter's default request body limit (1 MiB).
pub const REQUEST_BUFFER_BYTES: u64 = 1024 * 1024;

/// Per-connection buffer limit of the listener and the backend cluster, in bytes.
pub const BUFFER_LIMIT_BYTES: u64 = 8 * 1024 * 1024;

const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";
const ROUTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// The whole configuration as a value, keys in a fixed order.
pub fn render(source: &Source) -> Result<Value, String> {
    let envoy = &source.gateway.envoy;
    let mut http_filters = vec![hold::filter()];
    for name in source.gateway.filters.keys() {
        let config = source
            .filter_json(name)
            .ok_or_else(|| format!("filters.{name}: missing"))?;
        let text = serde_json::to_string(&config).map_err(|e| format!("filters.{name}: {e}"))?;
        http_filters.push(wasm_filter(name, &envoy.wasm_dir, text));
    }
    http_filters.push(hold::request_filter(REQUEST_BUFFER_BYTES));
    http_filters
        .push(json!({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}));
    let routes: Vec<Value> = source.gateway.routes.iter().map(route).collect();
    Ok(json!({
        "admin": {"address": socket(&envoy.admin)},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": socket(&envoy.listener),
                "per_connection_buffer_limit_bytes": BUFFER_LIMIT_BYTES,
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": HCM_TYPE,
                        "stat_prefix": "ingress",
                        "normalize_path": true,
                        "merge_slashes": true,
                        "path_with_escaped_slashes_action": "REJECT_REQUEST",
                        "route_config": {"name": "demo", "virtual_hosts": [
                            {"name": "demo", "domains": ["*"], "routes": routes}
                        ]},
                        "http_filters": http_filters,
                    },
                }]}],
            }],
            "clusters": [{
                "name": "backend",
                "type": "STATIC",
                "connect_timeout": "2s",
                "per_connection_buffer_limit_bytes": BUFFER_LIMIT_BYTES,
                "load_assignment": {"cluster_name": "backend", "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": socket(&envoy.backend)}}]}
                ]},
            }],
        },
    }))
}

fn socket(address: &Address) -> Value {
    json!({"socket_address": {"address": address.address, "port_value": address.port}})
}

fn wasm_filter(name: &str, wasm_dir: &str, configuration: String) -> Value {
    let dir = wasm_dir.trim_end_matches('/');
    json!({
        "name": name,
        "typed_config": {
            "@type": WASM_TYPE,
            "config": {
                "name": name,
                "root_id": name,
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": format!("{dir}/{name}.wasm")}},
                },
                "configuration": {"@type": STRING_TYPE, "value": configuration},
            },
        },
    })
}

fn route(spec: &RouteSpec) -> Value {
    let mut matcher = Map::new();
    if let Some(path) = &spec.matcher.path {
        matcher.insert("path".into(), json!(path));
    }
    if let Some(prefix) = &spec.matcher.prefix {
        matcher.insert("prefix".into(), json!(prefix));
    }
    if let Some(regex) = &spec.matcher.safe_regex {
        matcher.insert("safe_regex".into(), json!({"regex": regex}));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(spec.name));
    out.insert("match".into(), Value::Object(matcher));
    out.insert("route".into(), json!({"cluster": "backend"}));
    let mut per_filter = Map::new();
    if let Some(Value::Object(hold)) = hold::per_route(spec) {
        per_filter.extend(hold);
    }
    if let Some(buffer) = hold::request_per_route(spec) {
        per_filter.insert(hold::REQUEST_NAME.into(), buffer);
    }
    if !per_filter.is_empty() {
        out.insert("typed_per_filter_config".into(), Value::Object(per_filter));
    }
    let metadata: Map<String, Value> = spec
        .metadata()
        .into_iter()
        .map(|(key, value)| (key.to_string(), Value::String(value)))
        .collect();
    if !metadata.is_empty() {
        out.insert(
            "metadata".into(),
            json!({"filter_metadata": {"portcullis": metadata}}),
        );
    }
    Value::Object(out)
}
