#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! How a claim is written into an upstream header (`portcullis_core::forwarded`): one
//! reading only, the gateway's; refused, never cleaned up, when a backend could read it
//! another way or it is no safe header value.
use portcullis_core::claims::ClaimPath;
use portcullis_core::forwarded::{forwarded_value, ForwardRefusal};
use portcullis_core::header_value;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn forward(claim: &str, value: Value) -> Result<Option<String>, ForwardRefusal> {
    let claims: Map<String, Value> = json!({ claim: value }).as_object().cloned().unwrap();
    forwarded_value(&ClaimPath::dotted(claim), &claims)
}

fn code(claim: &str, value: Value) -> &'static str {
    forward(claim, value.clone())
        .expect_err(&value.to_string())
        .code()
}

#[test]
fn an_array_is_its_elements_joined_by_commas() {
    let value = forward("organization", json!(["qa", "demostore"])).unwrap();
    assert_eq!(value.as_deref(), Some("qa,demostore"));
}

#[test]
fn an_empty_array_is_an_empty_list() {
    assert_eq!(
        forward("organization", json!([])).unwrap().as_deref(),
        Some("")
    );
}

#[test]
fn an_element_holding_the_separator_is_refused() {
    for value in [
        json!(["demostore,qa"]),
        json!(["demostore", "qa,"]),
        json!([","]),
    ] {
        assert_eq!(code("organization", value), "forwarded_claim_separator");
    }
}

#[test]
fn an_element_with_edge_whitespace_is_refused() {
    for value in [
        json!([" demostore"]),
        json!(["demostore "]),
        json!(["\tdemostore"]),
        json!(["demostore\r\n"]),
        json!(["demostore\u{a0}"]),
    ] {
        assert_eq!(code("organization", value), "forwarded_claim_separator");
    }
}

#[test]
fn an_empty_element_is_refused() {
    for value in [json!([""]), json!(["demostore", ""])] {
        assert_eq!(code("organization", value), "forwarded_claim_separator");
    }
}

#[test]
fn an_element_with_a_control_or_non_ascii_byte_is_refused() {
    for value in [
        json!(["demostore\r\nx-evil: 1"]),
        json!(["demo\u{0}store"]),
        json!(["d\u{e9}mostore"]),
        json!(["demo\u{7f}"]),
        json!(["demo\u{2028}store"]),
    ] {
        assert_eq!(code("organization", value), "forwarded_claim_invalid");
    }
}

#[test]
fn a_non_string_element_is_refused() {
    for value in [
        json!(["demostore", 5]),
        json!([null]),
        json!([["qa"]]),
        json!([{"a": 1}]),
    ] {
        assert_eq!(code("organization", value), "forwarded_claim_invalid");
    }
}

#[test]
fn a_list_like_string_with_the_separator_is_refused_like_the_array() {
    assert_eq!(
        code("organization", json!("demostore,qa")),
        "forwarded_claim_separator"
    );
    assert_eq!(code("scope", json!("a b,c")), "forwarded_claim_separator");
}

#[test]
fn a_list_like_string_with_edge_whitespace_is_refused() {
    assert_eq!(
        code("organization", json!(" demostore")),
        "forwarded_claim_separator"
    );
    assert_eq!(
        code("organization", json!("demostore\n")),
        "forwarded_claim_separator"
    );
}

#[test]
fn a_space_separated_string_is_forwarded_as_written() {
    let value = forward("scope", json!("openid  profile")).unwrap();
    assert_eq!(value.as_deref(), Some("openid  profile"));
}

#[test]
fn a_single_valued_claim_may_hold_the_separator() {
    for claim in ["sub", "iss", "jti"] {
        assert_eq!(
            forward(claim, json!("a,b")).unwrap().as_deref(),
            Some("a,b"),
            "{claim}"
        );
    }
}

#[test]
fn a_single_valued_claim_with_a_control_or_non_ascii_byte_is_refused() {
    for value in [
        "u1\r\nx-evil: 1",
        "u1\n",
        "u1\0",
        "u1\u{7f}",
        "\u{fc}ser",
        "u1\u{2028}",
        " u1",
        "u1 ",
        "\tu1",
    ] {
        assert_eq!(
            code("sub", json!(value)),
            "forwarded_claim_invalid",
            "{value:?}"
        );
    }
}

#[test]
fn an_empty_single_value_is_refused() {
    assert_eq!(code("sub", json!("")), "forwarded_claim_invalid");
}

#[test]
fn a_nested_claim_named_sub_is_not_single_valued() {
    let claims: Map<String, Value> = json!({"x": {"sub": "a,b"}}).as_object().cloned().unwrap();
    let refused = forwarded_value(&ClaimPath::dotted("x.sub"), &claims).unwrap_err();
    assert_eq!(refused.code(), "forwarded_claim_separator");
}

#[test]
fn numbers_and_booleans_are_forwarded_as_written() {
    assert_eq!(forward("level", json!(3)).unwrap().as_deref(), Some("3"));
    assert_eq!(
        forward("admin", json!(false)).unwrap().as_deref(),
        Some("false")
    );
}

#[test]
fn objects_nulls_and_absent_claims_are_not_forwarded() {
    assert_eq!(forward("o", json!({"a": 1})).unwrap(), None);
    assert_eq!(forward("o", Value::Null).unwrap(), None);
    assert_eq!(
        forwarded_value(&ClaimPath::dotted("missing"), &Map::new()).unwrap(),
        None
    );
}

#[test]
fn a_refusal_names_the_claim_and_element_never_the_value() {
    let refused = forward("organization", json!(["demostore", "qa,pwned"])).unwrap_err();
    assert_eq!(refused.denial().status, 403);
    let detail = refused.denial().detail;
    assert!(detail.contains("`organization` (element 1)"), "{detail}");
    assert!(!detail.contains("pwned"), "{detail}");
}

proptest! {
    /// What a backend gets by splitting an accepted array's header on `,` (trimmed or
    /// not) is exactly the array: one reading, the gateway's.
    #[test]
    fn an_accepted_array_splits_back_into_its_elements(items in prop::collection::vec("[ -~]{0,8}", 1..5)) {
        if let Ok(Some(value)) = forward("organization", json!(items)) {
            prop_assert!(header_value::is_safe(&value));
            let split: Vec<&str> = value.split(',').collect();
            let trimmed: Vec<&str> = split.iter().map(|s| s.trim()).collect();
            prop_assert_eq!(&split, &items);
            prop_assert_eq!(&trimmed, &items);
        }
    }

    /// An accepted list-like string is one piece to a backend that splits on `,`.
    #[test]
    fn an_accepted_string_never_splits_on_the_separator(text in "\\PC{0,12}") {
        if let Ok(Some(value)) = forward("organization", json!(text)) {
            prop_assert!(header_value::is_safe(&value));
            prop_assert_eq!(value.split(',').count(), 1);
            prop_assert_eq!(value, text);
        }
    }

    /// Any accepted value, from any JSON string, is a safe header value and the text the
    /// token said (never cleaned up).
    #[test]
    fn an_accepted_subject_is_the_token_s_text_and_a_safe_header(text in any::<String>()) {
        if let Ok(Some(value)) = forward("sub", json!(text)) {
            prop_assert!(header_value::is_safe(&value));
            prop_assert_eq!(value, text);
        }
    }
}
