//! Binding a verified token to the domain's tenant: "a user logs in only through their
//! tenant's domain". The token's issuer must be one the domain's tenant trusts, and the
//! token's own tenant must be the domain's tenant. The token's tenant is read from the
//! configured claim; when there is no such claim (or none is configured) it is derived
//! from the issuer, which works only when exactly one tenant lists that issuer.

use super::host::{shown, HostError};
use super::table::{Tenant, TenantTable};
use crate::decision::Denial;
use serde_json::{Map, Value};
use thiserror::Error;

/// Why a request was refused by the tenant filter. Every variant is a 403 (see
/// [`TenantDenial::denial`]); [`TenantDenial::code`] is the stable reason used in metrics
/// and decision logs. Messages name tenants and issuers, never a token.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TenantDenial {
    /// The host could not be brought to normal form.
    #[error("{0}")]
    InvalidHost(HostError),
    /// No tenant serves this host.
    #[error("no tenant serves host {host:?}")]
    UnknownHost {
        /// The normalised host.
        host: String,
    },
    /// The token's issuer is not one the domain's tenant trusts.
    #[error("issuer {issuer:?} is not valid for tenant `{tenant}`")]
    IssuerNotValidForTenant {
        /// The token's `iss`.
        issuer: String,
        /// The domain's tenant.
        tenant: String,
    },
    /// The token belongs to another tenant.
    #[error("token tenant `{token_tenant}` does not match domain tenant `{domain_tenant}`")]
    TokenTenantMismatch {
        /// The token's tenant (claim, or derived from the issuer).
        token_tenant: String,
        /// The tenant serving the request's domain.
        domain_tenant: String,
    },
    /// The token has no tenant claim and its issuer is shared by several tenants (or
    /// listed by none), so its tenant cannot be known.
    #[error("the tenant of a token from issuer {issuer:?} cannot be determined")]
    TokenTenantUnknown {
        /// The token's `iss`.
        issuer: String,
    },
    /// The tenant claim is present but is not one string (a number, an object, an empty
    /// string, or an array of other than exactly one string).
    #[error("the token's tenant claim `{claim}` is not a single string")]
    TokenTenantMalformed {
        /// The configured claim path.
        claim: String,
    },
}

impl TenantDenial {
    /// The stable, machine-readable reason (metrics labels, decision log `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            TenantDenial::InvalidHost(_) => "invalid_host",
            TenantDenial::UnknownHost { .. } => "unknown_host",
            TenantDenial::IssuerNotValidForTenant { .. } => "issuer_not_valid_for_tenant",
            TenantDenial::TokenTenantMismatch { .. } => "tenant_mismatch",
            TenantDenial::TokenTenantUnknown { .. } => "token_tenant_unknown",
            TenantDenial::TokenTenantMalformed { .. } => "token_tenant_malformed",
        }
    }

    /// The 403 the client receives; the message goes to the decision log only.
    pub fn denial(&self) -> Denial {
        Denial::forbidden(self.code(), self.to_string())
    }
}

impl TenantTable {
    /// Normalises a raw `:authority`/`Host` value and resolves it: the tenant, or why
    /// there is none. Whether an unknown host may pass anyway is the caller's decision
    /// ([`TenantTable::allows_unknown_hosts`]).
    pub fn resolve_raw(&self, raw: &str) -> Result<&Tenant, TenantDenial> {
        let host = super::normalize_host(raw).map_err(TenantDenial::InvalidHost)?;
        match self.resolve(&host) {
            Some(tenant) => Ok(tenant),
            None => Err(TenantDenial::UnknownHost { host: shown(&host) }),
        }
    }

    /// Checks that a verified token belongs to `tenant`, the tenant of the request's
    /// domain: its `issuer` must be valid for that tenant, and the token's tenant (the
    /// configured claim, else derived from the issuer) must be that tenant.
    pub fn bind_token(
        &self,
        tenant: &Tenant,
        issuer: &str,
        claims: &Map<String, Value>,
    ) -> Result<(), TenantDenial> {
        if !tenant.accepts_issuer(issuer) {
            return Err(TenantDenial::IssuerNotValidForTenant {
                issuer: shown(issuer),
                tenant: tenant.id.clone(),
            });
        }
        let token_tenant = self.token_tenant(issuer, claims)?;
        if token_tenant != tenant.id {
            return Err(TenantDenial::TokenTenantMismatch {
                token_tenant: shown(token_tenant),
                domain_tenant: tenant.id.clone(),
            });
        }
        Ok(())
    }

    /// The tenant a token belongs to: the claim's value when the claim is present, else
    /// the one tenant that lists the token's issuer.
    pub fn token_tenant<'a>(
        &'a self,
        issuer: &str,
        claims: &'a Map<String, Value>,
    ) -> Result<&'a str, TenantDenial> {
        if let Some(path) = &self.tenant_claim {
            if let Some(value) = path.lookup(claims) {
                return single_string(value).ok_or_else(|| TenantDenial::TokenTenantMalformed {
                    claim: path.to_string(),
                });
            }
        }
        match self.by_issuer.get(issuer).map(Vec::as_slice) {
            Some([only]) => self
                .tenants
                .get(*only)
                .map(|t| t.id.as_str())
                .ok_or_else(|| TenantDenial::TokenTenantUnknown {
                    issuer: shown(issuer),
                }),
            _ => Err(TenantDenial::TokenTenantUnknown {
                issuer: shown(issuer),
            }),
        }
    }
}

/// A non-empty string, or an array holding exactly one non-empty string (some identity
/// providers map user attributes to one-element arrays).
fn single_string(value: &Value) -> Option<&str> {
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Array(items) => match items.as_slice() {
            [Value::String(s)] => s.as_str(),
            _ => return None,
        },
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}
