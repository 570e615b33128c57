//! `portcullis_accounts`: a thin adapter; all behaviour lives in `portcullis_core::flow::accounts`.

use portcullis_core::flow::accounts::AccountsFilter;

proxy_wasm::main! {{
    portcullis_proxy::register("portcullis_accounts", AccountsFilter::from_json);
}}
