//! The JWT filter's request flow: remove client-sent identity headers, decide from the
//! route whether a token is needed, verify it, and hand the verified identity on
//! (forwarded claim headers for the backend, a gateway property for later filters).

use super::route::{route_entry, Memo};
use super::{deny, Action, Filter, Host, LogContext};
use crate::decision::Denial;
use crate::identity::{IDENTITY_HEADER_PREFIX, IDENTITY_PROPERTY};
use crate::jwt::source::TokenSource;
use crate::jwt::{CompiledJwt, JwtError};
use crate::route::{AuthMode, MethodRequirement, RouteRequirement};
use std::time::UNIX_EPOCH;

/// The JWT filter: a compiled configuration plus a per-worker memo of route requirements.
pub struct JwtFilter {
    config: CompiledJwt,
    requirements: Memo<RouteRequirement>,
}

impl JwtFilter {
    /// Wraps a compiled configuration.
    pub fn new(config: CompiledJwt) -> Self {
        JwtFilter {
            config,
            requirements: Memo::new(1024),
        }
    }

    /// Parses and compiles a JSON configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        CompiledJwt::from_json(bytes)
            .map(Self::new)
            .map_err(|e| e.to_string())
    }

    fn auth_mode(&self, host: &dyn Host) -> Result<AuthMode, Denial> {
        let entry = route_entry(host, &self.config.routes)
            .map_err(|e| Denial::internal("host_error", e.to_string()))?;
        let Some(text) = entry.and_then(|e| e.requirement) else {
            // No requirement: validate a token if one is sent; authorization refuses.
            return Ok(AuthMode::Optional);
        };
        let requirement = self
            .requirements
            .get_or_compile(&text, RouteRequirement::parse)
            .map_err(|e| Denial::internal("route_requirement_invalid", e.to_string()))?;
        let method = host
            .request_header(":method")
            .map_err(|e| Denial::internal("host_error", e.to_string()))?
            .unwrap_or_default();
        Ok(match requirement.for_method(&method) {
            MethodRequirement::Applies(r) => r.auth_mode(),
            MethodRequirement::MethodNotAllowed => AuthMode::Optional,
        })
    }

    /// Removes every client-sent `x-portcullis-*` header and every forward header, and
    /// the token's header unless it is to be forwarded.
    fn strip_client_identity(&self, host: &mut dyn Host) -> Result<(), Denial> {
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        let headers = host.request_headers().map_err(host_err)?;
        for (name, _) in headers {
            let name = name.to_ascii_lowercase();
            let forged = name.starts_with(IDENTITY_HEADER_PREFIX)
                || self.config.forward.iter().any(|f| f.header == name);
            if forged {
                host.set_request_header(&name, None).map_err(host_err)?;
            }
        }
        Ok(())
    }

    fn find_token(&self, host: &dyn Host) -> Option<(String, &TokenSource)> {
        let lookup = |name: &str| host.request_header(name).ok().flatten();
        self.config
            .sources
            .iter()
            .find_map(|s| s.find(&lookup).map(|t| (t, s)))
    }

    fn run(&self, host: &mut dyn Host, log: &mut LogContext) -> Result<(), Denial> {
        self.strip_client_identity(host)?;
        let mode = self.auth_mode(host)?;
        if mode == AuthMode::Public {
            return Ok(());
        }
        let Some((token, source)) = self.find_token(host) else {
            return match mode {
                AuthMode::Required => Err(unauthorized(&JwtError::Missing)),
                _ => Ok(()),
            };
        };
        let now = host
            .now()
            .map_err(|e| Denial::internal("clock_unavailable", e.to_string()))?
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Denial::internal("clock_unavailable", "clock before epoch"))?
            .as_secs();
        let verified = self
            .config
            .verify(&token, now)
            .map_err(|e| unauthorized(&e))?;
        let identity = verified.identity;
        log.subject = identity.subject.clone();
        let host_err = |e: super::HostError| Denial::internal("host_error", e.to_string());
        for forward in &self.config.forward {
            if let Some(value) = forward.claim.joined(&identity.claims) {
                let value: String = value.chars().filter(|c| !c.is_control()).collect();
                host.set_request_header(&forward.header, Some(&value))
                    .map_err(host_err)?;
            }
        }
        if let (TokenSource::Header { name, .. }, false) = (source, self.config.forward_token) {
            host.set_request_header(name, None).map_err(host_err)?;
        }
        host.set_property(IDENTITY_PROPERTY, &identity.to_bytes())
            .map_err(host_err)?;
        host.count("portcullis_jwt_verified");
        Ok(())
    }
}

fn unauthorized(err: &JwtError) -> Denial {
    Denial::unauthorized(err.code(), err.to_string())
}

impl Filter for JwtFilter {
    type Stream = ();

    fn name(&self) -> &'static str {
        "portcullis_jwt"
    }

    fn on_request_headers(&self, _: &mut (), host: &mut dyn Host, _end_of_stream: bool) -> Action {
        let mut log = LogContext::from_host(host);
        match self.run(host, &mut log) {
            Ok(()) => Action::Continue,
            Err(denial) => deny(host, self.name(), &denial, &log),
        }
    }
}
