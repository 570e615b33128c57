#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tenant resolution through the public API: the demo configuration (SPEC §10), a table
//! of 10,000 tenants, and properties of host normalisation.

use portcullis_core::tenant::{normalize_host, TenantConfig, TenantError, TenantTable};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tenant");
const DEMO_ISSUER: &str = "https://accounts.crontech.localhost";

fn load(name: &str) -> TenantConfig {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[test]
fn demo_configuration_compiles_and_keeps_its_routes() {
    let config = load("demo.json");
    assert!(config.routes.contains_key("whoami"));
    let table = TenantTable::compile(&config).unwrap();
    assert_eq!(table.header(), "x-portcullis-tenant");
}

#[test]
fn demo_user_of_acme_is_accepted_on_every_acme_domain() {
    let table = TenantTable::compile(&load("demo.json")).unwrap();
    let token = claims(json!({"sub": "u1", "tenant": "acme", "organization": ["demostore"]}));
    for host in [
        "acme.localhost",
        "acme.localhost:10000",
        "shop.acme.localhost:10000",
    ] {
        let tenant = table.resolve_raw(host).unwrap();
        assert_eq!(tenant.id, "acme", "{host}");
        assert_eq!(
            table.bind_token(tenant, DEMO_ISSUER, &token),
            Ok(()),
            "{host}"
        );
    }
}

#[test]
fn demo_user_of_acme_is_refused_on_the_crontech_domain() {
    let table = TenantTable::compile(&load("demo.json")).unwrap();
    let tenant = table.resolve_raw("crontech.localhost:10000").unwrap();
    let token = claims(json!({"sub": "u1", "tenant": "acme"}));
    let denial = table
        .bind_token(tenant, DEMO_ISSUER, &token)
        .unwrap_err()
        .denial();
    assert_eq!((denial.status, denial.code), (403, "tenant_mismatch"));
}

#[test]
fn demo_token_without_tenant_claim_is_refused_because_the_issuer_is_shared() {
    let table = TenantTable::compile(&load("demo.json")).unwrap();
    let tenant = table.resolve_raw("acme.localhost").unwrap();
    let err = table
        .bind_token(tenant, DEMO_ISSUER, &claims(json!({"sub": "u1"})))
        .unwrap_err();
    assert_eq!(err.code(), "token_tenant_unknown");
}

#[test]
fn domain_listed_by_two_tenants_after_normalisation_is_refused() {
    let err = TenantTable::compile(&load("invalid.json")).unwrap_err();
    assert_eq!(
        err,
        TenantError::DuplicateDomain {
            domain: "crontech.localhost".into(),
            first: "crontech".into(),
            second: "acme".into()
        }
    );
}

/// 10,000 tenants, each with an exact domain and a wildcard: `t{i}.example` and
/// `*.t{i}.example`, plus a carve-out `vip.t{i}.example` for every hundredth.
fn big_table() -> TenantTable {
    let tenants: Vec<Value> = (0..10_000)
        .map(|i| {
            let mut domains = vec![format!("t{i}.example"), format!("*.t{i}.example")];
            if i % 100 == 0 {
                domains.push(format!("*.eu.t{i}.example"));
            }
            json!({"id": format!("t{i}"), "domains": domains, "issuers": [format!("iss-{i}")]})
        })
        .collect();
    TenantTable::compile(&serde_json::from_value(json!({"tenants": tenants})).unwrap()).unwrap()
}

#[test]
fn ten_thousand_tenants_resolve_exactly() {
    let table = big_table();
    for i in (0..10_000).step_by(7) {
        let host = format!("t{i}.example");
        assert_eq!(
            table.resolve(&host).map(|t| t.id.as_str()),
            Some(format!("t{i}").as_str())
        );
    }
}

#[test]
fn ten_thousand_tenants_resolve_wildcards_and_misses() {
    let table = big_table();
    assert_eq!(table.resolve("a.b.t9999.example").unwrap().id, "t9999");
    assert_eq!(
        table.resolve("x.eu.t100.example").unwrap().domains[2],
        "*.eu.t100.example"
    );
    assert!(table.resolve("t10000.example").is_none());
    assert!(table.resolve("example").is_none());
    assert!(table.resolve("t1.example.evil").is_none());
}

#[test]
fn ten_thousand_tenants_derive_each_token_tenant_from_its_own_issuer() {
    let table = big_table();
    let tenant = table.resolve("t4242.example").unwrap();
    assert_eq!(table.bind_token(tenant, "iss-4242", &Map::new()), Ok(()));
    let err = table
        .bind_token(tenant, "iss-4243", &Map::new())
        .unwrap_err();
    assert_eq!(err.code(), "issuer_not_valid_for_tenant");
}

proptest! {
    #[test]
    fn normalize_host_never_panics_on_any_string(raw in ".{0,300}") {
        let _ = normalize_host(&raw);
    }

    #[test]
    fn normalize_host_never_panics_on_host_like_input(
        raw in "[a-zA-Z0-9.:\\[\\]@%_-]{0,80}"
    ) {
        let _ = normalize_host(&raw);
    }

    #[test]
    fn normalize_host_is_idempotent_on_its_own_output(
        raw in "([a-zA-Z0-9_-]{1,12}\\.){0,4}[a-zA-Z0-9-]{1,12}\\.?(:[0-9]{1,5})?|\\[[0-9a-fA-F:.]{2,30}\\](:[0-9]{1,5})?|.{0,40}"
    ) {
        if let Ok(host) = normalize_host(&raw) {
            prop_assert_eq!(normalize_host(&host), Ok(host.clone()));
            prop_assert!(!host.bytes().any(|b| b.is_ascii_uppercase()));
            prop_assert!(!host.ends_with('.'));
        }
    }

    #[test]
    fn resolution_never_panics_on_normalised_hosts(raw in "[a-z0-9.-]{0,60}") {
        let table = TenantTable::compile(&serde_json::from_value(json!({"tenants": [
            {"id": "a", "domains": ["a.test", "*.a.test"], "issuers": []}]})).unwrap()).unwrap();
        if let Ok(host) = normalize_host(&raw) {
            let _ = table.resolve(&host);
        }
        let _ = table.resolve(&raw);
    }
}
