//! `portcullis_tenant`: a thin adapter; all behaviour lives in `portcullis_core::flow::tenant`.

use portcullis_core::flow::tenant::TenantFilter;

proxy_wasm::main! {{
    portcullis_proxy::register("portcullis_tenant", TenantFilter::from_json);
}}
