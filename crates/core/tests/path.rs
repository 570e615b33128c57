#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Request-path checks through the public API: each refused class, the CVE examples,
//! accepted normal paths, and properties over arbitrary input.

use portcullis_core::path::{check_path, segments, PathError};
use proptest::prelude::*;

fn code(raw: &str) -> &'static str {
    match check_path(raw) {
        Ok(p) => panic!("{raw:?} accepted as {p:?}"),
        Err(err) => err.code(),
    }
}

fn refused_all(raws: &[&str], expected: &str) {
    for raw in raws {
        assert_eq!(code(raw), expected, "{raw:?}");
    }
}

#[test]
fn normal_paths_with_queries_are_accepted_unchanged() {
    for raw in [
        "/",
        "/public/health",
        "/whoami?",
        "/accounts/demostore/contracts/123-456?fields=id,source&x=%2F..%2f",
        "/sales/customerServices/stockout",
        "/a/b/",
        "/files/caf%C3%A9/~me/a.b/.../x?q=a%20b&f[name]=x|y",
        "/a:b@c/!$&'()*+,=/%20/%3B/%3F/%23/%25",
        "/FINANCE/reports",
        "/.well-known/permissions",
        "/a/.../b",
        "/a/..b/.c/c.",
        "/filter[name]/x",
    ] {
        let p = check_path(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
        assert_eq!(
            format!(
                "{}{}",
                p.path,
                p.query.map(|q| format!("?{q}")).unwrap_or_default()
            ),
            raw
        );
    }
}

#[test]
fn case_is_kept_so_an_upper_case_path_is_another_path() {
    assert_eq!(
        check_path("/FINANCE/reports").unwrap().path,
        "/FINANCE/reports"
    );
}

#[test]
fn segments_of_an_accepted_path() {
    let p = check_path("/accounts/demostore/contracts/?x=1").unwrap();
    assert_eq!(
        p.segments().collect::<Vec<_>>(),
        vec!["accounts", "demostore", "contracts"]
    );
    assert_eq!(segments("/a").collect::<Vec<_>>(), vec!["a"]);
}

#[test]
fn path_not_starting_with_slash_is_refused() {
    refused_all(
        &["", "*", "a/b", "http://acme.localhost/a", "?x=1", "%2Fa"],
        "path_not_absolute",
    );
}

#[test]
fn dot_segments_are_refused() {
    refused_all(
        &["/.", "/..", "/a/./b", "/a/../b", "/a/..", "/../"],
        "path_dot_segment",
    );
}

#[test]
fn percent_encoded_dot_segments_are_refused_in_any_case() {
    refused_all(
        &[
            "/%2e%2e/a",
            "/%2E%2E/a",
            "/.%2e/a",
            "/%2E./a",
            "/a/%2e",
            "/a/%2E/b",
        ],
        "path_dot_segment",
    );
}

#[test]
fn double_encoded_dot_segments_are_refused() {
    refused_all(
        &["/%252e%252e/a", "/%252E/a", "/.%252e/a", "/%25252e%25252e"],
        "path_dot_segment",
    );
}

#[test]
fn empty_segments_are_refused() {
    refused_all(
        &["//", "//a", "/a//b", "/a/b//", "///etc/passwd"],
        "path_empty_segment",
    );
}

#[test]
fn encoded_slashes_and_backslashes_are_refused_in_any_case() {
    refused_all(
        &[
            "/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/%2F", "/a%252Fb", "/a%252fb", "/a%255cb",
        ],
        "path_encoded_separator",
    );
}

#[test]
fn raw_backslash_is_refused() {
    refused_all(&["/a\\b", "/\\", "/a/..\\b"], "path_backslash");
}

#[test]
fn path_parameters_are_refused() {
    refused_all(
        &["/admin;x=1", "/admin;", "/..;/admin", "/a;jsessionid=1/b"],
        "path_parameter",
    );
}

#[test]
fn control_characters_raw_or_encoded_are_refused() {
    refused_all(
        &[
            "/a\0b", "/a\nb", "/a\rb", "/a\tb", "/a\x7fb", "/a%00b", "/a%0Ab", "/a%7F", "/a?x=\n",
        ],
        "path_control_character",
    );
}

#[test]
fn non_ascii_is_refused() {
    refused_all(
        &["/café", "/a?q=é", "/\u{FF0E}\u{FF0E}/a"],
        "path_non_ascii",
    );
}

#[test]
fn fragment_is_refused() {
    refused_all(&["/a#b", "/a#", "/a?x#y"], "path_fragment");
}

#[test]
fn characters_that_must_be_encoded_are_refused() {
    refused_all(
        &[
            "/a b", "/a\"b", "/a<b", "/a>b", "/a^b", "/a`b", "/a{b", "/a|b", "/a?x y",
        ],
        "path_invalid_character",
    );
}

#[test]
fn encoded_unreserved_characters_are_refused_not_decoded() {
    refused_all(
        &[
            "/%41dmin", "/adm%69n", "/a%2Db", "/a%5Fb", "/a%7Eb", "/a%30", "/a%2E",
        ],
        "path_non_normal_encoding",
    );
}

#[test]
fn lower_case_hex_escapes_are_refused() {
    refused_all(
        &["/caf%c3%a9", "/a%3bb", "/a%3Fb%3f"],
        "path_non_normal_encoding",
    );
}

#[test]
fn double_encodings_are_refused() {
    refused_all(&["/a%2541", "/a%253B", "/%2500"], "path_double_encoding");
    assert!(check_path("/100%25").is_ok());
    assert!(check_path("/100%25zz").is_ok());
}

#[test]
fn malformed_escapes_are_refused() {
    refused_all(
        &["/%zz", "/%4", "/a%", "/%%41", "/%u002e", "/a%G0"],
        "path_malformed_escape",
    );
}

#[test]
fn escapes_that_are_not_utf8_are_refused() {
    refused_all(
        &["/%C0%AE%C0%AE/a", "/%80", "/%C3", "/%FF"],
        "path_invalid_utf8",
    );
}

#[test]
fn cve_2019_9901_traversal_does_not_reach_another_route() {
    // Envoy before normalize_path: `/public/../admin` matched `/public/` and reached
    // `/admin` at the backend.
    refused_all(
        &[
            "/public/../admin",
            "/finance/../sales",
            "/public/%2e%2e/admin",
        ],
        "path_dot_segment",
    );
}

#[test]
fn cve_2021_29492_encoded_slash_does_not_reach_another_route() {
    // Envoy kept `%2F` in paths, which backends decode into `/`.
    refused_all(
        &["/public%2F..%2Fadmin", "/public%2f%2e%2e%2fadmin"],
        "path_encoded_separator",
    );
}

#[test]
fn tomcat_and_spring_tricks_are_refused() {
    assert_eq!(code("/public/..;/admin"), "path_parameter");
    assert_eq!(code("/admin;/"), "path_parameter");
    assert_eq!(code("/public/%2e%2e;/admin"), "path_parameter");
}

#[test]
fn error_messages_name_the_problem_in_lower_case() {
    assert_eq!(
        check_path("/a%2fb").unwrap_err().to_string(),
        "path has an encoded slash or backslash \"%2f\""
    );
    assert_eq!(check_path("//").unwrap_err(), PathError::EmptySegment);
    assert_eq!(
        check_path("/a/%4").unwrap_err().to_string(),
        "path has a malformed escape \"%4\""
    );
}

proptest! {
    #[test]
    fn check_path_never_panics(raw in ".{0,200}") {
        let _ = check_path(&raw);
    }

    #[test]
    fn accepted_paths_have_no_dot_segment_or_empty_segment(
        raw in "(/([a-zA-Z0-9.~_;:@-]|%[0-9a-fA-F2]{2}|%25|/){0,12}){1,5}(\\?.{0,10})?"
    ) {
        if let Ok(p) = check_path(&raw) {
            prop_assert!(p.path.starts_with('/'));
            prop_assert!(!p.path.contains("//"));
            let all: Vec<&str> = p.path.split('/').skip(1).collect();
            for segment in &all {
                prop_assert!(*segment != "." && *segment != "..");
            }
            let lower = p.path.to_ascii_lowercase();
            prop_assert!(!lower.contains("%2e") && !lower.contains("%2f") && !lower.contains("%5c"));
            prop_assert!(!p.path.contains('\\') && !p.path.contains(';'));
        }
    }
}
