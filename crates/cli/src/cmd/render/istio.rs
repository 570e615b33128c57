//! `portcullis render istio`: the Portcullis filters as Istio WasmPlugins on the ingress
//! gateway, and the demo's routes as an Istio Gateway and VirtualService
//! (`deploy/istio/`). How to deploy: `docs/deploying.md`.
//!
//! - `wasmplugins.yaml`: one WasmPlugin per filter (`extensions.istio.io/v1alpha1`), in
//!   the ingress gateway's namespace (`deploy.istio_namespace`) with a selector for its
//!   pods (`deploy.istio_selector`): a selector applies to the workloads of the plugin's
//!   own namespace, and `targetRefs` only to Gateway API Gateways, Services of waypoints
//!   and ServiceEntries. The JWT filter runs in phase AUTHN, the others in AUTHZ with
//!   falling priorities (Istio orders a phase by descending priority), so the chain is
//!   `gateway.yaml`'s order, as in `envoy.yaml`; Envoy runs the response callbacks in
//!   reverse, so the account check sees the body before redaction does. Each plugin
//!   fails closed (`FAIL_CLOSE`), is pinned by digest (`oci://...@sha256:`, plus `sha256`,
//!   which Istio compares with the image manifest's digest), and names the filter as
//!   `pluginName` (the proxy-wasm root id).
//! - `pluginConfig` is the filter's JSON configuration plus, for the filters that read
//!   routes, the route table: a WasmPlugin cannot target a route and Istio carries no
//!   Portcullis route metadata, so each filter finds its route by `xds.route_name`, which
//!   Istio sets to the VirtualService's `http[].name` (joined with `.` and the match's
//!   `name` when that is set; the rendered matches have none).
//! - `routes.yaml`: an Istio Gateway on the same pods and a VirtualService with one HTTP
//!   route per `gateway.yaml` route, named after it, in order (Istio keeps a
//!   VirtualService's order: the first match wins, as in `envoy.yaml`).
//! - `pluginConfig` is a protobuf `Struct`: numbers travel as doubles, so an integer
//!   beyond 2^53 is refused rather than silently rounded.

use super::k8s::{self, Digests, IMAGE_ANNOTATION};
use super::{BundleArgs, BundleFile};
use crate::gateway::{RouteSpec, Source};
use serde_json::{json, Value};

/// The WasmPlugins' file.
pub const PLUGINS_FILE: &str = "wasmplugins.yaml";
/// The Gateway and VirtualService's file.
pub const ROUTES_FILE: &str = "routes.yaml";
/// The filter that runs in phase AUTHN; every other one runs in AUTHZ.
pub const AUTHN_FILTER: &str = "portcullis_jwt";
/// The step between the priorities of successive filters of a phase (room to insert).
pub const PRIORITY_STEP: usize = 100;
/// The Istio Gateway's and VirtualService's name.
pub const ROUTES_NAME: &str = "portcullis-demo";
/// The port the Istio Gateway's HTTP server listens on.
pub const GATEWAY_PORT: u16 = 80;
/// The largest integer a protobuf `Struct` (a double) carries exactly.
const STRUCT_MAX_INT: u64 = 1 << 53;

/// The comment written under the header of a bundle file.
pub fn comment(path: &str) -> Option<&'static str> {
    match path {
        PLUGINS_FILE => Some(
            "One WasmPlugin per filter, in chain order: portcullis_jwt in phase AUTHN, the\n\
             others in AUTHZ by descending priority. Validated by `make test` against Istio's\n\
             WasmPlugin CRD schema. pluginConfig carries each filter's route table keyed by\n\
             the VirtualService's http[].name (Envoy's xds.route_name): see routes.yaml.",
        ),
        ROUTES_FILE => Some(
            "Istio Gateway and VirtualService for the demo's routes: each http[].name is the\n\
             gateway.yaml route name the filters' route tables use. No CRD schema for these\n\
             is kept in the repository, so `make test` does not validate them.",
        ),
        _ => None,
    }
}

/// The bundle's files: the WasmPlugins, then the routes.
pub fn render(source: &Source, args: &BundleArgs) -> Result<Vec<BundleFile>, String> {
    let deploy = &source.gateway.deploy;
    deploy.check()?;
    k8s::refuse_body_accounts(source, "Istio")?;
    k8s::refuse_clusters(source, "Istio")?;
    let digests = Digests::load(&args.digests)?;
    let filters: Vec<&str> = source.gateway.filters.keys().map(String::as_str).collect();
    if filters.iter().position(|f| *f == AUTHN_FILTER).unwrap_or(0) != 0 {
        return Err(format!(
            "filters: `{AUTHN_FILTER}` must come first for Istio, whose AUTHN phase runs \
             before every AUTHZ plugin"
        ));
    }
    let authz_count = filters.iter().filter(|f| **f != AUTHN_FILTER).count();
    let mut plugins = Vec::new();
    let mut authz_index = 0;
    for name in filters {
        let (phase, priority) = if name == AUTHN_FILTER {
            ("AUTHN", PRIORITY_STEP)
        } else {
            authz_index += 1;
            ("AUTHZ", PRIORITY_STEP * (authz_count + 1 - authz_index))
        };
        let mut config = k8s::filter_config(source, name, &|_, spec| vec![spec.name.clone()])?;
        // Route names are not namespaced on an ingress gateway: each entry also names the
        // VirtualService it belongs to, which the filters check against the route's
        // `istio.config` metadata (crates/core/src/flow/route.rs).
        let origin = format!("{}/{ROUTES_NAME}", deploy.namespace);
        if let Some(Value::Object(table)) = config.get_mut("routes") {
            for entry in table.values_mut() {
                if let Value::Object(entry) = entry {
                    entry.insert("istio_virtual_service".into(), json!(origin));
                }
            }
        }
        check_struct_numbers(&config, &format!("filters.{name}"))?;
        let image = digests.image(&args.digests, &deploy.registry, name)?;
        plugins.push(json!({
            "apiVersion": "extensions.istio.io/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": k8s::metadata(
                &k8s::object_name(name),
                Some(&deploy.istio_namespace),
                &[(IMAGE_ANNOTATION, image.tagged.clone())],
            ),
            "spec": {
                "selector": {"matchLabels": deploy.istio_selector},
                "url": format!("oci://{}", image.pinned),
                "sha256": image.sha256,
                "imagePullPolicy": "IfNotPresent",
                "pluginName": name,
                "phase": phase,
                "priority": priority,
                "failStrategy": "FAIL_CLOSE",
                "type": "HTTP",
                "pluginConfig": config,
            },
        }));
    }
    Ok(vec![
        BundleFile {
            path: PLUGINS_FILE.into(),
            documents: plugins,
        },
        BundleFile {
            path: ROUTES_FILE.into(),
            documents: routes(source),
        },
    ])
}

/// The Istio Gateway and the VirtualService.
fn routes(source: &Source) -> Vec<Value> {
    let deploy = &source.gateway.deploy;
    let hosts = deploy.hosts();
    let backend = format!(
        "{}.{}.svc.cluster.local",
        deploy.backend.name, deploy.namespace
    );
    let http: Vec<Value> = source
        .gateway
        .routes
        .iter()
        .map(|spec| {
            json!({
                "name": spec.name,
                "match": [{"uri": uri(spec)}],
                "route": [{"destination": {
                    "host": backend,
                    "port": {"number": deploy.backend.port},
                }}],
            })
        })
        .collect();
    let gateway = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": k8s::metadata(ROUTES_NAME, Some(&deploy.namespace), &[]),
        "spec": {
            "selector": deploy.istio_selector,
            "servers": [{
                "port": {"number": GATEWAY_PORT, "name": "http", "protocol": "HTTP"},
                "hosts": hosts,
            }],
        },
    });
    let virtual_service = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": k8s::metadata(ROUTES_NAME, Some(&deploy.namespace), &[]),
        "spec": {
            "hosts": hosts,
            "gateways": [ROUTES_NAME],
            "http": http,
        },
    });
    vec![gateway, virtual_service]
}

/// A route's match as a VirtualService `uri` (Istio maps `exact`, `prefix` and `regex`
/// to Envoy's `path`, `prefix` and `safe_regex`, as `envoy.yaml` uses them).
fn uri(spec: &RouteSpec) -> Value {
    let m = &spec.matcher;
    match (&m.path, &m.prefix, &m.safe_regex) {
        (Some(path), _, _) => json!({"exact": path}),
        (_, Some(prefix), _) => json!({"prefix": prefix}),
        (_, _, Some(regex)) => json!({"regex": regex}),
        // `portcullis check` refuses a route without a match before rendering.
        _ => json!({"prefix": "/"}),
    }
}

/// Refuses integers a protobuf `Struct` would round; `at` names the field.
fn check_struct_numbers(value: &Value, at: &str) -> Result<(), String> {
    match value {
        Value::Number(n) => {
            let exact = n
                .as_u64()
                .map(|u| u <= STRUCT_MAX_INT)
                .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= STRUCT_MAX_INT));
            if exact == Some(false) {
                return Err(format!(
                    "{at}: {n} is beyond 2^53: Istio's pluginConfig (a protobuf Struct) \
                     would round it"
                ));
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_struct_numbers(item, &format!("{at}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(key, item)| check_struct_numbers(item, &format!("{at}.{key}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn integers_beyond_two_to_the_53_are_refused() {
        assert!(check_struct_numbers(&json!({"a": [9_007_199_254_740_992_u64]}), "f").is_ok());
        let err = check_struct_numbers(&json!({"a": [9_007_199_254_740_993_u64]}), "f");
        assert!(err.unwrap_err().starts_with("f.a[0]: "));
    }
}
