//! `portcullis render envoy`: the Envoy static configuration of the demo gateway.
//!
//! - A Lua response hold comes first (see [`hold`]): it keeps response headers back
//!   until the body is checked, so a failed check answers a clean 502.
//! - One `envoy.filters.http.wasm` entry runs every stage (`portcullis.wasm`): its
//!   configuration has one section per filter of `filters` and one `routes` table keyed
//!   by route name (see [`Source::pipeline_json`]), in a `StringValue`; the router ends
//!   the chain. The filter finds a route's settings by the route's name, one host call;
//!   Portcullis route metadata (`filter_metadata.portcullis.*`) is only a fallback, for
//!   routes added outside `gateway.yaml`.
//! - Each route forwards to the backend cluster; its only Portcullis metadata is
//!   `request_hold: "true"` on the routes where the request hold (the buffer filter) is on
//!   (see [`hold::route_metadata`]): that is the bootstrap's to say.
//! - The connection manager routes on a normalised path (`normalize_path`,
//!   `merge_slashes`) and refuses encoded slashes; the listener and the backend cluster
//!   buffer up to 8 MiB per connection (bodies the filters check are buffered whole).

use super::hold;
use crate::gateway::{Address, ClusterSpec, RouteSpec, Source};
use serde_json::{json, Map, Value};

/// The request hold's limit: the account and authorization filters' default request body
/// limit (1 MiB).
pub const REQUEST_BUFFER_BYTES: u64 = 1024 * 1024;

/// Per-connection buffer limit of the listener and the backend cluster, in bytes.
pub const BUFFER_LIMIT_BYTES: u64 = 8 * 1024 * 1024;

/// The one filter's name: its HTTP filter, root id, VM id and `.wasm` file.
pub const PIPELINE_FILTER: &str = "portcullis";

/// The type of an Envoy Wasm HTTP filter's configuration.
pub const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";
const TLS_TYPE: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
/// Debian's (and most distributions') bundle of trusted certificate authorities.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
const ROUTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// Replacements for parts of gateway.yaml's `envoy:` section, for a deployment whose
/// Envoy sees the world differently from the demo's (e.g. inside a container). `None`
/// keeps the gateway's value, so [`render`] (no override) gives the repository's envoy.yaml.
#[derive(Debug, Default)]
pub struct EnvoyOverrides {
    /// Address the listener and the admin interface bind (their ports are kept).
    pub bind_address: Option<String>,
    /// The backend as a DNS name and port: the cluster resolves it (`STRICT_DNS`, IPv4).
    pub backend_dns: Option<Address>,
    /// Folder of the `.wasm` files as Envoy sees it.
    pub wasm_dir: Option<String>,
}

/// The whole configuration as a value, keys in a fixed order.
pub fn render(source: &Source) -> Result<Value, String> {
    render_with(source, &EnvoyOverrides::default())
}

/// [`render`] with some of the `envoy:` section replaced by `overrides`.
pub fn render_with(source: &Source, overrides: &EnvoyOverrides) -> Result<Value, String> {
    let envoy = &source.gateway.envoy;
    let bind = |address: &Address| Address {
        address: overrides
            .bind_address
            .clone()
            .unwrap_or_else(|| address.address.clone()),
        port: address.port,
    };
    let wasm_dir = overrides.wasm_dir.as_deref().unwrap_or(&envoy.wasm_dir);
    let mut http_filters = vec![hold::filter()];
    let config = source.pipeline_json()?;
    let text = serde_json::to_string(&config).map_err(|e| format!("filters: {e}"))?;
    http_filters.push(wasm_filter(PIPELINE_FILTER, wasm_dir, text));
    http_filters.push(hold::request_filter(REQUEST_BUFFER_BYTES));
    http_filters
        .push(json!({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}));
    let routes: Vec<Value> = source.gateway.routes.iter().map(route).collect();
    Ok(json!({
        "admin": {"address": socket(&bind(&envoy.admin))},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": socket(&bind(&envoy.listener)),
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
            "clusters": std::iter::once(backend_cluster(&envoy.backend, overrides.backend_dns.as_ref()))
                .chain(envoy.clusters.iter().map(upstream_cluster))
                .collect::<Vec<_>>(),
        },
    }))
}

/// The cluster every route forwards to: a fixed address (`STATIC`), or a DNS name
/// resolved to IPv4 addresses (`STRICT_DNS`: every address of a scaled service is used).
fn backend_cluster(backend: &Address, dns: Option<&Address>) -> Value {
    let (kind, address) = match dns {
        Some(dns) => ("STRICT_DNS", dns),
        None => ("STATIC", backend),
    };
    let mut cluster = json!({
        "name": "backend",
        "type": kind,
        "connect_timeout": "2s",
        "per_connection_buffer_limit_bytes": BUFFER_LIMIT_BYTES,
        "load_assignment": {"cluster_name": "backend", "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": socket(address)}}]}
        ]},
    });
    if let (Some(_), Value::Object(fields)) = (dns, &mut cluster) {
        fields.insert("dns_lookup_family".into(), json!("V4_ONLY"));
    }
    cluster
}

/// A cluster of `envoy.clusters`: a fixed IP (`STATIC`) or a name (`LOGICAL_DNS`, one
/// connection target at a time, as Envoy advises for large external services), with TLS
/// when asked: the certificate must chain to `ca_file` (default: the system's trust
/// store) and name the address (a DNS or IP subject alternative name), and a name is sent
/// as SNI. Without the name check, any certificate from a public CA would do, and whoever
/// answers on the path could serve their own keys.
fn upstream_cluster(spec: &ClusterSpec) -> Value {
    let is_ip = spec.address.parse::<std::net::IpAddr>().is_ok();
    let address = Address {
        address: spec.address.clone(),
        port: spec.port,
    };
    let mut cluster = json!({
        "name": spec.name,
        "type": if is_ip { "STATIC" } else { "LOGICAL_DNS" },
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": spec.name, "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": socket(&address)}}]}
        ]},
    });
    if let (true, Value::Object(fields)) = (spec.tls, &mut cluster) {
        let ca_file = spec.ca_file.as_deref().unwrap_or(SYSTEM_CA_FILE);
        let san_type = if is_ip { "IP_ADDRESS" } else { "DNS" };
        let mut tls = json!({
            "@type": TLS_TYPE,
            "common_tls_context": {"validation_context": {
                "trusted_ca": {"filename": ca_file},
                "match_typed_subject_alt_names": [
                    {"san_type": san_type, "matcher": {"exact": spec.address}}
                ],
            }},
        });
        if !is_ip {
            tls["sni"] = json!(spec.address);
        }
        fields.insert(
            "transport_socket".into(),
            json!({"name": "envoy.transport_sockets.tls", "typed_config": tls}),
        );
    }
    cluster
}

fn socket(address: &Address) -> Value {
    json!({"socket_address": {"address": address.address, "port_value": address.port}})
}

/// The HTTP filter entry running Portcullis filter `name` from `<wasm_dir>/<name>.wasm`
/// with its JSON `configuration` (its `typed_config` is the whole Wasm configuration, as
/// ECDS also delivers it).
pub fn wasm_filter(name: &str, wasm_dir: &str, configuration: String) -> Value {
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
    let metadata: Map<String, Value> = hold::route_metadata(spec)
        .into_iter()
        .filter(|(key, _)| *key == hold::REQUEST_HOLD_KEY)
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
