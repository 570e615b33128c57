//! `check --openapi`: every operation of the backends' own OpenAPI documents must reach,
//! through the gateway's routing, a route with a requirement for its method and an
//! account binding that fits it. How an operation is routed: its path template, behind the
//! first server's base path, with each parameter given a sample value from its schema,
//! goes through [`crate::routes::select`] (the matcher `explain` and `test` use); the
//! requirement is asked for the method with the core's `for_method` (HEAD served as GET);
//! the binding is read from the sample request with the core's `AccountLocation::extract`.
//!
//! `account: none` (parsed by the core like every binding) declares that the route's data
//! belongs to no account. A route without `account` declares nothing and covers nothing:
//! the account filter refuses it (403 `no_account_binding`).

use super::openapi::{Operation, Parameter, Spec};
use super::Diagnostic;
use crate::gateway::{find_line, RouteSpec, Source};
use portcullis_core::accounts::AccountLocation;
use portcullis_core::route::{MethodRequirement, RouteRequirement};
use serde_json::Value;
use std::collections::HashSet;

/// How many operations there were and how many are covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Operations in all documents.
    pub operations: usize,
    /// Operations covered.
    pub covered: usize,
}

/// An operation's request with sample values: what the gateway would see.
struct Sample {
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    /// The sample value of each parameter, by parameter name.
    values: Vec<(String, String)>,
}

/// Adds an error for every uncovered operation and a warning for every route no operation
/// reaches (but the permissions endpoint, which the gateway answers itself).
pub fn check(source: &Source, specs: &[Spec], out: &mut Vec<Diagnostic>) -> Coverage {
    let routes = &source.gateway.routes;
    let mut reached = HashSet::new();
    let mut coverage = Coverage::default();
    for spec in specs {
        for operation in &spec.operations {
            coverage.operations += 1;
            let sample = sample(&spec.base, operation);
            let name = format!("{} {}", operation.method, operation.template);
            let Some((route, _)) = crate::routes::select(routes, &sample.path) else {
                let message = format!(
                    "no route matches {}: Envoy answers 404, the backend is never reached",
                    sample.path
                );
                out.push(Diagnostic::error(&spec.file, operation.line, name, message));
                continue;
            };
            reached.insert(route.name.as_str());
            let problems = problems(route, operation, &sample);
            if problems.is_empty() {
                coverage.covered += 1;
                continue;
            }
            let message = format!(
                "reaches route `{}`, which {}",
                route.name,
                problems.join("; ")
            );
            out.push(Diagnostic::error(&spec.file, operation.line, name, message));
        }
    }
    let file = source.file.shown();
    let permissions = source
        .filter_json("portcullis_authz")
        .and_then(|c| c.get("permissions_path")?.as_str().map(str::to_string));
    let documents: Vec<&str> = specs.iter().map(|s| s.file.as_str()).collect();
    for route in routes.iter().filter(|r| !reached.contains(r.name.as_str())) {
        if permissions
            .as_deref()
            .is_some_and(|p| route.matcher.path.as_deref() == Some(p))
        {
            continue;
        }
        let line = find_line(
            &source.file.text,
            &["routes", &format!("name: {}", route.name)],
        );
        let message = format!(
            "no operation of {} reaches it (fine if the gateway answers it itself)",
            documents.join(", ")
        );
        out.push(Diagnostic::warning(
            &file,
            line,
            format!("routes[{}]", route.name),
            message,
        ));
    }
    coverage
}

/// What keeps `route` from covering `operation`, one phrase each.
fn problems(route: &RouteSpec, operation: &Operation, sample: &Sample) -> Vec<String> {
    let mut out = Vec::new();
    let method = operation.method.as_str();
    match route.requirement.as_deref().map(RouteRequirement::parse) {
        None => out.push("declares no requirement (the gateway refuses it: 403)".to_string()),
        Some(Err(_)) => out.push("has a requirement that does not parse".to_string()),
        Some(Ok(requirement)) => {
            if let MethodRequirement::MethodNotAllowed = requirement.for_method(method) {
                out.push(format!(
                    "has no requirement for {method} (the gateway refuses it: 403)"
                ));
            }
        }
    }
    match route.account.as_deref().map(str::trim) {
        None => out.push(
            "declares no account binding: say where the account id is, or `account: none`"
                .to_string(),
        ),
        Some(text) => {
            if let Some(problem) = binding(text, operation, sample) {
                out.push(problem);
            }
        }
    }
    out
}

/// Whether the account binding `text` finds its id in a parameter of the operation.
fn binding(text: &str, operation: &Operation, sample: &Sample) -> Option<String> {
    let Ok(location) = AccountLocation::parse(text) else {
        return Some(format!(
            "has an account binding `{text}` that does not parse"
        ));
    };
    if location.is_unbound() {
        return None;
    }
    if location.needs_body() {
        return (!operation.has_body).then(|| {
            format!(
                "reads the account id from the request body (`{text}`), and the operation has none"
            )
        });
    }
    let query = (!sample.query.is_empty()).then_some(sample.query.as_str());
    let path = sample.path.split('?').next().unwrap_or_default();
    match location.extract(path, query, &sample.headers, None) {
        Ok(Some(id)) => {
            let parameter = sample.values.iter().any(|(_, value)| *value == id);
            (!parameter).then(|| {
                format!("reads the account id with `{text}` from `{id}`, a fixed part of the path, not a parameter of the operation")
            })
        }
        Ok(None) => Some(format!(
            "finds no account id with `{text}` in {}: no parameter of the operation is there (the gateway refuses it: 403)",
            operation.template
        )),
        Err(e) => Some(format!("cannot read the account id with `{text}`: {e}")),
    }
}

/// The operation's request with a sample value for each parameter.
fn sample(base: &str, operation: &Operation) -> Sample {
    let mut values: Vec<(String, String)> = Vec::new();
    for (index, parameter) in operation.parameters.iter().enumerate() {
        let mut value = value_for(parameter, index);
        if values.iter().any(|(_, v)| *v == value) {
            value = format!("{value}-{index}");
        }
        values.push((parameter.name.clone(), value));
    }
    let of = |location: &str| -> Vec<(String, String)> {
        operation
            .parameters
            .iter()
            .zip(&values)
            .filter(|(p, _)| p.location == location)
            .map(|(p, (_, v))| (p.name.clone(), v.clone()))
            .collect()
    };
    let mut path = format!("{base}{}", operation.template);
    for (name, value) in of("path") {
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    // Placeholders the document forgot to declare still stand for one segment.
    while let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
        if close < open {
            break;
        }
        path.replace_range(open..=close, "sample");
    }
    let query: Vec<String> = of("query")
        .into_iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    Sample {
        path,
        query: query.join("&"),
        headers: of("header")
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect(),
        values,
    }
}

/// A plain value (letters, digits, `-._~`) fitting the parameter's schema: its example,
/// its first enum value, a number for numbers, a UUID for `format: uuid`, else its name.
fn value_for(parameter: &Parameter, index: usize) -> String {
    let schema = &parameter.schema;
    let given = parameter
        .example
        .as_ref()
        .or_else(|| schema.get("example"))
        .or_else(|| schema.get("examples").and_then(|e| e.get(0)))
        .or_else(|| schema.get("enum").and_then(|e| e.get(0)));
    let plain = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    let text = match given {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(text) = text.filter(|t| plain(t)) {
        return text;
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.iter().any(|t| *t == "integer" || *t == "number") {
        return (index + 1).to_string();
    }
    if schema.get("format").and_then(Value::as_str) == Some("uuid") {
        return format!("00000000-0000-4000-8000-{:012}", index + 1);
    }
    if plain(&parameter.name) {
        parameter.name.clone()
    } else {
        format!("sample{}", index + 1)
    }
}
