#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Account-ownership checks: the tree, request id locations, response ids.

use portcullis_core::accounts::{AccountError, AccountLocation, AccountTree};
use std::collections::{HashMap, HashSet};

fn demo_tree() -> AccountTree {
    let parents = [("acme", "crontech"), ("demostore", "acme"), ("qa", "acme")];
    AccountTree::new(
        parents
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect(),
    )
    .unwrap()
}

fn caller(accounts: &[&str]) -> HashSet<String> {
    accounts.iter().map(|a| a.to_string()).collect()
}

fn tree_of(pairs: &[(&str, &str)]) -> Result<AccountTree, AccountError> {
    AccountTree::new(
        pairs
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

// ---- the tree ----

#[test]
fn a_caller_accesses_its_own_account_only_without_descendants() {
    let tree = demo_tree();
    let acme = caller(&["acme"]);
    assert!(tree.allows(&acme, "acme", false));
    assert!(!tree.allows(&acme, "demostore", false));
}

#[test]
fn a_caller_accesses_descendants_when_they_are_included() {
    let tree = demo_tree();
    let acme = caller(&["acme"]);
    for account in ["acme", "demostore", "qa"] {
        assert!(tree.allows(&acme, account, true), "{account}");
    }
    assert!(!tree.allows(&acme, "crontech", true));
    assert!(tree.allows(&caller(&["crontech"]), "qa", true));
}

#[test]
fn the_demo_user_reaches_demostore_and_nothing_else() {
    let tree = demo_tree();
    let user = caller(&["demostore"]);
    assert!(tree.allows(&user, "demostore", true));
    for account in ["acme", "qa", "crontech", "", "unknown"] {
        assert!(!tree.allows(&user, account, true), "{account}");
    }
}

#[test]
fn a_self_parent_is_refused_naming_the_account() {
    let err = tree_of(&[("a", "root"), ("loop", "loop")]).unwrap_err();
    assert!(
        matches!(&err, AccountError::InvalidTree { account, .. } if account == "loop"),
        "{err}"
    );
}

#[test]
fn a_cycle_is_refused_naming_an_account_in_it() {
    let err = tree_of(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]).unwrap_err();
    let AccountError::InvalidTree { account, .. } = &err else {
        panic!("{err}")
    };
    assert!(["a", "b", "c"].contains(&account.as_str()), "{err}");
}

#[test]
fn ancestors_walk_up_to_the_root() {
    let tree = demo_tree();
    assert_eq!(
        tree.ancestors("qa").collect::<Vec<_>>(),
        ["acme", "crontech"]
    );
    assert_eq!(tree.parent("crontech"), None);
}

// ---- request side ----

fn extract(
    location: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Option<String>, AccountError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    AccountLocation::parse(location)
        .unwrap()
        .extract(path, query, &headers, None)
}

fn from_body(location: &str, body: &str) -> Result<Option<String>, AccountError> {
    AccountLocation::parse(location)
        .unwrap()
        .extract("/", None, &[], Some(body.as_bytes()))
}

#[test]
fn path_template_binds_the_account_placeholder() {
    let loc = "path:/accounts/{account}/contracts/{id}";
    assert_eq!(
        extract(loc, "/accounts/demostore/contracts/123-456", None, &[])
            .unwrap()
            .as_deref(),
        Some("demostore")
    );
}

#[test]
fn path_template_must_match_the_whole_path() {
    let loc = "path:/accounts/{account}/contracts/{id}";
    for path in [
        "/accounts/demostore/contracts",
        "/accounts/demostore/contracts/1/x",
        "/other/demostore/contracts/1",
        "/accounts//contracts/1",
    ] {
        assert_eq!(extract(loc, path, None, &[]).unwrap(), None, "{path}");
    }
}

#[test]
fn path_segment_is_one_based() {
    assert_eq!(
        extract("segment:2", "/accounts/demostore/contracts", None, &[])
            .unwrap()
            .as_deref(),
        Some("demostore")
    );
    assert_eq!(
        extract("segment:4", "/accounts/demostore/contracts", None, &[]).unwrap(),
        None
    );
}

#[test]
fn percent_encoded_ids_are_refused_not_decoded() {
    for path in [
        "/accounts/demo%73tore",
        "/accounts/qa%2Fx",
        "/accounts/%71a",
    ] {
        let err = extract("segment:2", path, None, &[]).unwrap_err();
        assert!(matches!(err, AccountError::InvalidId { .. }), "{path}");
    }
    assert!(extract("query:account_id", "/", Some("account_id=q%61"), &[]).is_err());
    assert!(extract("query:account_id", "/", Some("account_id=demo+store"), &[]).is_err());
}

#[test]
fn query_parameter_is_read() {
    let id = extract(
        "query:account_id",
        "/c",
        Some("page=2&account_id=demostore"),
        &[],
    )
    .unwrap();
    assert_eq!(id.as_deref(), Some("demostore"));
    assert_eq!(
        extract("query:account_id", "/c", Some("page=2"), &[]).unwrap(),
        None
    );
    assert_eq!(extract("query:account_id", "/c", None, &[]).unwrap(), None);
}

#[test]
fn query_parameter_given_twice_with_different_values_is_refused() {
    let err = extract(
        "query:account_id",
        "/",
        Some("account_id=demostore&account_id=qa"),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, AccountError::Ambiguous { .. }));
    let same = extract(
        "query:account_id",
        "/",
        Some("account_id=qa&account_id=qa"),
        &[],
    )
    .unwrap();
    assert_eq!(same.as_deref(), Some("qa"));
}

#[test]
fn query_parameter_names_are_compared_decoded() {
    let err = extract(
        "query:account_id",
        "/",
        Some("account_id=demostore&account%5Fid=qa"),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, AccountError::Ambiguous { .. }));
}

#[test]
fn header_is_read_case_insensitively_and_trimmed() {
    let id = extract(
        "header:X-Account-Id",
        "/",
        None,
        &[("x-account-id", " demostore ")],
    )
    .unwrap();
    assert_eq!(id.as_deref(), Some("demostore"));
}

#[test]
fn header_repeated_with_different_values_is_refused() {
    let headers = [("x-account-id", "demostore"), ("X-Account-ID", "qa")];
    assert!(matches!(
        extract("header:x-account-id", "/", None, &headers),
        Err(AccountError::Ambiguous { .. })
    ));
    assert!(matches!(
        extract(
            "header:x-account-id",
            "/",
            None,
            &[("x-account-id", "demostore, qa")]
        ),
        Err(AccountError::InvalidId { .. })
    ));
}

#[test]
fn ids_with_control_characters_or_slashes_are_refused() {
    for value in ["demo\u{0}store", "a/b", "a\\b", "", "démo", "a b"] {
        let err =
            extract("header:x-account-id", "/", None, &[("x-account-id", value)]).unwrap_err();
        assert!(matches!(err, AccountError::InvalidId { .. }), "{value:?}");
    }
}

#[test]
fn body_field_is_read_from_json() {
    assert!(AccountLocation::parse("body:account.id")
        .unwrap()
        .needs_body());
    assert!(!AccountLocation::parse("segment:1").unwrap().needs_body());
    let id = from_body("body:account.id", r#"{"account":{"id":"demostore"},"x":1}"#).unwrap();
    assert_eq!(id.as_deref(), Some("demostore"));
    assert_eq!(
        from_body("body:account.id", r#"{"account":{"id":42}}"#)
            .unwrap()
            .as_deref(),
        Some("42")
    );
    assert_eq!(
        from_body("body:account.id", r#"{"account":{}}"#).unwrap(),
        None
    );
}

#[test]
fn body_field_given_twice_with_different_values_is_refused() {
    let body = r#"{"account":{"id":"demostore"},"account":{"id":"qa"}}"#;
    assert!(matches!(
        from_body("body:account.id", body),
        Err(AccountError::Ambiguous { .. })
    ));
}

#[test]
fn body_field_that_is_an_object_or_invalid_json_is_refused() {
    assert!(matches!(
        from_body("body:account", r#"{"account":{"id":"x"}}"#),
        Err(AccountError::NotScalar { .. })
    ));
    assert!(matches!(
        from_body("body:account", r#"{"account":"x""#),
        Err(AccountError::Json(_))
    ));
}

#[test]
fn body_field_unescapes_before_checking() {
    assert_eq!(
        from_body("body:a", r#"{"a":"q\u0061"}"#)
            .unwrap()
            .as_deref(),
        Some("qa")
    );
    assert!(from_body("body:a", r#"{"a":"q\u002fa"}"#).is_err());
}

#[test]
fn none_declares_a_route_bound_to_no_account_and_finds_no_id() {
    for text in ["none", " none "] {
        let location = AccountLocation::parse(text).unwrap();
        assert!(location.is_unbound(), "{text}");
        assert!(!location.needs_body());
        let headers = [("x-account-id".to_string(), "qa".to_string())];
        let found = location.extract("/accounts/qa", Some("account=qa"), &headers, Some(b"{}"));
        assert_eq!(found.unwrap(), None);
    }
    assert!(!AccountLocation::parse("segment:2").unwrap().is_unbound());
}

#[test]
fn malformed_locations_are_refused_naming_the_text() {
    for text in [
        "nowhere",
        "path:/accounts/{id}",
        "path:accounts/{account}",
        "path:/a/{account}/{account}",
        "path:/a/x{account}",
        "segment:0",
        "segment:x",
        "query:",
        "header:a b",
        "body:a..b",
        "cookie:x",
        "None",
        "none:",
        "nothing",
    ] {
        let err = AccountLocation::parse(text).unwrap_err();
        assert!(
            matches!(&err, AccountError::InvalidLocation { text: t, .. } if t == text),
            "{text}: {err}"
        );
    }
}

#[test]
fn request_errors_name_the_location_not_the_value() {
    let err = extract("query:account_id", "/", Some("account_id=s3cr%65t"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "account id in query parameter \"account_id\" is not a plain account id"
    );
}
