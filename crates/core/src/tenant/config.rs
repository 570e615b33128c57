//! The tenant filter's configuration, as written in the gateway (JSON or YAML). Unknown
//! fields are refused; [`super::TenantTable::compile`] checks the rest once, at load.

use crate::claims::ClaimPath;
use crate::route::RouteEntry;
use serde::Deserialize;
use std::collections::HashMap;

/// The header that carries the resolved tenant id upstream unless configured otherwise.
pub const DEFAULT_TENANT_HEADER: &str = "x-portcullis-tenant";

/// The whole tenant filter configuration.
///
/// ```json
/// {"tenants": [{"id": "acme", "domains": ["acme.localhost", "*.acme.localhost"],
///               "issuers": ["https://accounts.crontech.localhost"]}],
///  "tenant_claim": "tenant", "header": "x-portcullis-tenant",
///  "dangerous_allow_unknown_hosts": false, "routes": {}}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Every tenant with its domains and valid issuers.
    pub tenants: Vec<TenantEntry>,
    /// Where the token names its tenant (`tenant`, `["https://x.io/tenant"]`). When it is
    /// not configured, or a token lacks the claim, the token's tenant is derived from its
    /// issuer (only when exactly one tenant lists that issuer).
    #[serde(default)]
    pub tenant_claim: Option<ClaimPath>,
    /// The upstream request header that carries the resolved tenant id; a client-sent
    /// copy is always removed first.
    #[serde(default = "default_header")]
    pub header: String,
    /// Let requests to a host no tenant claims through, without a tenant. Weakens the
    /// fail-closed default (unknown domain: refused), hence the name.
    #[serde(default)]
    pub dangerous_allow_unknown_hosts: bool,
    /// Route table keyed by route name (the portable form; Envoy may use metadata).
    #[serde(default)]
    pub routes: HashMap<String, RouteEntry>,
}

fn default_header() -> String {
    DEFAULT_TENANT_HEADER.to_string()
}

/// One tenant: who it is, where it is served, and which token issuers it trusts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantEntry {
    /// The tenant id: compared with the token's tenant claim and sent upstream. ASCII
    /// letters, digits, `-`, `_`, `.` and `:` only, so it is always a safe header value.
    pub id: String,
    /// Exact host names (`acme.localhost`) and leading wildcards (`*.acme.localhost`,
    /// which matches subdomains at any depth but not `acme.localhost` itself).
    pub domains: Vec<String>,
    /// The exact `iss` values whose tokens are valid on this tenant's domains. Required,
    /// and may be empty (no token is valid there: public routes only).
    pub issuers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses() {
        let config: TenantConfig = serde_json::from_str(
            r#"{"tenants": [
                 {"id": "crontech", "domains": ["crontech.localhost"],
                  "issuers": ["https://accounts.crontech.localhost"]},
                 {"id": "acme", "domains": ["acme.localhost", "*.acme.localhost"],
                  "issuers": ["https://accounts.crontech.localhost"]}],
               "tenant_claim": "tenant",
               "header": "x-portcullis-tenant",
               "dangerous_allow_unknown_hosts": false,
               "routes": {}}"#,
        )
        .unwrap();
        assert_eq!(config.tenants.len(), 2);
        assert_eq!(config.tenant_claim, Some(ClaimPath::dotted("tenant")));
    }

    #[test]
    fn defaults_apply_to_optional_fields() {
        let config: TenantConfig = serde_json::from_str(
            r#"{"tenants": [{"id": "a", "domains": ["a.test"], "issuers": []}]}"#,
        )
        .unwrap();
        assert_eq!(config.header, DEFAULT_TENANT_HEADER);
        assert!(config.tenant_claim.is_none());
        assert!(!config.dangerous_allow_unknown_hosts);
        assert!(config.routes.is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let top = serde_json::from_str::<TenantConfig>(r#"{"tenants": [], "tenant": "x"}"#);
        assert!(top
            .unwrap_err()
            .to_string()
            .contains("unknown field `tenant`"));
        let inner = serde_json::from_str::<TenantConfig>(
            r#"{"tenants": [{"id": "a", "domains": [], "issuers": [], "domain": "a"}]}"#,
        );
        assert!(inner
            .unwrap_err()
            .to_string()
            .contains("unknown field `domain`"));
    }

    #[test]
    fn issuers_are_required() {
        let err =
            serde_json::from_str::<TenantConfig>(r#"{"tenants": [{"id": "a", "domains": []}]}"#);
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("missing field `issuers`"));
    }

    #[test]
    fn yaml_is_accepted_too() {
        let config: TenantConfig = serde_saphyr::from_str(
            "tenants:\n  - id: acme\n    domains: ['*.acme.localhost']\n    issuers: [iss]\n",
        )
        .unwrap();
        assert_eq!(config.tenants[0].domains, vec!["*.acme.localhost"]);
    }
}
