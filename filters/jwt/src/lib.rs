//! `portcullis_jwt`: verifies the request's JWT and hands the verified identity on.
//! A thin adapter: all behaviour lives in `portcullis_core::flow::jwt`.

use portcullis_core::flow::jwt::JwtFilter;

proxy_wasm::main! {{
    portcullis_proxy::register("portcullis_jwt", JwtFilter::from_json);
}}
