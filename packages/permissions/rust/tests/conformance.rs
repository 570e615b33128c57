//! The shared conformance table (`tests/fixtures/conformance.json`) against the package's
//! logic, natively: the same answers the gateway gives (`crates/core/tests/conformance.rs`
//! checks the table against the core and the redactor; `node.rs` runs this logic compiled
//! to wasm; `packages/permissions/test` runs the built npm package).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_permissions::caller::{self, Caller};
use serde_json::Value;

fn table() -> Value {
    serde_json::from_str(include_str!("../../../../tests/fixtures/conformance.json")).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_case_is_answered_as_the_table_says() {
    let mut wrong = Vec::new();
    for case in table()["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let grants = strings(&case["grants"]);
        let requirement = case["requirement"].as_str().unwrap();
        let allow = case["allow"].as_bool().unwrap();
        let answer = serde_json::json!({"subject": "u1", "tenant": "acme", "grants": grants});
        let c = Caller::from_json(&answer.to_string()).unwrap();
        let got = (
            c.can(requirement).unwrap(),
            caller::can(&grants, requirement).unwrap(),
        );
        if got != (allow, allow) {
            wrong.push(format!("{id}: can: expected {allow}, got {got:?}"));
        }
        let visibility = c.visibility(requirement).unwrap();
        let expected_hidden = (!case["hidden"].is_null()).then(|| strings(&case["hidden"]));
        let got_hidden = visibility.as_ref().map(|v| v.hidden.clone());
        if got_hidden != expected_hidden {
            wrong.push(format!(
                "{id}: hidden: expected {expected_hidden:?}, got {got_hidden:?}"
            ));
        }
        if let Some(v) = visibility {
            let keep = case.get("keep_only").map(strings);
            let exact = case.get("exact").and_then(Value::as_bool).unwrap_or(true);
            if v.keep_only != keep || v.exact != exact {
                wrong.push(format!(
                    "{id}: expected keep_only {keep:?} exact {exact}, got {:?} {}",
                    v.keep_only, v.exact
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn is_hidden_agrees_with_the_table_on_named_fields() {
    for case in table()["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let c = Caller::from_grants(
            case["grants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap()),
        )
        .unwrap();
        let requirement = case["requirement"].as_str().unwrap();
        if case["hidden"].is_null() {
            assert!(
                c.is_hidden(requirement, "id").unwrap(),
                "{id}: denied hides all"
            );
            continue;
        }
        if case.get("exact") == Some(&Value::Bool(false)) {
            continue;
        }
        // Every listed path (with `*` as a key) is hidden, and so is everything under it.
        for path in strings(&case["hidden"]) {
            let concrete = path.replace('*', "anyKey");
            assert!(
                c.is_hidden(requirement, &concrete).unwrap(),
                "{id}: {concrete}"
            );
            let below = format!("{concrete}.x");
            assert!(c.is_hidden(requirement, &below).unwrap(), "{id}: {below}");
        }
        // A demo field neither listed nor outside the keep list is shown.
        let keep = case.get("keep_only").map(strings);
        let hidden = strings(&case["hidden"]);
        for field in [
            "id",
            "source",
            "user.name",
            "user.cpf",
            "mother",
            "mother.cpf",
        ] {
            let under = |paths: &[String]| {
                paths.iter().any(|p| {
                    let p: Vec<&str> = p.split('.').collect();
                    let f: Vec<&str> = field.split('.').collect();
                    p.len() <= f.len() && p.iter().zip(&f).all(|(a, b)| *a == "*" || a == b)
                })
            };
            let expected = under(&hidden) || keep.as_deref().is_some_and(|k| !under(k));
            assert_eq!(
                c.is_hidden(requirement, field).unwrap(),
                expected,
                "{id}: {field}"
            );
        }
    }
}

#[test]
fn malformed_texts_are_errors_with_the_tables_message() {
    for m in table()["malformed"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let text = m["text"].as_str().unwrap();
        let error = m["error"].as_str().unwrap();
        let message = match m["as"].as_str().unwrap() {
            "grant" => {
                let answer = serde_json::json!({"grants": ["openid", text]});
                let from_json = Caller::from_json(&answer.to_string()).unwrap_err();
                let from_list = caller::can(&[text.to_string()], "openid").unwrap_err();
                assert_eq!(from_json, from_list, "{id}");
                from_list
            }
            _ => Caller::from_grants(["openid"])
                .unwrap()
                .can(text)
                .unwrap_err(),
        };
        assert!(message.contains(error), "{id}: `{message}` lacks `{error}`");
    }
}
