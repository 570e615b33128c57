#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Redaction up to case (issue 18, class 6): a key that a case-insensitive client binds
//! to a hidden field (`Mother`, `USER.cpf`, `\u0043PF`, `uſer`) is hidden like it, and a
//! Keep filter keeps the case variants of what it lists and nothing else.

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::redact::Redactor;

fn filter(mode: FilterMode, paths: &[&str]) -> FieldFilter {
    FieldFilter {
        mode,
        paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

/// The demo's `!{user.cpf,mother}` applied to `body`.
fn demo(body: &str) -> String {
    run(&[filter(FilterMode::Remove, &["user.cpf", "mother"])], body)
}

fn run(route: &[FieldFilter], body: &str) -> String {
    let out = Redactor::compile(route, &[])
        .unwrap()
        .apply(body.as_bytes())
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_hidden_key_in_any_ascii_case_is_hidden() {
    for key in ["Mother", "MOTHER", "mOTHER", "motheR"] {
        let body = format!(r#"{{"id":1,"{key}":{{"name":"M"}}}}"#);
        assert_eq!(demo(&body), r#"{"id":1}"#, "{key}");
    }
}

#[test]
fn every_segment_of_a_hidden_path_matches_in_any_case() {
    for (user, cpf) in [
        ("USER", "cpf"),
        ("User", "CPF"),
        ("user", "Cpf"),
        ("uSeR", "cPf"),
    ] {
        let body = format!(r#"{{"{user}":{{"name":"U","{cpf}":"x"}}}}"#);
        assert_eq!(demo(&body), format!(r#"{{"{user}":{{"name":"U"}}}}"#));
    }
}

#[test]
fn escaped_spellings_of_a_case_variant_are_hidden() {
    let body = r#"{"\u004dother":1,"\u004Dother":2,"user":{"\u0043PF":3,"c\u0050F":4,"c\u0070f":5},"id":6}"#;
    assert_eq!(demo(body), r#"{"user":{},"id":6}"#);
}

#[test]
fn non_ascii_letters_that_clients_read_as_ascii_are_folded() {
    // LONG S (Go, .NET, Java), KELVIN SIGN (Go, Java), dotless i (.NET, Java), dotted
    // capital I (Java), sharp s and ligatures (full case folding).
    let route = [filter(
        FilterMode::Remove,
        &["user.cpf", "key", "id", "strasse", "field"],
    )];
    let body = r#"{"uſer":{"cpf":1,"n":0},"Key":2,"ıd":3,"İD":4,"straße":5,"ﬁeld":6,"ok":7}"#;
    assert_eq!(run(&route, body), r#"{"uſer":{"n":0},"ok":7}"#);
}

#[test]
fn non_ascii_keys_match_in_any_case_but_keep_their_accents() {
    let route = [filter(FilterMode::Remove, &["mãe"])];
    let body = r#"{"MÃE":1,"Mãe":2,"m\u00c3e":3,"mae":4,"MAE":5}"#;
    assert_eq!(run(&route, body), r#"{"mae":4,"MAE":5}"#);
}

#[test]
fn a_path_configured_in_another_case_hides_every_spelling() {
    let route = [filter(FilterMode::Remove, &["User.CPF", "MOTHER"])];
    let body = r#"{"user":{"cpf":1,"n":0},"mother":2,"Mother":3}"#;
    assert_eq!(run(&route, body), r#"{"user":{"n":0}}"#);
}

#[test]
fn every_copy_of_a_key_duplicated_in_other_cases_is_hidden() {
    let body = r#"{"mother":1,"MOTHER":2,"id":0,"Mother":3,"user":{"cpf":4,"CPF":5}}"#;
    assert_eq!(demo(body), r#"{"id":0,"user":{}}"#);
}

#[test]
fn a_keep_filter_keeps_case_variants_of_what_it_lists_and_nothing_else() {
    let route = [filter(FilterMode::Keep, &["id", "source"])];
    let body = r#"{"ID":1,"Source":2,"\u0131d":3,"id":4,"Mother":5,"sources":6,"CPF":7}"#;
    assert_eq!(
        run(&route, body),
        r#"{"ID":1,"Source":2,"\u0131d":3,"id":4}"#
    );
}

#[test]
fn a_keep_filter_keeps_nested_paths_up_to_case() {
    let route = [filter(FilterMode::Keep, &["user.name"])];
    let body = r#"{"USER":{"NAME":"a","cpf":"b"},"id":1}"#;
    assert_eq!(run(&route, body), r#"{"USER":{"NAME":"a"}}"#);
}

#[test]
fn wildcards_are_unaffected_by_folding() {
    let route = [filter(FilterMode::Remove, &["*.CPF"])];
    let body = r#"{"a":{"cpf":1,"x":2},"B":{"Cpf":3},"c":4}"#;
    assert_eq!(run(&route, body), r#"{"a":{"x":2},"B":{},"c":4}"#);
}

#[test]
fn keys_that_only_look_alike_are_not_folded_together() {
    // ANGSTROM SIGN folds to `å`, fullwidth letters to fullwidth letters, and a key with
    // a different letter is a different key.
    let route = [filter(FilterMode::Remove, &["a", "mother"])];
    let body = r#"{"Å":1,"ｍother":2,"mothers":3,"m0ther":4}"#;
    assert_eq!(run(&route, body), body);
}

#[test]
fn many_literal_keys_in_one_state_are_searched_up_to_case() {
    // More than eight keys at one level: the automaton searches them by bisection.
    let paths = [
        "a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8", "i9", "jj", "kk",
    ];
    let route = [filter(FilterMode::Remove, &paths)];
    let body =
        r#"{"A1":0,"B2":0,"C3":0,"D4":0,"E5":0,"F6":0,"G7":0,"H8":0,"İ9":0,"JJ":0,"KK":0,"z":1}"#;
    assert_eq!(run(&route, body), r#"{"z":1}"#);
}
