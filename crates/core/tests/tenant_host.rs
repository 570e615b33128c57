#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Host normalisation (`portcullis_core::tenant::normalize_host`): what is accepted and
//! how it is rewritten, and each class of refused host.

use portcullis_core::flow::HostKind;
use portcullis_core::tenant::{host_header_name, normalize_host, HostError};

fn ok(raw: &str) -> String {
    normalize_host(raw).unwrap()
}

#[test]
fn upper_case_is_lowered() {
    assert_eq!(ok("ACME.LocalHost"), "acme.localhost");
}

#[test]
fn port_is_removed() {
    assert_eq!(ok("acme.localhost:10000"), "acme.localhost");
    assert_eq!(ok("acme.localhost:0"), "acme.localhost");
}

#[test]
fn one_trailing_dot_is_removed() {
    assert_eq!(ok("acme.localhost."), "acme.localhost");
    assert_eq!(ok("acme.localhost.:80"), "acme.localhost");
}

#[test]
fn ipv6_literal_keeps_brackets_and_loses_port() {
    assert_eq!(ok("[::1]:8080"), "[::1]");
    assert_eq!(ok("[::1]"), "[::1]");
}

#[test]
fn ipv6_literal_is_written_canonically() {
    assert_eq!(ok("[0:0:0:0:0:0:0:1]"), "[::1]");
    assert_eq!(ok("[2001:DB8::A]"), "[2001:db8::a]");
}

#[test]
fn ipv4_address_is_a_name() {
    assert_eq!(ok("127.0.0.1:10000"), "127.0.0.1");
}

#[test]
fn empty_host_is_refused() {
    assert!(matches!(normalize_host(""), Err(HostError::Empty(_))));
    assert!(matches!(normalize_host(":80"), Err(HostError::Empty(_))));
    assert!(matches!(normalize_host("."), Err(HostError::Empty(_))));
}

#[test]
fn userinfo_is_refused() {
    assert!(matches!(normalize_host("a@b"), Err(HostError::Userinfo(_))));
    assert!(matches!(
        normalize_host("evil.com@acme.localhost"),
        Err(HostError::Userinfo(_))
    ));
}

#[test]
fn whitespace_and_control_characters_are_refused() {
    assert!(matches!(
        normalize_host("acme .localhost"),
        Err(HostError::Whitespace(_))
    ));
    assert!(matches!(
        normalize_host(" acme.localhost"),
        Err(HostError::Whitespace(_))
    ));
    assert!(matches!(
        normalize_host("acme\t"),
        Err(HostError::Whitespace(_))
    ));
    assert!(matches!(
        normalize_host("acme\0"),
        Err(HostError::ControlCharacter(_))
    ));
    assert!(matches!(
        normalize_host("acme\x7f"),
        Err(HostError::ControlCharacter(_))
    ));
}

#[test]
fn percent_slash_and_backslash_are_refused() {
    assert!(matches!(
        normalize_host("acme%2elocalhost"),
        Err(HostError::PercentSign(_))
    ));
    assert!(matches!(
        normalize_host("[fe80::1%25eth0]"),
        Err(HostError::PercentSign(_))
    ));
    assert!(matches!(
        normalize_host("acme.localhost/x"),
        Err(HostError::Slash(_))
    ));
    assert!(matches!(
        normalize_host("acme\\x"),
        Err(HostError::Slash(_))
    ));
}

#[test]
fn non_ascii_lookalikes_are_refused_not_folded() {
    // U+212A KELVIN SIGN lower-cases to `k` under Unicode rules.
    assert!(matches!(
        normalize_host("\u{212A}.localhost"),
        Err(HostError::NonAscii(_))
    ));
    assert!(matches!(
        normalize_host("acmé.localhost"),
        Err(HostError::NonAscii(_))
    ));
}

#[test]
fn other_punctuation_is_refused() {
    let err = normalize_host("acme,crontech.localhost").unwrap_err();
    assert_eq!(
        err,
        HostError::InvalidCharacter {
            host: "acme,crontech.localhost".into(),
            character: ','
        }
    );
}

#[test]
fn several_trailing_dots_are_refused() {
    assert!(matches!(
        normalize_host("acme.localhost.."),
        Err(HostError::TrailingDots(_))
    ));
}

#[test]
fn empty_labels_are_refused() {
    assert!(matches!(
        normalize_host("a..b"),
        Err(HostError::EmptyLabel(_))
    ));
    assert!(matches!(
        normalize_host(".acme"),
        Err(HostError::EmptyLabel(_))
    ));
}

#[test]
fn long_labels_and_names_are_refused() {
    let label = "a".repeat(63);
    assert_eq!(ok(&format!("{label}.x")), format!("{label}.x"));
    let long_label = format!("{}.x", "a".repeat(64));
    assert!(matches!(
        normalize_host(&long_label),
        Err(HostError::LabelTooLong(_))
    ));
    let name = vec!["abc"; 64].join("."); // 255 bytes
    assert!(matches!(normalize_host(&name), Err(HostError::TooLong(_))));
}

#[test]
fn bad_ports_are_refused() {
    for raw in [
        "a:", "a:http", "a:-1", "a:+80", "a:65536", "a:000080", "a:1:2", "[::1]:x",
    ] {
        assert!(normalize_host(raw).is_err(), "{raw} accepted");
    }
    assert!(matches!(
        normalize_host("a:http"),
        Err(HostError::InvalidPort(_))
    ));
}

#[test]
fn bad_ipv6_literals_are_refused() {
    for raw in [
        "::1",
        "[::1",
        "[::1]x",
        "[v1.fe]",
        "[acme.localhost]",
        "a[::1]",
        "[::1]]",
    ] {
        assert!(normalize_host(raw).is_err(), "{raw} accepted");
    }
}

#[test]
fn error_messages_name_the_input_in_lower_case() {
    let message = normalize_host("a@b").unwrap_err().to_string();
    assert_eq!(message, "host \"a@b\" contains userinfo");
}

#[test]
fn error_messages_shorten_long_input() {
    let raw = format!("{}@", "é".repeat(200));
    let message = normalize_host(&raw).unwrap_err().to_string();
    assert!(message.len() < 250, "{message}");
}

#[test]
fn envoy_reads_authority_and_kong_reads_host() {
    assert_eq!(host_header_name(HostKind::Envoy), ":authority");
    assert_eq!(host_header_name(HostKind::Kong), "host");
}
