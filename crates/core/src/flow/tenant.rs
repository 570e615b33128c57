//! The tenant filter's flow: resolve the tenant from the request's host (never from
//! `X-Forwarded-Host`), refuse unknown hosts, bind a verified token to the domain's
//! tenant, and pass the tenant id upstream (client copies removed) and to later filters.

use super::{deny, Action, Filter, Host, LogContext};
use crate::decision::Denial;
use crate::header_value;
use crate::identity::{Identity, IDENTITY_PROPERTY, TENANT_PROPERTY};
use crate::tenant::{host_header_name, TenantConfig, TenantDenial, TenantTable};

/// The compiled tenant filter.
pub struct TenantFilter {
    table: TenantTable,
}

impl TenantFilter {
    /// Parses, validates and compiles a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let config: TenantConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid configuration: {e}"))?;
        let table = TenantTable::compile(&config).map_err(|e| e.to_string())?;
        Ok(TenantFilter { table })
    }

    fn run(&self, host: &mut dyn Host, log: &mut LogContext) -> Result<(), Denial> {
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        // Every client copy goes, also spelled with `_` (which CGI-style backends read
        // as `-`) or in another case.
        let header = self.table.header().replace('_', "-");
        for (name, _) in host.request_headers().map_err(host_err)? {
            if name.to_ascii_lowercase().replace('_', "-") == header {
                host.set_request_header(&name, None).map_err(host_err)?;
            }
        }
        host.set_request_header(self.table.header(), None)
            .map_err(host_err)?;
        let raw = host
            .request_header(host_header_name(host.kind()))
            .map_err(host_err)?
            .unwrap_or_default();
        let tenant = match self.table.resolve_raw(&raw) {
            Ok(tenant) => tenant,
            Err(TenantDenial::UnknownHost { .. }) if self.table.allows_unknown_hosts() => {
                return Ok(())
            }
            Err(denial) => return Err(denial.denial()),
        };
        log.tenant = Some(tenant.id.clone());
        if let Some(bytes) = host.property(IDENTITY_PROPERTY).map_err(host_err)? {
            let identity = Identity::from_bytes(&bytes)
                .ok_or_else(|| Denial::internal("identity_unreadable", "identity property"))?;
            log.subject = identity.subject.clone();
            self.table
                .bind_token(tenant, &identity.issuer, &identity.claims)
                .map_err(|d| d.denial())?;
        }
        // The id is configuration, yet it is written into a header: the one check of
        // every header value applies (a backend must read the id the gateway bound).
        header_value::check(&tenant.id).map_err(|e| {
            Denial::forbidden(
                "forwarded_claim_invalid",
                format!("tenant id is not a valid header value: {e}"),
            )
        })?;
        host.set_request_header(self.table.header(), Some(&tenant.id))
            .map_err(host_err)?;
        host.set_property(TENANT_PROPERTY, tenant.id.as_bytes())
            .map_err(host_err)?;
        Ok(())
    }
}

impl Filter for TenantFilter {
    type Stream = ();

    fn name(&self) -> &'static str {
        "portcullis_tenant"
    }

    fn on_request_headers(&self, _: &mut (), host: &mut dyn Host, _eos: bool) -> Action {
        let mut log = LogContext::from_host(host);
        match self.run(host, &mut log) {
            Ok(()) => Action::Continue,
            Err(denial) => deny(host, self.name(), &denial, &log),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::mock::MockHost;
    use crate::flow::HostKind;

    const CONFIG: &str = r#"{"tenants": [
        {"id": "crontech", "domains": ["crontech.localhost"], "issuers": ["https://accounts.crontech.localhost"]},
        {"id": "acme", "domains": ["acme.localhost", "*.acme.localhost"], "issuers": ["https://accounts.crontech.localhost"]}],
        "tenant_claim": "tenant"}"#;

    fn with_identity(host: MockHost, tenant: &str) -> MockHost {
        let identity = format!(
            r#"{{"provider":"p","issuer":"https://accounts.crontech.localhost","subject":"u1","claims":{{"tenant":"{tenant}"}}}}"#
        );
        host.with_property("portcullis_identity", identity.as_bytes())
    }

    fn run(mut host: MockHost) -> MockHost {
        let filter = TenantFilter::from_json(CONFIG.as_bytes()).unwrap();
        filter.on_request_headers(&mut (), &mut host, true);
        host
    }

    #[test]
    fn tenant_header_replaces_the_client_copy() {
        let host = run(with_identity(
            MockHost::request("GET", "Shop.ACME.localhost.:443", "/"),
            "acme",
        )
        .with_header("x-portcullis-tenant", "crontech"));
        assert_eq!(host.sent, None);
        assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
    }

    #[test]
    fn token_of_another_tenant_is_refused_with_403() {
        let host = run(with_identity(
            MockHost::request("GET", "crontech.localhost", "/"),
            "acme",
        ));
        assert_eq!(host.sent.unwrap().status, 403);
    }

    #[test]
    fn unknown_host_is_refused_even_without_a_token() {
        let host = run(MockHost::request("GET", "evil.localhost", "/public/health"));
        assert_eq!(host.sent.unwrap().status, 403);
    }

    #[test]
    fn x_forwarded_host_is_never_consulted() {
        let host = run(MockHost::request("GET", "evil.localhost", "/")
            .with_header("x-forwarded-host", "acme.localhost"));
        assert_eq!(host.sent.unwrap().status, 403);
    }

    #[test]
    fn kong_reads_the_host_header_not_the_authority() {
        let mut host = with_identity(MockHost::request("GET", "internal-upstream", "/"), "acme")
            .with_header("host", "acme.localhost");
        host.kind = HostKind::Kong;
        let host = run(host);
        assert_eq!(host.sent, None);
        assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
    }

    #[test]
    fn a_tenant_id_that_is_no_safe_header_value_is_refused_at_configuration() {
        for id in ["ac me", "acme\r\nx-evil: 1", "acm\u{e9}", ""] {
            let config = serde_json::json!({"tenants": [
                {"id": id, "domains": ["acme.localhost"], "issuers": ["https://i"]}]});
            let bytes = serde_json::to_vec(&config).unwrap();
            assert!(TenantFilter::from_json(&bytes).is_err(), "{id:?}");
        }
    }
}
