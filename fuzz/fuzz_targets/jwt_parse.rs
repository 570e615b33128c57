//! `jwt::token::parse` on any text, and `CompiledJwt::verify` of the same text with the
//! fixed configuration. Invariants: no panic; a parsed token's pieces are the token's
//! own bytes; a token `verify` accepts parsed, names an allowed algorithm and a known
//! issuer, and is within its time window.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::jwt::token::parse;
use portcullis_core::jwt::CompiledJwt;
use std::sync::OnceLock;

static CONFIG: OnceLock<CompiledJwt> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(token);
    if let Ok(p) = &parsed {
        assert_eq!(format!("{}.{}", p.signing_input, p.signature), token);
        assert_eq!(p.signing_input.matches('.').count(), 1);
    }
    let config = CONFIG.get_or_init(portcullis_fuzz::jwt_config);
    if let Ok(v) = config.verify(token, portcullis_fuzz::NOW) {
        let p = parsed.expect("verify accepted a token parse refuses");
        assert!(matches!(p.alg(), Ok("RS256") | Ok("HS256")));
        assert!(["https://accounts.crontech.localhost", "https://hmac.test"]
            .contains(&v.identity.issuer.as_str()));
        assert!(v.expires_at.is_some_and(|e| e + 60 > portcullis_fuzz::NOW));
    }
});
