//! The compiled tenant table: domain patterns checked and indexed once, at configuration
//! load, so that resolving a host costs a few hash look-ups and never a scan over the
//! tenants, however many there are.
//!
//! Matching rules (the host is already in normal form, see [`super::normalize_host`]):
//! 1. an exact domain (`acme.localhost`) wins over any wildcard;
//! 2. a wildcard `*.acme.localhost` matches every name *below* `acme.localhost`, at any
//!    depth (`x.acme.localhost`, `a.b.acme.localhost`), but not `acme.localhost` itself:
//!    list both when both are meant;
//! 3. among wildcards, the longest suffix wins (`*.eu.acme.localhost` beats
//!    `*.acme.localhost` for `x.eu.acme.localhost`);
//! 4. IP literals match exact domains only.

use super::config::TenantConfig;
use super::host::normalize_host;
use crate::claims::ClaimPath;
use std::collections::{HashMap, HashSet};
use thiserror::Error;

/// A configuration the tenant table cannot be built from. Each message names the tenant
/// and, where there is one, the domain, so the operator knows what to fix.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TenantError {
    /// `tenants` is empty: every request would be refused.
    #[error("no tenants are configured")]
    NoTenants,
    /// An id that is empty or has characters other than ASCII letters, digits, `-_.:`.
    #[error("tenant id {0:?} is invalid: use ascii letters, digits, `-`, `_`, `.` or `:`")]
    InvalidId(String),
    /// Two tenants share one id.
    #[error("tenant `{0}` is configured twice")]
    DuplicateTenant(String),
    /// A tenant without domains can never be reached.
    #[error("tenant `{0}` has no domains")]
    NoDomains(String),
    /// A domain pattern that is not a host name or a leading-`*.` wildcard.
    #[error("tenant `{tenant}`: domain {domain:?} is invalid: {reason}")]
    InvalidDomain {
        /// The tenant that lists it.
        tenant: String,
        /// The pattern as configured.
        domain: String,
        /// Why it is refused.
        reason: String,
    },
    /// One domain pattern (after normalisation) listed twice, by one tenant or two.
    #[error("domain `{domain}` is claimed by tenant `{first}` and again by tenant `{second}`")]
    DuplicateDomain {
        /// The normalised pattern.
        domain: String,
        /// The tenant that listed it first.
        first: String,
        /// The tenant that listed it again.
        second: String,
    },
    /// An empty issuer string.
    #[error("tenant `{0}` lists an empty issuer")]
    EmptyIssuer(String),
    /// The upstream tenant header is not a lower-case header name.
    #[error("header {0:?} is invalid: use lower-case ascii letters, digits, `-` or `_`")]
    InvalidHeader(String),
}

/// One tenant as compiled: its id, its normalised domain patterns and its issuers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant id, as configured; sent upstream and compared with the token's tenant.
    pub id: String,
    /// The domain patterns in normal form (`acme.localhost`, `*.acme.localhost`).
    pub domains: Vec<String>,
    issuers: HashSet<String>,
}

impl Tenant {
    /// Whether a token from `issuer` (its exact `iss`) may be used on this tenant's
    /// domains.
    pub fn accepts_issuer(&self, issuer: &str) -> bool {
        self.issuers.contains(issuer)
    }

    /// The issuers valid for this tenant, in no particular order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(String::as_str)
    }
}

/// Domains and issuers indexed for look-up without scanning. Build it with
/// [`TenantTable::compile`]; it is immutable afterwards and cheap to share.
#[derive(Debug, Clone)]
pub struct TenantTable {
    pub(super) tenants: Vec<Tenant>,
    by_id: HashMap<String, usize>,
    exact: HashMap<String, usize>,
    /// Keyed by the suffix after `*.` (`acme.localhost` for `*.acme.localhost`).
    wildcard: HashMap<String, usize>,
    /// Which tenants list each issuer; the token's tenant is derived from it only when
    /// exactly one does.
    pub(super) by_issuer: HashMap<String, Vec<usize>>,
    pub(super) tenant_claim: Option<ClaimPath>,
    header: String,
    allow_unknown_hosts: bool,
}

impl TenantTable {
    /// Checks the configuration and builds the look-up tables. Refuses: no tenants, an
    /// invalid or duplicate tenant id, a tenant without domains, a malformed domain
    /// pattern (only a leading `*.` wildcard; a port is not allowed; the rest must be a
    /// valid host), a domain listed twice, an empty issuer, and an invalid header name.
    pub fn compile(config: &TenantConfig) -> Result<TenantTable, TenantError> {
        if config.tenants.is_empty() {
            return Err(TenantError::NoTenants);
        }
        check_header(&config.header)?;
        let mut table = TenantTable {
            tenants: Vec::with_capacity(config.tenants.len()),
            by_id: HashMap::with_capacity(config.tenants.len()),
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            by_issuer: HashMap::new(),
            tenant_claim: config.tenant_claim.clone(),
            header: config.header.clone(),
            allow_unknown_hosts: config.dangerous_allow_unknown_hosts,
        };
        for entry in &config.tenants {
            let index = table.tenants.len();
            check_id(&entry.id)?;
            if table.by_id.insert(entry.id.clone(), index).is_some() {
                return Err(TenantError::DuplicateTenant(entry.id.clone()));
            }
            if entry.domains.is_empty() {
                return Err(TenantError::NoDomains(entry.id.clone()));
            }
            let mut domains = Vec::with_capacity(entry.domains.len());
            for raw in &entry.domains {
                let pattern = parse_pattern(&entry.id, raw)?;
                let (map, shown) = match &pattern {
                    Pattern::Exact(name) => (&mut table.exact, name.clone()),
                    Pattern::Wildcard(suffix) => (&mut table.wildcard, format!("*.{suffix}")),
                };
                let key = match pattern {
                    Pattern::Exact(k) | Pattern::Wildcard(k) => k,
                };
                if let Some(&first) = map.get(&key) {
                    let first = table.tenants.get(first).map_or(&entry.id, |t| &t.id);
                    return Err(TenantError::DuplicateDomain {
                        domain: shown,
                        first: first.clone(),
                        second: entry.id.clone(),
                    });
                }
                map.insert(key, index);
                domains.push(shown);
            }
            let mut issuers = HashSet::with_capacity(entry.issuers.len());
            for issuer in &entry.issuers {
                if issuer.is_empty() {
                    return Err(TenantError::EmptyIssuer(entry.id.clone()));
                }
                if issuers.insert(issuer.clone()) {
                    table
                        .by_issuer
                        .entry(issuer.clone())
                        .or_default()
                        .push(index);
                }
            }
            table.tenants.push(Tenant {
                id: entry.id.clone(),
                domains,
                issuers,
            });
        }
        Ok(table)
    }

    /// The tenant serving `host`, which must already be in normal form (the output of
    /// [`super::normalize_host`]); `None` for a host no tenant claims. Resolution only
    /// ever looks at the host string it is given: which header that string comes from
    /// is [`super::host_header_name`]'s decision, and `X-Forwarded-Host` is never it.
    pub fn resolve(&self, host: &str) -> Option<&Tenant> {
        if let Some(&index) = self.exact.get(host) {
            return self.tenants.get(index);
        }
        if host.starts_with('[') {
            return None;
        }
        let mut rest = host;
        while let Some((_, suffix)) = rest.split_once('.') {
            if let Some(&index) = self.wildcard.get(suffix) {
                return self.tenants.get(index);
            }
            rest = suffix;
        }
        None
    }

    /// The tenant with this id, if configured.
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.by_id
            .get(id)
            .and_then(|&index| self.tenants.get(index))
    }

    /// Every tenant, in configuration order.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The upstream header that carries the resolved tenant id.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// Whether requests to unknown hosts pass through without a tenant (the
    /// `dangerous_allow_unknown_hosts` setting; default: refused).
    pub fn allows_unknown_hosts(&self) -> bool {
        self.allow_unknown_hosts
    }

    /// Where the token names its tenant, if configured.
    pub fn tenant_claim(&self) -> Option<&ClaimPath> {
        self.tenant_claim.as_ref()
    }
}

/// A domain pattern in normal form.
enum Pattern {
    /// `acme.localhost`.
    Exact(String),
    /// `*.acme.localhost`, holding `acme.localhost`.
    Wildcard(String),
}

fn parse_pattern(tenant: &str, raw: &str) -> Result<Pattern, TenantError> {
    let invalid = |reason: &str| TenantError::InvalidDomain {
        tenant: tenant.to_string(),
        domain: raw.to_string(),
        reason: reason.to_string(),
    };
    let (wild, rest) = match raw.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if rest.contains('*') {
        return Err(invalid("only a leading `*.` wildcard is allowed"));
    }
    let has_port = match rest.strip_prefix('[') {
        Some(literal) => !literal.ends_with(']'),
        None => rest.contains(':'),
    };
    if has_port {
        return Err(invalid("a domain takes no port"));
    }
    let name = normalize_host(rest).map_err(|err| invalid(&err.to_string()))?;
    match (wild, name.starts_with('[')) {
        (true, true) => Err(invalid("an ip literal cannot take a wildcard")),
        (true, false) => Ok(Pattern::Wildcard(name)),
        (false, _) => Ok(Pattern::Exact(name)),
    }
}

fn check_id(id: &str) -> Result<(), TenantError> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(TenantError::InvalidId(id.to_string()))
    }
}

fn check_header(header: &str) -> Result<(), TenantError> {
    let ok = !header.is_empty()
        && header
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(TenantError::InvalidHeader(header.to_string()))
    }
}
