//! `accounts::ResponseAccounts::parse` and `check`. The input is a rule text (first byte
//! `R`) or a response body checked with the demo's rules (block and filter mode, with
//! owner hiding) for a caller who may access `demostore` and `acme`. Invariants: no
//! panic; a blocked outcome has no body; a body that passes (rewritten or not) is valid
//! JSON, and checked again it is neither blocked nor carries a foreign id: no foreign
//! account id ever reaches the client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::accounts::ResponseAccounts;
use portcullis_core::json;
use std::sync::OnceLock;

static RULES: OnceLock<Vec<ResponseAccounts>> = OnceLock::new();

fn rules() -> Vec<ResponseAccounts> {
    [
        "block: contractOwner",
        "filter: [*].contractOwner",
        "block: contractOwner, items[*].accountId; hide_owner: owner",
        "filter: items[*].lines[*].seller, [*].account; hide_owner: [*].owner, *.owner",
        "filter: *.accountId",
    ]
    .iter()
    .map(|t| ResponseAccounts::parse(t).expect("fixed rule"))
    .collect()
}

fn allowed(id: &str) -> bool {
    id == "demostore" || id == "acme"
}

fuzz_target!(|data: &[u8]| {
    if let Some(rest) = data.strip_prefix(b"R") {
        if let Ok(rule) = ResponseAccounts::parse(&String::from_utf8_lossy(rest)) {
            let _ = rule.check(br#"{"a":[{"b":"c"}],"owner":"x"}"#, &allowed);
        }
        return;
    }
    for rule in RULES.get_or_init(rules) {
        let Ok(outcome) = rule.check(data, &allowed) else {
            continue;
        };
        if outcome.blocked {
            assert!(outcome.body.is_none(), "blocked outcome carries a body");
            continue;
        }
        let sent = outcome.body.as_deref().unwrap_or(data);
        json::validate(sent, json::DEFAULT_MAX_DEPTH).expect("passed body is not valid JSON");
        let again = rule
            .check(sent, &allowed)
            .expect("passed body does not check");
        assert!(!again.blocked, "passed body blocks when checked again");
        assert!(
            again.foreign.is_empty(),
            "passed body still carries {:?}",
            again.foreign
        );
        assert!(
            again.body.is_none(),
            "checking twice changes the body again"
        );
    }
});
