//! Tenant by domain (SPEC §3). Each tenant is served on its own domains; the request's
//! host decides the tenant, and a token is accepted only on its own tenant's domains.
//!
//! The steps, in the order the tenant filter runs them:
//! 1. read the host from [`host_header_name`] (`:authority` on Envoy, `host` on Kong;
//!    `X-Forwarded-Host` never) and bring it to normal form with [`normalize_host`];
//! 2. find the tenant with [`TenantTable::resolve`] (exact domain, else the longest
//!    matching `*.` wildcard); an unknown host is refused unless the configuration says
//!    `dangerous_allow_unknown_hosts`;
//! 3. bind the verified token with [`TenantTable::bind_token`]: its issuer must be valid
//!    for the tenant and its tenant (claim, else derived from the issuer) must be the
//!    domain's tenant; any [`TenantDenial`] is a 403.
//!
//! The rules are written down for operators in `docs/tenants-and-paths.md`.

mod bind;
mod config;
mod host;
mod table;
#[cfg(test)]
mod tests;

pub use bind::TenantDenial;
pub use config::{TenantConfig, TenantEntry, DEFAULT_TENANT_HEADER};
pub use host::{host_header_name, normalize_host, HostError, MAX_HOST_LEN, MAX_LABEL_LEN};
pub use table::{Tenant, TenantError, TenantTable};
