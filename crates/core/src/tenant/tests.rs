//! Unit tests of the compiled table and of token binding.

use super::*;
use serde_json::{json, Map, Value};

const ISSUER: &str = "https://accounts.crontech.localhost";

fn config(value: Value) -> TenantConfig {
    serde_json::from_value(value).unwrap()
}

/// The demo's tenants (SPEC §10) plus a realm-per-tenant one and a carve-out.
fn table() -> TenantTable {
    TenantTable::compile(&config(json!({
        "tenants": [
            {"id": "crontech", "domains": ["crontech.localhost"], "issuers": [ISSUER]},
            {"id": "acme", "domains": ["acme.localhost", "*.acme.localhost"], "issuers": [ISSUER]},
            {"id": "acme-eu", "domains": ["*.eu.acme.localhost"], "issuers": [ISSUER]},
            {"id": "vip", "domains": ["vip.acme.localhost"], "issuers": [ISSUER]},
            {"id": "globex", "domains": ["globex.localhost"],
             "issuers": ["https://kc.localhost/realms/globex"]}
        ],
        "tenant_claim": "tenant"
    })))
    .unwrap()
}

fn resolved(table: &TenantTable, host: &str) -> Option<String> {
    table.resolve(host).map(|t| t.id.clone())
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn compile_err(value: Value) -> TenantError {
    TenantTable::compile(&config(value)).unwrap_err()
}

#[test]
fn exact_domain_resolves() {
    assert_eq!(
        resolved(&table(), "crontech.localhost").as_deref(),
        Some("crontech")
    );
    assert_eq!(
        resolved(&table(), "acme.localhost").as_deref(),
        Some("acme")
    );
}

#[test]
fn wildcard_matches_a_subdomain() {
    assert_eq!(
        resolved(&table(), "shop.acme.localhost").as_deref(),
        Some("acme")
    );
}

#[test]
fn wildcard_matches_subdomains_at_any_depth() {
    assert_eq!(
        resolved(&table(), "a.b.c.acme.localhost").as_deref(),
        Some("acme")
    );
}

#[test]
fn wildcard_does_not_match_its_own_apex() {
    let table = TenantTable::compile(&config(json!({"tenants": [
        {"id": "acme", "domains": ["*.acme.localhost"], "issuers": []}]})))
    .unwrap();
    assert_eq!(resolved(&table, "acme.localhost"), None);
}

#[test]
fn exact_beats_wildcard() {
    assert_eq!(
        resolved(&table(), "vip.acme.localhost").as_deref(),
        Some("vip")
    );
}

#[test]
fn longer_wildcard_beats_shorter() {
    assert_eq!(
        resolved(&table(), "x.eu.acme.localhost").as_deref(),
        Some("acme-eu")
    );
    assert_eq!(
        resolved(&table(), "eu.acme.localhost").as_deref(),
        Some("acme")
    );
}

#[test]
fn unknown_host_resolves_to_nothing() {
    assert_eq!(resolved(&table(), "evil.localhost"), None);
    assert_eq!(resolved(&table(), "localhost"), None);
    assert_eq!(resolved(&table(), "acme.localhost.evil.com"), None);
    assert_eq!(resolved(&table(), "xacme.localhost"), None);
}

#[test]
fn spoofed_host_with_port_resolves_only_after_normalisation() {
    assert_eq!(resolved(&table(), "acme.localhost:10000"), None);
    let tenant = table()
        .resolve_raw("acme.localhost:10000")
        .unwrap()
        .id
        .clone();
    assert_eq!(tenant, "acme");
}

#[test]
fn spoofed_host_in_upper_case_resolves_to_the_same_tenant() {
    assert_eq!(
        table().resolve_raw("CRONTECH.LOCALHOST").unwrap().id,
        "crontech"
    );
}

#[test]
fn spoofed_host_with_trailing_dot_resolves_to_the_same_tenant() {
    assert_eq!(
        table().resolve_raw("crontech.localhost.").unwrap().id,
        "crontech"
    );
}

#[test]
fn forwarded_host_is_ignored_resolution_takes_only_the_given_host() {
    // A client on acme's domain sends `X-Forwarded-Host: crontech.localhost`: the filter
    // passes only the host header's value, so the result cannot depend on anything else.
    let table = table();
    let headers = [
        (":authority", "acme.localhost"),
        ("x-forwarded-host", "crontech.localhost"),
    ];
    let name = host_header_name(crate::flow::HostKind::Envoy);
    let host = headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
        .unwrap();
    assert_eq!(table.resolve_raw(host).unwrap().id, "acme");
}

#[test]
fn invalid_host_is_refused_with_its_own_code() {
    let err = table()
        .resolve_raw("acme.localhost@crontech.localhost")
        .unwrap_err();
    assert_eq!(err.code(), "invalid_host");
    assert_eq!(
        table().resolve_raw("nope.localhost").unwrap_err().code(),
        "unknown_host"
    );
}

#[test]
fn token_binds_by_claim() {
    let table = table();
    let acme = table.tenant("acme").unwrap();
    assert_eq!(
        table.bind_token(acme, ISSUER, &claims(json!({"tenant": "acme"}))),
        Ok(())
    );
}

#[test]
fn token_binds_by_issuer_when_the_claim_is_absent() {
    let table = table();
    let globex = table.tenant("globex").unwrap();
    let issuer = "https://kc.localhost/realms/globex";
    assert_eq!(
        table.bind_token(globex, issuer, &claims(json!({"sub": "u1"}))),
        Ok(())
    );
}

#[test]
fn token_binds_by_issuer_when_no_claim_is_configured() {
    let table = TenantTable::compile(&config(json!({"tenants": [
        {"id": "globex", "domains": ["globex.localhost"], "issuers": ["kc/globex"]}]})))
    .unwrap();
    let globex = table.tenant("globex").unwrap();
    // Without a configured claim, a `tenant` claim is not read at all.
    let c = claims(json!({"tenant": "acme"}));
    assert_eq!(table.bind_token(globex, "kc/globex", &c), Ok(()));
}

#[test]
fn mismatched_tenant_claim_is_refused() {
    let table = table();
    let crontech = table.tenant("crontech").unwrap();
    let err = table
        .bind_token(crontech, ISSUER, &claims(json!({"tenant": "acme"})))
        .unwrap_err();
    assert_eq!(
        err,
        TenantDenial::TokenTenantMismatch {
            token_tenant: "acme".into(),
            domain_tenant: "crontech".into()
        }
    );
    assert_eq!(err.code(), "tenant_mismatch");
    assert_eq!(err.denial().status, 403);
}

#[test]
fn tenant_claim_is_compared_exactly() {
    let table = table();
    let acme = table.tenant("acme").unwrap();
    let err = table.bind_token(acme, ISSUER, &claims(json!({"tenant": "ACME"})));
    assert_eq!(err.unwrap_err().code(), "tenant_mismatch");
}

#[test]
fn issuer_valid_for_a_different_tenant_is_refused() {
    let table = table();
    let acme = table.tenant("acme").unwrap();
    let globex_issuer = "https://kc.localhost/realms/globex";
    let err = table
        .bind_token(acme, globex_issuer, &claims(json!({"tenant": "acme"})))
        .unwrap_err();
    assert_eq!(err.code(), "issuer_not_valid_for_tenant");
    assert_eq!(
        err.to_string(),
        "issuer \"https://kc.localhost/realms/globex\" is not valid for tenant `acme`"
    );
}

#[test]
fn shared_issuer_without_claim_leaves_the_token_tenant_unknown() {
    let table = table();
    let acme = table.tenant("acme").unwrap();
    let err = table
        .bind_token(acme, ISSUER, &claims(json!({"sub": "u1"})))
        .unwrap_err();
    assert_eq!(err.code(), "token_tenant_unknown");
}

#[test]
fn malformed_tenant_claim_is_refused_not_derived() {
    let table = table();
    let acme = table.tenant("acme").unwrap();
    for bad in [
        json!(""),
        json!(["acme", "crontech"]),
        json!([]),
        json!(7),
        json!(null),
        json!({"id": "acme"}),
    ] {
        let err = table
            .bind_token(acme, ISSUER, &claims(json!({"tenant": bad})))
            .unwrap_err();
        assert_eq!(err.code(), "token_tenant_malformed", "{bad}");
    }
}

#[test]
fn one_element_array_claim_names_the_tenant() {
    let table = table();
    let acme = table.tenant("acme").unwrap();
    assert_eq!(
        table.bind_token(acme, ISSUER, &claims(json!({"tenant": ["acme"]}))),
        Ok(())
    );
}

#[test]
fn duplicate_tenant_id_is_refused() {
    let err = compile_err(json!({"tenants": [
        {"id": "a", "domains": ["a.test"], "issuers": []},
        {"id": "a", "domains": ["b.test"], "issuers": []}]}));
    assert_eq!(err, TenantError::DuplicateTenant("a".into()));
}

#[test]
fn domain_claimed_twice_is_refused_naming_both_tenants() {
    let err = compile_err(json!({"tenants": [
        {"id": "a", "domains": ["*.shared.test"], "issuers": []},
        {"id": "b", "domains": ["*.SHARED.test."], "issuers": []}]}));
    assert_eq!(
        err.to_string(),
        "domain `*.shared.test` is claimed by tenant `a` and again by tenant `b`"
    );
}

#[test]
fn exact_and_wildcard_of_one_name_do_not_conflict() {
    let ok = TenantTable::compile(&config(json!({"tenants": [
        {"id": "a", "domains": ["a.test"], "issuers": []},
        {"id": "b", "domains": ["*.a.test"], "issuers": []}]})));
    assert!(ok.is_ok());
}

#[test]
fn malformed_domain_patterns_are_refused_naming_tenant_and_domain() {
    for bad in [
        "*",
        "*.",
        "a.*.test",
        "*a.test",
        "**.a.test",
        "*.*.a.test",
        "a.test:80",
        "[::1]:80",
        "*.[::1]",
        "a..test",
        "a b.test",
        "",
        "a/test",
    ] {
        let err = compile_err(json!({"tenants": [{"id": "t", "domains": [bad], "issuers": []}]}));
        assert!(
            matches!(&err, TenantError::InvalidDomain { tenant, domain, .. }
                         if tenant == "t" && domain == bad),
            "{bad}: {err}"
        );
    }
}

#[test]
fn domains_are_stored_in_normal_form() {
    let table = TenantTable::compile(&config(json!({"tenants": [
        {"id": "a", "domains": ["A.Test.", "*.B.test", "[0::1]"], "issuers": []}]})))
    .unwrap();
    assert_eq!(
        table.tenant("a").unwrap().domains,
        vec!["a.test", "*.b.test", "[::1]"]
    );
    assert_eq!(resolved(&table, "[::1]").as_deref(), Some("a"));
}

#[test]
fn other_invalid_configurations_are_refused() {
    assert_eq!(compile_err(json!({"tenants": []})), TenantError::NoTenants);
    let no_domains = compile_err(json!({"tenants": [{"id": "a", "domains": [], "issuers": []}]}));
    assert_eq!(no_domains, TenantError::NoDomains("a".into()));
    let bad_id = compile_err(json!({"tenants": [{"id": "a b", "domains": ["a"], "issuers": []}]}));
    assert!(matches!(bad_id, TenantError::InvalidId(_)));
    let empty_iss =
        compile_err(json!({"tenants": [{"id": "a", "domains": ["a"], "issuers": [""]}]}));
    assert_eq!(empty_iss, TenantError::EmptyIssuer("a".into()));
    let header = compile_err(json!({"header": "X-Tenant",
        "tenants": [{"id": "a", "domains": ["a"], "issuers": []}]}));
    assert!(matches!(header, TenantError::InvalidHeader(_)));
}

#[test]
fn settings_are_carried_into_the_table() {
    let table = table();
    assert_eq!(table.header(), "x-portcullis-tenant");
    assert!(!table.allows_unknown_hosts());
    assert_eq!(
        table.tenant_claim().map(ToString::to_string).as_deref(),
        Some("tenant")
    );
    assert_eq!(table.tenants().len(), 5);
}
