#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis render ecds`: the bootstrap and the one filter's ECDS file (deploy/ecds/).

mod common;

use common::{code, portcullis, repo, stderr, stdout};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The one filter.
const FILTER: &str = "portcullis";

/// A fresh, empty folder under Cargo's temporary folder for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ecds-{name}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `portcullis render ecds --gateway <repo>/gateway.yaml ARGS` in `cwd`.
fn render_in(cwd: &Path, args: &[&str]) -> Output {
    let gateway = repo().join("gateway.yaml");
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["render", "ecds", "--gateway", gateway.to_str().unwrap()])
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// The bundle rendered into a fresh folder (absolute `--out-dir`); returns the folder.
fn rendered(name: &str) -> PathBuf {
    let out = scratch(name).join("ecds");
    let output = render_in(&repo(), &["--out-dir", out.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    out
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hcm(bootstrap: &Value) -> &Value {
    &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
}

/// The JSON configuration in the filter's ECDS file.
fn ecds_configuration(out: &Path) -> serde_json::Value {
    let file = yaml(&out.join(format!("config/{FILTER}.yaml")));
    let resource = &file["resources"][0];
    let text = resource["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap();
    serde_json::from_str(text).unwrap()
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_path_buf();
                found.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn committed_deploy_ecds_is_what_render_produces() {
    // Rendered as the repository does it (`--out-dir deploy/ecds`, relative), elsewhere.
    let cwd = scratch("drift");
    let output = render_in(&cwd, &["--out-dir", "deploy/ecds"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let fresh = files(&cwd.join("deploy/ecds"));
    let committed = files(&repo().join("deploy/ecds"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>()
    );
    for (path, text) in &fresh {
        assert!(
            committed[path] == *text,
            "deploy/ecds/{} is out of date: run `portcullis render ecds`",
            path.display()
        );
    }
}

#[test]
fn the_one_filter_is_the_only_config_discovery_entry() {
    let out = rendered("discovery");
    let bootstrap = yaml(&out.join("envoy.yaml"));
    let filters = hcm(&bootstrap)["http_filters"].as_array().unwrap();
    let discovered: Vec<&str> = filters
        .iter()
        .filter(|f| !f["config_discovery"].is_null())
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(discovered, [FILTER]);
    let watched = format!("{}/config", out.display());
    for filter in filters.iter().filter(|f| !f["config_discovery"].is_null()) {
        let name = filter["name"].as_str().unwrap();
        assert!(filter["typed_config"].is_null(), "{name}");
        let discovery = &filter["config_discovery"];
        let source = &discovery["config_source"]["path_config_source"];
        assert_eq!(source["path"], format!("{watched}/{name}.yaml").as_str());
        assert_eq!(source["watched_directory"]["path"], watched.as_str());
        assert_eq!(
            discovery["type_urls"][0],
            "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
        );
    }
}

#[test]
fn bootstrap_names_the_node_ecds_needs() {
    let bootstrap = yaml(&rendered("node").join("envoy.yaml"));
    assert!(bootstrap["node"]["id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(bootstrap["node"]["cluster"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
}

#[test]
fn the_file_is_a_discovery_response_with_one_extension_named_after_the_filter() {
    let out = rendered("files");
    assert_eq!(
        files(&out.join("config")).into_keys().collect::<Vec<_>>(),
        [PathBuf::from(format!("{FILTER}.yaml"))]
    );
    {
        let name = FILTER;
        let file = yaml(&out.join(format!("config/{name}.yaml")));
        assert!(file["version_info"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        let resources = file["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 1, "{name}");
        let resource = &resources[0];
        assert_eq!(
            resource["@type"],
            "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
        );
        assert_eq!(resource["name"], *name);
        let config = &resource["typed_config"]["config"];
        assert_eq!(
            config["vm_config"]["code"]["local"]["filename"],
            format!("build/wasm/{name}.wasm").as_str()
        );
    }
}

#[test]
fn the_file_carries_what_envoy_yaml_inlines() {
    let out = rendered("same");
    let output = portcullis(&["render", "envoy"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let inline: Value = serde_saphyr::from_str(&stdout(&output)).unwrap();
    let filter = hcm(&inline)["http_filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == FILTER)
        .unwrap();
    let text = filter["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap();
    let expected: serde_json::Value = serde_json::from_str(text).unwrap();
    let ecds = ecds_configuration(&out);
    let sections: Vec<&String> = ecds.as_object().unwrap().keys().collect();
    assert_eq!(
        sections,
        ["jwt", "tenant", "authz", "redact", "accounts", "routes"]
    );
    assert_eq!(ecds, expected);
}

#[test]
fn route_table_is_keyed_by_route_name_with_the_route_settings() {
    let config = ecds_configuration(&rendered("table"));
    let routes = config["routes"].as_object().unwrap();
    assert_eq!(
        routes["contract"],
        serde_json::json!({
            "requirement": "GET: contract:one:read",
            "account": "path:/accounts/{account}/contracts/{id}",
            "response_accounts": "block: contractOwner",
        })
    );
    assert_eq!(routes["whoami"]["requirement"], "GET: authenticated");
    // A route that declares nothing has no entry (the filters then deny it).
    assert!(!routes.contains_key("fallback"));
}

#[test]
fn routes_keep_their_match_and_hold_switches_but_no_portcullis_metadata() {
    let bootstrap = yaml(&rendered("routes").join("envoy.yaml"));
    let routes = hcm(&bootstrap)["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    // The only metadata left is the request hold marker, on the route admitting a POST.
    let marker: Value =
        serde_saphyr::from_str("filter_metadata: {portcullis: {request_hold: 'true'}}").unwrap();
    for route in routes {
        let expected = if route["name"] == "stockout" {
            marker.clone()
        } else {
            Value::Null
        };
        assert_eq!(route["metadata"], expected, "{:?}", route["name"]);
    }
    let contract = routes.iter().find(|r| r["name"] == "contract").unwrap();
    assert_eq!(
        contract["match"]["safe_regex"]["regex"],
        "^/accounts/[^/]+/contracts/[^/]+$"
    );
    let whoami = routes.iter().find(|r| r["name"] == "whoami").unwrap();
    assert_eq!(
        whoami["typed_per_filter_config"]["portcullis.hold_response"]["disabled"],
        true
    );
}

#[test]
fn rendering_again_moves_new_files_into_place() {
    // Envoy's watched_directory reloads only on a move: a file written in place is ignored.
    let out = rendered("rename");
    let file = out.join(format!("config/{FILTER}.yaml"));
    let before = std::fs::metadata(&file).unwrap().ino();
    let output = render_in(&repo(), &["--out-dir", out.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_ne!(std::fs::metadata(&file).unwrap().ino(), before);
    let names: Vec<_> = files(&out).into_keys().collect();
    assert!(
        names.iter().all(|p| !p.to_string_lossy().contains(".tmp")),
        "{names:?}"
    );
}

#[test]
fn bootstrap_keeps_only_the_request_hold_marker_of_the_route_metadata() {
    let out = scratch("request-hold").join("ecds");
    let gateway = repo().join("crates/cli/tests/fixtures/request-hold.gateway.yaml");
    let output = portcullis(&[
        "render",
        "ecds",
        "--gateway",
        gateway.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let bootstrap = yaml(&out.join("envoy.yaml"));
    let routes = hcm(&bootstrap)["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    let transfer = routes.iter().find(|r| r["name"] == "transfer").unwrap();
    let expected: Value =
        serde_saphyr::from_str("filter_metadata: {portcullis: {request_hold: 'true'}}").unwrap();
    assert_eq!(transfer["metadata"], expected);
    assert!(transfer["typed_per_filter_config"]["envoy.filters.http.buffer"].is_null());
    let others: Vec<_> = routes.iter().filter(|r| r["name"] != "transfer").collect();
    assert_eq!(others.len(), 2);
    assert!(others.iter().all(|r| r["metadata"].is_null()));
}
