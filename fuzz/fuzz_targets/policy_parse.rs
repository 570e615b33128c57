//! `policy::Permission::parse` (grants), `parse_requirement`, and a one-grant
//! `GrantSet`. Invariants: no panic; the canonical form parses back to an equal
//! permission; a requirement has no `*`; a concrete grant grants itself; a parsed
//! requirement is granted by itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::policy::{GrantSet, Permission};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Permission::parse(text) {
        let canonical = p.to_string();
        let again = Permission::parse(&canonical)
            .unwrap_or_else(|e| panic!("canonical form {canonical:?} does not parse: {e}"));
        assert_eq!(
            again, p,
            "canonical form {canonical:?} changes the permission"
        );
        assert_eq!(again.to_string(), canonical);
        let set = GrantSet::compile([p.clone()]);
        if !p.has_wildcard() {
            if let Ok(req) = Permission::parse_requirement(p.name()) {
                assert!(
                    set.allows(&req),
                    "grant {canonical:?} does not grant itself"
                );
            }
        }
    }
    if let Ok(r) = Permission::parse_requirement(text) {
        assert!(!r.has_wildcard());
        let set = GrantSet::compile([r.clone()]);
        let name_only = Permission::parse_requirement(r.name()).expect("name of a requirement");
        assert!(set.allows(&name_only));
    }
    let _ = Permission::parse_grant(text);
});
