//! `@portcullis/permissions`: the gateway's own grant matcher and field-filter parser
//! (`portcullis_core::policy`), compiled with wasm-bindgen for Node and browsers, so that a
//! front end decides exactly as the gateway does.
//!
//! The logic is plain Rust in [`caller`] and [`visibility`] (tested natively); this file
//! only moves values between JavaScript and it. Every failure is a thrown JavaScript
//! `Error` with a message naming the offending input, never a trap: the code has no
//! `unwrap`/`expect`/`panic` (workspace lints), and every argument is type-checked here
//! rather than trusted to the generated glue.

pub mod caller;
pub mod visibility;

use caller::AnswerValue;
use caller::Caller;
use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The body of `GET /.well-known/permissions`, as answered by the gateway. */
export interface PermissionsAnswer {
  subject?: string | null;
  tenant?: string | null;
  /** The caller's effective grants, canonical (`contract:one:read::!{user.cpf,mother}`). */
  grants: string[];
}

/** What a response to a granted requirement shows (see `Permissions.visibility`). */
export interface FieldVisibility {
  /** Dotted paths removed from the response (sorted, no path under another). Each is hidden. */
  hidden: string[];
  /**
   * When a Keep filter (`::{id,source}`) applies: the only paths the response shows (with the
   * objects on the way to them), minus `hidden`. `null` when no Keep filter applies.
   */
  keepOnly: string[] | null;
  /**
   * `false` only when matching grants mix Keep and Remove filters in a way two lists cannot
   * spell; `isHidden` is exact in every case.
   */
  exact: boolean;
}
"#;

/// A caller's effective grants, read from the gateway's permissions endpoint and compiled
/// once with the gateway's matcher. Decide with `can`, `hiddenFields`, `visibility` and
/// `isHidden`.
///
/// ```js
/// const p = Permissions.fromJson(await (await fetch("/.well-known/permissions", {headers})).text());
/// p.can("contract:one:read");            // true
/// p.hiddenFields("contract:one:read");   // ["mother", "user.cpf"]
/// ```
#[wasm_bindgen]
#[derive(Debug)]
pub struct Permissions {
    caller: Caller,
}

#[wasm_bindgen]
impl Permissions {
    /// Reads the body of `GET /.well-known/permissions` (`{"subject", "tenant", "grants"}`),
    /// as text or as the already parsed object. Throws an `Error` when it is not JSON, has no
    /// `grants` array of strings, or a grant is malformed (the message names the grant).
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(
        #[wasm_bindgen(unchecked_param_type = "string | PermissionsAnswer")] answer: JsValue,
    ) -> Result<Permissions, JsError> {
        // JSON.parse rather than serde_json: the engine's parser is already there, and
        // leaving serde_json's out keeps the .wasm about 30 KB smaller.
        let parsed = match answer.as_string() {
            Some(text) => JSON::parse(&text).map_err(|e| {
                let reason = e
                    .dyn_ref::<js_sys::Error>()
                    .and_then(|e| e.message().as_string())
                    .unwrap_or_default();
                JsError::new(&caller::not_json(&reason))
            })?,
            None if answer.is_object() => answer,
            None => {
                return Err(JsError::new(&format!(
                    "permissions answer must be a JSON string or object, got {}",
                    type_of(&answer)
                )))
            }
        };
        Ok(Permissions {
            caller: Caller::from_answer(&Js(parsed)).map_err(|e| JsError::new(&e))?,
        })
    }

    /// Compiles a plain array of grant strings (`["contract:*", "app/sales/*"]`). Throws an
    /// `Error` naming the first malformed grant.
    #[wasm_bindgen(js_name = fromGrants)]
    pub fn from_grants(
        #[wasm_bindgen(unchecked_param_type = "string[]")] grants: JsValue,
    ) -> Result<Permissions, JsError> {
        let grants = string_list(&grants, "grants")?;
        Ok(Permissions {
            caller: Caller::from_grants(grants.iter().map(String::as_str))
                .map_err(|e| JsError::new(&e))?,
        })
    }

    /// The caller's `sub`, as the gateway answered it.
    #[wasm_bindgen(getter)]
    pub fn subject(&self) -> Option<String> {
        self.caller.subject().map(str::to_string)
    }

    /// The caller's tenant, as the gateway answered it.
    #[wasm_bindgen(getter)]
    pub fn tenant(&self) -> Option<String> {
        self.caller.tenant().map(str::to_string)
    }

    /// The grants, in canonical form, de-duplicated, in the gateway's order.
    #[wasm_bindgen(getter)]
    pub fn grants(&self) -> Vec<String> {
        self.caller.grants()
    }

    /// Whether the gateway grants `requirement`: a policy (`contract:all:read`) or a scope
    /// (`br.com.chaordic.cockpit/finance/reports`), matched with exactly the gateway's
    /// wildcard rules. A field-filter suffix (`::!{source}`) is allowed and ignored here.
    /// Throws an `Error` for a malformed requirement or one containing `*`.
    pub fn can(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] requirement: JsValue,
    ) -> Result<bool, JsError> {
        let requirement = string_arg(&requirement, "requirement")?;
        self.caller.can(&requirement).map_err(|e| JsError::new(&e))
    }

    /// The dotted paths the gateway removes from a response to `requirement` (`["mother",
    /// "user.cpf"]`), sorted; empty when the caller sees everything; `undefined` when the
    /// requirement is not granted at all. For Remove filters (`::!{a,b}`) this is exact: the
    /// paths removed by every matching grant (the most permissive grant wins), plus the
    /// requirement's own filter, which always applies. A Keep filter (`::{id,source}`)
    /// removes every field it does not list, which depends on the body, so it is not listed
    /// here: see `visibility(requirement).keepOnly`, or ask `isHidden` about one field.
    #[wasm_bindgen(js_name = hiddenFields)]
    pub fn hidden_fields(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] requirement: JsValue,
    ) -> Result<Option<Vec<String>>, JsError> {
        let requirement = string_arg(&requirement, "requirement")?;
        let visibility = self
            .caller
            .visibility(&requirement)
            .map_err(|e| JsError::new(&e))?;
        Ok(visibility.map(|v| v.hidden))
    }

    /// What a response to `requirement` shows: `{hidden, keepOnly, exact}` (see
    /// `FieldVisibility`), or `undefined` when the requirement is not granted.
    #[wasm_bindgen(unchecked_return_type = "FieldVisibility | undefined")]
    pub fn visibility(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] requirement: JsValue,
    ) -> Result<JsValue, JsError> {
        let requirement = string_arg(&requirement, "requirement")?;
        let Some(v) = self
            .caller
            .visibility(&requirement)
            .map_err(|e| JsError::new(&e))?
        else {
            return Ok(JsValue::UNDEFINED);
        };
        let out = Object::new();
        set(&out, "hidden", &strings(&v.hidden))?;
        let keep = v.keep_only.as_deref().map_or(JsValue::NULL, strings);
        set(&out, "keepOnly", &keep)?;
        set(&out, "exact", &JsValue::from_bool(v.exact))?;
        Ok(out.into())
    }

    /// Whether the field at the concrete dotted `path` (`"mother"`, `"user.cpf"`; no `*`) is
    /// missing from a response to `requirement`, assuming the values on the way to it are
    /// objects. Exact for Remove and Keep filters alike; `true` when the requirement is not
    /// granted. Throws an `Error` for a malformed requirement or path.
    #[wasm_bindgen(js_name = isHidden)]
    pub fn is_hidden(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] requirement: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
    ) -> Result<bool, JsError> {
        let requirement = string_arg(&requirement, "requirement")?;
        let path = string_arg(&path, "path")?;
        self.caller
            .is_hidden(&requirement, &path)
            .map_err(|e| JsError::new(&e))
    }
}

/// Whether `grants` (a plain array of grant strings, e.g. a token's `scopes` claim) grant
/// `requirement`, with exactly the gateway's rules. Throws an `Error` naming the first
/// malformed grant, or for a malformed requirement. To ask many questions of the same
/// grants, compile them once with `Permissions.fromGrants`.
#[wasm_bindgen]
pub fn can(
    #[wasm_bindgen(unchecked_param_type = "string[]")] grants: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] requirement: JsValue,
) -> Result<bool, JsError> {
    let grants = string_list(&grants, "grants")?;
    let requirement = string_arg(&requirement, "requirement")?;
    caller::can(&grants, &requirement).map_err(|e| JsError::new(&e))
}

/// A JavaScript value read as the permissions answer ([`AnswerValue`]).
struct Js(JsValue);

impl AnswerValue for Js {
    fn is_object(&self) -> bool {
        self.0.is_object() && !Array::is_array(&self.0)
    }

    fn member(&self, name: &str) -> Option<Self> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined())
            .map(Js)
    }

    fn items(&self) -> Option<Vec<Self>> {
        Array::is_array(&self.0).then(|| Array::from(&self.0).iter().map(Js).collect())
    }

    fn text(&self) -> Option<String> {
        self.0.as_string()
    }

    fn is_null(&self) -> bool {
        self.0.is_null()
    }

    fn kind(&self) -> String {
        let v = &self.0;
        if v.is_null() {
            "null".into()
        } else if Array::is_array(v) {
            "an array".into()
        } else if v.is_string() {
            "a string".into()
        } else if v.as_f64().is_some() {
            "a number".into()
        } else if v.as_bool().is_some() {
            "a boolean".into()
        } else if v.is_object() {
            "an object".into()
        } else {
            type_of(v)
        }
    }
}

fn string_arg(value: &JsValue, what: &str) -> Result<String, JsError> {
    value
        .as_string()
        .ok_or_else(|| JsError::new(&format!("{what} must be a string, got {}", type_of(value))))
}

fn string_list(value: &JsValue, what: &str) -> Result<Vec<String>, JsError> {
    if !Array::is_array(value) {
        return Err(JsError::new(&format!(
            "{what} must be an array of strings, got {}",
            type_of(value)
        )));
    }
    let array: &Array = value.unchecked_ref();
    array
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_string().ok_or_else(|| {
                JsError::new(&format!(
                    "{what}[{i}] must be a string, got {}",
                    type_of(&v)
                ))
            })
        })
        .collect()
}

fn type_of(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if Array::is_array(value) {
        "array".into()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

fn strings(items: &[String]) -> JsValue {
    items
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(target, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| JsError::new("cannot build the result object"))
}
