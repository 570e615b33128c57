//! Role tables and a caller's effective grants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::policy::{CallerGrants, Permission, PolicyError, RoleTable};
use serde::Deserialize;

const FIXTURE_JSON: &str = include_str!("fixtures/policy/roles.json");
const REPO_ROLES: &str = include_str!("../../../policies/roles.yaml");
const STOCKOUT: &str = "br.com.chaordic.cockpit/sales/customerServices/stockout";

fn req(text: &str) -> Permission {
    Permission::parse_requirement(text).unwrap()
}

/// A role table from YAML text, as the CLI reads `policies/roles.yaml`: YAML to JSON,
/// then the table.
fn from_yaml(text: &str) -> Result<RoleTable, PolicyError> {
    let value: serde_json::Value = if text.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_saphyr::from_str(text).unwrap()
    };
    RoleTable::from_value(&value)
}

fn demo() -> RoleTable {
    from_yaml(REPO_ROLES).unwrap()
}

fn texts(table: &RoleTable, role: &str) -> Vec<String> {
    table
        .role(role)
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn repository_roles_file_loads_with_the_demo_roles() {
    let table = demo();
    assert_eq!(texts(&table, "FINANCEIRO"), ["contract:*", "simulations:*"]);
    assert_eq!(
        texts(&table, "ATENDIMENTO"),
        [
            "contract:one:read::!{user.cpf,mother}",
            "contract:all:read::!{user.cpf,mother}",
            "automation:all:read"
        ]
    );
}

#[test]
fn demo_user_reads_a_contract_without_cpf_and_mother() {
    let table = demo();
    let caller = CallerGrants::new(
        &table,
        &["ATENDIMENTO"],
        &[],
        &["br.com.chaordic.cockpit/sales/customerServices/*"],
    );
    let m = caller.check(&req("contract:one:read")).unwrap();
    let hide = FieldFilter {
        mode: FilterMode::Remove,
        paths: vec!["user.cpf".into(), "mother".into()],
    };
    assert_eq!(m.filters, [hide]);
    assert!(caller.check(&req(STOCKOUT)).unwrap().filters.is_empty());
    assert!(caller
        .check(&req("br.com.chaordic.cockpit/finance/reports"))
        .is_none());
    assert!(caller.check(&req("contract:one:write")).is_none());
}

#[test]
fn atendimento_and_financeiro_together_see_everything() {
    let table = demo();
    let caller = CallerGrants::new(&table, &["ATENDIMENTO", "FINANCEIRO"], &[], &[]);
    let m = caller.check(&req("contract:one:read")).unwrap();
    assert_eq!(
        m.grants,
        ["contract:one:read::!{user.cpf,mother}", "contract:*"]
    );
    assert!(m.filters.is_empty());
}

#[test]
fn role_table_loads_from_json_with_the_same_shape() {
    let value: serde_json::Value = serde_json::from_str(FIXTURE_JSON).unwrap();
    let table = RoleTable::from_value(&value).unwrap();
    assert_eq!(texts(&table, "FINANCEIRO"), ["contract:*", "simulations:*"]);
    assert!(table.group("group1").is_some());
}

#[test]
fn role_table_deserializes_inside_a_larger_config() {
    #[derive(Deserialize)]
    struct Config {
        roles: RoleTable,
    }
    let json = format!(r#"{{"roles": {FIXTURE_JSON}}}"#);
    let config: Config = serde_json::from_str(&json).unwrap();
    assert!(config.roles.role("ATENDIMENTO").is_some());
    let bad = r#"{"roles": {"roles": {"R": ["contract::read"]}}}"#;
    let err = serde_json::from_str::<Config>(bad)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("role `R`: grant `contract::read`: empty segment"),
        "{err}"
    );
}

#[test]
fn malformed_grant_error_names_the_role_and_the_grant() {
    let e = from_yaml("roles:\n  FINANCEIRO: [\"contract::read\"]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "role `FINANCEIRO`: grant `contract::read`: empty segment"
    );
}

#[test]
fn malformed_grant_error_names_the_group_and_the_grant() {
    let e = from_yaml("groups:\n  group1: [\"app/sales/\"]\n").unwrap_err();
    assert!(matches!(e, PolicyError::Group { ref name, .. } if name == "group1"));
    assert!(e
        .to_string()
        .starts_with("group `group1`: grant `app/sales/`: trailing `/`"));
}

#[test]
fn lone_star_is_refused_in_a_role_table() {
    let e = from_yaml("roles:\n  ADMIN: [\"*\"]\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("role `ADMIN`: grant `*`: a lone `*`"),
        "{e}"
    );
}

#[test]
fn unknown_keys_in_a_role_table_are_refused() {
    let e = from_yaml("roles: {}\nrols: {}\n").unwrap_err();
    assert!(matches!(e, PolicyError::Table(_)));
    assert!(
        e.to_string()
            .starts_with("role table: unknown field `rols`"),
        "{e}"
    );
}

#[test]
fn empty_role_table_is_allowed() {
    assert!(from_yaml("").unwrap().is_empty());
    assert!(from_yaml("roles: {}\n").unwrap().is_empty());
}

#[test]
fn unknown_roles_are_ignored() {
    let table = demo();
    let caller = CallerGrants::new(&table, &["offline_access", "FINANCEIRO"], &["nobody"], &[]);
    assert_eq!(caller.list(), ["contract:*", "simulations:*"]);
}

#[test]
fn role_names_are_case_sensitive() {
    let table = demo();
    let caller = CallerGrants::new(&table, &["financeiro"], &[], &[]);
    assert!(caller.list().is_empty());
}

#[test]
fn groups_expand_through_the_groups_table() {
    let value: serde_json::Value = serde_json::from_str(FIXTURE_JSON).unwrap();
    let table = RoleTable::from_value(&value).unwrap();
    let caller = CallerGrants::new(&table, &[], &["group1"], &[]);
    assert!(caller.allows(&req(STOCKOUT)));
    let as_role = CallerGrants::new(&table, &["group1"], &[], &[]);
    assert!(!as_role.allows(&req(STOCKOUT)));
}

#[test]
fn malformed_direct_grants_are_skipped_and_reported() {
    let table = demo();
    let caller = CallerGrants::new(
        &table,
        &[],
        &[],
        &["app/x", "contract::read", "*", "", "app/y/"],
    );
    assert_eq!(caller.ignored, ["contract::read", "*", "app/y/"]);
    assert_eq!(caller.list(), ["app/x"]);
}

#[test]
fn direct_and_role_matches_merge_most_permissive() {
    let table = demo();
    let caller = CallerGrants::new(&table, &["ATENDIMENTO"], &[], &["contract:one:read"]);
    let m = caller.check(&req("contract:one:read")).unwrap();
    assert_eq!(
        m.grants,
        ["contract:one:read::!{user.cpf,mother}", "contract:one:read"]
    );
    assert!(m.filters.is_empty());
}

#[test]
fn two_filtered_roles_report_both_filters() {
    let table = from_yaml("roles:\n  A: [\"c:one:read::!{x,y}\"]\n  B: [\"c:*::!{y}\"]\n").unwrap();
    let caller = CallerGrants::new(&table, &["A", "B"], &[], &[]);
    let m = caller.check(&req("c:one:read")).unwrap();
    assert_eq!(m.filters.len(), 2);
}

#[test]
fn list_is_deduplicated_in_role_group_direct_order() {
    let table = from_yaml(
        "roles:\n  A: [\"x:*\", \"y:*\"]\n  B: [\"y:*\", \"z:*\"]\ngroups:\n  g: [\"app/*\"]\n",
    )
    .unwrap();
    let caller = CallerGrants::new(&table, &["B", "A", "B"], &["g"], &["z:*", "app/direct"]);
    assert_eq!(caller.list(), ["y:*", "z:*", "x:*", "app/*", "app/direct"]);
}

#[test]
fn list_prints_filters_in_canonical_form() {
    let table = demo();
    let caller = CallerGrants::new(&table, &["ATENDIMENTO"], &[], &["app/x::!< a , b >"]);
    assert_eq!(
        caller.list(),
        [
            "contract:one:read::!{user.cpf,mother}",
            "contract:all:read::!{user.cpf,mother}",
            "automation:all:read",
            "app/x::!{a,b}"
        ]
    );
}
