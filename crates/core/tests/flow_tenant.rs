#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The tenant filter's request flow against the in-memory host (SPEC §3): the host
//! decides the tenant, unknown and malformed hosts are refused, a token is bound to the
//! domain's tenant, the tenant id goes upstream (client copies removed) and to the later
//! filters, and every host error denies.

use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::tenant::TenantFilter;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::{json, Value};

const ISSUER: &str = "https://accounts.crontech.localhost";

/// The demo's tenant configuration (gateway.yaml).
fn demo_config() -> Value {
    json!({
        "tenants": [
            {"id": "crontech", "domains": ["crontech.localhost"], "issuers": [ISSUER]},
            {"id": "acme", "domains": ["acme.localhost", "*.acme.localhost"], "issuers": [ISSUER]}
        ],
        "tenant_claim": "tenant",
        "header": "x-portcullis-tenant"
    })
}

fn filter_from(config: &Value) -> TenantFilter {
    TenantFilter::from_json(config.to_string().as_bytes()).unwrap()
}

fn with_identity(host: MockHost, issuer: &str, claims: Value) -> MockHost {
    let identity = json!({"provider": "demo", "issuer": issuer, "subject": "u1", "claims": claims});
    host.with_property("portcullis_identity", identity.to_string().as_bytes())
}

fn demo_user(host: MockHost) -> MockHost {
    with_identity(
        host,
        ISSUER,
        json!({"sub": "u1", "tenant": "acme", "iss": ISSUER}),
    )
}

fn run_with(filter: &TenantFilter, mut host: MockHost) -> (Action, MockHost) {
    let action = filter.on_request_headers(&mut (), &mut host, true);
    (action, host)
}

fn run(host: MockHost) -> (Action, MockHost) {
    run_with(&filter_from(&demo_config()), host)
}

fn refused_with(host: &MockHost) -> (u16, String) {
    let sent = host.sent.as_ref().expect("a local response");
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    (sent.status, body["error"].as_str().unwrap().to_string())
}

#[test]
fn demo_user_passes_on_every_acme_domain_spelling() {
    for authority in [
        "acme.localhost",
        "shop.acme.localhost",
        "a.b.acme.localhost",
        "ACME.localhost:10000",
        "acme.localhost.",
        "Shop.Acme.Localhost.:443",
    ] {
        let (action, host) = run(demo_user(MockHost::request("GET", authority, "/whoami")));
        assert_eq!(action, Action::Continue, "{authority}");
        assert_eq!(host.sent, None, "{authority}");
        assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
        assert_eq!(host.properties["portcullis_tenant"], b"acme".to_vec());
    }
}

#[test]
fn demo_user_is_refused_on_another_tenant_domain() {
    let (action, host) = run(demo_user(MockHost::request(
        "GET",
        "crontech.localhost",
        "/whoami",
    )));
    assert_eq!(action, Action::Pause);
    assert_eq!(refused_with(&host), (403, "tenant_mismatch".into()));
    assert!(!host.properties.contains_key("portcullis_tenant"));
}

#[test]
fn unknown_host_is_refused_also_without_a_token() {
    let (_, host) = run(MockHost::request("GET", "evil.localhost", "/public/health"));
    assert_eq!(refused_with(&host), (403, "unknown_host".into()));
}

#[test]
fn wildcard_does_not_cover_a_look_alike_suffix() {
    let (_, host) = run(MockHost::request(
        "GET",
        "evilacme.localhost",
        "/public/health",
    ));
    assert_eq!(refused_with(&host), (403, "unknown_host".into()));
}

#[test]
fn x_forwarded_host_and_forwarded_never_choose_the_tenant() {
    let host = demo_user(MockHost::request("GET", "evil.localhost", "/whoami"))
        .with_header("x-forwarded-host", "acme.localhost")
        .with_header("forwarded", "host=acme.localhost");
    let (_, host) = run(host);
    assert_eq!(refused_with(&host), (403, "unknown_host".into()));
}

#[test]
fn malformed_hosts_are_refused_as_invalid() {
    for authority in [
        "evil@acme.localhost",
        "acme.localhost@evil.localhost",
        "acme.localhost:abc",
        "acme.localhost:65536",
        "acme..localhost",
        "acme.localhost..",
        "acme.localhost/x",
        "acme.localhost\\x",
        "acme%2elocalhost",
        "evil.localhost,acme.localhost",
        "acme.localhost\u{212a}",
        " acme.localhost",
        "",
    ] {
        let (_, host) = run(demo_user(MockHost::request("GET", authority, "/whoami")));
        assert_eq!(
            refused_with(&host),
            (403, "invalid_host".into()),
            "{authority:?}"
        );
    }
}

#[test]
fn missing_authority_is_refused() {
    let mut host = MockHost::request("GET", "acme.localhost", "/whoami");
    host.request_headers.retain(|(n, _)| n != ":authority");
    let (_, host) = run(host);
    assert_eq!(refused_with(&host).0, 403);
}

#[test]
fn client_copy_of_the_tenant_header_is_replaced() {
    let host = demo_user(MockHost::request("GET", "acme.localhost", "/whoami"))
        .with_header("x-portcullis-tenant", "crontech");
    let (_, host) = run(host);
    let copies: Vec<_> = host
        .request_headers
        .iter()
        .filter(|(n, _)| n == "x-portcullis-tenant")
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].1, "acme");
}

#[test]
fn client_copy_of_the_tenant_header_is_removed_even_when_refused() {
    let host = MockHost::request("GET", "evil.localhost", "/public/health")
        .with_header("x-portcullis-tenant", "acme");
    let (_, host) = run(host);
    assert_eq!(host.upstream_header("x-portcullis-tenant"), None);
}

#[test]
fn anonymous_request_on_a_known_domain_gets_the_tenant() {
    let (action, host) = run(MockHost::request("GET", "acme.localhost", "/public/health"));
    assert_eq!(action, Action::Continue);
    assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
}

#[test]
fn token_without_tenant_claim_is_refused_when_the_issuer_is_shared() {
    let host = with_identity(
        MockHost::request("GET", "acme.localhost", "/whoami"),
        ISSUER,
        json!({"sub": "u1", "iss": ISSUER}),
    );
    let (_, host) = run(host);
    assert_eq!(refused_with(&host), (403, "token_tenant_unknown".into()));
}

#[test]
fn token_without_tenant_claim_is_bound_by_an_issuer_of_one_tenant() {
    let mut config = demo_config();
    config["tenants"][1]["issuers"] = json!(["https://acme.example/realm"]);
    let filter = filter_from(&config);
    let host = with_identity(
        MockHost::request("GET", "acme.localhost", "/whoami"),
        "https://acme.example/realm",
        json!({"sub": "u1"}),
    );
    let (_, host) = run_with(&filter, host);
    assert_eq!(host.sent, None);
    assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
    let crontech_host = with_identity(
        MockHost::request("GET", "crontech.localhost", "/whoami"),
        "https://acme.example/realm",
        json!({"sub": "u1"}),
    );
    let (_, host) = run_with(&filter, crontech_host);
    assert_eq!(
        refused_with(&host),
        (403, "issuer_not_valid_for_tenant".into())
    );
}

#[test]
fn malformed_tenant_claims_are_refused() {
    for tenant in [
        json!(""),
        json!(1),
        json!(["acme", "crontech"]),
        json!({"id": "acme"}),
        json!(null),
    ] {
        let host = with_identity(
            MockHost::request("GET", "acme.localhost", "/whoami"),
            ISSUER,
            json!({"sub": "u1", "tenant": tenant}),
        );
        let (_, host) = run(host);
        assert_eq!(
            refused_with(&host),
            (403, "token_tenant_malformed".into()),
            "{tenant}"
        );
    }
}

#[test]
fn tenant_claim_is_compared_case_sensitively() {
    let host = with_identity(
        MockHost::request("GET", "acme.localhost", "/whoami"),
        ISSUER,
        json!({"sub": "u1", "tenant": "ACME"}),
    );
    let (_, host) = run(host);
    assert_eq!(refused_with(&host), (403, "tenant_mismatch".into()));
}

#[test]
fn unknown_hosts_pass_without_a_tenant_only_when_configured() {
    let mut config = demo_config();
    config["dangerous_allow_unknown_hosts"] = json!(true);
    let filter = filter_from(&config);
    let (action, host) = run_with(
        &filter,
        MockHost::request("GET", "other.localhost", "/public/health")
            .with_header("x-portcullis-tenant", "acme"),
    );
    assert_eq!(action, Action::Continue);
    assert_eq!(host.upstream_header("x-portcullis-tenant"), None);
    assert!(!host.properties.contains_key("portcullis_tenant"));
    let (_, host) = run_with(
        &filter,
        MockHost::request("GET", "evil@acme.localhost", "/public/health"),
    );
    assert_eq!(refused_with(&host), (403, "invalid_host".into()));
}

#[test]
fn kong_reads_the_host_header() {
    let mut host = demo_user(MockHost::request("GET", "upstream.internal", "/whoami"))
        .with_header("host", "shop.acme.localhost");
    host.kind = HostKind::Kong;
    let (_, host) = run(host);
    assert_eq!(host.sent, None);
    assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
}

#[test]
fn decision_line_names_the_tenant_and_reason_but_the_body_does_not() {
    let host = demo_user(MockHost::request("GET", "crontech.localhost", "/whoami"))
        .with_header("x-request-id", "req-7");
    let (_, host) = run(host);
    let lines: Vec<Value> = host
        .logs
        .borrow()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["reason"], "tenant_mismatch");
    assert_eq!(lines[0]["tenant"], "crontech");
    assert_eq!(lines[0]["request_id"], "req-7");
    let body = String::from_utf8(host.sent.clone().unwrap().body).unwrap();
    assert!(
        !body.contains("acme") && !body.contains("crontech"),
        "{body}"
    );
    assert_eq!(host.counter("portcullis_403_tenant_mismatch"), 1);
}

#[test]
fn unreadable_identity_fails_closed() {
    let host = MockHost::request("GET", "acme.localhost", "/whoami")
        .with_property("portcullis_identity", b"not json");
    let (_, host) = run(host);
    assert_eq!(host.sent.unwrap().status, 500);
}

#[test]
fn every_failing_host_call_is_a_deny() {
    for call in [
        "get_map_value",
        "set_map_value",
        "get_property",
        "set_property",
    ] {
        let mut host = demo_user(MockHost::request("GET", "acme.localhost", "/whoami"));
        host.failing = vec![call];
        let (action, host) = run(host);
        assert_eq!(action, Action::Pause, "{call}");
        assert_eq!(host.sent.map(|s| s.status), Some(500), "{call}");
    }
}

#[test]
fn configuration_errors_name_the_tenant_and_domain() {
    let mut config = demo_config();
    config["tenants"][1]["domains"] = json!(["acme.localhost", "*acme.localhost"]);
    let err = TenantFilter::from_json(config.to_string().as_bytes())
        .err()
        .unwrap();
    assert!(
        err.contains("acme") && err.contains("*acme.localhost"),
        "{err}"
    );
    let mut config = demo_config();
    config["tenant"] = json!("typo");
    assert!(TenantFilter::from_json(config.to_string().as_bytes()).is_err());
}
