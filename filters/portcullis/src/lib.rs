//! `portcullis`: the one filter. Runs the configured stages (token, tenant,
//! authorization, redaction, accounts) in one pass over each request.
//! A thin adapter: all behaviour lives in `portcullis_core::flow::pipeline`.

use portcullis_core::flow::pipeline::Pipeline;

proxy_wasm::main! {{
    portcullis_proxy::register("portcullis", Pipeline::from_json);
}}
