//! Grant matching: one test per matching rule of `docs/policy-language.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::policy::{GrantMatch, GrantSet, Permission};

fn set(grants: &[&str]) -> GrantSet {
    GrantSet::compile(grants.iter().map(|g| Permission::parse(g).unwrap()))
}

fn req(text: &str) -> Permission {
    Permission::parse_requirement(text).unwrap()
}

fn grants(grants: &[&str], requirement: &str) -> bool {
    let s = set(grants);
    let r = req(requirement);
    let found = s.check(&r);
    assert_eq!(found.is_some(), s.allows(&r), "check and allows disagree");
    found.is_some()
}

fn remove(paths: &[&str]) -> FieldFilter {
    FieldFilter {
        mode: FilterMode::Remove,
        paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

const STOCKOUT: &str = "br.com.chaordic.cockpit/sales/customerServices/stockout";

#[test]
fn exact_grant_grants_its_requirement() {
    assert!(grants(&[STOCKOUT], STOCKOUT));
    assert!(grants(&["contract:one:read"], "contract:one:read"));
}

#[test]
fn exact_grant_grants_nothing_else() {
    assert!(!grants(&["contract:one:read"], "contract:one:write"));
    assert!(!grants(
        &[STOCKOUT],
        "br.com.chaordic.cockpit/sales/customerServices"
    ));
    assert!(!grants(&["app/sales"], "app/sales/x"));
}

#[test]
fn matching_is_case_sensitive() {
    assert!(!grants(&["contract:one:read"], "Contract:one:read"));
    assert!(!grants(&["app/Sales/*"], "app/sales/x"));
}

#[test]
fn policy_star_does_not_reach_a_longer_domain() {
    assert!(!grants(&["contract:*"], "contracts:one:read"));
}

#[test]
fn trailing_star_grants_everything_below_the_segment() {
    let g = ["br.com.chaordic.cockpit/sales/customerServices/*"];
    assert!(grants(&g, STOCKOUT));
    assert!(grants(
        &g,
        "br.com.chaordic.cockpit/sales/customerServices/a/b/c"
    ));
}

#[test]
fn trailing_star_does_not_grant_the_segment_itself() {
    let g = ["br.com.chaordic.cockpit/sales/customerServices/*"];
    assert!(!grants(
        &g,
        "br.com.chaordic.cockpit/sales/customerServices"
    ));
    assert!(!grants(
        &g,
        "br.com.chaordic.cockpit/sales/customerServicesX"
    ));
}

#[test]
fn trailing_star_inside_a_segment_grants_the_prefix_and_everything_after() {
    let g = ["app/inventory/locations*"];
    assert!(grants(&g, "app/inventory/locations"));
    assert!(grants(&g, "app/inventory/locations/1"));
    assert!(grants(&g, "app/inventory/locationsX"));
    assert!(!grants(&g, "app/inventory/location"));
    assert!(!grants(&g, "app/inventory"));
}

#[test]
fn policy_trailing_star_grants_every_function_and_operation() {
    assert!(grants(&["contract:*"], "contract:one:read"));
    assert!(grants(&["contract:*"], "contract:all:write"));
    assert!(grants(&["contract:one:*"], "contract:one:delete"));
    assert!(!grants(&["contract:one:*"], "contract:all:read"));
}

#[test]
fn star_colon_star_grants_every_policy() {
    assert!(grants(&["*:*"], "contract:one:read"));
    assert!(grants(&["*:*"], "simulations:run:create"));
    assert!(!grants(&["*:*"], "app/x"));
}

#[test]
fn inner_star_matches_any_characters_within_one_segment() {
    assert!(grants(&["contract:*:read"], "contract:one:read"));
    assert!(grants(&["contract:*:read"], "contract:all:read"));
    assert!(!grants(&["contract:*:read"], "contract:one:write"));
    assert!(grants(
        &["app/sales/cust*ces/stockout"],
        STOCKOUT.replace("br.com.chaordic.cockpit", "app").as_str()
    ));
    assert!(grants(&["*:one:read"], "contract:one:read"));
}

#[test]
fn inner_star_never_crosses_a_separator() {
    assert!(!grants(
        &["app/*/stockout"],
        "app/sales/customerServices/stockout"
    ));
    assert!(grants(
        &["app/*/*/stockout"],
        "app/sales/customerServices/stockout"
    ));
    assert!(!grants(&["app/s*s/x"], "app/sales/as/x"));
}

#[test]
fn several_stars_in_one_segment_match_in_order() {
    assert!(grants(&["app/a*b*c"], "app/axxbyyc"));
    assert!(!grants(&["app/a*b*c"], "app/acb"));
    assert!(grants(&["app/*x*"], "app/x/y"));
    assert!(grants(&["app/*x*"], "app/abxcd"));
    assert!(!grants(&["app/*x*"], "app/abc/x"));
}

#[test]
fn scopes_never_match_policies() {
    assert!(!grants(&["contract/one/read"], "contract:one:read"));
    assert!(!grants(&["contract*"], "contract:one:read"));
    assert!(!grants(&["contract:*"], "contract/one/read"));
}

#[test]
fn grant_filter_is_reported_in_the_match() {
    let m = set(&["contract:one:read::!{user.cpf,mother}"]).check(&req("contract:one:read"));
    let m = m.unwrap();
    assert_eq!(m.grants, ["contract:one:read::!{user.cpf,mother}"]);
    assert_eq!(m.filters, [remove(&["user.cpf", "mother"])]);
}

#[test]
fn unfiltered_matching_grant_makes_the_match_unrestricted() {
    let s = set(&["contract:one:read::!{user.cpf,mother}", "contract:*"]);
    let m = s.check(&req("contract:one:read")).unwrap();
    assert_eq!(
        m.grants,
        ["contract:one:read::!{user.cpf,mother}", "contract:*"]
    );
    assert!(m.filters.is_empty());
    assert!(m.is_unrestricted());
}

#[test]
fn filtered_matching_grants_all_report_their_filters() {
    let s = set(&[
        "contract:one:read::!{user.cpf,mother}",
        "contract:*::!{mother}",
        "contract:one:*::!{mother}",
    ]);
    let m = s.check(&req("contract:one:read")).unwrap();
    assert_eq!(m.grants.len(), 3);
    assert_eq!(
        m.filters,
        [remove(&["user.cpf", "mother"]), remove(&["mother"])]
    );
}

#[test]
fn non_matching_grants_do_not_restrict_the_match() {
    let s = set(&["contract:one:read", "contract:all:read::!{mother}"]);
    let m = s.check(&req("contract:one:read")).unwrap();
    assert_eq!(m.grants, ["contract:one:read"]);
    assert!(m.filters.is_empty());
}

#[test]
fn requirement_filter_is_not_part_of_the_grant_match() {
    let s = set(&["contract:*"]);
    let m = s.check(&req("contract:one:read::!{secret}")).unwrap();
    assert!(m.filters.is_empty());
}

#[test]
fn merge_keeps_the_most_permissive_side() {
    let filtered = GrantMatch {
        grants: vec!["a:b:c::!{x}".into()],
        filters: vec![remove(&["x"])],
    };
    let open = GrantMatch {
        grants: vec!["a:*".into()],
        filters: vec![],
    };
    let merged = filtered.clone().merge(open);
    assert_eq!(merged.grants, ["a:b:c::!{x}", "a:*"]);
    assert!(merged.filters.is_empty());
    let both = filtered.clone().merge(GrantMatch {
        grants: vec!["a:b:*::!{y}".into()],
        filters: vec![remove(&["y"])],
    });
    assert_eq!(both.filters, [remove(&["x"]), remove(&["y"])]);
}

#[test]
fn duplicate_grants_are_held_once() {
    let s = set(&["contract:*", "contract:*", "app/x", "app/x::{id}"]);
    assert_eq!(s.len(), 3);
    let texts: Vec<String> = s.iter().map(|p| p.to_string()).collect();
    assert_eq!(texts, ["contract:*", "app/x", "app/x::{id}"]);
}

#[test]
fn empty_set_grants_nothing() {
    let s = GrantSet::default();
    assert!(s.is_empty());
    assert!(s.check(&req("contract:one:read")).is_none());
}

#[test]
fn large_set_decides_by_structure() {
    let texts: Vec<String> = (0..10_000)
        .map(|i| match i % 4 {
            0 => format!("app{i}/sales/customerServices/*"),
            1 => format!("domain{i}:*"),
            2 => format!("domain{i}:one:read::!{{user.cpf}}"),
            _ => format!("app/inventory/loc{i}*"),
        })
        .collect();
    let s = GrantSet::compile(texts.iter().map(|t| Permission::parse(t).unwrap()));
    assert_eq!(s.len(), 10_000);
    assert!(s.allows(&req("app4/sales/customerServices/stockout")));
    assert!(s.allows(&req("domain9997:x:y")));
    assert!(s.allows(&req("app/inventory/loc3/1")));
    assert!(!s.allows(&req("app/inventory/loc4")));
    let m = s.check(&req("domain6:one:read")).unwrap();
    assert_eq!(m.filters, [remove(&["user.cpf"])]);
}
