#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Response field redaction: Remove and Keep filters, arrays, `*`, route and grant
//! combination, byte-exact output.

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::json::JsonError;
use portcullis_core::redact::{RedactError, Redactor};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/json/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn remove(paths: &[&str]) -> FieldFilter {
    FieldFilter {
        mode: FilterMode::Remove,
        paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

fn keep(paths: &[&str]) -> FieldFilter {
    FieldFilter {
        mode: FilterMode::Keep,
        paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

fn run(route: &[FieldFilter], grants: &[FieldFilter], body: &str) -> String {
    let out = Redactor::compile(route, grants)
        .unwrap()
        .apply(body.as_bytes())
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn demo_contract_loses_user_cpf_and_mother_byte_for_byte() {
    let body = fixture("contract.json");
    let out = run(&[remove(&["user.cpf", "mother"])], &[], body.trim_end());
    assert_eq!(out, fixture("contract.redacted.json").trim_end());
}

#[test]
fn array_of_contracts_is_redacted_per_contract() {
    let out = run(
        &[remove(&["user.cpf", "mother"])],
        &[],
        &fixture("contracts.json"),
    );
    assert_eq!(out, fixture("contracts.redacted.json"));
}

#[test]
fn pretty_printed_body_keeps_its_layout_numbers_and_escapes() {
    let out = run(&[remove(&["cpf", "last"])], &[], &fixture("pretty.json"));
    assert_eq!(out, fixture("pretty.redacted.json"));
}

#[test]
fn removing_an_absent_path_returns_the_body_unchanged() {
    let body = fixture("pretty.json");
    assert_eq!(run(&[remove(&["nope.deeper", "absent"])], &[], &body), body);
}

#[test]
fn numbers_are_kept_exactly() {
    let body = r#"{"a":1.0e+2,"b":-0,"c":123456789012345678901234567890,"d":1E-7,"x":1}"#;
    let out = run(&[remove(&["x"])], &[], body);
    assert_eq!(
        out,
        r#"{"a":1.0e+2,"b":-0,"c":123456789012345678901234567890,"d":1E-7}"#
    );
}

#[test]
fn keep_filter_keeps_listed_paths_and_their_ancestors_only() {
    let body = fixture("contract.json");
    let out = run(&[keep(&["id", "user.name"])], &[], body.trim_end());
    assert_eq!(out, r#"{"id":"123-456","user":{"name":"Usuário"}}"#);
}

#[test]
fn keep_filter_keeps_everything_under_a_kept_path() {
    let out = run(
        &[keep(&["user"])],
        &[],
        r#"{"id":1,"user":{"name":"a","tags":[1,{"x":2}]}}"#,
    );
    assert_eq!(out, r#"{"user":{"name":"a","tags":[1,{"x":2}]}}"#);
}

#[test]
fn keep_filter_hides_a_scalar_where_an_object_was_expected() {
    let out = run(
        &[keep(&["user.name", "id"])],
        &[],
        r#"{"user":"bob","id":1}"#,
    );
    assert_eq!(out, r#"{"id":1}"#);
}

#[test]
fn keep_filter_keeps_an_ancestor_even_when_nothing_under_it_is_kept() {
    let out = run(
        &[keep(&["user.name"])],
        &[],
        r#"{"user":{"cpf":"x"},"id":1}"#,
    );
    assert_eq!(out, r#"{"user":{}}"#);
}

#[test]
fn keep_filter_over_a_top_level_array_filters_each_element() {
    let out = run(
        &[keep(&["id"])],
        &[],
        r#"[{"id":1,"x":2},{"x":3},5,{"id":[4]}]"#,
    );
    assert_eq!(out, r#"[{"id":1},{},{"id":[4]}]"#);
}

#[test]
fn keep_filter_over_a_scalar_body_fails_closed() {
    let err = Redactor::compile(&[keep(&["id"])], &[])
        .unwrap()
        .apply(b"42")
        .unwrap_err();
    assert_eq!(err, RedactError::Json(JsonError::RootRemoved));
}

#[test]
fn nested_arrays_are_entered_at_every_level() {
    let body = r#"{"items":[[{"secret":1,"id":2}],[{"secret":3}]],"secret":4}"#;
    let out = run(&[remove(&["items.secret"])], &[], body);
    assert_eq!(out, r#"{"items":[[{"id":2}],[{}]],"secret":4}"#);
}

#[test]
fn star_matches_any_key_at_one_level() {
    let body = r#"{"a":{"cpf":1,"n":1},"b":{"cpf":2},"c":{"d":{"cpf":3}}}"#;
    let out = run(&[remove(&["*.cpf"])], &[], body);
    assert_eq!(out, r#"{"a":{"n":1},"b":{},"c":{"d":{"cpf":3}}}"#);
}

#[test]
fn star_and_literal_paths_combine() {
    let body = r#"{"user":{"cpf":1,"name":"a"},"other":{"cpf":2,"name":"b"}}"#;
    let out = run(&[remove(&["*.cpf", "user.name"])], &[], body);
    assert_eq!(out, r#"{"user":{},"other":{"name":"b"}}"#);
}

#[test]
fn escaped_keys_match_their_unescaped_path() {
    let body = r#"{"m\u006fther":{"cpf":1},"id":"x"}"#;
    assert_eq!(run(&[remove(&["mother"])], &[], body), r#"{"id":"x"}"#);
}

#[test]
fn unicode_keys_are_not_normalised_or_stripped_of_accents() {
    let body = r#"{"mãe":1,"mae":2,"m\u00e3e":3}"#;
    assert_eq!(run(&[remove(&["mãe"])], &[], body), r#"{"mae":2}"#);
}

#[test]
fn every_copy_of_a_duplicate_key_is_removed() {
    let body = r#"{"cpf":"1","id":2,"cpf":"3"}"#;
    assert_eq!(run(&[remove(&["cpf"])], &[], body), r#"{"id":2}"#);
}

#[test]
fn every_copy_of_a_duplicate_key_is_kept_by_a_keep_filter() {
    let body = r#"{"id":1,"x":2,"id":3}"#;
    assert_eq!(run(&[keep(&["id"])], &[], body), r#"{"id":1,"id":3}"#);
}

#[test]
fn every_route_filter_applies() {
    let body = r#"{"id":1,"cpf":2,"name":3,"mother":4}"#;
    let out = run(&[remove(&["cpf"]), keep(&["id", "cpf", "name"])], &[], body);
    assert_eq!(out, r#"{"id":1,"name":3}"#);
}

#[test]
fn the_most_permissive_grant_wins_field_by_field() {
    let body = r#"{"id":1,"cpf":2,"mother":3,"source":4}"#;
    let grants = [
        remove(&["cpf", "mother"]),
        remove(&["mother"]),
        keep(&["id", "cpf"]),
    ];
    assert_eq!(run(&[], &grants, body), r#"{"id":1,"cpf":2,"source":4}"#);
}

#[test]
fn a_grant_without_a_filter_lifts_every_grant_restriction() {
    let grants = [remove(&["cpf"]), remove(&[])];
    let redactor = Redactor::compile(&[], &grants).unwrap();
    assert!(redactor.is_noop());
    assert_eq!(redactor.apply(br#"{"cpf":1}"#).unwrap(), br#"{"cpf":1}"#);
}

#[test]
fn the_route_filter_applies_whatever_the_grants_allow() {
    let body = r#"{"id":1,"cpf":2,"mother":3}"#;
    let out = run(&[remove(&["mother"])], &[remove(&[])], body);
    assert_eq!(out, r#"{"id":1,"cpf":2}"#);
}

#[test]
fn no_filters_is_a_noop_and_remove_filters_are_not() {
    assert!(Redactor::compile(&[], &[]).unwrap().is_noop());
    assert!(!Redactor::compile(&[remove(&["a"])], &[]).unwrap().is_noop());
    assert!(!Redactor::compile(&[keep(&["a"])], &[]).unwrap().is_noop());
}

#[test]
fn invalid_json_fails_with_its_byte_offset() {
    let err = Redactor::compile(&[remove(&["a"])], &[])
        .unwrap()
        .apply(br#"{"a":1,"b":}"#);
    let err = err.unwrap_err();
    assert!(
        matches!(err, RedactError::Json(JsonError::Syntax { offset: 11, .. })),
        "{err}"
    );
}

#[test]
fn trailing_garbage_fails_even_when_nothing_is_removed() {
    let redactor = Redactor::compile(&[remove(&["absent"])], &[]).unwrap();
    assert!(redactor.apply(br#"{"a":1} x"#).is_err());
}

#[test]
fn depth_limit_is_configurable() {
    let redactor = Redactor::compile(&[remove(&["a"])], &[])
        .unwrap()
        .with_max_depth(2);
    assert!(redactor.apply(br#"{"b":[1]}"#).is_ok());
    let err = redactor.apply(br#"{"b":[[1]]}"#).unwrap_err();
    assert_eq!(
        err,
        RedactError::Json(JsonError::TooDeep {
            offset: 6,
            limit: 2
        })
    );
}

#[test]
fn bad_paths_are_refused_naming_the_path() {
    for path in ["", "a..b", "a.", "items[*].x", "a*"] {
        let err = Redactor::compile(&[remove(&[path])], &[]).unwrap_err();
        assert!(
            matches!(&err, RedactError::InvalidPath { path: p, .. } if p == path),
            "{err}"
        );
    }
}

#[test]
fn error_messages_are_lower_case_and_never_quote_the_body() {
    let redactor = Redactor::compile(&[remove(&["a"])], &[]).unwrap();
    let message = redactor
        .apply(br#"{"secret-value" 1}"#)
        .unwrap_err()
        .to_string();
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(message, message.to_lowercase());
}
