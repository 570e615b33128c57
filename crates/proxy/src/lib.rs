//! The proxy-wasm adapter: implements the core's [`Host`] with `proxy_wasm::hostcalls`
//! (the `Result`-returning calls, so a host error is a deny and never a trap), and turns
//! a core [`Filter`] into proxy-wasm root and HTTP contexts. Each filter crate is then a
//! configuration type and one `register` call.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod context;
mod wasm_host;

pub use context::{register, Configure};
pub use wasm_host::WasmHost;

use portcullis_core::flow::{Filter, Host};
