#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the redactor: no panics on any input, valid output on valid input,
//! byte-identical output when nothing matches, agreement with a reference
//! implementation over `serde_json::Value` (keys compared up to case, `json::fold_key`),
//! and no hidden value shown under any spelling of its key.

use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::json::{self, fold_key, DEFAULT_MAX_DEPTH};
use portcullis_core::redact::Redactor;
use proptest::prelude::*;
use serde_json::{Map, Value};
use spellings::spelling;

mod spellings;

/// A value no generated document holds by chance.
const SECRET: &str = "S3CRET-\u{2603}";

/// Keys the generated documents and filters share, so that paths actually match (some
/// in other cases than the paths).
const KEYS: &[&str] = &[
    "a",
    "b",
    "cpf",
    "user",
    "mother",
    "m\u{e3}e",
    "q\"x",
    "tab\tkey",
    "A",
    "CPF",
    "Mother",
    "u\u{17f}er",
    "M\u{c3}E",
];
/// Keys usable in dotted paths.
const PATH_KEYS: &[&str] = &["a", "b", "cpf", "user", "mother", "m\u{e3}e", "*"];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(KEYS).prop_map(str::to_string), 1 => ".{0,6}"]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn dotted_path() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(proptest::sample::select(PATH_KEYS), 1..4)
}

/// Serialised compactly or pretty-printed.
fn text(value: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).unwrap()
    } else {
        serde_json::to_string(value).unwrap()
    }
}

fn filter(mode: FilterMode, paths: &[Vec<&str>]) -> FieldFilter {
    FieldFilter {
        mode,
        paths: paths.iter().map(|p| p.join(".")).collect(),
    }
}

/// Whether object key `k` matches path segment `segment` (a key or `*`).
fn matches(segment: &str, k: &str) -> bool {
    segment == "*" || fold_key(segment) == fold_key(k)
}

/// Reference Remove: arrays entered, `*` any key, every match removed.
fn reference_remove(value: &mut Value, path: &[&str]) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| reference_remove(item, path)),
        Value::Object(map) => match path {
            [] => {}
            ["*"] => map.clear(),
            [only] => map.retain(|k, _| !matches(only, k)),
            [first, rest @ ..] => {
                for (k, child) in map.iter_mut() {
                    if matches(first, k) {
                        reference_remove(child, rest);
                    }
                }
            }
        },
        _ => {}
    }
}

/// Reference Keep: a value on a kept path is kept whole; containers on the way are kept
/// with their visible content; everything else (scalars included) is hidden.
fn reference_keep(value: &Value, paths: &[&[&str]]) -> Option<Value> {
    if paths.iter().any(|p| p.is_empty()) {
        return Some(value.clone());
    }
    match value {
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|i| reference_keep(i, paths))
                .collect(),
        )),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, child) in map {
                let sub: Vec<&[&str]> = paths
                    .iter()
                    .filter(|p| p.first().is_some_and(|f| matches(f, k)))
                    .map(|p| &p[1..])
                    .collect();
                if let Some(kept) = (!sub.is_empty())
                    .then(|| reference_keep(child, &sub))
                    .flatten()
                {
                    out.insert(k.clone(), kept);
                }
            }
            Some(Value::Object(out))
        }
        _ => None,
    }
}

proptest! {
    // Failures are reported, not saved next to the sources.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn redactor_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let redactor = Redactor::compile(&[filter(FilterMode::Remove, &[vec!["a"], vec!["*", "b"]])], &[]).unwrap();
        let _ = redactor.apply(&bytes);
        let keep = Redactor::compile(&[filter(FilterMode::Keep, &[vec!["a"]])], &[]).unwrap();
        let _ = keep.apply(&bytes);
    }

    #[test]
    fn redactor_never_panics_on_json_like_text(s in r#"[\[\]{}",:0-9a-c\\u. eE+-]{0,64}"#) {
        let redactor = Redactor::compile(&[filter(FilterMode::Remove, &[vec!["a"]])], &[]).unwrap();
        if let Ok(out) = redactor.apply(s.as_bytes()) {
            prop_assert!(serde_json::from_slice::<Value>(&out).is_ok(), "accepted {s:?}");
        }
    }

    #[test]
    fn output_of_valid_json_is_valid_json(
        value in json_value(),
        pretty in any::<bool>(),
        remove in proptest::collection::vec(dotted_path(), 0..3),
        keep in proptest::collection::vec(dotted_path(), 0..3),
        grant in proptest::collection::vec(dotted_path(), 0..3),
    ) {
        let input = text(&value, pretty);
        let route = [filter(FilterMode::Remove, &remove), filter(FilterMode::Keep, &keep)];
        let grants = [filter(FilterMode::Remove, &grant)];
        match Redactor::compile(&route, &grants).unwrap().apply(input.as_bytes()) {
            Ok(out) => {
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
                prop_assert!(json::validate(&out, DEFAULT_MAX_DEPTH).is_ok());
            }
            Err(e) => prop_assert!(!value.is_object() && !value.is_array(), "{e}"),
        }
    }

    #[test]
    fn removing_an_absent_path_returns_the_input_byte_identical(value in json_value(), pretty in any::<bool>()) {
        let input = text(&value, pretty);
        let redactor = Redactor::compile(&[filter(FilterMode::Remove, &[vec!["absent"], vec!["*", "absent"]])], &[]).unwrap();
        prop_assert_eq!(redactor.apply(input.as_bytes()).unwrap(), input.into_bytes());
    }

    #[test]
    fn removal_agrees_with_serde_json(value in json_value(), pretty in any::<bool>(), path in dotted_path()) {
        let input = text(&value, pretty);
        let out = Redactor::compile(&[filter(FilterMode::Remove, std::slice::from_ref(&path))], &[]).unwrap().apply(input.as_bytes()).unwrap();
        let mut expected: Value = serde_json::from_str(&input).unwrap();
        reference_remove(&mut expected, &path);
        prop_assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), expected);
    }

    #[test]
    fn keeping_agrees_with_the_reference(value in json_value(), paths in proptest::collection::vec(dotted_path(), 1..4)) {
        let input = text(&value, false);
        let result = Redactor::compile(&[filter(FilterMode::Keep, &paths)], &[]).unwrap().apply(input.as_bytes());
        let parsed: Value = serde_json::from_str(&input).unwrap();
        let slices: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
        match reference_keep(&parsed, &slices) {
            Some(expected) => prop_assert_eq!(serde_json::from_slice::<Value>(&result.unwrap()).unwrap(), expected),
            None => prop_assert!(result.is_err()),
        }
    }

    #[test]
    fn a_hidden_key_in_any_spelling_never_shows_its_value(
        mother in spelling("mother"),
        again in spelling("mother"),
        user in spelling("user"),
        cpf in spelling("cpf"),
        noise in json_value(),
        reverse in any::<bool>(),
        in_array in any::<bool>(),
    ) {
        let secret = format!("{:?}", SECRET);
        let mut members = [
            format!("{mother}:{secret}"),
            format!("{user}:{{\"name\":\"n\",{cpf}:{secret}}}"),
            format!("\"noise\":{}", text(&noise, false)),
            format!("{again}:{{\"name\":{secret}}}"),
        ];
        if reverse {
            members.reverse();
        }
        let object = format!("{{{}}}", members.join(","));
        let body = if in_array { format!("[{object},{object}]") } else { object };
        let redactor = Redactor::compile(&[], &[filter(FilterMode::Remove, &[vec!["user", "cpf"], vec!["mother"]])]).unwrap();
        let out = String::from_utf8(redactor.apply(body.as_bytes()).unwrap()).unwrap();
        prop_assert!(!out.contains(SECRET), "{body} -> {out}");
        prop_assert!(out.contains("\"name\":\"n\"") && out.contains("\"noise\""), "{out}");
        prop_assert!(serde_json::from_str::<Value>(&out).is_ok());
    }

    #[test]
    fn a_keep_filter_keeps_any_spelling_of_a_listed_key_and_nothing_else(
        id in spelling("id"),
        source in spelling("source"),
        other in key(),
    ) {
        prop_assume!(!["id", "source"].contains(&fold_key(&other).as_str()));
        let body = format!(r#"{{{id}:"kept-1",{}:{:?},{source}:"kept-2"}}"#, serde_json::to_string(&other).unwrap(), SECRET);
        let redactor = Redactor::compile(&[filter(FilterMode::Keep, &[vec!["id"], vec!["source"]])], &[]).unwrap();
        let out = String::from_utf8(redactor.apply(body.as_bytes()).unwrap()).unwrap();
        prop_assert!(out.contains("kept-1") && out.contains("kept-2"), "{body} -> {out}");
        prop_assert!(!out.contains(SECRET), "{body} -> {out}");
    }
}
