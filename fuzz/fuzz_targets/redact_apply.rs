//! `redact::Redactor::apply` with fixed filters (the demo's `!{user.cpf,mother}`, a keep
//! filter, wildcards, and route + grant combinations). Invariants: no panic; the output
//! is valid JSON; redacting the output again changes nothing; and, read back by
//! serde_json (keys unescaped, as a client reads them), no hidden field is left under any
//! spelling a case-insensitive client binds to it (keys compared with `json::fold_key`),
//! in objects at any depth of arrays on the way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::json;
use portcullis_core::redact::Redactor;
use serde_json::Value;
use std::sync::OnceLock;

static REDACTORS: OnceLock<Vec<(Redactor, Vec<&'static [&'static str]>)>> = OnceLock::new();

fn filter(mode: FilterMode, paths: &[&str]) -> FieldFilter {
    FieldFilter {
        mode,
        paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

/// Each redactor with the paths that must be absent from its output.
fn redactors() -> Vec<(Redactor, Vec<&'static [&'static str]>)> {
    use FilterMode::{Keep, Remove};
    let demo = filter(Remove, &["user.cpf", "mother"]);
    let build = |route: &[FieldFilter], grants: &[FieldFilter]| {
        Redactor::compile(route, grants).expect("fixed filters compile")
    };
    vec![
        (
            build(&[], &[demo.clone()]),
            vec![&["user", "cpf"][..], &["mother"][..]],
        ),
        (
            build(&[filter(Keep, &["id", "source", "user.name"])], &[]),
            vec![&["mother"][..], &["user", "cpf"][..]],
        ),
        (
            build(&[filter(Remove, &["items.*.secret", "*.password"])], &[]),
            vec![&["items", "*", "secret"][..], &["*", "password"][..]],
        ),
        (
            build(
                &[filter(Remove, &["mother"])],
                &[demo.clone(), filter(Keep, &["id", "user"])],
            ),
            vec![&["mother"][..]],
        ),
        (
            build(&[], &[demo, filter(Remove, &["user.cpf"])]),
            vec![&["user", "cpf"][..]],
        ),
    ]
}

/// `path` must not be present in `v` (arrays on the way are entered, `*` is any key, keys
/// match up to case).
fn assert_absent(v: &Value, path: &[&str], input: &[u8]) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| assert_absent(i, path, input)),
        Value::Object(map) => {
            let Some((head, rest)) = path.split_first() else {
                return;
            };
            for (k, child) in map {
                if *head == "*" || json::fold_key(k) == json::fold_key(head) {
                    assert!(
                        !rest.is_empty(),
                        "hidden field {k:?} survived in {:?}",
                        String::from_utf8_lossy(input)
                    );
                    assert_absent(child, rest, input);
                }
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    for (redactor, hidden) in REDACTORS.get_or_init(redactors) {
        let Ok(out) = redactor.apply(data) else {
            continue;
        };
        json::validate(&out, json::DEFAULT_MAX_DEPTH).expect("redacted body is not valid JSON");
        let again = redactor
            .apply(&out)
            .expect("redacted body does not redact again");
        assert_eq!(again, out, "redaction is not idempotent");
        if let Ok(value) = serde_json::from_slice::<Value>(&out) {
            for path in hidden {
                assert_absent(&value, path, data);
            }
        }
    }
});
