//! One case through the gateway's chain ([`crate::chain`]): the route chosen as Envoy
//! chooses it, the filters built from the configuration, the request side, and with a
//! `response` the response side; then what the client got, compared with `expect`.

use super::cases::Case;
use super::mint::{self, TestKey};
use crate::chain::{self, Outcome, Quiet};
use crate::gateway::Source;
use portcullis_core::flow::mock::MockHost;
use serde_json::Value;

/// What happened to a case's request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// It reached the backend.
    pub allowed: bool,
    /// What the client got; `None` when it reached the backend and the case gives no
    /// response.
    pub status: Option<u16>,
    /// The body the client got (JSON, or the text as a string), when there is one.
    pub body: Option<Value>,
    /// The request headers the backend received, when it was reached.
    pub upstream: Vec<(String, String)>,
    /// The decision in words (`denied 403 no_matching_grant by portcullis_authz: ...`).
    pub decision: String,
    /// The chain paused for something the in-memory host does not simulate.
    pub undecided: bool,
}

/// Runs `case` through the chain configured by `configs` at time `now`. `Err`: the chain
/// could not be built (a configuration `portcullis check` refuses).
pub fn run(
    source: &Source,
    configs: &[(String, Value)],
    key: &TestKey,
    case: &Case,
    now: u64,
) -> Result<Seen, String> {
    let request = &case.request;
    let mut host = MockHost::request(&request.method, &request.host, &request.path);
    host.now_secs = now;
    for (name, value) in &request.headers {
        host.request_headers
            .push((name.to_ascii_lowercase(), value.clone()));
    }
    if let Some(body) = &request.body {
        host.request_body = bytes(body);
        let length = host.request_body.len().to_string();
        for (name, value) in [
            ("content-type", "application/json"),
            ("content-length", &length),
        ] {
            if host.upstream_header(name).is_none() {
                host.request_headers.push((name.into(), value.into()));
            }
        }
    }
    let route = chain::place_route(source, &mut host, &request.path);
    let mut configs = configs.to_vec();
    let jwt = configs
        .iter_mut()
        .find(|(name, _)| name == "portcullis_jwt");
    match (&case.claims, &case.token, jwt) {
        (Some(claims), _, Some((_, config))) => {
            let claims = mint::complete(config, claims, now);
            let issuer = claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default();
            *config = key.trusted_by(config, issuer);
            let token = key.sign(&claims).map_err(|e| e.to_string())?;
            chain::place_token(Some(config), &mut host, &token);
        }
        (_, Some(token), jwt) => chain::place_token(jwt.map(|(_, c)| &*c), &mut host, token),
        _ => {}
    }
    let run = chain::run_request(&configs, &mut host, &mut Quiet)?;
    if let Some((filter, outcome)) = run.stopped {
        return Ok(stopped(filter, outcome, &host));
    }
    if route.is_none() {
        return Ok(Seen {
            allowed: false,
            status: Some(404),
            body: None,
            upstream: Vec::new(),
            decision: "no route matches: Envoy answers 404".into(),
            undecided: false,
        });
    }
    let upstream = host.request_headers.clone();
    let Some(response) = &case.response else {
        return Ok(Seen {
            allowed: true,
            status: None,
            body: None,
            upstream,
            decision: "reached the backend".into(),
            undecided: false,
        });
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let body = response.body.as_ref().map(bytes).unwrap_or_default();
    let mut stages = run.stages;
    let answered = chain::run_response(&mut host, &mut stages, response.status, &headers, body);
    let mut seen = match answered {
        Some((filter, outcome)) => stopped(filter, outcome, &host),
        None => Seen {
            allowed: true,
            status: Some(response.status),
            body: parse(&host.response_body),
            upstream: Vec::new(),
            decision: format!("reached the backend, which answered {}", response.status),
            undecided: false,
        },
    };
    seen.allowed = true;
    seen.upstream = upstream;
    Ok(seen)
}

/// A JSON value as a body: a string as its text, anything else as compact JSON.
fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

fn parse(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

/// A stage answered in the gateway's place: what the client gets is its local response.
fn stopped(filter: &str, outcome: Outcome, host: &MockHost) -> Seen {
    let body = host.sent.as_ref().and_then(|s| parse(&s.body));
    let (status, decision, undecided) = match outcome {
        Outcome::Deny {
            status,
            reason,
            detail,
        } => (
            Some(status),
            format!("denied {status} {reason} by {filter}: {detail}"),
            false,
        ),
        Outcome::Answered { status, .. } => {
            (Some(status), format!("answered {status} by {filter}"), false)
        }
        Outcome::Waiting | Outcome::Pass => (
            None,
            format!("{filter} waits for something `portcullis test` does not simulate (a remote key set)"),
            true,
        ),
    };
    Seen {
        allowed: false,
        status,
        body,
        upstream: Vec::new(),
        decision,
        undecided,
    }
}

/// What differs between `expect` and what was seen, one phrase each; empty: it passed.
pub fn differences(case: &Case, seen: &Seen) -> Vec<String> {
    let expect = &case.expect;
    let mut out = Vec::new();
    if seen.undecided {
        out.push(format!("undecided: {}", seen.decision));
        return out;
    }
    if expect.allow != seen.allowed {
        out.push(format!(
            "allow: expected {}, got {} ({})",
            expect.allow, seen.allowed, seen.decision
        ));
    }
    if let Some(status) = expect.status {
        match seen.status {
            Some(got) if got == status => {}
            Some(got) => out.push(format!(
                "status: expected {status}, got {got} ({})",
                seen.decision
            )),
            None => out.push(format!(
                "status: expected {status}, got the backend's answer ({}; the case gives no response)",
                seen.decision
            )),
        }
    }
    if let Some(body) = &expect.body {
        if seen.body.as_ref() != Some(body) {
            let got = seen
                .body
                .as_ref()
                .map_or_else(|| "no body".to_string(), |b| short(&b.to_string()));
            out.push(format!(
                "body: expected {}, got {got}",
                short(&body.to_string())
            ));
        }
    }
    for path in &expect.hidden {
        let steps: Vec<&str> = path.split('.').collect();
        if seen.body.as_ref().is_some_and(|b| present(b, &steps)) {
            out.push(format!("hidden: `{path}` is in the body"));
        }
    }
    for (name, expected) in &expect.upstream_headers {
        let name = name.to_ascii_lowercase();
        let got = seen
            .upstream
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str());
        if got != expected.as_deref() {
            let show = |v: Option<&str>| v.map_or_else(|| "none".to_string(), |v| format!("`{v}`"));
            out.push(format!(
                "upstream_headers.{name}: expected {}, got {}",
                show(expected.as_deref()),
                show(got)
            ));
        }
    }
    out
}

/// Whether a dotted path is in `value`; arrays on the way are looked into element by
/// element, `*` is any key, as field filters read paths.
fn present(value: &Value, steps: &[&str]) -> bool {
    let Some((head, rest)) = steps.split_first() else {
        return true;
    };
    match value {
        Value::Array(items) => items.iter().any(|item| present(item, steps)),
        Value::Object(map) if *head == "*" => map.values().any(|v| present(v, rest)),
        Value::Object(map) => map.get(*head).is_some_and(|v| present(v, rest)),
        _ => false,
    }
}

/// At most 400 characters of a value for the one-line report.
fn short(text: &str) -> String {
    const MAX: usize = 400;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::present;
    use serde_json::json;

    #[test]
    fn paths_are_found_through_arrays() {
        let body = json!([{"user": {"name": "a"}}, {"user": {"name": "b", "cpf": "1"}}]);
        assert!(present(&body, &["user", "cpf"]));
        assert!(!present(&body, &["mother"]));
        assert!(present(&body, &["*", "name"]));
    }
}
