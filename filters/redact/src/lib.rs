//! `portcullis_redact`: a thin adapter; all behaviour lives in `portcullis_core::flow::redact`.

use portcullis_core::flow::redact::RedactFilter;

proxy_wasm::main! {{
    portcullis_proxy::register("portcullis_redact", RedactFilter::from_json);
}}
