#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis test`: the demo's cases in `policies/tests/` pass on the repository's
//! gateway.yaml, and the command fails, naming what is wrong, when a case is.

mod common;

use common::{code, fixture, portcullis, stderr, stdout};

/// The clock the demo's `token:` cases are valid at (docs/policy-tests.md).
const NOW: &str = "1800000000";

fn test(args: &[&str]) -> std::process::Output {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    portcullis(&all)
}

fn fail_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("FAIL ")).collect()
}

#[test]
fn the_demo_cases_pass_on_the_repository_gateway() {
    let output = test(&["policies/tests", "--now", NOW]);
    let text = stdout(&output);
    assert_eq!(code(&output), 0, "{text}{}", stderr(&output));
    assert!(fail_lines(&text).is_empty(), "{text}");
    let summary = text.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" passed, 0 failed"), "{text}");
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 25, "the demo's cases were not all found: {text}");
}

#[test]
fn a_wrong_case_fails_with_one_line_naming_it_and_what_differed() {
    let file = fixture("policy/wrong.yaml");
    let output = test(&[&file]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let text = stdout(&output);
    let lines = fail_lines(&text);
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "FAIL {file}: wrongly, the demo user reads the finance reports: allow: expected true, got false"
        )),
        "{text}"
    );
    assert!(lines[0].contains("403 no_matching_grant"), "{text}");
    assert_eq!(
        lines[1],
        format!("FAIL {file}: wrongly, the contract's source is hidden: hidden: `source` is in the body")
    );
    assert_eq!(text.lines().last(), Some("1 passed, 2 failed"), "{text}");
}

#[test]
fn a_misspelt_field_exits_2_naming_the_case_and_the_field() {
    let output = test(&[&fixture("policy/misspelt.yaml")]);
    assert_eq!(code(&output), 2, "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains(
            "misspelt.yaml:7: case `whoami needs a token`: expect.alow: unknown field `alow`"
        ),
        "{message}"
    );
    assert!(
        stdout(&output).is_empty(),
        "no case runs: {}",
        stdout(&output)
    );
}

#[test]
fn claims_and_a_token_together_exit_2_naming_the_field() {
    let output = test(&[&fixture("policy/claims-and-token.yaml")]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output)
            .contains("case `two identities at once`: token: give `claims` or `token`, not both"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_case_file_exits_2() {
    let output = test(&["policies/tests/no-such-file.yaml"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("no-such-file.yaml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn junit_output_is_well_formed_with_the_right_counts() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy-junit.xml");
    let file = fixture("policy/wrong.yaml");
    let output = test(&[
        &file,
        "policies/tests/identity.yaml",
        "--now",
        NOW,
        "--junit",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let xml = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "{xml}");
    assert_eq!(suites[0].attribute("name"), Some(file.as_str()));
    assert_eq!(suites[0].attribute("tests"), Some("3"));
    assert_eq!(suites[0].attribute("failures"), Some("2"));
    assert_eq!(suites[1].attribute("failures"), Some("0"));
    let cases = suites[0].children().filter(|n| n.has_tag_name("testcase"));
    let failed: Vec<&str> = cases
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "wrongly, the demo user reads the finance reports",
            "wrongly, the contract's source is hidden"
        ]
    );
    let total: usize = suites
        .iter()
        .map(|s| s.attribute("tests").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(root.attribute("tests"), Some(total.to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some("2"));
}
