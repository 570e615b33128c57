//! The request's host, read from the one header each gateway uses for it and brought to a
//! single normal form, so that a domain matches its tenant only one way.
//!
//! Normal form: ASCII lower case, no port, no trailing dot; IPv6 literals keep their
//! brackets and are written in their canonical (RFC 5952) text. Anything that is not a
//! plain DNS name or IP literal is refused rather than repaired: userinfo (`a@b`),
//! whitespace, control characters, `%`, `/`, `\`, non-ASCII (internationalised names must
//! be sent and configured as punycode A-labels), empty labels, over-long labels or names,
//! several trailing dots, and ports that are not a number from 0 to 65535.
//!
//! Only ASCII is lower-cased, on purpose: Unicode case folding maps characters such as
//! the Kelvin sign (U+212A) to `k`, which would let a look-alike host reach a tenant.

use crate::flow::HostKind;
use std::net::Ipv6Addr;
use thiserror::Error;

/// The longest host name accepted, in bytes, without a trailing dot (RFC 1035 §2.3.4).
pub const MAX_HOST_LEN: usize = 253;
/// The longest DNS label accepted, in bytes (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Error messages show at most this many characters of the input.
const SHOWN_CHARS: usize = 80;

/// Why a host could not be brought to normal form. Each message names the input (escaped,
/// and shortened when long) so an operator can see what the client sent.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum HostError {
    /// No host at all (missing or empty `:authority`/`Host`, or only a port or a dot).
    #[error("host {0:?} is empty")]
    Empty(String),
    /// `user@host`: userinfo is not allowed in an HTTP authority (RFC 9110 §4.2.4).
    #[error("host {0:?} contains userinfo")]
    Userinfo(String),
    /// Space, tab or other whitespace anywhere in the host.
    #[error("host {0:?} contains whitespace")]
    Whitespace(String),
    /// A control character (below 0x20, or 0x7f).
    #[error("host {0:?} contains a control character")]
    ControlCharacter(String),
    /// `%`: percent-encoded hosts (and IPv6 zone ids) are refused, never decoded.
    #[error("host {0:?} contains a percent sign")]
    PercentSign(String),
    /// `/` or `\`: a path leaking into the host, a classic parser-confusion trick.
    #[error("host {0:?} contains a slash or backslash")]
    Slash(String),
    /// A byte outside ASCII: internationalised names must be punycode.
    #[error("host {0:?} contains a non-ascii character")]
    NonAscii(String),
    /// Some other character that has no place in a host name.
    #[error("host {host:?} contains the character {character:?}")]
    InvalidCharacter {
        /// The host as sent (shortened).
        host: String,
        /// The first offending character.
        character: char,
    },
    /// `a.b..`: only one trailing dot (the DNS root) may be removed.
    #[error("host {0:?} has more than one trailing dot")]
    TrailingDots(String),
    /// `a..b` or `.a`: a label is empty.
    #[error("host {0:?} has an empty label")]
    EmptyLabel(String),
    /// A label longer than 63 bytes.
    #[error("host {0:?} has a label longer than 63 bytes")]
    LabelTooLong(String),
    /// The name is longer than 253 bytes.
    #[error("host {0:?} is longer than 253 bytes")]
    TooLong(String),
    /// The port is empty, not a decimal number, or above 65535.
    #[error("host {0:?} has an invalid port")]
    InvalidPort(String),
    /// A bracketed literal that is not an IPv6 address, or a bare IPv6 address.
    #[error("host {0:?} is not a valid ipv6 literal")]
    InvalidIpv6(String),
}

/// The header that carries the client's host on each gateway. Envoy puts the client's
/// `Host` (HTTP/1.1) or `:authority` (HTTP/2, HTTP/3) in `:authority`; on Kong
/// (ngx_wasm_module) `:authority` is not the client's host, so the `host` request header
/// is read instead. `X-Forwarded-Host` (and `Forwarded: host=`) is never consulted: any
/// client can set it, so it cannot choose a tenant.
pub fn host_header_name(kind: HostKind) -> &'static str {
    match kind {
        HostKind::Envoy => ":authority",
        HostKind::Kong => "host",
    }
}

/// Brings a raw `:authority`/`Host` value to normal form (see the module docs): lower
/// case, port and one trailing dot removed, IPv6 in canonical bracketed form. The result
/// is what [`super::TenantTable::resolve`] expects, and normalising it again returns it
/// unchanged.
pub fn normalize_host(raw: &str) -> Result<String, HostError> {
    check_characters(raw)?;
    if raw.starts_with('[') {
        return normalize_ipv6(raw);
    }
    let name = match raw.split_once(':') {
        Some((name, port)) => {
            if port.contains(':') {
                // A bare IPv6 address, or two ports: neither is a valid authority.
                return Err(HostError::InvalidIpv6(shown(raw)));
            }
            check_port(raw, port)?;
            name
        }
        None => raw,
    };
    normalize_name(raw, name)
}

/// Refuses characters no host may contain; the specific classes first, for clear errors.
fn check_characters(raw: &str) -> Result<(), HostError> {
    if raw.is_empty() {
        return Err(HostError::Empty(String::new()));
    }
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'[' | b']');
    if raw.bytes().all(allowed) {
        return Ok(());
    }
    // Slow path, only for refused input: name the first offending character.
    let Some(c) = raw.chars().find(|c| !c.is_ascii() || !allowed(*c as u8)) else {
        return Ok(());
    };
    let err = match c {
        '@' => HostError::Userinfo,
        '%' => HostError::PercentSign,
        '/' | '\\' => HostError::Slash,
        c if c.is_whitespace() => HostError::Whitespace,
        c if c.is_control() => HostError::ControlCharacter,
        c if !c.is_ascii() => HostError::NonAscii,
        character => {
            return Err(HostError::InvalidCharacter {
                host: shown(raw),
                character,
            })
        }
    };
    Err(err(shown(raw)))
}

/// A port must be 1 to 5 decimal digits naming a value up to 65535.
fn check_port(raw: &str, port: &str) -> Result<(), HostError> {
    let digits_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u32>() {
        Ok(n) if digits_ok && n <= 65_535 => Ok(()),
        _ => Err(HostError::InvalidPort(shown(raw))),
    }
}

/// `[addr]` or `[addr]:port`; the address must parse as IPv6 (no zone id, no IPvFuture).
fn normalize_ipv6(raw: &str) -> Result<String, HostError> {
    let inner_and_rest = raw.strip_prefix('[').unwrap_or(raw);
    let Some((inner, rest)) = inner_and_rest.split_once(']') else {
        return Err(HostError::InvalidIpv6(shown(raw)));
    };
    if !rest.is_empty() {
        match rest.strip_prefix(':') {
            Some(port) => check_port(raw, port)?,
            None => return Err(HostError::InvalidIpv6(shown(raw))),
        }
    }
    match inner.parse::<Ipv6Addr>() {
        Ok(addr) => Ok(format!("[{addr}]")),
        Err(_) => Err(HostError::InvalidIpv6(shown(raw))),
    }
}

/// A DNS name (or IPv4 address): one trailing dot removed, labels checked, lower-cased.
fn normalize_name(raw: &str, name: &str) -> Result<String, HostError> {
    if name.contains('[') || name.contains(']') {
        return Err(HostError::InvalidIpv6(shown(raw)));
    }
    let name = match name.strip_suffix('.') {
        Some(stripped) if stripped.ends_with('.') => {
            return Err(HostError::TrailingDots(shown(raw)))
        }
        Some(stripped) => stripped,
        None => name,
    };
    if name.is_empty() {
        return Err(HostError::Empty(shown(raw)));
    }
    if name.len() > MAX_HOST_LEN {
        return Err(HostError::TooLong(shown(raw)));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel(shown(raw)));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::LabelTooLong(shown(raw)));
        }
    }
    Ok(name.to_ascii_lowercase())
}

/// The input as shown in error messages: at most [`SHOWN_CHARS`] characters.
pub(crate) fn shown(raw: &str) -> String {
    match raw.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}...", raw.get(..end).unwrap_or_default()),
        None => raw.to_string(),
    }
}
