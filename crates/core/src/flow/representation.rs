//! Headers that describe the backend's representation as it left the backend, before
//! the gateway checked or rewrote it. On a checked route (account checks, redaction) none
//! of them may reach the client, whatever the status or method: the length of a redacted
//! body tells how much was hidden, a digest or a strong validator can be matched against
//! guesses of the hidden fields, and ranges describe bytes the client never gets. That
//! holds for answers without a body too (HEAD, 204, 304), and for the gateway's own 502 on
//! Kong, which keeps the backend's headers.
//!
//! On the request side, the validators a client sends (`If-None-Match`...) on a GET or
//! HEAD are removed: the gateway never gives the backend's validators out, so they could
//! only be guesses, and the backend's 304 or 412 would confirm a guess about the
//! unchecked body.

use super::{Host, HostError};

/// Response headers describing the unchecked body (compared in any ASCII case):
/// its length, ranges, validators and digests (RFC 9110 §8.6, §14, §8.8; RFC 9530;
/// RFC 3230 `Digest`; RFC 1864 `Content-MD5`; the object stores' `x-goog-hash`,
/// `x-ms-content-crc64`).
pub const DESCRIBING: [&str; 11] = [
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "content-md5",
    "digest",
    "content-digest",
    "repr-digest",
    "x-goog-hash",
    "x-ms-content-crc64",
];

/// Prefixes of vendor digest headers (`x-amz-checksum-sha256`, ...).
pub const DESCRIBING_PREFIXES: [&str; 1] = ["x-amz-checksum-"];

/// Conditional request headers removed from a GET or HEAD on a checked route.
pub const CONDITIONALS: [&str; 4] = [
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
];

/// Whether a response header named `name` describes the unchecked body.
pub fn describes_unchecked_body(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    DESCRIBING.contains(&name.as_str()) || DESCRIBING_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Removes every response header that describes the unchecked body (every copy).
/// `content-length` is removed even when the listing does not show it.
pub fn strip_response(host: &mut dyn Host) -> Result<(), HostError> {
    let mut names: Vec<String> = host
        .response_headers()?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| describes_unchecked_body(name))
        .collect();
    names.push("content-length".to_string());
    names.sort_by_key(|n| n.to_ascii_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    for name in names {
        host.set_response_header(&name, None)?;
    }
    Ok(())
}

/// Removes the conditional headers of a GET or HEAD request (other methods keep them:
/// a write's preconditions are the client's protection against lost updates).
/// `present` is the request's header list (pseudo-headers included), read once by the
/// caller.
pub fn strip_conditionals(
    host: &mut dyn Host,
    present: &[(String, String)],
) -> Result<(), HostError> {
    let method = present
        .iter()
        .find(|(k, _)| k == ":method")
        .map_or("", |(_, v)| v.as_str());
    if method != "GET" && method != "HEAD" {
        return Ok(());
    }
    remove_present(host, present, &CONDITIONALS)
}

/// Removes those of `names` that `present` (the request's headers) holds. Only present
/// ones: on Envoy every request-header mutation clears the route cache, so a removal of
/// an absent header would cost a route match for nothing.
pub fn remove_present(
    host: &mut dyn Host,
    present: &[(String, String)],
    names: &[&str],
) -> Result<(), HostError> {
    for name in names {
        if present.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
            host.set_request_header(name, None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::mock::MockHost;

    #[test]
    fn length_ranges_validators_and_digests_describe_the_body() {
        for name in [
            "Content-Length",
            "content-range",
            "ETag",
            "repr-digest",
            "x-amz-checksum-crc32c",
        ] {
            assert!(describes_unchecked_body(name), "{name}");
        }
        for name in [
            "content-type",
            "cache-control",
            "vary",
            "want-content-digest",
        ] {
            assert!(!describes_unchecked_body(name), "{name}");
        }
    }

    #[test]
    fn every_copy_of_a_describing_header_is_removed_and_the_rest_kept() {
        let headers = [
            (":status", "200"),
            ("content-type", "application/json"),
            ("etag", "\"a\""),
            ("etag", "\"b\""),
            ("Digest", "sha-256=x"),
            ("x-amz-checksum-sha256", "x"),
            ("x-other", "kept"),
        ];
        let mut host = MockHost {
            response_headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MockHost::default()
        };
        strip_response(&mut host).unwrap();
        let names: Vec<_> = host
            .response_headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(names, [":status", "content-type", "x-other"]);
    }

    #[test]
    fn a_failing_host_call_is_an_error() {
        let mut host = MockHost {
            failing: vec!["get_map"],
            ..MockHost::default()
        };
        assert!(strip_response(&mut host).is_err());
    }

    #[test]
    fn conditionals_leave_a_get_but_not_a_write() {
        let with_conditionals = |method| {
            CONDITIONALS
                .iter()
                .fold(MockHost::request(method, "a", "/"), |h, name| {
                    h.with_header(name, "\"x\"")
                })
        };
        for method in ["GET", "HEAD"] {
            let mut host = with_conditionals(method);
            let present = host.request_headers().unwrap();
            strip_conditionals(&mut host, &present).unwrap();
            assert!(CONDITIONALS
                .iter()
                .all(|n| host.upstream_header(n).is_none()));
        }
        let mut put = with_conditionals("PUT");
        let present = put.request_headers().unwrap();
        strip_conditionals(&mut put, &present).unwrap();
        assert!(CONDITIONALS
            .iter()
            .all(|n| put.upstream_header(n).is_some()));
    }

    #[test]
    fn absent_headers_are_not_touched() {
        // Every request-header mutation clears Envoy's route cache: none for absent ones.
        // A host whose header writes fail shows whether a write was attempted.
        let mut host = MockHost::request("GET", "a", "/");
        host.failing = vec!["set_map_value"];
        let present = host.request_headers().unwrap();
        strip_conditionals(&mut host, &present).unwrap();
        let mut with_one = MockHost::request("GET", "a", "/").with_header("if-none-match", "\"x\"");
        with_one.failing = vec!["set_map_value"];
        let present = with_one.request_headers().unwrap();
        assert!(strip_conditionals(&mut with_one, &present).is_err());
    }
}
