#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Kubernetes bundles `deploy/istio/` and `deploy/envoy-gateway/`: the committed files
//! are what `portcullis render` produces, each filter configuration in them is accepted by
//! that filter's own parser (what its `on_configure` runs), and the route tables name the
//! routes the same bundle defines. (Their CRD schema validation is tests/test_manifests.py.)

mod common;

use common::{code, portcullis, repo, stderr};
use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::tenant::TenantFilter;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const FILTERS: [&str; 5] = [
    "portcullis_jwt",
    "portcullis_tenant",
    "portcullis_authz",
    "portcullis_redact",
    "portcullis_accounts",
];

/// Every YAML document of a bundle file, in order.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bundle(target: &str, file: &str) -> Vec<Value> {
    documents(&repo().join("deploy").join(target).join(file))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The files of a folder, by name, with their text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn rendered_matches_committed(target: &str) {
    let out = std::env::temp_dir().join(format!("portcullis-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = portcullis(&["render", target, "--out-dir", out.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let rendered = files(&out);
    let _ = std::fs::remove_dir_all(&out);
    let committed = files(&repo().join("deploy").join(target));
    assert!(
        rendered == committed,
        "deploy/{target}/ is out of date: run `portcullis render {target}`"
    );
}

/// Runs the filter's own configuration parser on `config`.
fn parse(filter: &str, config: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(&serde_json::to_value(config).unwrap()).unwrap();
    match filter {
        "portcullis_jwt" => JwtFilter::from_json(&bytes).map(|_| ()),
        "portcullis_tenant" => TenantFilter::from_json(&bytes).map(|_| ()),
        "portcullis_authz" => AuthzFilter::from_json(&bytes).map(|_| ()),
        "portcullis_redact" => RedactFilter::from_json(&bytes).map(|_| ()),
        "portcullis_accounts" => AccountsFilter::from_json(&bytes).map(|_| ()),
        other => Err(format!("unknown filter {other}")),
    }
}

fn route_keys(config: &Value) -> BTreeSet<String> {
    config["routes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn committed_istio_manifests_are_what_render_produces() {
    rendered_matches_committed("istio");
}

#[test]
fn committed_envoy_gateway_manifests_are_what_render_produces() {
    rendered_matches_committed("envoy-gateway");
}

#[test]
fn every_wasmplugin_config_is_accepted_by_its_filter() {
    let docs = bundle("istio", "wasmplugins.yaml");
    let plugins = of_kind(&docs, "WasmPlugin");
    assert_eq!(plugins.len(), FILTERS.len());
    for plugin in plugins {
        let filter = plugin["spec"]["pluginName"].as_str().unwrap();
        if let Err(e) = parse(filter, &plugin["spec"]["pluginConfig"]) {
            panic!("{filter}: pluginConfig refused: {e}");
        }
    }
}

#[test]
fn every_envoy_extension_policy_config_is_accepted_by_its_filter() {
    let docs = bundle("envoy-gateway", "envoyextensionpolicy.yaml");
    let wasm = docs[0]["spec"]["wasm"].as_array().unwrap();
    assert_eq!(wasm.len(), FILTERS.len());
    for entry in wasm {
        let filter = entry["rootID"].as_str().unwrap();
        if let Err(e) = parse(filter, &entry["config"]) {
            panic!("{filter}: config refused: {e}");
        }
    }
}

#[test]
fn wasmplugins_run_in_chain_order_jwt_in_authn() {
    let docs = bundle("istio", "wasmplugins.yaml");
    let mut plugins: Vec<(i64, i64, String)> = of_kind(&docs, "WasmPlugin")
        .iter()
        .map(|p| {
            let spec = &p["spec"];
            let phase = match spec["phase"].as_str().unwrap() {
                "AUTHN" => 0,
                "AUTHZ" => 1,
                other => panic!("unexpected phase {other}"),
            };
            assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
            // Istio: phases in order, then descending priority within a phase.
            (
                phase,
                -spec["priority"].as_i64().unwrap(),
                spec["pluginName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    plugins.sort();
    let order: Vec<&str> = plugins.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(order, FILTERS);
    assert_eq!(plugins[0].0, 0, "portcullis_jwt runs in AUTHN");
    assert!(plugins[1..].iter().all(|p| p.0 == 1));
}

#[test]
fn envoy_extension_policy_lists_the_filters_in_chain_order() {
    let docs = bundle("envoy-gateway", "envoyextensionpolicy.yaml");
    let names: Vec<&str> = docs[0]["spec"]["wasm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, FILTERS);
}

#[test]
fn istio_route_tables_name_the_virtual_service_routes() {
    let routes = bundle("istio", "routes.yaml");
    let vs = of_kind(&routes, "VirtualService")[0];
    let names: BTreeSet<String> = vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    let docs = bundle("istio", "wasmplugins.yaml");
    for plugin in of_kind(&docs, "WasmPlugin") {
        let keys = route_keys(&plugin["spec"]["pluginConfig"]);
        assert!(keys.is_subset(&names), "{:?} not among {names:?}", keys);
    }
    let authz = docs
        .iter()
        .find(|p| p["spec"]["pluginName"] == "portcullis_authz")
        .unwrap();
    assert_eq!(
        authz["spec"]["pluginConfig"]["routes"]["contract"]["requirement"],
        "GET: contract:one:read"
    );
}

/// Envoy Gateway's route names for the committed HTTPRoutes: one per rule and host
/// (`*` without host names), `httproute/<ns>/<name>/rule/<i>/match/0/<host>`.
fn envoy_gateway_route_names() -> Vec<String> {
    let docs = bundle("envoy-gateway", "routes.yaml");
    let mut names = Vec::new();
    for route in of_kind(&docs, "HTTPRoute") {
        let ns = route["metadata"]["namespace"].as_str().unwrap();
        let name = route["metadata"]["name"].as_str().unwrap();
        let hosts: Vec<String> = route["spec"]["hostnames"]
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|x| x.as_str().unwrap().replace('.', "_"))
                    .collect()
            })
            .unwrap_or_else(|| vec!["*".to_string()]);
        let rules = route["spec"]["rules"].as_array().unwrap();
        for (i, rule) in rules.iter().enumerate() {
            assert_eq!(rule["matches"].as_array().unwrap().len(), 1);
            for host in &hosts {
                names.push(format!("httproute/{ns}/{name}/rule/{i}/match/0/{host}"));
            }
        }
    }
    names
}

#[test]
fn envoy_gateway_route_tables_name_the_httproute_rules() {
    let names: BTreeSet<String> = envoy_gateway_route_names().into_iter().collect();
    let docs = bundle("envoy-gateway", "envoyextensionpolicy.yaml");
    for entry in docs[0]["spec"]["wasm"].as_array().unwrap() {
        let keys = route_keys(&entry["config"]);
        assert!(keys.is_subset(&names), "{:?} not among {names:?}", keys);
    }
    // The contract route is gateway.yaml's fourth: rule 3 of the single HTTPRoute.
    let authz = &docs[0]["spec"]["wasm"][2];
    assert_eq!(
        authz["config"]["routes"]["httproute/portcullis/portcullis-demo/rule/3/match/0/*"]
            ["requirement"],
        "GET: contract:one:read"
    );
}

#[test]
fn images_are_pinned_by_the_committed_digests() {
    let digests: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("deploy/digests.json")).unwrap())
            .unwrap();
    let docs = bundle("istio", "wasmplugins.yaml");
    for plugin in of_kind(&docs, "WasmPlugin") {
        let filter = plugin["spec"]["pluginName"].as_str().unwrap();
        let digest = digests["images"][filter]["digest"].as_str().unwrap();
        let url = plugin["spec"]["url"].as_str().unwrap();
        assert!(
            url.starts_with("oci://") && url.ends_with(&format!("/{filter}@{digest}")),
            "{url}"
        );
        assert_eq!(
            format!("sha256:{}", plugin["spec"]["sha256"].as_str().unwrap()),
            digest
        );
    }
    let docs = bundle("envoy-gateway", "envoyextensionpolicy.yaml");
    for entry in docs[0]["spec"]["wasm"].as_array().unwrap() {
        let filter = entry["name"].as_str().unwrap();
        let digest = digests["images"][filter]["digest"].as_str().unwrap();
        let image = &entry["code"]["image"];
        assert!(image["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{filter}@{digest}")));
        assert_eq!(
            format!("sha256:{}", image["sha256"].as_str().unwrap()),
            digest
        );
    }
}

#[test]
fn a_digests_file_missing_a_filter_is_refused_naming_it() {
    let path: PathBuf =
        std::env::temp_dir().join(format!("portcullis-digests-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"tag": "0.1.0", "images": {}}"#).unwrap();
    let out = std::env::temp_dir().join(format!("portcullis-istio-missing-{}", std::process::id()));
    let output = portcullis(&[
        "render",
        "istio",
        "--digests",
        path.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(code(&output), 2);
    let err = stderr(&output);
    assert!(
        err.contains("no digest for filter `portcullis_jwt`"),
        "{err}"
    );
}

/// Renders `target` from a fixture gateway into a fresh folder; returns its path.
fn render_fixture(target: &str, gateway: &str) -> (PathBuf, std::process::Output) {
    let out = std::env::temp_dir().join(format!(
        "portcullis-{target}-{}-{}",
        gateway.replace(['/', '.'], "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let output = portcullis(&[
        "render",
        target,
        "--gateway",
        &common::fixture(gateway),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    (out, output)
}

#[test]
fn envoy_gateway_route_tables_have_one_name_per_rule_and_host() {
    let (out, output) = render_fixture("envoy-gateway", "hostnames.gateway.yaml");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let policy = documents(&out.join("envoyextensionpolicy.yaml"));
    let routes = documents(&out.join("routes.yaml"));
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(
        routes[0]["spec"]["hostnames"],
        serde_saphyr::from_str::<Value>("[acme.localhost, '*.acme.localhost']").unwrap()
    );
    let keys = route_keys(&policy[0]["spec"]["wasm"][0]["config"]);
    let expected: BTreeSet<String> = [
        "httproute/shop/portcullis-demo/rule/0/match/0/acme_localhost",
        "httproute/shop/portcullis-demo/rule/0/match/0/*_acme_localhost",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys, expected);
}

#[test]
fn routes_reading_the_account_from_the_request_body_are_refused() {
    for target in ["istio", "envoy-gateway"] {
        let (out, output) = render_fixture(target, "body-account.gateway.yaml");
        let _ = std::fs::remove_dir_all(&out);
        assert_eq!(code(&output), 2, "{target}");
        let err = stderr(&output);
        assert!(
            err.contains("routes[transfer].account: a `body:` account"),
            "{err}"
        );
    }
}

#[test]
fn gateways_whose_filters_call_envoy_clusters_are_refused() {
    for target in ["istio", "envoy-gateway"] {
        let (out, output) = render_fixture(target, "remote-jwks.gateway.yaml");
        let _ = std::fs::remove_dir_all(&out);
        assert_eq!(code(&output), 2, "{target}");
        let err = stderr(&output);
        assert!(err.contains("envoy.clusters[keycloak]: "), "{err}");
    }
}
