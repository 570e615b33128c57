//! Portcullis core: every authorization decision the gateway filters make, as plain
//! functions over plain values (headers, claims, bytes, `now`). Nothing here knows about
//! proxy-wasm; the filter crates under `filters/` only move values between the host and
//! this crate, so all of the logic is unit-testable natively.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accounts;
pub mod claims;
pub mod decision;
pub mod fields;
#[cfg(feature = "jwt")]
pub mod flow;
pub mod forwarded;
pub mod header_value;
pub mod identity;
pub mod json;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod media_type;
pub mod method_override;
pub mod path;
pub mod policy;
pub mod redact;
pub mod route;
#[cfg(feature = "jwt")]
pub mod tenant;
