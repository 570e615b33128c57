#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis render`.

mod common;

use common::{code, fixture, portcullis, repo, stderr, stdout};
use serde_json::Value;

fn rendered() -> Value {
    let output = portcullis(&["render", "envoy"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    serde_saphyr::from_str(&stdout(&output)).unwrap()
}

#[test]
fn committed_envoy_yaml_is_what_render_produces() {
    let output = portcullis(&["render", "envoy", "--gateway", "gateway.yaml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let committed = std::fs::read_to_string(repo().join("envoy.yaml")).unwrap();
    assert!(
        stdout(&output) == committed,
        "envoy.yaml is out of date: run `portcullis render envoy --out envoy.yaml`"
    );
}

#[test]
fn output_starts_with_a_comment_naming_the_command() {
    let output = portcullis(&["render", "envoy"]);
    let text = stdout(&output);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("# Rendered from gateway.yaml"), "{first}");
    assert!(first.contains("`portcullis render envoy`"), "{first}");
}

#[test]
fn one_filter_runs_every_stage_between_the_holds_and_the_router_ends_the_chain() {
    let config = rendered();
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let names: Vec<&str> = hcm["http_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "portcullis.hold_response",
            "portcullis",
            "envoy.filters.http.buffer",
            "envoy.filters.http.router"
        ]
    );
    let value = &hcm["http_filters"][1]["typed_config"]["config"]["configuration"]["value"];
    let json: serde_json::Value = serde_json::from_str(value.as_str().unwrap()).unwrap();
    let stages: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        stages,
        ["jwt", "tenant", "authz", "redact", "accounts", "routes"]
    );
}

#[test]
fn authz_configuration_carries_the_role_table() {
    let config = rendered();
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let value = &hcm["http_filters"][1]["typed_config"]["config"]["configuration"]["value"];
    let json: serde_json::Value = serde_json::from_str(value.as_str().unwrap()).unwrap();
    assert_eq!(
        json["authz"]["policies"]["roles"]["ATENDIMENTO"][0],
        "contract:one:read::!{user.cpf,mother}"
    );
}

#[test]
fn response_hold_is_disabled_only_where_no_response_can_be_checked() {
    let config = rendered();
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    let held: Vec<&str> = routes
        .iter()
        .filter(|r| {
            r["typed_per_filter_config"]["portcullis.hold_response"]["disabled"].as_bool()
                != Some(true)
        })
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        held,
        [
            "contract",
            "automations",
            "contracts",
            "stockout",
            "finance-reports"
        ]
    );
}

#[test]
fn route_settings_are_in_the_filters_route_table_not_on_the_routes() {
    let config = rendered();
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    let contract = routes.iter().find(|r| r["name"] == "contract").unwrap();
    assert_eq!(
        contract["match"]["safe_regex"]["regex"],
        "^/accounts/[^/]+/contracts/[^/]+$"
    );
    assert!(contract["metadata"].is_null(), "{:?}", contract["metadata"]);
    let value = &hcm["http_filters"][1]["typed_config"]["config"]["configuration"]["value"];
    let json: serde_json::Value = serde_json::from_str(value.as_str().unwrap()).unwrap();
    assert_eq!(
        json["routes"]["contract"],
        serde_json::json!({
            "requirement": "GET: contract:one:read",
            "account": "path:/accounts/{account}/contracts/{id}",
            "response_accounts": "block: contractOwner",
        })
    );
}

#[test]
fn listener_and_cluster_buffer_eight_mebibytes_and_paths_are_normalised() {
    let config = rendered();
    let listener = &config["static_resources"]["listeners"][0];
    assert_eq!(listener["per_connection_buffer_limit_bytes"], 8_388_608);
    assert_eq!(
        config["static_resources"]["clusters"][0]["per_connection_buffer_limit_bytes"],
        8_388_608
    );
    let hcm = &listener["filter_chains"][0]["filters"][0]["typed_config"];
    assert_eq!(hcm["normalize_path"], true);
    assert_eq!(hcm["merge_slashes"], true);
    assert_eq!(hcm["path_with_escaped_slashes_action"], "REJECT_REQUEST");
}

#[test]
fn out_writes_the_file() {
    let out = std::env::temp_dir().join(format!("portcullis-render-{}.yaml", std::process::id()));
    let output = portcullis(&["render", "envoy", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let written = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(written, stdout(&portcullis(&["render", "envoy"])));
}

#[test]
fn configuration_with_errors_is_not_rendered() {
    let output = portcullis(&[
        "render",
        "envoy",
        "--gateway",
        &fixture("bad-requirement.gateway.yaml"),
    ]);
    assert_eq!(code(&output), 1);
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("routes[finance-reports].requirement"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_gateway_file_is_an_io_error() {
    let output = portcullis(&["render", "envoy", "--gateway", "no-such-gateway.yaml"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("no-such-gateway.yaml"));
}

fn rendered_fixture(target: &str, name: &str) -> Value {
    let output = portcullis(&["render", target, "--gateway", &fixture(name)]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    serde_saphyr::from_str(&stdout(&output)).unwrap()
}

fn cluster<'a>(config: &'a Value, name: &str) -> &'a Value {
    config["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

#[test]
fn declared_clusters_are_rendered_for_remote_jwks_with_tls_to_named_hosts() {
    let config = rendered_fixture("envoy", "remote-jwks.gateway.yaml");
    let keycloak = cluster(&config, "keycloak");
    assert_eq!(keycloak["type"].as_str(), Some("LOGICAL_DNS"));
    let tls = &keycloak["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"].as_str(), Some("keycloak.example.com"));
    let san = &tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0];
    assert_eq!(
        san["matcher"]["exact"].as_str(),
        Some("keycloak.example.com")
    );
    let accounts = cluster(&config, "accounts");
    assert_eq!(accounts["type"].as_str(), Some("STATIC"));
    assert!(accounts.get("transport_socket").is_none());
}

#[test]
fn on_kong_a_remote_jwks_cluster_becomes_the_declared_host_and_port() {
    let config = rendered_fixture("kong", "kong-remote-jwks.gateway.yaml");
    let route = &config["services"][0]["routes"][0];
    let jwt = route["filter_chains"][0]["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"].as_str() == Some("portcullis_jwt"))
        .unwrap();
    let providers = &jwt["config"]["providers"];
    assert_eq!(
        providers[0]["remote_jwks"]["cluster"].as_str(),
        Some("[fd00::7]:8443")
    );
    assert_eq!(
        providers[1]["remote_jwks"]["cluster"].as_str(),
        Some("10.0.0.7:8081")
    );
}

#[test]
fn on_kong_a_tls_remote_jwks_cluster_is_refused_naming_it() {
    let output = portcullis(&[
        "render",
        "kong",
        "--gateway",
        &fixture("remote-jwks.gateway.yaml"),
    ]);
    assert_ne!(code(&output), 0);
    assert!(
        stderr(&output).contains("envoy.clusters[keycloak].tls"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn tls_to_an_ip_address_checks_the_certificate_names_that_address() {
    let mut text =
        std::fs::read_to_string(common::repo().join(fixture("remote-jwks.gateway.yaml"))).unwrap();
    text = text.replace(
        "    port: 8081\n",
        "    port: 8081\n    tls: true\n    ca_file: /etc/idp/ca.pem\n",
    );
    let dir = std::env::temp_dir().join(format!("portcullis-tls-ip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gateway = dir.join("gateway.yaml");
    std::fs::write(&gateway, text).unwrap();
    let output = portcullis(&["render", "envoy", "--gateway", gateway.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let config: Value = serde_saphyr::from_str(&stdout(&output)).unwrap();
    let tls = &cluster(&config, "accounts")["transport_socket"]["typed_config"];
    let validation = &tls["common_tls_context"]["validation_context"];
    assert_eq!(
        validation["trusted_ca"]["filename"].as_str(),
        Some("/etc/idp/ca.pem")
    );
    let san = &validation["match_typed_subject_alt_names"][0];
    assert_eq!(san["san_type"].as_str(), Some("IP_ADDRESS"));
    assert_eq!(san["matcher"]["exact"].as_str(), Some("10.0.0.7"));
    assert!(tls.get("sni").is_none(), "no SNI for an address");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Route names of a rendered Envoy configuration matching `keep`.
fn route_names(config: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| keep(r))
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn request_hold_marker_is_on_exactly_the_routes_with_the_buffer() {
    let config = rendered_fixture("envoy", "request-hold.gateway.yaml");
    let buffered = route_names(&config, |r| {
        r["typed_per_filter_config"]["envoy.filters.http.buffer"]["disabled"].as_bool()
            != Some(true)
    });
    let marked = route_names(&config, |r| {
        !r["metadata"]["filter_metadata"]["portcullis"]["request_hold"].is_null()
    });
    assert_eq!(buffered, ["transfer"]);
    assert_eq!(marked, buffered);
    let transfer = route_names(&config, |r| {
        r["metadata"]["filter_metadata"]["portcullis"]["request_hold"].as_str() == Some("true")
    });
    assert_eq!(
        transfer,
        ["transfer"],
        "the marker is the leaf string \"true\""
    );
}

#[test]
fn routes_admitting_a_method_with_a_body_get_the_request_hold_and_its_marker() {
    let config = rendered_fixture("envoy", "body-methods.gateway.yaml");
    let buffered = route_names(&config, |r| {
        r["typed_per_filter_config"]["envoy.filters.http.buffer"]["disabled"].as_bool()
            != Some(true)
    });
    let marked = route_names(&config, |r| {
        r["metadata"]["filter_metadata"]["portcullis"]["request_hold"].as_str() == Some("true")
    });
    assert_eq!(
        buffered,
        ["post", "every-method", "get-and-delete", "patch-among-gets"]
    );
    assert_eq!(marked, buffered);
}

#[test]
fn repository_envoy_yaml_holds_its_post_route() {
    let held = route_names(&rendered(), |r| {
        r["metadata"]["filter_metadata"]["portcullis"]["request_hold"].as_str() == Some("true")
    });
    assert_eq!(held, ["stockout"]);
}

#[test]
fn repository_envoy_yaml_marks_exactly_its_buffered_routes() {
    let config = rendered();
    let marked = route_names(&config, |r| {
        !r["metadata"]["filter_metadata"]["portcullis"]["request_hold"].is_null()
    });
    let buffered = route_names(&config, |r| {
        r["typed_per_filter_config"]["envoy.filters.http.buffer"]["disabled"].as_bool()
            != Some(true)
    });
    assert_eq!(marked, buffered);
}
