#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of owner hiding ("an account never learns who its owner is"): whatever the
//! caller's accounts and however the backend spells or repeats the owner key, the body
//! sent carries an owner only where the caller may see it, every element kept is the
//! caller's, and `hidden` counts every owner taken out.

use portcullis_core::accounts::{AccountTree, ResponseAccounts};
use proptest::prelude::*;
use serde_json::Value;
use spellings::spelling;
use std::collections::HashSet;

mod spellings;

const ACCOUNTS: &[&str] = &["crontech", "acme", "demostore", "qa", "other"];
const RULE: &str = "filter: [*].client; hide_owner: [*].owner";

fn demo_tree() -> AccountTree {
    let parents = [("acme", "crontech"), ("demostore", "acme"), ("qa", "acme")];
    AccountTree::new(
        parents
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect(),
    )
    .unwrap()
}

/// One automation: its client, and owner members each with a spelling of `owner`.
fn automation() -> impl Strategy<Value = (&'static str, Vec<(String, &'static str)>)> {
    (
        proptest::sample::select(ACCOUNTS),
        proptest::collection::vec(
            (spelling("owner"), proptest::sample::select(ACCOUNTS)),
            0..4,
        ),
    )
}

/// Whether a decoded JSON key is read as `owner` by a case-insensitive client.
fn reads_as_owner(key: &str) -> bool {
    let folded: String = key
        .chars()
        .map(|c| match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    folded == "owner"
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_owner_the_caller_may_not_see_is_sent_under_any_spelling(
        items in proptest::collection::vec(automation(), 0..8),
        given in proptest::sample::subsequence(ACCOUNTS.to_vec(), 0..3),
    ) {
        let tree = demo_tree();
        let caller: HashSet<String> = given.iter().map(|a| a.to_string()).collect();
        let allowed = |id: &str| tree.allows(&caller, id, true);
        let elements: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(n, (client, owners))| {
                let owners: String = owners.iter().map(|(key, id)| format!(r#",{key}:"{id}""#)).collect();
                format!(r#"{{"n":{n},"client":"{client}"{owners}}}"#)
            })
            .collect();
        let body = format!("[{}]", elements.join(","));
        let outcome = ResponseAccounts::parse(RULE).unwrap().check(body.as_bytes(), &allowed).unwrap();
        prop_assert!(!outcome.blocked);
        let sent: Value = serde_json::from_slice(outcome.body.as_deref().unwrap_or(body.as_bytes())).unwrap();
        let mut kept = Vec::new();
        for element in sent.as_array().unwrap() {
            let object = element.as_object().unwrap();
            prop_assert!(allowed(object["client"].as_str().unwrap()), "{}", body);
            for (key, value) in object {
                if reads_as_owner(key) {
                    prop_assert!(allowed(value.as_str().unwrap()), "{} sent in {}", key, body);
                }
            }
            kept.push(object["n"].as_u64().unwrap() as usize);
        }
        let expected: Vec<usize> = (0..items.len()).filter(|&n| allowed(items[n].0)).collect();
        prop_assert_eq!(kept, expected);
        let invisible = items.iter().flat_map(|(_, owners)| owners).filter(|(_, id)| !allowed(id)).count();
        prop_assert_eq!(outcome.hidden, invisible);
    }
}
