//! `portcullis render ecds`: the demo gateway for Envoy with every Portcullis filter
//! configured through ECDS (extension config discovery) from files in a watched folder,
//! so that a policy or route-requirement change reaches a running Envoy without a
//! restart. How to deploy and push updates: `docs/ecds.md`.
//!
//! - `envoy.yaml` is the bootstrap of `portcullis render envoy` (same listener, hold
//!   filters, routes and cluster) with three changes: the one Portcullis filter is a
//!   `config_discovery` entry reading `<config dir>/portcullis.yaml` (the folder watched
//!   for files moved into it); the routes carry no Portcullis metadata but the request hold
//!   marker (`request_hold: "true"` where the buffer filter is on, see
//!   [`hold::route_metadata`]); and a `node` (ECDS needs a node id and cluster).
//! - `config/portcullis.yaml`: a `DiscoveryResponse` (the format Envoy's filesystem
//!   subscription reads) with one `TypedExtensionConfig` named after the one filter,
//!   holding the whole Wasm configuration: VM, code path, and the JSON configuration with
//!   every stage's section and the route table, pretty-printed: one push switches every
//!   stage atomically. `version_info` is a digest of the resource, shown by the admin
//!   stat `extension_config_discovery.http_filter.<name>.version_text`.
//! - The route settings travel with the filter configuration, as the route table keyed by
//!   route name (see [`Source::route_table`]), as in `envoy.yaml`: one push changes a
//!   role's grants or a route's requirement together, and there is no second copy on the routes
//!   that could disagree (a filter prefers its table but falls back to route metadata,
//!   so stale metadata would decide for a route removed from the table). What stays in
//!   the bootstrap: route names and matches, and the hold filters' per-route switches
//!   with the request hold's marker (derived from the route's settings; changing whether
//!   a route needs the response or request hold means rendering and restarting with the
//!   new bootstrap: a pushed `body:` account on a route without the marker is refused
//!   with 500 `request_hold_missing`).
//! - Paths: the bootstrap names the configuration folder as written, `<--out-dir>/config`
//!   (default `deploy/ecds/config`: run Envoy from the repository root, as for
//!   `envoy.yaml`; an absolute `--out-dir` gives absolute paths). The `.wasm` files are
//!   read from `envoy.wasm_dir` of `gateway.yaml`. Under Kubernetes, mount the
//!   configuration files as a ConfigMap volume at the folder the bootstrap names and the
//!   filters at `wasm_dir` (see `docs/ecds.md`): the kubelet updates a ConfigMap volume by
//!   renaming a symlink in that folder, which is the move Envoy watches for.

use super::{envoy, hold, BundleArgs, BundleFile};
use crate::gateway::Source;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The bundle's folder when `--out-dir` is not given (where `render` then writes it).
pub const DEFAULT_DIR: &str = "deploy/ecds";
/// The folder, under the bundle's, of the filters' configuration files.
pub const CONFIG_DIR: &str = "config";
/// The node Envoy reports (ECDS refuses to start without an id and a cluster).
pub const NODE: &str = "portcullis-demo";
const EXTENSION_TYPE: &str = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
const HCM: &str = "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config";

/// The bundle's files: `envoy.yaml`, then `config/portcullis.yaml`.
pub fn render(source: &Source, args: &BundleArgs) -> Result<Vec<BundleFile>, String> {
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let watched = format!(
        "{}/{CONFIG_DIR}",
        out_dir.to_string_lossy().trim_end_matches('/')
    );
    let mut bootstrap = envoy::render(source)?;
    let mut files = Vec::new();
    let name = envoy::PIPELINE_FILTER;
    for filter in hcm_list(&mut bootstrap, "http_filters")? {
        if filter["name"].as_str() == Some(name) {
            files.push(BundleFile {
                path: format!("{CONFIG_DIR}/{name}.yaml"),
                documents: vec![discovery_response(source)?],
            });
            *filter = discovered(name, &watched);
        }
    }
    for route in hcm_list(&mut bootstrap, "route_config/virtual_hosts/0/routes")? {
        if let Value::Object(route) = route {
            keep_only_request_hold(route);
        }
    }
    let mut with_node = Map::new();
    with_node.insert("node".into(), json!({"id": NODE, "cluster": NODE}));
    if let Value::Object(rest) = bootstrap {
        with_node.extend(rest);
    }
    files.insert(
        0,
        BundleFile {
            path: "envoy.yaml".into(),
            documents: vec![Value::Object(with_node)],
        },
    );
    Ok(files)
}

/// Removes a route's Portcullis settings from its metadata, keeping only the request hold
/// marker: it says the route's buffer filter is on, which is the bootstrap's to say (the
/// account filter refuses a `body:` account on a route without it). Alone it gives a
/// filter no route settings to fall back to.
fn keep_only_request_hold(route: &mut Map<String, Value>) {
    let Some(metadata) = route.shift_remove("metadata") else {
        return;
    };
    let marker = metadata
        .pointer(&format!(
            "/filter_metadata/portcullis/{}",
            hold::REQUEST_HOLD_KEY
        ))
        .cloned();
    if let Some(marker) = marker {
        route.insert(
            "metadata".into(),
            json!({"filter_metadata": {"portcullis": {hold::REQUEST_HOLD_KEY: marker}}}),
        );
    }
}

/// A list inside the connection manager's configuration of the rendered bootstrap.
fn hcm_list<'a>(bootstrap: &'a mut Value, path: &str) -> Result<&'a mut Vec<Value>, String> {
    bootstrap
        .pointer_mut(&format!("{HCM}/{path}"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| format!("render ecds: the envoy bootstrap has no {path}"))
}

/// The HTTP filter entry taking filter `name`'s configuration from `<watched>/<name>.yaml`.
/// No default configuration: the listener waits for the file at start, so a request is
/// never served by a filter without its configuration.
pub fn discovered(name: &str, watched: &str) -> Value {
    json!({
        "name": name,
        "config_discovery": {
            "config_source": {
                "path_config_source": {
                    "path": format!("{watched}/{name}.yaml"),
                    "watched_directory": {"path": watched},
                },
            },
            "type_urls": [envoy::WASM_TYPE],
        },
    })
}

/// The one filter's configuration file: a discovery response with the whole Wasm
/// configuration as one `TypedExtensionConfig` named after the filter. Every stage's
/// section is in it, so one push switches them all at once.
fn discovery_response(source: &Source) -> Result<Value, String> {
    let name = envoy::PIPELINE_FILTER;
    let config = source.pipeline_json()?;
    let text = serde_json::to_string_pretty(&config).map_err(|e| format!("filters: {e}"))?;
    let wasm = envoy::wasm_filter(name, &source.gateway.envoy.wasm_dir, text);
    let resource = json!({
        "@type": EXTENSION_TYPE,
        "name": name,
        "typed_config": wasm["typed_config"],
    });
    Ok(json!({"version_info": version(&resource)?, "resources": [resource]}))
}

/// A short digest of the resource, so the admin stats show which file is live.
fn version(resource: &Value) -> Result<String, String> {
    let bytes = serde_json::to_vec(resource).map_err(|e| format!("render ecds: {e}"))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok(format!("sha256:{}", &digest[..16]))
}
