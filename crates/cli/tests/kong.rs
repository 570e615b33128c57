#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Kong: `portcullis render kong`, the committed `kong/` files, and the filters'
//! `meta.json` configuration schemas. Kong cannot run here, so what Kong would check at
//! load is checked here instead: every filter configuration in `kong/kong.yaml` must
//! pass both its JSON Schema (draft 4, as Kong validates it) and the filter's own parser
//! (as the filter reads it), the schemas must name exactly the fields the parsers know
//! and require, and broken configurations must fail both.

mod common;

use common::{code, portcullis, repo, stderr, stdout};
use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::tenant::TenantFilter;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

const FILTERS: &[&str] = &[
    "portcullis_jwt",
    "portcullis_tenant",
    "portcullis_authz",
    "portcullis_redact",
    "portcullis_accounts",
];

/// The filter's own configuration parser, as the gateway runs it.
fn parse(filter: &str, config: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(config).unwrap();
    match filter {
        "portcullis_jwt" => JwtFilter::from_json(&bytes).map(drop),
        "portcullis_tenant" => TenantFilter::from_json(&bytes).map(drop),
        "portcullis_authz" => AuthzFilter::from_json(&bytes).map(drop),
        "portcullis_redact" => RedactFilter::from_json(&bytes).map(drop),
        "portcullis_accounts" => AccountsFilter::from_json(&bytes).map(drop),
        other => panic!("no parser for {other}"),
    }
}

fn read_json(relative: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(relative)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn read_yaml(relative: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(relative)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `kong/filters/<filter>.meta.json`'s `config_schema`.
fn config_schema(filter: &str) -> Value {
    read_json(&format!("kong/filters/{filter}.meta.json"))["config_schema"].clone()
}

fn validator(filter: &str) -> jsonschema::Validator {
    jsonschema::draft4::new(&config_schema(filter))
        .unwrap_or_else(|e| panic!("{filter}.meta.json: {e}"))
}

fn schema_errors(filter: &str, config: &Value) -> Vec<String> {
    validator(filter)
        .iter_errors(config)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn kong_yaml() -> Value {
    read_yaml("kong/kong.yaml")
}

fn routes(config: &Value) -> &Vec<Value> {
    config["services"][0]["routes"].as_array().unwrap()
}

/// Every `(route, filter, config)` of `kong/kong.yaml`.
fn filter_configs(config: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for route in routes(config) {
        for chain in route["filter_chains"].as_array().unwrap() {
            for filter in chain["filters"].as_array().unwrap() {
                out.push((
                    route["name"].as_str().unwrap().to_string(),
                    filter["name"].as_str().unwrap().to_string(),
                    filter["config"].clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn committed_kong_yaml_is_what_render_produces() {
    let output = portcullis(&["render", "kong", "--gateway", "gateway.yaml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let committed = std::fs::read_to_string(repo().join("kong/kong.yaml")).unwrap();
    assert!(
        stdout(&output) == committed,
        "kong/kong.yaml is out of date: run `portcullis render kong --out kong/kong.yaml`"
    );
    assert!(committed.starts_with("# Rendered from gateway.yaml"));
    assert!(committed.contains("`portcullis render kong`"));
}

#[test]
fn out_writes_the_file() {
    let out = std::env::temp_dir().join(format!("portcullis-kong-{}.yaml", std::process::id()));
    let output = portcullis(&["render", "kong", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let written = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(written, stdout(&portcullis(&["render", "kong"])));
}

#[test]
fn configuration_with_errors_is_not_rendered() {
    let output = portcullis(&[
        "render",
        "kong",
        "--gateway",
        "crates/cli/tests/fixtures/bad-requirement.gateway.yaml",
    ]);
    assert_eq!(code(&output), 1);
    assert!(stdout(&output).is_empty());
}

#[test]
fn every_route_of_gateway_yaml_has_its_own_chain_with_every_filter() {
    let gateway = read_yaml("gateway.yaml");
    let kong = kong_yaml();
    assert_eq!(kong["_format_version"], "3.0");
    let services = kong["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["url"], "http://127.0.0.1:8080");
    assert!(
        services[0].get("filter_chains").is_none(),
        "a service chain would run before every route's chain: every filter twice"
    );
    let expected: Vec<&str> = gateway["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let names: Vec<&str> = routes(&kong)
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, expected);
    let mut last_priority = u64::MAX;
    for route in routes(&kong) {
        let name = route["name"].as_str().unwrap();
        assert_eq!(route["strip_path"], false, "{name}");
        assert_eq!(route["preserve_host"], true, "{name}");
        let path = route["paths"][0].as_str().unwrap();
        assert!(path.starts_with("~/"), "{name}: {path}");
        let priority = route["regex_priority"].as_u64().unwrap();
        assert!(priority < last_priority, "{name}: routes keep their order");
        last_priority = priority;
        let chains = route["filter_chains"].as_array().unwrap();
        assert_eq!(chains.len(), 1, "{name}");
        let filters: Vec<&str> = chains[0]["filters"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|f| assert_eq!(f["enabled"], true))
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        // Kong runs a chain in this order on the response too: account checks first.
        assert_eq!(
            filters,
            [
                "portcullis_jwt",
                "portcullis_tenant",
                "portcullis_authz",
                "portcullis_accounts",
                "portcullis_redact"
            ],
            "{name}"
        );
    }
}

#[test]
fn each_route_chain_carries_only_its_own_route_settings() {
    let kong = kong_yaml();
    for (route, filter, config) in filter_configs(&kong) {
        match config.get("routes") {
            None => assert!(
                route == "fallback" || filter == "portcullis_redact",
                "{route}/{filter}: no route table"
            ),
            Some(table) => {
                let keys: Vec<&String> = table.as_object().unwrap().keys().collect();
                assert_eq!(keys, [&route], "{route}/{filter}");
            }
        }
    }
    let contract = filter_configs(&kong)
        .into_iter()
        .find(|(r, f, _)| r == "contract" && f == "portcullis_accounts")
        .unwrap()
        .2;
    assert_eq!(
        contract["routes"]["contract"],
        json!({
            "requirement": "GET: contract:one:read",
            "account": "path:/accounts/{account}/contracts/{id}",
            "response_accounts": "block: contractOwner",
        })
    );
}

#[test]
fn every_filter_configuration_passes_its_schema_and_its_parser() {
    let kong = kong_yaml();
    let configs = filter_configs(&kong);
    assert_eq!(configs.len(), routes(&kong).len() * FILTERS.len());
    for (route, filter, config) in configs {
        let errors = schema_errors(&filter, &config);
        assert!(errors.is_empty(), "{route}/{filter}: schema: {errors:?}");
        parse(&filter, &config).unwrap_or_else(|e| panic!("{route}/{filter}: parser: {e}"));
    }
}

#[test]
fn no_filter_configuration_holds_an_empty_list_or_map() {
    // Kong's Lua cannot tell [] from {}: a filter would be handed the wrong type.
    fn walk(value: &Value, at: &str) {
        match value {
            Value::Array(items) => {
                assert!(!items.is_empty(), "{at}: empty list");
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}[{i}]"));
                }
            }
            Value::Object(map) => {
                assert!(!map.is_empty(), "{at}: empty map");
                for (key, item) in map {
                    walk(item, &format!("{at}.{key}"));
                }
            }
            _ => {}
        }
    }
    for (route, filter, config) in filter_configs(&kong_yaml()) {
        walk(&config, &format!("{route}/{filter}"));
    }
}

#[test]
fn meta_json_files_sit_beside_each_filter_and_hold_draft_4_schemas() {
    for filter in FILTERS {
        let meta = read_json(&format!("kong/filters/{filter}.meta.json"));
        let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["config_schema"],
            "{filter}: Kong reads config_schema"
        );
        let schema = &meta["config_schema"];
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
        jsonschema::draft4::meta::validate(schema)
            .unwrap_or_else(|e| panic!("{filter}: not a draft 4 schema: {e}"));
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false, "{filter}");
    }
}

#[test]
fn full_configurations_pass_their_schema_and_their_parser() {
    let full = read_json("crates/cli/tests/fixtures/kong/full-configs.json");
    for filter in FILTERS {
        let config = &full[filter];
        assert!(config.is_object(), "{filter} has a full configuration");
        let errors = schema_errors(filter, config);
        assert!(errors.is_empty(), "{filter}: schema: {errors:?}");
        parse(filter, config).unwrap_or_else(|e| panic!("{filter}: parser: {e}"));
    }
}

/// The field names serde lists in "unknown field `x`, expected one of `a`, `b`".
fn expected_fields(message: &str) -> Option<BTreeSet<String>> {
    let rest = &message[message.find("unknown field `__probe__`, expected ")?..];
    let rest = rest.trim_start_matches("unknown field `__probe__`, expected ");
    let list = rest.split(" at line ").next().unwrap_or(rest);
    let names = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some(names)
}

/// Every object of `instance` with its schema, by JSON pointer.
fn objects(schema: &Value, instance: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    match instance {
        Value::Object(map) => {
            out.push((at.to_string(), schema.clone()));
            for (key, item) in map {
                let sub = schema["properties"]
                    .get(key)
                    .or_else(|| schema.get("additionalProperties").filter(|v| v.is_object()))
                    .cloned()
                    .unwrap_or(Value::Null);
                objects(&sub, item, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                objects(&schema["items"], item, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn with_object(
    config: &Value,
    pointer: &str,
    change: impl FnOnce(&mut Map<String, Value>),
) -> Value {
    let mut changed = config.clone();
    change(
        changed
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .unwrap(),
    );
    changed
}

#[test]
fn schemas_name_exactly_the_fields_the_parsers_know_and_require() {
    let full = read_json("crates/cli/tests/fixtures/kong/full-configs.json");
    let mut closed = 0;
    for filter in FILTERS {
        let schema = config_schema(filter);
        let config = &full[filter];
        let mut found = Vec::new();
        objects(&schema, config, "", &mut found);
        for (pointer, object_schema) in found {
            let at = format!("{filter}{pointer}");
            // An unknown field: a type that refuses it names the fields it knows; the
            // schema must then refuse it too and declare exactly those fields. A map
            // (route table, account tree, JWKS) takes it: the schema must not refuse it
            // for being unknown.
            let probed = with_object(config, &pointer, |m| {
                m.insert("__probe__".into(), json!(0));
            });
            let refused = parse(filter, &probed).err();
            let known = refused.as_deref().and_then(expected_fields);
            let Some(known) = known else {
                assert_ne!(
                    object_schema["additionalProperties"], false,
                    "{at}: the parser takes any key here, the schema none: {refused:?}"
                );
                continue;
            };
            closed += 1;
            assert_eq!(
                object_schema["additionalProperties"], false,
                "{at}: the parser refuses unknown fields, the schema must too"
            );
            let declared: BTreeSet<String> = object_schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            assert_eq!(
                declared, known,
                "{at}: meta.json fields differ from the parser's"
            );
            assert!(
                !schema_errors(filter, &probed).is_empty(),
                "{at}: the schema accepts unknown fields"
            );
            // A missing field is serde's "missing field" exactly when the schema
            // requires it.
            let required: BTreeSet<String> = object_schema["required"]
                .as_array()
                .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            assert!(
                required.is_subset(&declared),
                "{at}: requires undeclared fields"
            );
            let present: Vec<String> = config
                .pointer(&pointer)
                .and_then(Value::as_object)
                .unwrap()
                .keys()
                .cloned()
                .collect();
            for key in present {
                let without = with_object(config, &pointer, |m| {
                    m.remove(&key);
                });
                let missing = parse(filter, &without)
                    .err()
                    .is_some_and(|e| e.contains(&format!("missing field `{key}`")));
                assert_eq!(
                    missing,
                    required.contains(&key),
                    "{at}: `{key}` is required by the parser: {missing}"
                );
            }
        }
    }
    // Top levels, providers, remote_jwks, sources, forward, tenants, policies, and the
    // route entries of four filters.
    assert!(closed >= 17, "only {closed} closed objects probed");
}

#[test]
fn broken_configurations_fail_the_schema_and_the_parser() {
    let cases = read_yaml("crates/cli/tests/fixtures/kong/broken-configs.yaml");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= FILTERS.len());
    let mut covered = BTreeSet::new();
    for case in cases {
        let filter = case["filter"].as_str().unwrap();
        let why = case["why"].as_str().unwrap();
        let config = &case["config"];
        assert!(
            !schema_errors(filter, config).is_empty(),
            "{filter} ({why}): Kong's schema would accept it"
        );
        assert!(
            parse(filter, config).is_err(),
            "{filter} ({why}): the filter would accept it"
        );
        covered.insert(filter);
    }
    assert_eq!(
        covered.len(),
        FILTERS.len(),
        "one broken case per filter at least"
    );
}

/// `kong/kong.conf` as `key = value` pairs (comments and blank lines left out).
fn kong_conf() -> Map<String, Value> {
    let text = std::fs::read_to_string(repo().join("kong/kong.conf")).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_string(), Value::String(v.trim().to_string()))
        })
        .collect()
}

/// `16k`, `1m`, `4096` in bytes, as nginx reads sizes.
fn nginx_size(text: &str) -> u64 {
    let (digits, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: u64 = digits.parse().unwrap();
    n * match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1024,
        "m" => 1024 * 1024,
        other => panic!("size unit {other}"),
    }
}

#[test]
fn kong_conf_enables_wasm_and_buffers_more_than_the_filters_read() {
    let conf = kong_conf();
    assert_eq!(conf["wasm"], "on");
    assert!(conf.contains_key("wasm_filters_path"));
    let buffers = conf["nginx_proxy_wasm_response_body_buffers"]
        .as_str()
        .unwrap();
    let (number, size) = buffers.split_once(' ').unwrap();
    let capacity = number.trim().parse::<u64>().unwrap() * nginx_size(size.trim());
    // Full buffers must always be over the limit: then a body the buffers cannot hold
    // is refused by the filters' own size check before anything is passed on.
    for (route, filter, config) in filter_configs(&kong_yaml()) {
        if filter == "portcullis_redact" || filter == "portcullis_accounts" {
            let limit = config["max_body_bytes"].as_u64().unwrap_or(1024 * 1024);
            assert!(
                capacity > limit,
                "{route}/{filter}: wasm_response_body_buffers {capacity} <= max_body_bytes {limit}"
            );
        }
    }
    let request_buffer = nginx_size(conf["nginx_http_client_body_buffer_size"].as_str().unwrap());
    assert!(request_buffer >= 1024 * 1024);
}
