//! `portcullis_authz`: a thin adapter; all behaviour lives in `portcullis_core::flow::authz`.

use portcullis_core::flow::authz::AuthzFilter;

proxy_wasm::main! {{
    portcullis_proxy::register("portcullis_authz", AuthzFilter::from_json);
}}
