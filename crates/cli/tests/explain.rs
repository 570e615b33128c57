#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis explain` on the repository's own gateway.yaml and the demo user.

mod common;

use common::{code, fixture, json, portcullis, stderr, stdout};

const CLAIMS: &str = "examples/claims/demo-user.json";
const CONTRACT: &str = "/accounts/demostore/contracts/123-456";

fn explain(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["explain", "--json"];
    args.extend_from_slice(extra);
    portcullis(&args)
}

fn stage<'a>(report: &'a serde_json::Value, filter: &str) -> &'a serde_json::Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["filter"] == filter)
        .unwrap()
}

fn demo_token() -> String {
    let output = portcullis(&[
        "token",
        "--key",
        "examples/keys/demo-rs256.pem",
        "--kid",
        "demo-rs256",
        "--claims",
        CLAIMS,
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    stdout(&output).trim().to_string()
}

#[test]
fn demo_user_reads_a_contract_with_cpf_and_mother_hidden() {
    let output = explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        CONTRACT,
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let report = json(&output);
    assert_eq!(report["route"]["name"], "contract");
    assert_eq!(report["verdict"]["decision"], "allowed");
    assert_eq!(
        report["verdict"]["hidden_fields"],
        serde_json::json!(["user.cpf", "mother"])
    );
}

#[test]
fn claims_skip_token_checks_and_say_so() {
    let report = json(&explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        CONTRACT,
    ]));
    let jwt = stage(&report, "portcullis_jwt");
    assert_eq!(jwt["decision"], "skipped");
    assert!(jwt["why"][0].as_str().unwrap().contains("not checked"));
}

#[test]
fn authorization_names_the_matching_grant_and_its_role() {
    let report = json(&explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        CONTRACT,
    ]));
    let why = stage(&report, "portcullis_authz")["why"].to_string();
    assert!(
        why.contains("granted by `contract:one:read::!{user.cpf,mother}` (role ATENDIMENTO)"),
        "{why}"
    );
}

#[test]
fn account_from_the_path_is_bound_to_the_caller() {
    let report = json(&explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        CONTRACT,
    ]));
    let why = stage(&report, "portcullis_accounts")["why"].to_string();
    assert!(why.contains("account `demostore`"), "{why}");
    assert!(why.contains("allowed"), "{why}");
}

#[test]
fn demo_user_is_denied_finance_reports_with_403() {
    let output = explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        "/finance/reports",
    ]);
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(report["verdict"]["status"], 403);
    assert_eq!(report["verdict"]["filter"], "portcullis_authz");
    assert_eq!(report["verdict"]["reason"], "no_matching_grant");
}

#[test]
fn demo_user_is_denied_on_the_crontech_domain_by_the_tenant_filter() {
    let output = explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "crontech.localhost",
        "--path",
        CONTRACT,
    ]);
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(report["verdict"]["status"], 403);
    assert_eq!(report["verdict"]["filter"], "portcullis_tenant");
    assert_eq!(report["verdict"]["reason"], "tenant_mismatch");
}

#[test]
fn signed_token_is_verified_by_the_jwt_filter() {
    let token = demo_token();
    let output = explain(&[
        "--token",
        &token,
        "--host",
        "acme.localhost",
        "--path",
        "/whoami",
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let report = json(&output);
    assert_eq!(stage(&report, "portcullis_jwt")["decision"], "pass");
}

#[test]
fn expired_token_is_denied_with_401() {
    let token = demo_token();
    let output = explain(&[
        "--token",
        &token,
        "--now",
        "99999999999",
        "--host",
        "acme.localhost",
        "--path",
        "/whoami",
    ]);
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(report["verdict"]["status"], 401);
    assert_eq!(report["verdict"]["filter"], "portcullis_jwt");
}

#[test]
fn missing_token_on_a_protected_route_is_denied_with_401() {
    let output = explain(&["--host", "acme.localhost", "--path", "/whoami"]);
    assert_eq!(code(&output), 1);
    assert_eq!(json(&output)["verdict"]["status"], 401);
}

#[test]
fn public_route_is_allowed_without_a_token() {
    let output = explain(&["--host", "acme.localhost", "--path", "/public/health"]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
}

#[test]
fn response_body_is_redacted_as_the_gateway_would() {
    let output = explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        CONTRACT,
        "--response",
        &fixture("contract.json"),
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let body = &json(&output)["response"]["body"];
    assert_eq!(
        body["user"],
        serde_json::json!({"name": "Usuário", "rendaMensal": 15000})
    );
    assert!(body.get("mother").is_none(), "{body}");
}

#[test]
fn response_owned_by_another_account_is_blocked_with_502() {
    let path = "/accounts/demostore/contracts/999";
    let output = explain(&[
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        path,
        "--response",
        &fixture("foreign-contract.json"),
    ]);
    let report = json(&output);
    assert_eq!(report["response"]["status"], 502, "{report}");
    assert_eq!(report["response"]["filter"], "portcullis_accounts");
}

#[test]
fn text_output_ends_with_the_decision() {
    let output = portcullis(&[
        "explain",
        "--claims",
        CLAIMS,
        "--host",
        "acme.localhost",
        "--path",
        "/finance/reports",
    ]);
    let text = stdout(&output);
    assert!(
        text.contains("decision denied: 403 no_matching_grant by portcullis_authz"),
        "{text}"
    );
}
