#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The one filter (`flow::pipeline`) natively on `MockHost`, configured from the
//! committed `envoy.yaml` (its `portcullis` filter and its routes' metadata): the stages
//! run in one pass, each sees what the one before it decided, and the first refusal ends
//! the request.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::pipeline::Pipeline;
use portcullis_core::flow::{Action, Filter};
use serde_json::{json, Value};
use std::path::PathBuf;

const CONTRACT: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","cpf":"000.000.370.00","rendaMensal":15000},"mother":{"name":"Mãe","cpf":"000.000.370.00","rendaMensal":15000}}"#;
const REDACTED: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","rendaMensal":15000}}"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn envoy_yaml() -> Value {
    let text = std::fs::read_to_string(repo().join("envoy.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn hcm(envoy: &Value) -> &Value {
    &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
}

/// The `portcullis` filter's configuration text in `envoy.yaml`.
fn configuration() -> String {
    let envoy = envoy_yaml();
    let filters = hcm(&envoy)["http_filters"].as_array().unwrap();
    let filter = filters.iter().find(|f| f["name"] == "portcullis").unwrap();
    filter["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap()
        .to_string()
}

fn pipeline() -> Pipeline {
    Pipeline::from_json(configuration().as_bytes()).unwrap()
}

/// A request on `route` of `envoy.yaml`, with that route's name and metadata as Envoy
/// gives them.
fn request(route: &str, method: &str, path: &str) -> MockHost {
    let envoy = envoy_yaml();
    let routes = hcm(&envoy)["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    let spec = routes.iter().find(|r| r["name"] == route).unwrap();
    let mut host = MockHost::request(method, "acme.localhost", path)
        .with_property("xds.route_name", route.as_bytes());
    if let Some(Value::Object(meta)) = spec["metadata"]["filter_metadata"].get("portcullis") {
        for (key, value) in meta {
            let path = format!("xds.route_metadata.filter_metadata.portcullis.{key}");
            host = host.with_property(&path, value.as_str().unwrap().as_bytes());
        }
    }
    host
}

/// The demo user's token (examples/claims/demo-user.json), signed with the demo key.
fn with_token(host: MockHost, claims: &[(&str, Value)]) -> MockHost {
    let pem = std::fs::read(repo().join("examples/keys/demo-rs256.pem")).unwrap();
    let text = std::fs::read_to_string(repo().join("examples/claims/demo-user.json")).unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap();
    body["iat"] = json!(host.now_secs);
    body["exp"] = json!(host.now_secs + 600);
    for (key, value) in claims {
        body[*key] = value.clone();
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("demo-rs256".into());
    let token = encode(&header, &body, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap();
    host.with_header("authorization", &format!("Bearer {token}"))
}

fn respond_json(host: &mut MockHost, body: &str) {
    host.response_headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "application/json".into()),
        ("content-length".into(), body.len().to_string()),
    ];
    host.response_body = body.as_bytes().to_vec();
}

/// Request headers, then (when they went on) the backend's JSON answer in one chunk.
fn run(filter: &Pipeline, host: &mut MockHost, backend: &str) -> Action {
    let mut stream = Default::default();
    let request = filter.on_request_headers(&mut stream, host, true);
    if request == Action::Pause {
        return request;
    }
    respond_json(host, backend);
    if filter.on_response_headers(&mut stream, host, false) == Action::Pause {
        return Action::Pause;
    }
    let size = host.response_body.len();
    filter.on_response_body(&mut stream, host, size, true)
}

fn sent_reason(host: &MockHost) -> (u16, String) {
    let sent = host.sent.as_ref().unwrap();
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    (sent.status, body["error"].as_str().unwrap().to_string())
}

#[test]
fn the_demo_contract_passes_every_stage_and_comes_back_redacted() {
    let filter = pipeline();
    let path = "/accounts/demostore/contracts/123-456";
    let mut host = with_token(request("contract", "GET", path), &[]);
    assert_eq!(run(&filter, &mut host, CONTRACT), Action::Continue);
    assert!(host.sent.is_none());
    assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
    assert_eq!(
        host.upstream_header("x-portcullis-accounts"),
        Some("demostore")
    );
    assert_eq!(
        String::from_utf8(host.response_body.clone()).unwrap(),
        REDACTED
    );
}

#[test]
fn a_request_without_a_token_is_refused_by_the_token_stage() {
    let filter = pipeline();
    let mut host = request("contract", "GET", "/accounts/demostore/contracts/123-456");
    assert_eq!(run(&filter, &mut host, CONTRACT), Action::Pause);
    assert_eq!(sent_reason(&host).0, 401);
    let logs = host.logs.borrow().join("\n");
    assert!(logs.contains(r#""filter":"portcullis_jwt""#), "{logs}");
}

#[test]
fn a_foreign_account_is_refused_by_the_accounts_stage() {
    let filter = pipeline();
    let mut host = with_token(request("contract", "GET", "/accounts/qa/contracts/1"), &[]);
    assert_eq!(run(&filter, &mut host, CONTRACT), Action::Pause);
    assert_eq!(sent_reason(&host), (403, "account_not_allowed".to_string()));
}

#[test]
fn a_response_naming_a_foreign_account_is_blocked_before_redaction() {
    let filter = pipeline();
    let path = "/accounts/demostore/contracts/123-456";
    let mut host = with_token(request("contract", "GET", path), &[]);
    let foreign = r#"{"id":"9","contractOwner":"qa","user":{"cpf":"SECRET"}}"#;
    assert_eq!(run(&filter, &mut host, foreign), Action::Pause);
    assert_eq!(sent_reason(&host).0, 502);
    assert!(!String::from_utf8_lossy(&host.sent.as_ref().unwrap().body).contains("SECRET"));
}

#[test]
fn a_token_for_another_tenant_is_refused_by_the_tenant_stage() {
    let filter = pipeline();
    let path = "/accounts/demostore/contracts/123-456";
    let mut host = with_token(
        request("contract", "GET", path),
        &[("tenant", json!("crontech"))],
    );
    assert_eq!(run(&filter, &mut host, CONTRACT), Action::Pause);
    assert_eq!(sent_reason(&host).0, 403);
}

#[test]
fn an_unknown_section_is_refused_by_name() {
    let err = Pipeline::from_json(br#"{"jwt_typo": {}}"#).err().unwrap();
    assert!(err.contains("jwt_typo"), "{err}");
}

#[test]
fn a_configuration_without_stages_is_refused() {
    let err = Pipeline::from_json(b"{}").err().unwrap();
    assert!(err.contains("no stage"), "{err}");
}

#[test]
fn an_invalid_section_is_refused_naming_the_section() {
    let err = Pipeline::from_json(br#"{"redact": {"max_body_bytes": 0}}"#)
        .err()
        .unwrap();
    assert!(err.starts_with("redact: "), "{err}");
}

/// A pipeline whose token stage fetches its keys (so a request can wait for them) and
/// whose accounts stage reads the account id from the request body.
fn waiting_pipeline() -> Pipeline {
    let config = json!({
        "jwt": {"providers": [{
            "name": "idp", "issuer": "https://accounts.crontech.localhost",
            "audiences": ["users"], "algorithms": ["RS256"],
            "remote_jwks": {"cluster": "idp", "path": "/jwks", "timeout_ms": 1000,
                            "cache_duration_seconds": 300, "refetch_min_interval_seconds": 10}}]},
        "accounts": {"accounts_claim": "organization", "tree": {"demostore": "acme", "qa": "acme"},
                     "routes": {"by-body": {"account": "body:account.id"}}},
    });
    Pipeline::from_json(config.to_string().as_bytes()).unwrap()
}

/// The demo's key set, as `envoy.yaml` inlines it.
fn demo_jwks() -> Vec<u8> {
    let config: Value = serde_json::from_str(&configuration()).unwrap();
    serde_json::to_vec(&config["jwt"]["providers"][0]["jwks"]).unwrap()
}

/// A POST with `body` on the body-account route, its token waiting for the key set.
fn waiting_post(filter: &Pipeline, body: &[u8]) -> (MockHost, <Pipeline as Filter>::Stream) {
    assert_eq!(filter.on_tick(std::time::UNIX_EPOCH).callouts.len(), 1);
    let mut host = with_token(
        MockHost::request("POST", "acme.localhost", "/items")
            .with_property("xds.route_name", b"by-body")
            .with_property(
                "xds.route_metadata.filter_metadata.portcullis.request_hold",
                b"true",
            ),
        &[],
    );
    host.request_body = body.to_vec();
    let mut stream = Default::default();
    assert_eq!(
        filter.on_request_headers(&mut stream, &mut host, false),
        Action::Pause
    );
    assert!(filter.is_waiting(&stream) && host.sent.is_none());
    // The whole body comes while the token waits: held, not given to the later stages yet.
    assert_eq!(
        filter.on_request_body(&mut stream, &mut host, body.len(), true),
        Action::Pause
    );
    assert!(host.sent.is_none());
    let answer = portcullis_core::flow::CalloutResponse {
        status: Some(200),
        body: demo_jwks(),
    };
    filter.on_callout_response(0, answer, std::time::UNIX_EPOCH);
    (host, stream)
}

#[test]
fn a_body_that_came_while_the_token_waited_is_still_checked_after_the_resume() {
    let filter = waiting_pipeline();
    let (mut host, mut stream) = waiting_post(&filter, br#"{"account":{"id":"qa"}}"#);
    assert_eq!(filter.on_resume(&mut stream, &mut host), Action::Pause);
    assert_eq!(sent_reason(&host), (403, "account_not_allowed".to_string()));
}

#[test]
fn a_request_that_waited_for_the_keys_goes_on_once_every_stage_passed() {
    let filter = waiting_pipeline();
    let (mut host, mut stream) = waiting_post(&filter, br#"{"account":{"id":"demostore"}}"#);
    assert_eq!(filter.on_resume(&mut stream, &mut host), Action::Continue);
    assert!(host.sent.is_none());
    assert!(!filter.is_waiting(&stream));
}

#[test]
fn client_sent_identity_headers_are_replaced_by_the_verified_ones() {
    let filter = pipeline();
    let path = "/accounts/demostore/contracts/123-456";
    let mut host = with_token(request("contract", "GET", path), &[])
        .with_header("x-portcullis-subject", "admin")
        .with_header("x-portcullis-tenant", "crontech")
        .with_header("x-portcullis-accounts", "qa");
    assert_eq!(run(&filter, &mut host, CONTRACT), Action::Continue);
    let copies = |name: &str| {
        host.request_headers
            .iter()
            .filter(|(n, _)| n == name)
            .count()
    };
    assert_eq!(copies("x-portcullis-subject"), 1);
    assert_eq!(host.upstream_header("x-portcullis-subject"), Some("u1"));
    assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
    assert_eq!(
        host.upstream_header("x-portcullis-accounts"),
        Some("demostore")
    );
}

#[test]
fn a_header_write_the_gateway_refuses_denies_with_500_and_nothing_goes_on() {
    let filter = pipeline();
    let path = "/accounts/demostore/contracts/123-456";
    let mut host = with_token(request("contract", "GET", path), &[]);
    host.failing.push("set_map_value");
    let mut stream = Default::default();
    assert_eq!(
        filter.on_request_headers(&mut stream, &mut host, true),
        Action::Pause
    );
    assert_eq!(sent_reason(&host), (500, "host_error".to_string()));
}
