#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis check --openapi`: coverage of the backends' own API documents.

mod common;

use common::{code, fixture, json, portcullis, stderr, stdout};
use serde_json::Value;

const DEMO: &str = "examples/openapi/demo.yaml";

fn check(gateway: &str, documents: &[&str]) -> std::process::Output {
    let mut args = vec!["check", "--json", "--gateway", gateway];
    for document in documents {
        args.extend_from_slice(&["--openapi", document]);
    }
    portcullis(&args)
}

/// The findings about `file`, as (severity, field, message).
fn findings(report: &Value, file: &str) -> Vec<(String, String, String)> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["file"] == file)
        .map(|d| {
            let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (text("severity"), text("field"), text("message"))
        })
        .collect()
}

fn fields(found: &[(String, String, String)]) -> Vec<&str> {
    found.iter().map(|(_, f, _)| f.as_str()).collect()
}

/// The demo: every route declares its account binding (`account: none` where its data
/// belongs to no account), so every operation of the backend's document is covered.
#[test]
fn every_demo_operation_is_covered() {
    let output = check("gateway.yaml", &[DEMO]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(
        report["openapi"],
        serde_json::json!({"operations": 7, "covered": 7})
    );
    assert!(findings(&report, DEMO).is_empty(), "{report}");
}

#[test]
fn a_route_no_operation_reaches_is_a_warning_but_the_permissions_endpoint() {
    let report = json(&check("gateway.yaml", &[DEMO]));
    let routes: Vec<_> = findings(&report, "gateway.yaml")
        .into_iter()
        .filter(|(_, field, _)| field.starts_with("routes["))
        .collect();
    assert_eq!(fields(&routes), ["routes[fallback]"]);
    assert_eq!(routes[0].0, "warning");
}

#[test]
fn an_extra_operation_in_a_copy_of_the_demo_document_is_reported() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let copy = dir.join("demo-extra.yaml");
    let text = std::fs::read_to_string(common::repo().join(DEMO)).unwrap();
    let extra = text.replace(
        "components:\n",
        "  /admin/users:\n    delete:\n      responses:\n        '204': {description: Gone.}\ncomponents:\n",
    );
    assert_ne!(extra, text);
    std::fs::write(&copy, extra).unwrap();
    let output = portcullis(&["check", "--openapi", copy.to_str().unwrap()]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.contains("error: DELETE /admin/users: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("reaches route `fallback`, which declares no requirement"),
        "{line}"
    );
    assert!(text.contains("; 7 of 8 operation(s) covered;"), "{text}");
}

#[test]
fn account_bindings_must_read_a_parameter_of_the_operation() {
    let document = fixture("openapi/bindings.json");
    let output = check(&fixture("openapi/bindings.gateway.yaml"), &[&document]);
    let report = json(&output);
    let errors = findings(&report, &document);
    let message = |field: &str| {
        errors
            .iter()
            .find(|(_, f, _)| f == field)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_else(|| panic!("no finding for {field}: {errors:?}"))
    };
    assert_eq!(
        fields(&errors),
        [
            "GET /reports/me/{id}",
            "GET /reports/{account}",
            "GET /find",
            "PUT /transfers"
        ]
    );
    assert!(message("GET /reports/me/{id}").contains("from `me`, a fixed part of the path"));
    assert!(message("GET /reports/{account}").contains("finds no account id"));
    assert!(message("GET /find").contains("finds no account id with `header:x-account`"));
    assert!(message("PUT /transfers").contains("has no requirement for PUT"));
    assert!(message("PUT /transfers").contains("the operation has none"));
    // GET and HEAD /reports/{account}/{id} (HEAD served as GET), GET /search, POST /transfers.
    assert_eq!(report["openapi"]["covered"], 4);
}

#[test]
fn a_swagger_2_document_exits_2_naming_the_field() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("swagger.yaml");
    std::fs::write(&path, "swagger: '2.0'\npaths: {}\n").unwrap();
    let output = check("gateway.yaml", &[path.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("openapi: expected an OpenAPI 3.0 or 3.1 document"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_parameter_without_in_exits_2_naming_its_field() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("no-in.yaml");
    let text = "openapi: 3.0.0\npaths:\n  /a/{x}:\n    get:\n      parameters:\n      - name: x\n";
    std::fs::write(&path, text).unwrap();
    let output = check("gateway.yaml", &[path.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("paths./a/{x}.get.parameters[0]: missing field `in`"),
        "{}",
        stderr(&output)
    );
}
