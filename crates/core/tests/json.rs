#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The streaming JSON walker: strict validation, depth limit, verbatim output.

use portcullis_core::json::{
    self, JsonError, Scalar, ScalarKind, Step, Visitor, DEFAULT_MAX_DEPTH,
};

fn valid(text: &str) -> bool {
    json::validate(text.as_bytes(), DEFAULT_MAX_DEPTH).is_ok()
}

/// Drops every member named `key` at any depth and every string scalar equal to `"drop"`.
struct DropKey(&'static str);

impl Visitor for DropKey {
    type State = ();
    fn root(&mut self) -> Step<()> {
        Step::Enter(())
    }
    fn member(&mut self, _: &(), key: &str) -> Step<()> {
        if key == self.0 {
            Step::Drop
        } else {
            Step::Enter(())
        }
    }
    fn element(&mut self, _: &()) -> Step<()> {
        Step::Enter(())
    }
    fn scalar(&mut self, _: &(), value: Scalar<'_>) -> bool {
        !(value.kind == ScalarKind::String && value.text() == "drop")
    }
    fn close(&mut self, _: &(), _: bool) -> bool {
        true
    }
}

fn drop_key(key: &'static str, text: &str) -> Result<String, JsonError> {
    let out = json::rewrite(text.as_bytes(), &mut DropKey(key), DEFAULT_MAX_DEPTH)?;
    Ok(String::from_utf8(out.unwrap_or_else(|| text.as_bytes().to_vec())).unwrap())
}

#[test]
fn rfc_8259_values_are_accepted() {
    for text in [
        "0",
        "-0",
        "1.0e+2",
        "-12.5E-3",
        "123456789012345678901234567890",
        "\"\"",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        " [1, {\"a\": [null]}] ",
        "\"\\u00e9\\ud83d\\ude00\\n\"",
        "{\"a\":1,\"a\":2}",
        "\"Usuário\"",
    ] {
        assert!(valid(text), "{text}");
    }
}

#[test]
fn grammar_violations_are_refused() {
    for text in [
        "",
        " ",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "-",
        "NaN",
        "Infinity",
        "tru",
        "nul",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "{'a':1}",
        "[1 2]",
        "{\"a\" 1}",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"a\u{1}b\"",
        "[",
        "{\"a\":",
        "/* c */ 1",
        "[1]]",
        "\u{feff}1",
    ] {
        assert!(!valid(text), "{text:?}");
    }
}

#[test]
fn trailing_data_is_an_error() {
    let err = json::validate(b"{} {}", DEFAULT_MAX_DEPTH).unwrap_err();
    assert_eq!(err, JsonError::Trailing { offset: 3 });
}

#[test]
fn invalid_utf8_is_an_error_with_its_offset() {
    let err = json::validate(b"[\"a\xff\"]", DEFAULT_MAX_DEPTH).unwrap_err();
    assert_eq!(err, JsonError::Utf8 { offset: 3 });
}

#[test]
fn syntax_errors_name_the_byte_and_not_the_content() {
    let err = json::validate(b"{\"secret\": 01}", DEFAULT_MAX_DEPTH).unwrap_err();
    assert_eq!(err.offset(), Some(12));
    assert!(!err.to_string().contains("secret"));
}

#[test]
fn nesting_at_the_limit_is_accepted_and_beyond_it_refused() {
    let at = format!("{}{}", "[".repeat(5), "]".repeat(5));
    assert!(json::validate(at.as_bytes(), 5).is_ok());
    let over = format!("{}{}", "[".repeat(6), "]".repeat(6));
    assert_eq!(
        json::validate(over.as_bytes(), 5),
        Err(JsonError::TooDeep {
            offset: 5,
            limit: 5
        })
    );
}

#[test]
fn very_deep_input_is_an_error_not_a_stack_overflow() {
    let deep = "[{\"a\":".repeat(200_000);
    assert!(matches!(
        json::validate(deep.as_bytes(), DEFAULT_MAX_DEPTH),
        Err(JsonError::TooDeep { .. })
    ));
    assert!(matches!(
        drop_key("a", &deep),
        Err(JsonError::TooDeep { .. })
    ));
}

#[test]
fn dropped_subtrees_are_still_validated() {
    assert!(drop_key("x", r#"{"x":[1,2,}],"y":1}"#).is_err());
    assert!(drop_key("x", r#"{"x":"\q","y":1}"#).is_err());
}

#[test]
fn untouched_input_is_returned_as_none() {
    let out = json::rewrite(b" {\"a\" : [1.0e+2] } ", &mut DropKey("zz"), 8).unwrap();
    assert_eq!(out, None);
}

#[test]
fn first_middle_and_last_members_are_removed_with_one_comma() {
    assert_eq!(
        drop_key("a", r#"{"a":1,"b":2,"c":3}"#).unwrap(),
        r#"{"b":2,"c":3}"#
    );
    assert_eq!(
        drop_key("b", r#"{"a":1,"b":2,"c":3}"#).unwrap(),
        r#"{"a":1,"c":3}"#
    );
    assert_eq!(
        drop_key("c", r#"{"a":1,"b":2,"c":3}"#).unwrap(),
        r#"{"a":1,"b":2}"#
    );
    assert_eq!(drop_key("a", r#"{"a":1}"#).unwrap(), r#"{}"#);
}

#[test]
fn consecutive_removals_leave_valid_json() {
    let text = r#"{"a":1,"a":2,"b":3,"a":4,"a":5}"#;
    assert_eq!(drop_key("a", text).unwrap(), r#"{"b":3}"#);
    assert_eq!(drop_key("a", r#"{"a":1,"a":2}"#).unwrap(), "{}");
}

#[test]
fn dropped_scalars_in_arrays_take_their_comma() {
    let out = drop_key("-", r#"["drop", 1, "drop", "keep", "drop"]"#).unwrap();
    assert_eq!(out, r#"[ 1, "keep"]"#);
    assert_eq!(drop_key("-", r#"["drop","drop"]"#).unwrap(), "[]");
}

#[test]
fn whitespace_around_kept_values_is_preserved() {
    let text = "{\n  \"a\": 1,\n  \"b\": { \"c\" : 2 },\n  \"d\": 3\n}";
    assert_eq!(
        drop_key("d", text).unwrap(),
        "{\n  \"a\": 1,\n  \"b\": { \"c\" : 2 }\n}"
    );
}

#[test]
fn keys_reach_the_visitor_unescaped() {
    let out = drop_key("mother", r#"{"m\u006fther":1,"mo\"ther":2}"#).unwrap();
    assert_eq!(out, r#"{"mo\"ther":2}"#);
}

#[test]
fn string_scalars_decode_escapes_and_numbers_keep_their_text() {
    let s = Scalar {
        kind: ScalarKind::String,
        raw: r#""q\u0061\n\ud83d\ude00""#,
    };
    assert_eq!(s.text(), "qa\n😀");
    let n = Scalar {
        kind: ScalarKind::Number,
        raw: "1.0e+2",
    };
    assert_eq!(n.text(), "1.0e+2");
}

#[test]
fn removing_the_root_is_an_error() {
    let err = json::rewrite(br#""drop""#, &mut DropKey("-"), 8).unwrap_err();
    assert_eq!(err, JsonError::RootRemoved);
}

#[test]
fn string_ends_and_control_characters_are_found_at_every_word_offset() {
    for at in 0..20 {
        let pad = "é".repeat(at / 2) + &"a".repeat(at % 2);
        assert!(valid(&format!("[\"{pad}\",1]")), "{at}");
        assert!(valid(&format!("[\"{pad}\\\"x\",1]")), "{at}");
        assert!(!valid(&format!("[\"{pad}\u{1f}\",1]")), "{at}");
        assert!(!valid(&format!("[\"{pad}\u{7}x\"]")), "{at}");
    }
}
