//! The JavaScript-facing API compiled to wasm32-unknown-unknown and run under Node by
//! `wasm-bindgen-test-runner` (`make test-js`): the conformance table through the exported
//! functions, and bad input (wrong types, malformed grants, not JSON) as thrown `Error`s
//! with clear messages, never traps.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use js_sys::{Array, Reflect, JSON};
use portcullis_permissions::{can, Permissions};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

const TABLE: &str = include_str!("../../../../tests/fixtures/conformance.json");
const DEMO: &str = r#"{"subject":"u1","tenant":"acme","grants":["contract:one:read::!{user.cpf,mother}","contract:all:read::!{user.cpf,mother}","br.com.chaordic.cockpit/sales/customerServices/*"]}"#;

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

fn s(text: &str) -> JsValue {
    JsValue::from_str(text)
}

fn strings(value: &JsValue) -> Vec<String> {
    Array::from(value)
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect()
}

/// The message of the `Error` a call threw.
fn message<T: std::fmt::Debug>(result: Result<T, JsError>) -> String {
    let error = JsValue::from(result.expect_err("expected an Error"));
    assert!(error.is_instance_of::<js_sys::Error>(), "not an Error");
    get(&error, "message").as_string().unwrap()
}

#[wasm_bindgen_test]
fn the_demo_users_answer() {
    let p = Permissions::from_json(s(DEMO)).unwrap();
    assert_eq!(p.subject().as_deref(), Some("u1"));
    assert_eq!(p.tenant().as_deref(), Some("acme"));
    assert!(p.can(s("contract:one:read")).unwrap());
    assert!(!p.can(s("br.com.chaordic.cockpit/finance/reports")).unwrap());
    assert_eq!(
        p.hidden_fields(s("contract:one:read")).unwrap(),
        Some(vec!["mother".to_string(), "user.cpf".to_string()])
    );
    assert_eq!(p.hidden_fields(s("contract:one:write")).unwrap(), None);
    assert!(p.is_hidden(s("contract:one:read"), s("mother")).unwrap());
    assert!(!p.is_hidden(s("contract:one:read"), s("user.name")).unwrap());
    let v = p.visibility(s("contract:one:read")).unwrap();
    assert_eq!(strings(&get(&v, "hidden")), ["mother", "user.cpf"]);
    assert!(get(&v, "keepOnly").is_null());
    assert_eq!(get(&v, "exact").as_bool(), Some(true));
    assert!(p
        .visibility(s("contract:one:write"))
        .unwrap()
        .is_undefined());
    // The parsed object is accepted too.
    let parsed = JSON::parse(DEMO).unwrap();
    assert_eq!(Permissions::from_json(parsed).unwrap().grants().len(), 3);
}

#[wasm_bindgen_test]
fn the_conformance_table() {
    let table = JSON::parse(TABLE).unwrap();
    let cases = Array::from(&get(&table, "cases"));
    assert!(cases.length() > 100);
    for case in cases.iter() {
        let id = get(&case, "id").as_string().unwrap();
        let grants = get(&case, "grants");
        let requirement = get(&case, "requirement");
        let allow = get(&case, "allow").as_bool().unwrap();
        assert_eq!(
            can(grants.clone(), requirement.clone()).unwrap(),
            allow,
            "{id}"
        );
        let p = Permissions::from_grants(grants).unwrap();
        assert_eq!(p.can(requirement.clone()).unwrap(), allow, "{id}");
        let hidden = get(&case, "hidden");
        let expected = (!hidden.is_null()).then(|| strings(&hidden));
        assert_eq!(p.hidden_fields(requirement).unwrap(), expected, "{id}");
    }
    for m in Array::from(&get(&table, "malformed")).iter() {
        let id = get(&m, "id").as_string().unwrap();
        let text = get(&m, "text");
        let error = get(&m, "error").as_string().unwrap();
        let got = if get(&m, "as").as_string().as_deref() == Some("grant") {
            message(can(Array::of1(&text).into(), s("openid")))
        } else {
            message(can(Array::of1(&s("openid")).into(), text))
        };
        assert!(got.contains(&error), "{id}: `{got}` lacks `{error}`");
    }
}

#[wasm_bindgen_test]
fn bad_input_throws_clear_errors() {
    assert!(message(Permissions::from_json(s("{"))).starts_with("permissions answer is not JSON"));
    assert_eq!(
        message(Permissions::from_json(s("[1]"))),
        "permissions answer must be a JSON object, got an array"
    );
    assert_eq!(
        message(Permissions::from_json(JsValue::from_f64(3.0))),
        "permissions answer must be a JSON string or object, got number"
    );
    assert_eq!(
        message(Permissions::from_json(JsValue::UNDEFINED)),
        "permissions answer must be a JSON string or object, got undefined"
    );
    assert_eq!(
        message(Permissions::from_json(s(r#"{"grants":["app/sales/"]}"#))),
        "grant `app/sales/`: trailing `/` is ambiguous (write `.../*` for everything below, or drop the `/`)"
    );
    assert_eq!(
        message(can(s("contract:*"), s("contract:one:read"))),
        "grants must be an array of strings, got string"
    );
    assert_eq!(
        message(can(JsValue::NULL, s("contract:one:read"))),
        "grants must be an array of strings, got null"
    );
    let mixed = Array::of2(&s("contract:*"), &JsValue::from_f64(1.0));
    assert_eq!(
        message(can(mixed.into(), s("contract:one:read"))),
        "grants[1] must be a string, got number"
    );
    let p = Permissions::from_json(s(DEMO)).unwrap();
    assert_eq!(
        message(p.can(JsValue::UNDEFINED)),
        "requirement must be a string, got undefined"
    );
    assert_eq!(
        message(p.can(s("contract:*"))),
        "requirement `contract:*`: a requirement cannot contain `*`"
    );
    assert_eq!(
        message(p.is_hidden(s("contract:one:read"), s("*.cpf"))),
        "field path `*.cpf`: name a concrete field (no `*`)"
    );
    assert_eq!(
        message(p.hidden_fields(Array::new().into())),
        "requirement must be a string, got array"
    );
    // After all those errors the instance still answers.
    assert!(p.can(s("contract:one:read")).unwrap());
}
