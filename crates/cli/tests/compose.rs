#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis render compose`: the committed deploy/compose/ bundle and its Envoy
//! configuration.

mod common;

use common::{code, portcullis, repo, stderr};
use serde_json::Value;
use std::path::PathBuf;

const BUNDLE: &[&str] = &["compose.yaml", "envoy.yaml"];

/// A fresh, empty folder under Cargo's temporary folder for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("compose-{name}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn yaml(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_compose_bundle_is_what_render_produces() {
    let out = scratch("drift");
    let output = portcullis(&["render", "compose", "--out-dir", out.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, BUNDLE);
    for name in BUNDLE {
        let rendered = std::fs::read(out.join(name)).unwrap();
        let committed = std::fs::read(repo().join("deploy/compose").join(name)).unwrap();
        assert!(
            rendered == committed,
            "deploy/compose/{name} is out of date: run `portcullis render compose`"
        );
    }
}

#[test]
fn compose_envoy_yaml_differs_from_envoy_yaml_only_in_container_fields() {
    let compose = yaml(repo().join("deploy/compose/envoy.yaml"));
    let mut expected = yaml(repo().join("envoy.yaml"));
    // What a container changes, and nothing else: bind addresses, the backend by its
    // service name (resolved by DNS, IPv4), the mounted .wasm folder.
    expected["admin"]["address"]["socket_address"]["address"] = "0.0.0.0".into();
    let resources = &mut expected["static_resources"];
    let listener = &mut resources["listeners"][0];
    listener["address"]["socket_address"]["address"] = "0.0.0.0".into();
    let hcm = &mut listener["filter_chains"][0]["filters"][0]["typed_config"];
    for filter in hcm["http_filters"].as_array_mut().unwrap() {
        let name = filter["name"].as_str().unwrap().to_string();
        if name == "portcullis" {
            let code = &mut filter["typed_config"]["config"]["vm_config"]["code"]["local"];
            code["filename"] = format!("/etc/envoy/wasm/{name}.wasm").into();
        }
    }
    let cluster = &mut resources["clusters"][0];
    cluster["type"] = "STRICT_DNS".into();
    cluster["dns_lookup_family"] = "V4_ONLY".into();
    let endpoint = &mut cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0];
    endpoint["endpoint"]["address"]["socket_address"]["address"] = "backend".into();
    assert_eq!(compose, expected);
}

#[test]
fn compose_images_and_host_ports_are_variables_defaulting_to_what_users_get() {
    let compose = yaml(repo().join("deploy/compose/compose.yaml"));
    let services = &compose["services"];
    assert_eq!(
        services["envoy"]["image"],
        "${PORTCULLIS_ENVOY_IMAGE:-envoyproxy/envoy:v1.40.0}"
    );
    assert_eq!(
        services["backend"]["image"],
        "${PORTCULLIS_PYTHON_IMAGE:-python:3.13-slim}"
    );
    assert_eq!(
        services["envoy"]["ports"],
        serde_json::json!([
            "127.0.0.1:${PORTCULLIS_LISTENER_PORT:-10000}:10000",
            "127.0.0.1:${PORTCULLIS_ADMIN_PORT:-9901}:9901"
        ])
    );
}
