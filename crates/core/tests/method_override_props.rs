#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the method-override parser: it never panics on any content type or body,
//! and a body carrying `_method` naming another method is always refused, whatever the
//! encoding tricks (case, escapes, separators, brackets, quoting, line ends, boundaries,
//! key escapes, duplicates) and whatever surrounds it.

use portcullis_core::method_override::{body_types, check_body, check_form, BodyTypes};
use proptest::prelude::*;

const OTHER_METHODS: &[&str] = &["DELETE", "PUT", "PATCH", "GET", "delete", " put "];

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// `_method` with each letter in either case, each character maybe percent-encoded (any
/// hex case), maybe leading spaces (`+` or `%20`), maybe a bracket suffix.
fn form_key() -> impl Strategy<Value = String> {
    let chars = proptest::collection::vec((any::<bool>(), 0u8..3), 7);
    let lead = prop_oneof![Just(""), Just("+"), Just("%20"), Just("+%20")];
    let tail = prop_oneof![Just(""), Just("[]"), Just("[x]"), Just("%5B%5D")];
    (chars, lead, tail, any::<bool>()).prop_map(|(chars, lead, tail, dot)| {
        let mut key = lead.to_string();
        for (c, (upper, how)) in "_method".chars().zip(chars) {
            let c = if c == '_' && dot { '.' } else { c };
            let c = if upper { c.to_ascii_uppercase() } else { c };
            match how {
                0 => key.push(c),
                1 => key.push_str(&format!("%{:02X}", c as u32)),
                _ => key.push_str(&format!("%{:02x}", c as u32)),
            }
        }
        key + tail
    })
}

/// Innocent form fields.
fn form_fields() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z]{1,6}=[a-zA-Z0-9%+]{0,6}", 0..4)
}

/// A separator frameworks split form fields on.
fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("&"), Just(";")]
}

/// `_method` as a JSON key: each character as itself (either case) or a `\u` escape.
fn json_key() -> impl Strategy<Value = String> {
    proptest::collection::vec((any::<bool>(), any::<bool>()), 7).prop_map(|how| {
        let mut key = String::new();
        for (c, (upper, escaped)) in "_method".chars().zip(how) {
            let c = if upper { c.to_ascii_uppercase() } else { c };
            if escaped {
                key.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                key.push(c);
            }
        }
        key
    })
}

/// The `name` parameter of a Content-Disposition naming `_method`, in one of the ways
/// parsers read it.
fn disposition_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name=\"_method\"".to_string()),
        Just("name=_method".to_string()),
        Just("NAME=\"_METHOD\"".to_string()),
        Just("name='_method'".to_string()),
        Just("name = \"_method[]\"".to_string()),
        Just("name*=utf-8''%5Fmethod".to_string()),
        Just("name=\".method\"".to_string()),
        Just("filename=\"f\"; name=\"_Method\"".to_string()),
    ]
}

fn boundary() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9'()+_./:=?-]{1,70}"
}

fn refused(types: &BodyTypes, body: &[u8]) -> bool {
    check_body(types, body, "POST").is_err()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn content_types_never_panic(value in ".{0,80}") {
        let _ = body_types(Some(&value));
    }

    #[test]
    fn bodies_never_panic(body in bytes(300), boundary in boundary()) {
        let types = [
            body_types(None).unwrap(),
            body_types(Some("application/json")).unwrap(),
            body_types(Some("text/plain; x=/json")).unwrap(),
            body_types(Some(&format!("multipart/form-data; boundary=\"{boundary}\""))).unwrap(),
        ];
        for t in &types {
            let _ = check_body(t, &body, "POST");
        }
        let _ = check_form(&body, "POST", "form");
    }

    #[test]
    fn multipart_like_bodies_never_panic(parts in proptest::collection::vec(
        prop_oneof![Just("--b"), Just("\r\n"), Just("\n"), Just("Content-Disposition:"),
                    Just(" name"), Just("*"), Just("="), Just("\""), Just("'"), Just("\\"),
                    Just("--"), Just(";"), Just("_method"), Just("x")], 0..40)) {
        let body = parts.concat();
        let types = body_types(Some("multipart/form-data; boundary=b")).unwrap();
        let _ = check_body(&types, body.as_bytes(), "POST");
    }

    #[test]
    fn a_form_override_is_always_refused(
        before in form_fields(), after in form_fields(), key in form_key(),
        method in proptest::sample::select(OTHER_METHODS), sep in separator(),
    ) {
        let mut fields = before;
        fields.push(format!("{key}={}", method.replace(' ', "+")));
        fields.extend(after);
        let body = fields.join(sep);
        prop_assert!(refused(&body_types(None).unwrap(), body.as_bytes()), "{}", body);
        let form = body_types(Some("application/x-www-form-urlencoded")).unwrap();
        prop_assert!(refused(&form, body.as_bytes()), "{}", body);
    }

    #[test]
    fn a_json_override_is_always_refused(
        before in proptest::collection::vec(("[a-z]{1,5}", 0i32..9), 0..3),
        after in proptest::collection::vec(("[a-z]{1,5}", 0i32..9), 0..3),
        key in json_key(), method in proptest::sample::select(OTHER_METHODS),
        duplicate in any::<bool>(),
    ) {
        let mut members: Vec<String> =
            before.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        if duplicate {
            members.push("\"_method\":\"POST\"".into());
        }
        members.push(format!("\"{key}\":\"{method}\""));
        members.extend(after.iter().map(|(k, v)| format!("\"{k}\": [{v}]")));
        let body = format!("{{{}}}", members.join(","));
        let json = body_types(Some("application/json")).unwrap();
        prop_assert!(refused(&json, body.as_bytes()), "{}", body);
    }

    #[test]
    fn a_multipart_override_is_always_refused(
        boundary in boundary(), name in disposition_name(), lf in any::<bool>(),
        others in proptest::collection::vec("[a-z]{1,6}", 0..3), at in 0usize..4,
        header in prop_oneof![Just("Content-Disposition"), Just("content-disposition"),
                              Just("CONTENT-DISPOSITION")],
    ) {
        let eol = if lf { "\n" } else { "\r\n" };
        let mut fields: Vec<String> = others.iter().map(|o| format!("name=\"{o}\"")).collect();
        fields.insert(at.min(fields.len()), name);
        let mut body = String::new();
        for field in &fields {
            body += &format!("--{boundary}{eol}{header}: form-data; {field}{eol}{eol}v{eol}");
        }
        body += &format!("--{boundary}--{eol}");
        let types = body_types(Some(&format!("multipart/form-data; boundary=\"{boundary}\""))).unwrap();
        prop_assert!(refused(&types, body.as_bytes()), "{}", body);
    }

    #[test]
    fn forms_without_an_override_pass(fields in form_fields(), sep in separator()) {
        let body = fields.join(sep);
        prop_assert!(!refused(&body_types(None).unwrap(), body.as_bytes()), "{}", body);
    }
}
