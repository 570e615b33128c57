//! The shared conformance table (`tests/fixtures/conformance.json`) against the core: the
//! grant matcher decides every case as the table says, every malformed text is refused with
//! the table's message, and the table's hidden fields are what the documented rule hides and
//! what the redactor removes from a body built for the case.
//!
//! The same file is read by the JavaScript package's tests (`packages/permissions/test`) and
//! by the Envoy test (`tests/test_conformance.py`), so the gateway, the core and the front
//! end's package answer one table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::policy::{CallerGrants, GrantSet, Permission, RoleTable};
use portcullis_core::redact::Redactor;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

fn table() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/conformance.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/fixtures/conformance.json");
    serde_json::from_str(&text).expect("conformance.json is JSON")
}

struct Case {
    id: String,
    grants: Vec<String>,
    requirement: String,
    allow: bool,
    hidden: Option<Vec<String>>,
    keep_only: Option<Vec<String>>,
    exact: bool,
    redactor_bug: bool,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn cases() -> Vec<Case> {
    table()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap().into(),
            grants: strings(&c["grants"]),
            requirement: c["requirement"].as_str().unwrap().into(),
            allow: c["allow"].as_bool().unwrap(),
            hidden: (!c["hidden"].is_null()).then(|| strings(&c["hidden"])),
            keep_only: c.get("keep_only").map(strings),
            exact: c.get("exact").and_then(Value::as_bool).unwrap_or(true),
            redactor_bug: c.get("redactor_bug").is_some(),
        })
        .collect()
}

fn grant_set(grants: &[String]) -> GrantSet {
    GrantSet::compile(grants.iter().map(|g| Permission::parse_grant(g).unwrap()))
}

#[test]
fn the_matcher_decides_every_case_as_the_table_says() {
    let roles = RoleTable::default();
    let mut wrong = Vec::new();
    for case in cases() {
        let requirement = Permission::parse_requirement(&case.requirement).unwrap();
        let set = grant_set(&case.grants);
        let direct: Vec<&str> = case.grants.iter().map(String::as_str).collect();
        let caller = CallerGrants::new(&roles, &[], &[], &direct);
        assert!(
            caller.ignored.is_empty(),
            "{}: a grant was ignored",
            case.id
        );
        let answers = [
            set.check(&requirement).is_some(),
            set.allows(&requirement),
            caller.check(&requirement).is_some(),
            caller.allows(&requirement),
        ];
        if answers.iter().any(|&a| a != case.allow) {
            wrong.push(format!(
                "{}: expected {}, got {answers:?}",
                case.id, case.allow
            ));
        }
        assert_eq!(
            case.hidden.is_some(),
            case.allow,
            "{}: hidden is null exactly when denied",
            case.id
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn malformed_texts_are_refused_with_the_tables_message() {
    let roles = RoleTable::default();
    for m in table()["malformed"].as_array().unwrap() {
        let (id, text) = (m["id"].as_str().unwrap(), m["text"].as_str().unwrap());
        let error = m["error"].as_str().unwrap();
        let result = match m["as"].as_str().unwrap() {
            "grant" => Permission::parse_grant(text),
            "requirement" => Permission::parse_requirement(text),
            other => panic!("{id}: unknown kind {other}"),
        };
        let message = result.expect_err(id).to_string();
        assert!(message.contains(error), "{id}: `{message}` lacks `{error}`");
        if let Some(near) = m.get("near").and_then(Value::as_str) {
            // The gateway skips a malformed token grant: it grants nothing, not even `near`.
            let caller = CallerGrants::new(&roles, &[], &[], &[text]);
            assert_eq!(caller.ignored, [text], "{id}");
            assert!(
                !caller.allows(&Permission::parse_requirement(near).unwrap()),
                "{id}"
            );
        }
    }
}

#[test]
fn every_grant_of_the_docs_wildcard_table_has_cases() {
    let docs = include_str!("../../../docs/policy-language.md");
    let section = docs
        .split("## Wildcards")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    let all = cases();
    let mut rows = 0;
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let grant = line.split('`').nth(1).unwrap();
        rows += 1;
        let allowed = all.iter().any(|c| c.grants == [grant] && c.allow);
        let denied = all.iter().any(|c| c.grants == [grant] && !c.allow);
        assert!(
            allowed && denied,
            "docs grant `{grant}` needs a granted and a denied case"
        );
    }
    assert!(rows >= 8, "the wildcard table was not found in the docs");
}

// --- hidden fields ------------------------------------------------------------------------

/// A path's segments (`*` included).
fn segs(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

/// `pattern` matches the first segments of the concrete `leaf`.
fn prefix_match(pattern: &[&str], leaf: &[&str]) -> bool {
    pattern.len() <= leaf.len() && pattern.iter().zip(leaf).all(|(p, s)| *p == "*" || p == s)
}

/// Whether `filter` alone removes the concrete leaf `leaf` (a scalar: no ancestor rule).
fn hides(filter: &FieldFilter, leaf: &[&str]) -> bool {
    let any = filter.paths.iter().any(|p| prefix_match(&segs(p), leaf));
    match filter.mode {
        FilterMode::Remove => any,
        FilterMode::Keep => !any,
    }
}

/// The documented rule, leaf by leaf: the route's filter always applies; among the matching
/// grants, a leaf is hidden only when every one hides it (an unfiltered grant hides nothing).
/// Matching grants are found one by one, independently of `GrantMatch`.
fn rule_hides(case: &Case, leaf: &[&str]) -> bool {
    let requirement = Permission::parse_requirement(&case.requirement).unwrap();
    if requirement.filter().is_some_and(|f| hides(f, leaf)) {
        return true;
    }
    let matching: Vec<Permission> = case
        .grants
        .iter()
        .map(|g| Permission::parse_grant(g).unwrap())
        .filter(|g| GrantSet::compile([g.clone()]).allows(&requirement))
        .collect();
    matching
        .iter()
        .all(|g| g.filter().is_some_and(|f| hides(f, leaf)))
}

/// What the table says about a leaf.
fn table_hides(case: &Case, leaf: &[&str]) -> bool {
    let hidden = case.hidden.as_deref().unwrap_or_default();
    hidden.iter().any(|p| prefix_match(&segs(p), leaf))
        || case
            .keep_only
            .as_ref()
            .is_some_and(|keep| !keep.iter().any(|k| prefix_match(&segs(k), leaf)))
}

/// A body for the case: the demo contract, plus every path its filters and the table name
/// (`*` as a key of its own), with a sibling key next to every named key.
fn body(case: &Case) -> Value {
    let mut doc = json!({
        "id": "123-456", "contractOwner": "demostore", "source": "adwords",
        "user": {"name": "Usuário", "cpf": "000.000.370.00", "rendaMensal": 15000},
        "mother": {"name": "Mãe", "cpf": "000.000.370.00", "rendaMensal": 15000},
    });
    let mut paths: Vec<String> = case.hidden.clone().unwrap_or_default();
    paths.extend(case.keep_only.clone().unwrap_or_default());
    for text in case.grants.iter().chain([&case.requirement]) {
        let permission = Permission::parse(text).unwrap();
        paths.extend(
            permission
                .filter()
                .map(|f| f.paths.clone())
                .unwrap_or_default(),
        );
    }
    for path in paths {
        let mut node = &mut doc;
        for segment in segs(&path) {
            let key = if segment == "*" { "anyKey" } else { segment };
            let object = ensure_object(node);
            object.entry("siblingKey").or_insert(json!(1));
            node = object.entry(key).or_insert(json!("leaf"));
        }
    }
    doc
}

fn ensure_object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = json!({});
    }
    node.as_object_mut().unwrap()
}

fn leaves(value: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(k.clone());
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Object(_) => {}
        _ => {
            out.insert(prefix.clone());
        }
    }
}

fn leaf_set(value: &Value) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    leaves(value, &mut Vec::new(), &mut out);
    out
}

#[test]
fn hidden_fields_are_the_documented_rule_and_what_the_redactor_removes() {
    let mut problems = Vec::new();
    for case in cases().into_iter().filter(|c| c.allow) {
        let doc = body(&case);
        let all = leaf_set(&doc);
        let rule: BTreeSet<_> = all
            .iter()
            .filter(|l| rule_hides(&case, &l.iter().map(String::as_str).collect::<Vec<_>>()))
            .cloned()
            .collect();
        let said: BTreeSet<_> = all
            .iter()
            .filter(|l| table_hides(&case, &l.iter().map(String::as_str).collect::<Vec<_>>()))
            .cloned()
            .collect();
        if case.exact && said != rule {
            problems.push(format!(
                "{}: the table hides {said:?}, the rule {rule:?}",
                case.id
            ));
        }
        if !case.exact && !said.is_subset(&rule) {
            problems.push(format!(
                "{}: inexact, yet the table hides {said:?} beyond the rule {rule:?}",
                case.id
            ));
        }

        // The redactor, fed as the authorization filter feeds it.
        let requirement = Permission::parse_requirement(&case.requirement).unwrap();
        let found = grant_set(&case.grants).check(&requirement).unwrap();
        let route: Vec<FieldFilter> = requirement.filter().cloned().into_iter().collect();
        let redactor = Redactor::compile(&route, &found.filters).unwrap();
        let bytes = serde_json::to_vec(&doc).unwrap();
        let out: Value = serde_json::from_slice(&redactor.apply(&bytes).unwrap()).unwrap();
        let shown = leaf_set(&out);
        let removed: BTreeSet<_> = all.difference(&shown).cloned().collect();
        match (case.redactor_bug, removed == rule) {
            (false, false) => problems.push(format!(
                "{}: the redactor removes {removed:?}, the rule hides {rule:?}",
                case.id
            )),
            (true, true) => problems.push(format!(
                "{}: the redactor now follows the rule: drop the case's `redactor_bug` mark",
                case.id
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
