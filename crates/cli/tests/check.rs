#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis check`.

mod common;

use common::{code, fixture, json, portcullis, stderr, stdout};

fn check(gateway: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["check", "--gateway", gateway];
    args.extend_from_slice(extra);
    portcullis(&args)
}

#[test]
fn repository_configuration_passes() {
    let output = check("gateway.yaml", &[]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("0 error(s)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn valid_fixture_has_no_findings() {
    let output = check(&fixture("valid.gateway.yaml"), &["--strict"]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(
        stdout(&output).contains("0 error(s), 0 warning(s)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn unknown_field_in_a_filter_configuration_is_an_error_with_its_line() {
    let output = check(&fixture("unknown-field.gateway.yaml"), &[]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(
        text.contains("unknown-field.gateway.yaml:17: error: filters.portcullis_authz:"),
        "{text}"
    );
    assert!(text.contains("unknown field `scope_claim`"), "{text}");
}

#[test]
fn unknown_field_in_a_route_is_an_error_with_its_line() {
    let output = check(&fixture("unknown-route-field.gateway.yaml"), &[]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(
        text.contains("unknown-route-field.gateway.yaml:34: error:"),
        "{text}"
    );
    assert!(text.contains("unknown field `requirment`"), "{text}");
}

#[test]
fn bad_requirement_is_an_error_naming_the_route() {
    let output = check(&fixture("bad-requirement.gateway.yaml"), &[]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(
        text.contains(
            ":34: error: routes[finance-reports].requirement: requirement `finance::reports`"
        ),
        "{text}"
    );
}

#[test]
fn malformed_grant_is_an_error_in_the_roles_file() {
    let output = check(&fixture("bad-roles.gateway.yaml"), &[]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(
        text.contains(
            "bad-roles.yaml:6: error: roles.FINANCEIRO: role `FINANCEIRO`: grant `contract:one`"
        ),
        "{text}"
    );
    assert_eq!(text.matches("error:").count(), 1, "reported once: {text}");
}

#[test]
fn typo_in_a_scope_prefix_warns_did_you_mean() {
    let output = check(&fixture("typo-scope.gateway.yaml"), &[]);
    assert_eq!(code(&output), 0, "warnings alone pass");
    let text = stdout(&output);
    for typo in ["br.com.chardic.cockpit", "br.com.chaordic.cockipt"] {
        let expected = format!("scope prefix `{typo}` is 1 edit from `br.com.chaordic.cockpit`: did you mean `br.com.chaordic.cockpit`?");
        assert!(text.contains(&expected), "{text}");
    }
}

#[test]
fn grant_that_matches_no_route_warns() {
    let output = check("gateway.yaml", &[]);
    let text = stdout(&output);
    assert!(
        text.contains("roles.FINANCEIRO: grant `simulations:*` matches no route's requirement"),
        "{text}"
    );
}

#[test]
fn strict_fails_on_warnings() {
    let output = check(&fixture("typo-scope.gateway.yaml"), &["--strict"]);
    assert_eq!(code(&output), 1);
}

#[test]
fn json_lists_each_finding_with_file_line_and_field() {
    let output = check(&fixture("bad-requirement.gateway.yaml"), &["--json"]);
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(report["ok"], false);
    let first = &report["diagnostics"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["line"], 34);
    assert_eq!(first["field"], "routes[finance-reports].requirement");
}

#[test]
fn missing_gateway_file_is_an_io_error() {
    let output = check("no-such-gateway.yaml", &[]);
    assert_eq!(code(&output), 2);
}

#[test]
fn a_remote_jwks_cluster_that_is_not_declared_is_an_error_naming_the_provider() {
    let output = check(&fixture("undeclared-cluster.gateway.yaml"), &[]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("filters.portcullis_jwt.providers[1].remote_jwks.cluster"),
        "{text}"
    );
    assert!(text.contains("no cluster `acounts`"), "{text}");
}

#[test]
fn a_key_set_fetched_in_clear_text_from_another_host_warns_naming_the_cluster() {
    let output = check(&fixture("remote-jwks.gateway.yaml"), &[]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("warning: envoy.clusters[accounts].tls: keys fetched in clear text"),
        "{text}"
    );
    assert!(!text.contains("envoy.clusters[keycloak].tls"), "{text}");
}
