//! The policy grammar: one test per rule of `docs/policy-language.md` (parsing side).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::policy::{Permission, PermissionKind, PolicyError, Problem};

fn problem(text: &str) -> Problem {
    match Permission::parse(text) {
        Err(PolicyError::Malformed { problem, .. }) => problem,
        other => panic!("`{text}` should be malformed, got {other:?}"),
    }
}

#[test]
fn name_with_a_colon_is_a_policy() {
    let p = Permission::parse("contract:one:read").unwrap();
    assert_eq!(p.kind(), PermissionKind::Policy);
    assert_eq!(p.name(), "contract:one:read");
}

#[test]
fn name_without_a_colon_is_a_scope() {
    let p = Permission::parse("br.com.chaordic.cockpit/sales/customerServices/stockout").unwrap();
    assert_eq!(p.kind(), PermissionKind::Scope);
    assert_eq!(
        Permission::parse("openid").unwrap().kind(),
        PermissionKind::Scope
    );
}

#[test]
fn name_mixing_slash_and_colon_is_malformed() {
    assert_eq!(problem("app/x:y"), Problem::MixedGrammar);
}

#[test]
fn policy_has_exactly_three_parts() {
    assert_eq!(problem("contract:one"), Problem::PolicyParts(2));
    assert_eq!(problem("contract:one:read:now"), Problem::PolicyParts(4));
}

#[test]
fn grant_shorter_than_three_parts_must_end_with_star() {
    assert!(Permission::parse("contract:*").is_ok());
    assert!(Permission::parse("contract:o*").is_ok());
    assert!(Permission::parse("*:*").is_ok());
    assert_eq!(problem("*:read"), Problem::PolicyParts(2));
}

#[test]
fn empty_segments_are_malformed() {
    assert_eq!(problem("contract::read"), Problem::EmptySegment);
    assert_eq!(problem("/app/sales"), Problem::EmptySegment);
    assert_eq!(problem("app//sales"), Problem::EmptySegment);
    assert_eq!(problem(":::"), Problem::EmptySegment);
}

#[test]
fn empty_segment_error_names_the_input() {
    let e = Permission::parse_grant("contract::read").unwrap_err();
    assert_eq!(e.to_string(), "grant `contract::read`: empty segment");
    let e = Permission::parse("contract::read").unwrap_err();
    assert_eq!(e.to_string(), "permission `contract::read`: empty segment");
}

#[test]
fn characters_outside_the_segment_alphabet_are_malformed() {
    assert_eq!(problem("app/sa les"), Problem::BadChar(' '));
    assert_eq!(problem("app/a,b"), Problem::BadChar(','));
    assert_eq!(problem("app/a(b)"), Problem::BadChar('('));
    assert!(Permission::parse("app.v2/a_b-c~d@e+f=g$h").is_ok());
}

#[test]
fn unicode_letters_and_digits_are_allowed_in_segments() {
    let p = Permission::parse("relatórios/março2024").unwrap();
    assert_eq!(p.to_string(), "relatórios/março2024");
}

#[test]
fn empty_text_is_an_error() {
    assert_eq!(
        Permission::parse("  "),
        Err(PolicyError::Empty("permission"))
    );
}

#[test]
fn surrounding_whitespace_is_ignored() {
    assert_eq!(
        Permission::parse("  contract:one:read ").unwrap().name(),
        "contract:one:read"
    );
}

#[test]
fn trailing_slash_is_rejected_as_ambiguous() {
    assert_eq!(problem("app/sales/"), Problem::TrailingSlash);
}

#[test]
fn lone_star_is_rejected() {
    assert_eq!(problem("*"), Problem::LoneStar);
    assert_eq!(problem("*::{id}"), Problem::LoneStar);
}

#[test]
fn double_star_is_rejected() {
    assert_eq!(problem("app/**"), Problem::DoubleStar);
    assert_eq!(problem("**"), Problem::DoubleStar);
}

#[test]
fn requirement_with_star_is_rejected() {
    let e = Permission::parse_requirement("contract:*").unwrap_err();
    assert_eq!(
        e.to_string(),
        "requirement `contract:*`: a requirement cannot contain `*`"
    );
    assert!(Permission::parse_requirement("app/sales/*").is_err());
}

#[test]
fn requirement_may_carry_a_field_filter() {
    let r = Permission::parse_requirement("contract:one:read::!{items.*.cpf}").unwrap();
    assert!(!r.has_wildcard());
    assert_eq!(r.filter().unwrap().paths, ["items.*.cpf"]);
}

#[test]
fn has_wildcard_looks_at_the_name_only() {
    assert!(Permission::parse("app/*").unwrap().has_wildcard());
    assert!(!Permission::parse("app/x::{*.id}").unwrap().has_wildcard());
}

#[test]
fn bang_braces_remove_the_listed_fields() {
    let p = Permission::parse("contract:one:read::!{user.cpf,mother}").unwrap();
    assert_eq!(p.name(), "contract:one:read");
    let expected = FieldFilter {
        mode: FilterMode::Remove,
        paths: vec!["user.cpf".into(), "mother".into()],
    };
    assert_eq!(p.filter(), Some(&expected));
}

#[test]
fn angle_brackets_mean_the_same_as_braces() {
    let braces = Permission::parse("contract:one:read::!{user.cpf,mother}").unwrap();
    let angles = Permission::parse("contract:one:read::!<user.cpf,mother>").unwrap();
    assert_eq!(braces, angles);
    let keep = Permission::parse("contract:one:read::<id,source>").unwrap();
    assert_eq!(
        keep,
        Permission::parse("contract:one:read::{id,source}").unwrap()
    );
}

#[test]
fn braces_without_bang_keep_only_the_listed_fields() {
    let p = Permission::parse("contract:one:read::{id,source}").unwrap();
    assert_eq!(p.filter().unwrap().mode, FilterMode::Keep);
    assert_eq!(p.filter().unwrap().paths, ["id", "source"]);
}

#[test]
fn whitespace_around_filter_paths_is_tolerated() {
    let p = Permission::parse("contract:one:read::!{ user.cpf ,  mother }").unwrap();
    assert_eq!(p.filter().unwrap().paths, ["user.cpf", "mother"]);
}

#[test]
fn scopes_may_carry_a_filter_too() {
    let p = Permission::parse("app/sales/*::{id}").unwrap();
    assert_eq!(p.kind(), PermissionKind::Scope);
    assert_eq!(p.name(), "app/sales/*");
}

#[test]
fn display_prints_the_canonical_braces_form() {
    let p = Permission::parse("contract:one:read::!< user.cpf, mother >").unwrap();
    assert_eq!(p.to_string(), "contract:one:read::!{user.cpf,mother}");
    let p = Permission::parse("contract:one:read::<id>").unwrap();
    assert_eq!(p.to_string(), "contract:one:read::{id}");
    assert_eq!(Permission::parse("app/x").unwrap().to_string(), "app/x");
}

#[test]
fn star_may_stand_for_a_whole_field_path_segment() {
    let p = Permission::parse("contract:all:read::!{*.cpf,items.*}").unwrap();
    assert_eq!(p.filter().unwrap().paths, ["*.cpf", "items.*"]);
}

#[test]
fn malformed_suffixes_are_errors_not_panics() {
    assert_eq!(problem("contract:one:read::!{"), Problem::Unbalanced);
    assert_eq!(problem("contract:one:read::{}"), Problem::EmptyFilter);
    assert_eq!(problem("contract:one:read::{ }"), Problem::EmptyFilter);
    assert_eq!(problem("contract:one:read::{a>"), Problem::Unbalanced);
    assert_eq!(problem("contract:one:read::{a{b}}"), Problem::Unbalanced);
    assert_eq!(problem("contract:one:read::{a}b"), Problem::AfterFilter);
    assert_eq!(problem("contract:one:read::!x"), Problem::FilterSyntax);
    assert_eq!(problem("contract:one:read::{a,,b}"), Problem::EmptyPath);
    assert_eq!(problem("contract:one:read::{a,}"), Problem::EmptyPath);
    assert_eq!(problem("::{a}"), Problem::EmptyName);
    assert_eq!(problem("contract:one:read::"), Problem::EmptySegment);
    assert_eq!(problem("contract:one:read:::"), Problem::EmptySegment);
}

#[test]
fn field_path_with_an_empty_segment_is_malformed() {
    let e = Permission::parse("contract:one:read::!{a..b}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "permission `contract:one:read::!{a..b}`: field path `a..b`: empty segment"
    );
    assert!(Permission::parse("contract:one:read::{.a}").is_err());
    assert!(Permission::parse("contract:one:read::{a.}").is_err());
}

#[test]
fn star_inside_a_field_path_segment_is_malformed() {
    assert_eq!(
        problem("contract:one:read::{us*er}"),
        Problem::FieldPath {
            path: "us*er".into(),
            why: "`*` must be a whole segment".into()
        }
    );
}

#[test]
fn from_str_parses_like_parse() {
    let p: Permission = "contract:*".parse().unwrap();
    assert_eq!(p, Permission::parse("contract:*").unwrap());
}
