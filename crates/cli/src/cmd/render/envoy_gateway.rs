//! `portcullis render envoy-gateway`: the demo gateway for Envoy Gateway (the CRD schema in
//! `tests/fixtures/crds` holds v1.9.0's), in `deploy/envoy-gateway/`. How to deploy:
//! `docs/deploying.md`.
//!
//! - `gateway.yaml`: a GatewayClass for Envoy Gateway's controller, a Gateway with one
//!   HTTP listener, and a ClientTrafficPolicy giving it what `envoy.yaml` gives its
//!   listener: an 8 MiB connection buffer (Envoy Gateway's default is 32 KiB, and the
//!   filters buffer whole bodies) and escaped slashes refused.
//! - `routes.yaml`: the HTTPRoute, one rule per `gateway.yaml` route (several HTTPRoutes
//!   of at most 16 rules, the Gateway API limit, when there are more), and a
//!   BackendTrafficPolicy with the backend's 8 MiB buffer.
//! - `envoyextensionpolicy.yaml`: ONE EnvoyExtensionPolicy targeting the HTTPRoute(s) with
//!   the five filters in its `wasm` list, in chain order (Envoy Gateway orders Wasm
//!   filters by their index). Not one policy per filter: Envoy Gateway attaches a single
//!   EnvoyExtensionPolicy to an HTTPRoute and marks any other one targeting it
//!   `Conflicted` (v1.9.0 `resolveEnvoyExtensionPolicyRouteTargetRef`), so the others
//!   would silently not run. Images are pinned by digest (`image.url` with `@sha256:`,
//!   and `image.sha256`, compared with the image manifest's digest). Its `lua` list adds
//!   the response hold of `envoy.yaml` (see [`hold`]): Envoy Gateway places Lua filters
//!   before Wasm filters, so the hold sees the response last, as there; it holds only the
//!   routes that need it, found by route name.
//! - Route tables: the filters find their route by `xds.route_name`; Envoy Gateway names
//!   the Envoy route of rule `i`, match `j` of an HTTPRoute
//!   `httproute/<namespace>/<name>/rule/<i>/match/<j>/<host>` with the host's dots turned
//!   into `_` (`*` for a route without host names): v1.9.0's `irRouteName` plus the host
//!   suffix of `processHTTPRouteParentRefListener`. Each rule has one match, so `j` is 0.
//! - Order: Envoy Gateway does not keep the rules' order but sorts a listener's routes by
//!   Gateway API precedence (exact paths, then regular expressions, then prefixes; longer
//!   first). Where that could send a request to another route than `envoy.yaml` would,
//!   rendering fails and says which route to list first.
//! - Prefixes other than `/` are rendered as regular expressions: a Gateway API
//!   `PathPrefix` matches whole segments (`/api` does not match `/apix`), unlike Envoy's.

use super::k8s::{self, Digests};
use super::{hold, BundleArgs, BundleFile};
use crate::gateway::{RouteSpec, Source};
use crate::routes::Matcher;
use serde_json::{json, Value};

/// The Gateway, GatewayClass and ClientTrafficPolicy's file.
pub const GATEWAY_FILE: &str = "gateway.yaml";
/// The HTTPRoute(s) and BackendTrafficPolicy's file.
pub const ROUTES_FILE: &str = "routes.yaml";
/// The EnvoyExtensionPolicy's file.
pub const POLICY_FILE: &str = "envoyextensionpolicy.yaml";
/// Name of the GatewayClass, Gateway, HTTPRoute and policies.
pub const NAME: &str = "portcullis-demo";
/// Envoy Gateway's controller.
pub const CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";
/// The Gateway's HTTP listener port.
pub const LISTENER_PORT: u16 = 80;
/// Connection buffers of the listener and backend (as `envoy.yaml`'s 8 MiB).
pub const BUFFER_LIMIT: &str = "8Mi";
/// Rules per HTTPRoute and target references per policy (Gateway API limits).
pub const MAX_ITEMS: usize = 16;
const GATEWAY_API: &str = "gateway.networking.k8s.io";

/// The comment written under the header of a bundle file.
pub fn comment(path: &str) -> Option<&'static str> {
    match path {
        POLICY_FILE => Some(
            "One EnvoyExtensionPolicy with the five filters in chain order, not one per filter:\n\
             Envoy Gateway attaches only one EnvoyExtensionPolicy to an HTTPRoute and marks\n\
             the others Conflicted, so they would not run. The route tables in each `config`\n\
             are keyed by Envoy Gateway's route names:\n\
             httproute/<namespace>/<name>/rule/<index>/match/0/<host, dots as _, or *>.\n\
             Validated by `make test` against the EnvoyExtensionPolicy CRD schema (v1.9.0).",
        ),
        GATEWAY_FILE | ROUTES_FILE => Some(
            "Gateway API and Envoy Gateway objects without a CRD schema in the repository:\n\
             `make test` does not validate them. The route tables of envoyextensionpolicy.yaml\n\
             depend on the HTTPRoute's namespace, name and rule order.",
        ),
        _ => None,
    }
}

/// The bundle's files.
pub fn render(source: &Source, args: &BundleArgs) -> Result<Vec<BundleFile>, String> {
    let deploy = &source.gateway.deploy;
    deploy.check()?;
    k8s::refuse_body_accounts(source, "Envoy Gateway")?;
    k8s::refuse_clusters(source, "Envoy Gateway")?;
    let routes = &source.gateway.routes;
    if routes.len() > MAX_ITEMS * MAX_ITEMS {
        return Err(format!(
            "routes: at most {} for Envoy Gateway (16 HTTPRoutes of 16 rules)",
            MAX_ITEMS * MAX_ITEMS
        ));
    }
    let matches = routes
        .iter()
        .map(path_match)
        .collect::<Result<Vec<_>, _>>()?;
    check_precedence(routes, &matches)?;
    let digests = Digests::load(&args.digests)?;
    let chunks = routes.len().div_ceil(MAX_ITEMS).max(1);
    let route_name = |index: usize| match chunks {
        1 => NAME.to_string(),
        _ => format!("{NAME}-{:02}", index / MAX_ITEMS + 1),
    };
    let namespace = deploy.namespace.as_str();
    let hosts = deploy.hosts();
    let xds_names = |index: usize| -> Vec<String> {
        hosts
            .iter()
            .map(|host| {
                format!(
                    "httproute/{namespace}/{}/rule/{}/match/0/{}",
                    route_name(index),
                    index % MAX_ITEMS,
                    host.replace('.', "_")
                )
            })
            .collect()
    };
    let targets: Vec<Value> = (0..chunks)
        .map(|chunk| json!({"group": GATEWAY_API, "kind": "HTTPRoute", "name": route_name(chunk * MAX_ITEMS)}))
        .collect();
    let mut wasm = Vec::new();
    for name in source.gateway.filters.keys() {
        let image = digests.image(&args.digests, &deploy.registry, name)?;
        wasm.push(json!({
            "name": name,
            "rootID": name,
            "code": {"type": "Image", "image": {"url": image.pinned, "sha256": image.sha256}},
            "config": k8s::filter_config(source, name, &|index, _| xds_names(index))?,
            "failOpen": false,
        }));
    }
    let held: Vec<String> = routes
        .iter()
        .enumerate()
        .filter(|(_, spec)| hold::per_route(spec).is_none())
        .flat_map(|(index, _)| xds_names(index))
        .collect();
    let mut spec = json!({"targetRefs": targets});
    if !held.is_empty() {
        spec["lua"] = json!([{"type": "Inline", "inline": hold_script(&held)}]);
    }
    spec["wasm"] = Value::Array(wasm);
    let policy = json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyExtensionPolicy",
        "metadata": k8s::metadata(NAME, Some(namespace), &[]),
        "spec": spec,
    });
    let mut http_routes = Vec::new();
    for chunk in 0..chunks {
        let start = chunk * MAX_ITEMS;
        let end = routes.len().min(start + MAX_ITEMS);
        let rules: Vec<Value> = matches[start..end]
            .iter()
            .map(|path| {
                json!({
                    "matches": [{"path": path}],
                    "backendRefs": [{"name": deploy.backend.name, "port": deploy.backend.port}],
                })
            })
            .collect();
        let mut route_spec = json!({"parentRefs": [{"name": NAME}]});
        if !deploy.hostnames.is_empty() {
            route_spec["hostnames"] = json!(deploy.hostnames);
        }
        route_spec["rules"] = Value::Array(rules);
        http_routes.push(json!({
            "apiVersion": format!("{GATEWAY_API}/v1"),
            "kind": "HTTPRoute",
            "metadata": k8s::metadata(&route_name(start), Some(namespace), &[]),
            "spec": route_spec,
        }));
    }
    http_routes.push(json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": k8s::metadata(NAME, Some(namespace), &[]),
        "spec": {"targetRefs": targets, "connection": {"bufferLimit": BUFFER_LIMIT}},
    }));
    let gateway = vec![
        json!({
            "apiVersion": format!("{GATEWAY_API}/v1"),
            "kind": "GatewayClass",
            "metadata": k8s::metadata(NAME, None, &[]),
            "spec": {"controllerName": CONTROLLER},
        }),
        json!({
            "apiVersion": format!("{GATEWAY_API}/v1"),
            "kind": "Gateway",
            "metadata": k8s::metadata(NAME, Some(namespace), &[]),
            "spec": {
                "gatewayClassName": NAME,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": LISTENER_PORT}],
            },
        }),
        json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "ClientTrafficPolicy",
            "metadata": k8s::metadata(NAME, Some(namespace), &[]),
            "spec": {
                "targetRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": NAME}],
                "connection": {"bufferLimit": BUFFER_LIMIT},
                "path": {"escapedSlashesAction": "RejectRequest"},
            },
        }),
    ];
    Ok(vec![
        BundleFile {
            path: GATEWAY_FILE.into(),
            documents: gateway,
        },
        BundleFile {
            path: ROUTES_FILE.into(),
            documents: http_routes,
        },
        BundleFile {
            path: POLICY_FILE.into(),
            documents: vec![policy],
        },
    ])
}

/// A route's match as an HTTPRoute path match (`Exact`, `PathPrefix /`, or
/// `RegularExpression`, also for other prefixes: see the module comment).
fn path_match(spec: &RouteSpec) -> Result<Value, String> {
    let m = &spec.matcher;
    match (&m.path, &m.prefix, &m.safe_regex) {
        (Some(path), None, None) => Ok(json!({"type": "Exact", "value": path})),
        (None, Some(prefix), None) if prefix == "/" => {
            Ok(json!({"type": "PathPrefix", "value": "/"}))
        }
        (None, Some(prefix), None) if !prefix.contains('?') => Ok(json!({
            "type": "RegularExpression",
            "value": format!("{}.*", regex::escape(prefix)),
        })),
        (None, None, Some(regex)) => Ok(json!({"type": "RegularExpression", "value": regex})),
        _ => Err(format!(
            "routes[{}].match: give one of `path`, `prefix` (without `?`) or `safe_regex`",
            spec.name
        )),
    }
}

/// Envoy Gateway's precedence key of a rendered path match: kind (exact 2, regular
/// expression 1, prefix 0), then length (`/` counting 0). Higher keys are tried first.
fn precedence(path: &Value) -> (u8, usize) {
    let value = path["value"].as_str().unwrap_or_default();
    match path["type"].as_str() {
        Some("Exact") => (2, value.len()),
        Some("RegularExpression") => (1, value.len()),
        _ => (0, if value == "/" { 0 } else { value.len() }),
    }
}

/// Fails when Envoy Gateway's reordering could send a request to another route than the
/// first-match order of `gateway.yaml`: a later route that it tries first and that is not
/// provably disjoint from the earlier one (an exact path the earlier route does not match).
fn check_precedence(routes: &[RouteSpec], matches: &[Value]) -> Result<(), String> {
    for (i, earlier) in routes.iter().enumerate() {
        for (j, later) in routes.iter().enumerate().skip(i + 1) {
            if precedence(&matches[j]) <= precedence(&matches[i]) {
                continue;
            }
            let disjoint = match (&later.matcher.path, Matcher::compile(&earlier.matcher)) {
                (Some(path), Ok(matcher)) => !matcher.matches(path),
                _ => false,
            };
            if !disjoint {
                return Err(format!(
                    "routes[{}]: Envoy Gateway tries it before routes[{}], which may match the \
                     same paths (Gateway API precedence: exact paths, then regular \
                     expressions, longer first, then prefixes); list `{}` before `{}`",
                    later.name, earlier.name, later.name, earlier.name
                ));
            }
        }
    }
    Ok(())
}

/// The response hold as an Envoy Lua script: holds the response headers until the body is
/// read on the routes named in `held`.
fn hold_script(held: &[String]) -> String {
    let mut script = String::from(
        "-- Portcullis response hold (crates/cli/src/cmd/render/hold.rs): on these routes,\n\
         -- the response headers wait for the body, so a failed check answers 502.\n\
         local held = {\n",
    );
    for name in held {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        script.push_str(&format!("  [\"{quoted}\"] = true,\n"));
    }
    script.push_str(
        "}\n\
         function envoy_on_response(response)\n  \
         if held[response:streamInfo():routeName()] then\n    \
         response:body(true)\n  \
         end\n\
         end\n",
    );
    script
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gateway::RouteMatch;

    fn route(name: &str, path: Option<&str>, prefix: Option<&str>, re: Option<&str>) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            matcher: RouteMatch {
                path: path.map(str::to_string),
                prefix: prefix.map(str::to_string),
                safe_regex: re.map(str::to_string),
            },
            requirement: None,
            account: None,
            response_accounts: None,
            shadow: false,
        }
    }

    fn check(routes: &[RouteSpec]) -> Result<(), String> {
        let matches: Vec<Value> = routes.iter().map(|r| path_match(r).unwrap()).collect();
        check_precedence(routes, &matches)
    }

    #[test]
    fn exact_paths_after_regexes_they_do_not_match_are_accepted() {
        let routes = [
            route("a", None, None, Some("^/accounts/[^/]+$")),
            route("b", Some("/sales"), None, None),
            route("c", None, Some("/"), None),
        ];
        assert!(check(&routes).is_ok());
    }

    #[test]
    fn an_exact_path_shadowed_by_an_earlier_route_is_refused() {
        let routes = [
            route("a", None, None, Some("^/accounts/[^/]+$")),
            route("b", Some("/accounts/x"), None, None),
        ];
        let err = check(&routes).unwrap_err();
        assert!(
            err.starts_with("routes[b]: ") && err.contains("list `b` before `a`"),
            "{err}"
        );
    }

    #[test]
    fn a_regex_after_the_catch_all_prefix_is_refused() {
        let routes = [
            route("all", None, Some("/"), None),
            route("x", None, None, Some("^/x$")),
        ];
        assert!(check(&routes).unwrap_err().starts_with("routes[x]: "));
    }

    #[test]
    fn prefixes_other_than_slash_become_regular_expressions() {
        let value = path_match(&route("p", None, Some("/api-v1/"), None)).unwrap();
        assert_eq!(
            value,
            json!({"type": "RegularExpression", "value": r"/api\-v1/.*"})
        );
    }
}
