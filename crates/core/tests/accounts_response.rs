#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Response-side account checks: block and filter modes, owner hiding.

use portcullis_core::accounts::{AccountError, AccountOutcome, ResponseAccounts};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/json/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

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
fn own_contract_passes_unchanged() {
    let outcome = check("block: contractOwner", &fixture("contract.json"));
    assert_eq!(outcome, AccountOutcome::default());
}

#[test]
fn foreign_owner_blocks_the_whole_response() {
    let outcome = check(
        "block: contractOwner",
        r#"{"id":"999","contractOwner":"qa"}"#,
    );
    assert!(outcome.blocked);
    assert_eq!(outcome.foreign, ["qa"]);
    assert_eq!(outcome.body, None);
}

#[test]
fn block_mode_blocks_a_foreign_id_inside_an_array() {
    let outcome = check("block: [*].contractOwner", &fixture("contracts.json"));
    assert!(outcome.blocked);
    assert_eq!(outcome.foreign, ["qa"]);
}

#[test]
fn filter_mode_removes_the_foreign_element_of_a_top_level_array() {
    let outcome = check("filter: [*].contractOwner", &fixture("contracts.json"));
    assert!(!outcome.blocked);
    assert_eq!(outcome.foreign, ["qa"]);
    assert_eq!(outcome.removed, 1);
    assert_eq!(body_text(&outcome), fixture("contracts.filtered.json"));
}

#[test]
fn filter_mode_removes_the_element_of_the_innermost_each() {
    let outcome = check("filter: orders[*].lines[*].seller", &fixture("orders.json"));
    assert!(!outcome.blocked);
    let value: serde_json::Value = serde_json::from_slice(outcome.body.as_ref().unwrap()).unwrap();
    assert_eq!(
        value["orders"][0]["lines"],
        serde_json::json!([{"sku": "a", "seller": "demostore"}])
    );
    assert_eq!(value["orders"].as_array().unwrap().len(), 3);
}

#[test]
fn filter_mode_with_several_paths_removes_by_any_of_them() {
    let rule = "filter: account, orders[*].accountId, orders[*].lines[*].seller";
    let outcome = check(rule, &fixture("orders.json"));
    let value: serde_json::Value = serde_json::from_slice(outcome.body.as_ref().unwrap()).unwrap();
    let ids: Vec<i64> = value["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3]);
    assert_eq!(outcome.removed, 2);
}

#[test]
fn filter_mode_blocks_a_foreign_id_outside_any_array() {
    let outcome = check("filter: contractOwner", r#"{"contractOwner":"qa"}"#);
    assert!(outcome.blocked);
    assert_eq!(outcome.body, None);
}

#[test]
fn arrays_are_entered_even_without_each_and_then_block() {
    let outcome = check("filter: contractOwner", &fixture("contracts.json"));
    assert!(outcome.blocked);
}

#[test]
fn nested_arrays_under_each_are_checked() {
    let outcome = check(
        "filter: [*].owner",
        r#"[[{"owner":"demostore"}],[{"owner":"qa"}]]"#,
    );
    assert_eq!(body_text(&outcome), r#"[[{"owner":"demostore"}]]"#);
}

#[test]
fn an_array_of_ids_is_checked_element_by_element() {
    let outcome = check(
        "filter: accounts[*]",
        r#"{"accounts":["demostore","qa","demostore"]}"#,
    );
    assert_eq!(
        body_text(&outcome),
        r#"{"accounts":["demostore","demostore"]}"#
    );
    assert!(check("block: accounts", r#"{"accounts":["demostore","qa"]}"#).blocked);
}

#[test]
fn an_object_where_an_id_is_expected_blocks() {
    let outcome = check(
        "filter: [*].contractOwner",
        r#"[{"contractOwner":{"id":"demostore"}}]"#,
    );
    assert!(outcome.blocked);
    assert_eq!(outcome.malformed, 1);
    assert!(outcome.foreign.is_empty());
}

#[test]
fn an_absent_or_null_id_is_not_a_leak() {
    assert_eq!(
        check("block: contractOwner", r#"{"id":1}"#),
        AccountOutcome::default()
    );
    assert_eq!(
        check("block: contractOwner", r#"{"contractOwner":null}"#),
        AccountOutcome::default()
    );
}

#[test]
fn numeric_ids_compare_by_their_literal_text() {
    let allowed = |id: &str| id == "100";
    let rule = ResponseAccounts::parse("block: owner").unwrap();
    assert!(!rule.check(br#"{"owner":100}"#, &allowed).unwrap().blocked);
    let outcome = rule.check(br#"{"owner":1e2}"#, &allowed).unwrap();
    assert!(outcome.blocked);
    assert_eq!(outcome.foreign, ["1e2"]);
}

#[test]
fn escaped_ids_are_compared_decoded() {
    assert!(
        !check(
            "block: contractOwner",
            r#"{"contractOwner":"demo\u0073tore"}"#
        )
        .blocked
    );
}

#[test]
fn every_copy_of_a_duplicate_id_key_is_checked() {
    let outcome = check(
        "block: contractOwner",
        r#"{"contractOwner":"demostore","contractOwner":"qa"}"#,
    );
    assert!(outcome.blocked);
}

#[test]
fn foreign_ids_are_listed_once_each() {
    let body = r#"[{"o":"qa"},{"o":"x"},{"o":"qa"},{"o":"demostore"}]"#;
    let outcome = check("filter: [*].o", body);
    assert_eq!(outcome.foreign, ["qa", "x"]);
    assert_eq!(outcome.removed, 3);
    assert_eq!(body_text(&outcome), r#"[{"o":"demostore"}]"#);
}

#[test]
fn owner_field_is_hidden_from_everyone_but_the_owner() {
    let rule = ResponseAccounts::parse("block: account; hide_owner: owner").unwrap();
    let body = fixture("orders.json");
    let child = rule.check(body.as_bytes(), &demo_user).unwrap();
    let value: serde_json::Value = serde_json::from_slice(child.body.as_ref().unwrap()).unwrap();
    assert!(value.get("owner").is_none());
    assert_eq!(value["account"], "demostore");
    let owner = rule
        .check(body.as_bytes(), &|id| id == "acme" || id == "demostore")
        .unwrap();
    assert_eq!(owner.body, None, "the owner sees the body unchanged");
}

#[test]
fn owner_visibility_can_be_tested_separately() {
    let rule = ResponseAccounts::parse("hide_owner: [*].owner").unwrap();
    let body = br#"[{"id":1,"owner":"acme"},{"id":2,"owner":"crontech"}]"#;
    let outcome = rule
        .check_with_owner(body, &|_| true, &|id| id == "acme")
        .unwrap();
    assert_eq!(
        outcome.body.unwrap(),
        br#"[{"id":1,"owner":"acme"},{"id":2}]"#
    );
}

#[test]
fn hidden_owner_fields_are_counted_and_are_not_leaks() {
    let rule = ResponseAccounts::parse("filter: [*].client; hide_owner: [*].owner").unwrap();
    let body = br#"[{"client":"demostore","owner":"acme"},{"client":"demostore","Owner":"acme","owner":null}]"#;
    let outcome = rule.check(body, &demo_user).unwrap();
    assert_eq!(outcome.hidden, 2);
    assert_eq!((outcome.removed, outcome.blocked), (0, false));
    assert!(outcome.foreign.is_empty());
    assert_eq!(
        outcome.body.unwrap(),
        br#"[{"client":"demostore"},{"client":"demostore","owner":null}]"#
    );
}

#[test]
fn a_visible_owner_is_not_counted() {
    let rule = ResponseAccounts::parse("hide_owner: owner").unwrap();
    let outcome = rule.check(br#"{"owner":"demostore"}"#, &demo_user).unwrap();
    assert_eq!((outcome.hidden, outcome.body), (0, None));
}

#[test]
fn an_owner_field_that_is_an_object_is_hidden() {
    let rule = ResponseAccounts::parse("hide_owner: owner").unwrap();
    let outcome = rule
        .check(br#"{"owner":{"id":"acme"},"x":1}"#, &|_| true)
        .unwrap();
    assert_eq!(outcome.body.unwrap(), br#"{"x":1}"#);
}

#[test]
fn malformed_bodies_are_errors() {
    let rule = ResponseAccounts::parse("filter: [*].contractOwner").unwrap();
    for body in [
        &b"[{\"contractOwner\":\"qa\"}"[..],
        b"",
        b"[] []",
        b"\xff",
        b"{\"a\":01}",
    ] {
        assert!(matches!(
            rule.check(body, &demo_user),
            Err(AccountError::Json(_))
        ));
    }
}

#[test]
fn depth_limit_applies_to_response_checks() {
    let rule = ResponseAccounts::parse("block: a")
        .unwrap()
        .with_max_depth(3);
    assert!(rule.check(b"[[[1]]]", &demo_user).is_ok());
    assert!(rule.check(b"[[[[1]]]]", &demo_user).is_err());
}

#[test]
fn malformed_rules_are_refused_naming_the_text() {
    for text in [
        "contractOwner",
        "block:",
        "block: a,,b",
        "block: a; filter: b",
        "drop: a",
        "hide_owner: a; hide_owner: b",
        "block: items[0].id",
    ] {
        let err = ResponseAccounts::parse(text).unwrap_err();
        assert!(
            matches!(&err, AccountError::InvalidRule { text: t, .. } if t == text),
            "{text}: {err}"
        );
    }
}

#[test]
fn a_single_object_where_an_array_was_expected_is_still_checked() {
    assert!(check("filter: [*].contractOwner", r#"{"contractOwner":"qa"}"#).blocked);
    assert!(
        !check(
            "filter: [*].contractOwner",
            r#"{"contractOwner":"demostore"}"#
        )
        .blocked
    );
}
