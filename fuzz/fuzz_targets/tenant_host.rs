//! `tenant::normalize_host` and tenant resolution over the demo's tenant table.
//! Invariants: no panic; the normal form is a fixed point; it is lower case, has no
//! port, userinfo, `%`, slash, whitespace or trailing dot; a host resolves to a tenant
//! only when it is one of that tenant's domains or under its wildcard (no look-alike).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::tenant::{normalize_host, TenantConfig, TenantTable, MAX_HOST_LEN};
use std::sync::OnceLock;

static TABLE: OnceLock<TenantTable> = OnceLock::new();

fn table() -> TenantTable {
    let config: TenantConfig = serde_json::from_str(
        r#"{"tenants": [
            {"id": "crontech", "domains": ["crontech.localhost"], "issuers": ["https://accounts.crontech.localhost"]},
            {"id": "acme", "domains": ["acme.localhost", "*.acme.localhost"], "issuers": ["https://accounts.crontech.localhost"]},
            {"id": "vip", "domains": ["vip.acme.localhost", "[::1]", "127.0.0.1"], "issuers": []}],
           "tenant_claim": "tenant"}"#,
    )
    .expect("tenant config");
    TenantTable::compile(&config).expect("tenant table")
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let table = TABLE.get_or_init(table);
    let normal = normalize_host(raw);
    let resolved = table.resolve_raw(raw).ok().map(|t| t.id.clone());
    let Ok(host) = normal else {
        assert!(
            resolved.is_none(),
            "refused host {raw:?} resolved to a tenant"
        );
        return;
    };
    assert_eq!(
        normalize_host(&host).as_deref(),
        Ok(host.as_str()),
        "not a fixed point: {raw:?}"
    );
    assert!(!host.is_empty());
    assert!(!host.bytes().any(|b| b.is_ascii_uppercase()), "{host:?}");
    assert!(
        !host.contains(['@', '%', '/', '\\', ' ', '\t', ',']),
        "{host:?}"
    );
    if host.starts_with('[') {
        assert!(host.ends_with(']'), "{host:?}");
    } else {
        assert!(!host.contains(':'), "port kept in {host:?}");
        assert!(!host.ends_with('.') && !host.starts_with('.') && !host.contains(".."));
        assert!(host.len() <= MAX_HOST_LEN);
        assert!(host.is_ascii());
    }
    match resolved.as_deref() {
        Some("crontech") => assert_eq!(host, "crontech.localhost"),
        Some("acme") => assert!(
            host == "acme.localhost"
                || (host.ends_with(".acme.localhost") && host != "vip.acme.localhost"),
            "{raw:?} -> {host:?} resolved to acme"
        ),
        Some("vip") => {
            assert!(["vip.acme.localhost", "[::1]", "127.0.0.1"].contains(&host.as_str()))
        }
        Some(other) => panic!("unknown tenant {other}"),
        None => assert!(
            host != "acme.localhost"
                && host != "crontech.localhost"
                && !host.ends_with(".acme.localhost"),
            "{host:?} did not resolve"
        ),
    }
});
