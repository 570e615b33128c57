//! `route::RouteRequirement::parse` (the suffix/requirement grammar of route metadata)
//! and method look-up. Invariants: no panic; a per-method requirement refuses methods it
//! does not list (HEAD follows GET).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::route::{MethodRequirement, RouteRequirement};

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(req) = RouteRequirement::parse(text) else {
        return;
    };
    for m in METHODS {
        let applies = matches!(req.for_method(m), MethodRequirement::Applies(_));
        if let RouteRequirement::ByMethod(clauses) = &req {
            let listed = |x: &str| clauses.iter().any(|(ms, _)| ms.iter().any(|y| y == x));
            let expected = listed(m) || (m == "HEAD" && listed("GET"));
            assert_eq!(applies, expected, "method {m} in {text:?}");
        } else {
            assert!(applies);
        }
        if let MethodRequirement::Applies(r) = req.for_method(m) {
            let _ = r.auth_mode();
        }
    }
});
