#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of response account checks: no panics on any input, and in filter mode the
//! body sent never carries a foreign id at a checked path, under any spelling of its key.

use portcullis_core::accounts::{AccountLocation, ResponseAccounts};
use proptest::prelude::*;
use serde_json::{json, Value};
use spellings::spelling;

mod spellings;

const IDS: &[&str] = &["demostore", "qa", "acme"];

fn mine(id: &str) -> bool {
    id == "demostore"
}

/// A contract-like element: an owner id (or something odd in its place) and noise.
fn element() -> impl Strategy<Value = Value> {
    let owner = prop_oneof![
        4 => proptest::sample::select(IDS).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<i32>().prop_map(Value::from),
        1 => Just(json!({"id": "demostore"})),
    ];
    (owner, any::<bool>(), ".{0,8}").prop_map(|(owner, with_owner, note)| {
        let mut map = serde_json::Map::new();
        map.insert("note".into(), Value::from(note));
        if with_owner {
            map.insert("owner".into(), owner);
        }
        map.insert("lines".into(), json!([{"sku": "a"}]));
        Value::Object(map)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn response_check_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for rule in ["filter: [*].owner", "block: a, b[*].c; hide_owner: owner"] {
            let _ = ResponseAccounts::parse(rule).unwrap().check(&bytes, &mine);
        }
        let location = AccountLocation::parse("body:account.id").unwrap();
        let _ = location.extract("/", None, &[], Some(&bytes));
    }

    #[test]
    fn filtered_body_carries_no_foreign_owner(items in proptest::collection::vec(element(), 0..12), pretty in any::<bool>()) {
        let value = Value::Array(items.clone());
        let text = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.unwrap();
        let outcome = ResponseAccounts::parse("filter: [*].owner").unwrap().check(&text, &mine).unwrap();
        let malformed = items.iter().any(|i| i.get("owner").is_some_and(Value::is_object));
        prop_assert_eq!(outcome.blocked, malformed);
        if outcome.blocked {
            prop_assert!(outcome.body.is_none());
            return Ok(());
        }
        let sent: Value = serde_json::from_slice(outcome.body.as_deref().unwrap_or(&text)).unwrap();
        let sent = sent.as_array().unwrap();
        for item in sent {
            match item.get("owner") {
                None | Some(Value::Null) => {}
                Some(owner) => prop_assert_eq!(owner, &Value::from("demostore")),
            }
        }
        prop_assert_eq!(sent.len() + outcome.removed, items.len());
    }

    #[test]
    fn a_foreign_id_under_any_spelling_of_the_key_blocks(
        key in spelling("contractOwner"),
        own_first in any::<bool>(),
        with_own in any::<bool>(),
    ) {
        let foreign = format!(r#"{key}:"qa""#);
        let own = r#""contractOwner":"demostore""#;
        let members = match (with_own, own_first) {
            (false, _) => foreign,
            (true, true) => format!("{own},{foreign}"),
            (true, false) => format!("{foreign},{own}"),
        };
        let body = format!(r#"{{"id":1,{members}}}"#);
        let outcome = ResponseAccounts::parse("block: contractOwner").unwrap().check(body.as_bytes(), &mine).unwrap();
        prop_assert!(outcome.blocked, "{body}");
        prop_assert!(outcome.body.is_none());
        prop_assert_eq!(outcome.foreign, vec!["qa".to_string()]);
    }

    #[test]
    fn filtered_list_keeps_no_element_with_a_foreign_id_under_any_spelling(
        items in proptest::collection::vec((spelling("contractOwner"), proptest::sample::select(IDS), any::<bool>()), 0..8),
    ) {
        let elements: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, (key, id, with_own))| {
                let own = if *with_own { r#""contractOwner":"demostore","# } else { "" };
                format!(r#"{{"n":{i},{own}{key}:"{id}"}}"#)
            })
            .collect();
        let body = format!("[{}]", elements.join(","));
        let outcome = ResponseAccounts::parse("filter: [*].contractOwner").unwrap().check(body.as_bytes(), &mine).unwrap();
        prop_assert!(!outcome.blocked);
        let kept: Vec<usize> = items.iter().enumerate().filter(|(_, (_, id, _))| mine(id)).map(|(i, _)| i).collect();
        let sent: Value = serde_json::from_slice(outcome.body.as_deref().unwrap_or(body.as_bytes())).unwrap();
        let sent: Vec<usize> = sent.as_array().unwrap().iter().map(|e| e["n"].as_u64().unwrap() as usize).collect();
        prop_assert_eq!(outcome.removed, items.len() - kept.len());
        prop_assert_eq!(sent, kept, "{}", body);
    }
}
