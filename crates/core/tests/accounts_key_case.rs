#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Response account checks up to case (issue 18, class 6): an id or owner field under a
//! key that a case-insensitive client binds to the checked one (`ContractOwner`,
//! `CONTRACTOWNER`, `\u0043ontractOwner`) is checked like it, in every copy.

use portcullis_core::accounts::{AccountOutcome, ResponseAccounts};

/// The demo user: only `demostore` is theirs.
fn demo_user(id: &str) -> bool {
    id == "demostore"
}

fn check(rule: &str, body: &str) -> AccountOutcome {
    ResponseAccounts::parse(rule)
        .unwrap()
        .check(body.as_bytes(), &demo_user)
        .unwrap()
}

fn body_text(outcome: &AccountOutcome) -> String {
    String::from_utf8(outcome.body.clone().unwrap()).unwrap()
}

#[test]
fn a_foreign_id_under_a_key_in_another_case_blocks() {
    for key in [
        "ContractOwner",
        "CONTRACTOWNER",
        "contractowner",
        "\\u0043ontractOwner",
    ] {
        let outcome = check("block: contractOwner", &format!(r#"{{"{key}":"qa"}}"#));
        assert!(outcome.blocked, "{key}");
        assert_eq!(outcome.foreign, ["qa"]);
        assert_eq!(outcome.body, None);
    }
}

#[test]
fn own_and_foreign_ids_under_two_spellings_block_in_either_order() {
    for body in [
        r#"{"contractOwner":"demostore","CONTRACTOWNER":"qa"}"#,
        r#"{"CONTRACTOWNER":"qa","contractOwner":"demostore"}"#,
    ] {
        let outcome = check("block: contractOwner", body);
        assert!(outcome.blocked, "{body}");
        assert_eq!(outcome.foreign, ["qa"]);
    }
}

#[test]
fn a_checked_key_missing_in_its_configured_case_is_found_in_another() {
    // "Missing is no id" holds for the key up to case: a case variant is the field.
    let rule = "block: contractOwner";
    assert!(check(rule, r#"{"id":1,"ContractOwner":"qa"}"#).blocked);
    assert_eq!(
        check(rule, r#"{"id":1,"ContractOwner":"demostore"}"#),
        AccountOutcome::default()
    );
    assert_eq!(
        check(rule, r#"{"id":1,"ContractOwner":null}"#),
        AccountOutcome::default()
    );
    assert_eq!(
        check(rule, r#"{"id":1,"contractOwnerX":"qa"}"#),
        AccountOutcome::default()
    );
}

#[test]
fn an_object_under_a_case_variant_of_an_id_key_blocks() {
    let outcome = check("block: contractOwner", r#"{"CONTRACTOWNER":{"id":"qa"}}"#);
    assert!(outcome.blocked);
    assert_eq!(outcome.malformed, 1);
}

#[test]
fn filter_mode_removes_elements_with_a_foreign_id_under_another_case() {
    let body = r#"[{"id":"a","contractOwner":"demostore"},{"id":"b","CONTRACTOWNER":"qa"},{"id":"c","ContractOwner":"demostore"},{"id":"d","contractOwner":"demostore","contractowner":"qa"}]"#;
    let outcome = check("filter: [*].contractOwner", body);
    assert!(!outcome.blocked);
    assert_eq!(outcome.removed, 2);
    assert_eq!(
        body_text(&outcome),
        r#"[{"id":"a","contractOwner":"demostore"},{"id":"c","ContractOwner":"demostore"}]"#
    );
}

#[test]
fn every_segment_of_an_id_path_matches_in_any_case() {
    let rule = "filter: Items[*].AccountId";
    let body =
        r#"{"ITEMS":[{"accountid":"demostore"},{"ACCOUNTID":"qa"}],"items":[{"AccountID":"qa"}]}"#;
    let outcome = check(rule, body);
    assert_eq!(outcome.removed, 2);
    assert_eq!(
        body_text(&outcome),
        r#"{"ITEMS":[{"accountid":"demostore"}],"items":[]}"#
    );
}

#[test]
fn non_ascii_letters_that_clients_read_as_ascii_are_checked() {
    // KELVIN SIGN is `k` and LONG S is `s` for Go; dotless i is `i` for .NET and Java.
    let rule = "block: kind, seller, id";
    for key in ["\u{212A}ind", "\u{17F}eller", "\u{131}d", "\u{130}D"] {
        assert!(
            check(rule, &format!(r#"{{"{key}":"qa"}}"#)).blocked,
            "{key}"
        );
    }
}

#[test]
fn owner_fields_in_another_case_are_hidden() {
    let rule = "filter: [*].client; hide_owner: [*].owner";
    let body = r#"[{"id":"a1","client":"demostore","Owner":"acme","OWNER":"acme"}]"#;
    let outcome = check(rule, body);
    assert_eq!(body_text(&outcome), r#"[{"id":"a1","client":"demostore"}]"#);
}

#[test]
fn wildcards_still_match_any_key() {
    let outcome = check(
        "block: *.AccountId",
        r#"{"X":{"accountId":"demostore"},"y":{"ACCOUNTID":"qa"}}"#,
    );
    assert!(outcome.blocked);
    assert_eq!(outcome.foreign, ["qa"]);
}
