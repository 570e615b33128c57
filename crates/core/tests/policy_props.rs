//! Property tests of the policy language: the parser never panics, the canonical form
//! round-trips, and a grant always grants the requirement it is equal to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::policy::{GrantSet, Permission, PermissionKind};
use proptest::prelude::*;

/// A segment: letters/digits/punctuation, sometimes with `*` (never `**`).
fn segment(star: bool) -> BoxedStrategy<String> {
    let plain = "[a-zA-Z0-9._~@+=$-]{1,6}";
    if star {
        prop_oneof![
            3 => plain.prop_map(String::from),
            1 => Just("*".to_string()),
            1 => (plain, plain).prop_map(|(a, b)| format!("{a}*{b}")),
            1 => plain.prop_map(|a| format!("{a}*")),
        ]
        .boxed()
    } else {
        plain.prop_map(String::from).boxed()
    }
}

fn filter() -> impl Strategy<Value = String> {
    let path = prop::collection::vec(
        prop_oneof![3 => "[a-zA-Z0-9_$-]{1,5}", 1 => Just("*".to_string())],
        1..4,
    )
    .prop_map(|s| s.join("."));
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(path, 1..4),
        " ?",
    )
        .prop_map(|(bang, angle, paths, ws)| {
            let body = paths.join(&format!("{ws},{ws}"));
            let (open, close) = if angle { ('<', '>') } else { ('{', '}') };
            format!(
                "::{}{open}{ws}{body}{ws}{close}",
                if bang { "!" } else { "" }
            )
        })
}

/// A well-formed permission text (grant if `star`, else requirement).
fn permission(star: bool) -> impl Strategy<Value = String> {
    let scope = prop::collection::vec(segment(star), 1..5).prop_map(|s| s.join("/"));
    let policy = prop::collection::vec(segment(star), 3).prop_map(|s| s.join(":"));
    let short = (segment(false), segment(false)).prop_map(|(a, b)| format!("{a}:{b}*"));
    let name = if star {
        prop_oneof![scope, policy, short]
            .prop_filter("a lone `*` is refused", |n| n != "*")
            .boxed()
    } else {
        prop_oneof![scope, policy].boxed()
    };
    (name, prop::option::of(filter())).prop_map(|(n, f)| format!("{n}{}", f.unwrap_or_default()))
}

proptest! {
    #[test]
    fn parser_never_panics_on_arbitrary_strings(text in any::<String>()) {
        let _ = Permission::parse(&text);
        let _ = Permission::parse_requirement(&text);
    }

    #[test]
    fn parser_never_panics_on_grammar_like_noise(text in "[a*:/!{}<>,. ]{0,24}") {
        let _ = Permission::parse(&text);
    }

    #[test]
    fn generated_permissions_parse(text in permission(true)) {
        prop_assert!(Permission::parse(&text).is_ok(), "{}", text);
    }

    #[test]
    fn display_then_parse_round_trips(text in permission(true)) {
        let p = Permission::parse(&text).unwrap();
        let printed = p.to_string();
        let again = Permission::parse(&printed).unwrap();
        prop_assert_eq!(&again, &p);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn display_then_parse_round_trips_for_any_parsable_text(text in "\\PC{0,30}") {
        if let Ok(p) = Permission::parse(&text) {
            prop_assert_eq!(Permission::parse(&p.to_string()).unwrap(), p);
        }
    }

    #[test]
    fn grant_equal_to_the_requirement_always_matches(text in permission(false)) {
        let requirement = Permission::parse_requirement(&text).unwrap();
        let set = GrantSet::compile([requirement.clone()]);
        prop_assert!(set.check(&requirement).is_some());
    }

    #[test]
    fn wildcard_grant_matches_its_own_text(text in permission(true)) {
        let grant = Permission::parse(&text).unwrap();
        let set = GrantSet::compile([grant.clone()]);
        prop_assert!(set.check(&grant).is_some(), "{}", text);
    }

    #[test]
    fn scope_grants_never_match_policy_requirements(
        grant in permission(true),
        requirement in permission(false),
    ) {
        let grant = Permission::parse(&grant).unwrap();
        let requirement = Permission::parse_requirement(&requirement).unwrap();
        if grant.kind() != requirement.kind() {
            prop_assert!(GrantSet::compile([grant]).check(&requirement).is_none());
        }
        prop_assert!(matches!(requirement.kind(), PermissionKind::Scope | PermissionKind::Policy));
    }
}
