//! `portcullis explain`: what the gateway decides for one request, stage by stage. The
//! route is chosen from `gateway.yaml` as Envoy would; then every filter of the chain runs,
//! built from the same configuration, on an in-memory host carrying the request, the route
//! name and the route metadata: the decision is the gateway's own. Each stage is followed
//! by why (see `why.rs`). With `--response`, the response-side filters run on that body.

mod report;
mod why;

use super::Status;
use crate::chain::{self, Outcome};
use crate::gateway::Source;
use clap::Args;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::identity::{Identity, IDENTITY_PROPERTY};
use portcullis_core::route::{AuthMode, MethodRequirement, RouteRequirement};
use report::{Report, StageReport};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Arguments of `portcullis explain`.
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 allowed (or answered by the gateway), 1 denied, 2 usage or I/O error.\n\n\
Examples:\n  \
portcullis explain --claims examples/claims/demo-user.json --host acme.localhost \\\n      \
--path /accounts/demostore/contracts/123-456\n  \
portcullis explain --token \"$(make -s token)\" --host acme.localhost --path /finance/reports --json"
)]
pub struct ExplainArgs {
    /// The gateway's single source of truth.
    #[arg(long, default_value = "gateway.yaml")]
    gateway: PathBuf,
    /// A token, verified by the JWT filter's configuration at the current time (or --now).
    #[arg(long, conflicts_with = "claims")]
    token: Option<String>,
    /// A JSON file of claims taken as verified: token checks are skipped.
    #[arg(long)]
    claims: Option<PathBuf>,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The request's host (`:authority`).
    #[arg(long)]
    host: String,
    /// The request's path, query string included.
    #[arg(long)]
    path: String,
    /// An extra request header, `name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A JSON response body: run the response-side filters on it and show what the client gets.
    #[arg(long, value_name = "FILE")]
    response: Option<PathBuf>,
    /// The clock for token checks, in seconds since the epoch.
    #[arg(long, value_name = "SECONDS")]
    now: Option<u64>,
    /// Print the explanation as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Explains the request; exit 0 when allowed (or answered by the gateway), 1 when denied.
pub fn run(args: &ExplainArgs) -> Result<Status, String> {
    let source = Source::load(&args.gateway).map_err(|e| e.to_string())?;
    let method = args.method.to_ascii_uppercase();
    let mut host = MockHost::request(&method, &args.host, &args.path);
    host.now_secs = match args.now {
        Some(now) => now,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("clock: {e}"))?
            .as_secs(),
    };
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("--header `{header}`: expected `name: value`"))?;
        host.request_headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut report = Report::new(&method, &args.host, &args.path);
    let route = chain::place_route(&source, &mut host, &args.path);
    if let Some((spec, matcher)) = &route {
        report.route(spec, matcher);
    }
    let claims = match &args.claims {
        Some(path) => Some((path.as_path(), read_claims(path)?)),
        None => None,
    };
    if let Some(token) = &args.token {
        let jwt = source.filter_json("portcullis_jwt");
        chain::place_token(jwt.as_ref(), &mut host, token);
    }
    let mut explainer = Explainer {
        report,
        method: method.clone(),
        claims,
    };
    let configs = chain::configs(&source);
    let run = chain::run_request(&configs, &mut host, &mut explainer)?;
    let mut report = explainer.report;
    let mut stages = run.stages;
    let identity_given = args.token.is_some() || args.claims.is_some();
    if identity_given && !source.gateway.filters.contains_key("portcullis_jwt") {
        let note = "no portcullis_jwt among the filters: no identity reaches the other filters";
        report.notes.push(note.into());
    }
    if route.is_none() {
        report.notes.push(
            "no route matches: the filters see no route, and Envoy answers 404 after them".into(),
        );
    }
    if let (Some(path), true) = (&args.response, report.allowed()) {
        let body =
            std::fs::read(path).map_err(|e| format!("--response {}: {e}", path.display()))?;
        let stopped = chain::run_response(&mut host, &mut stages, 200, &[], body);
        match stopped {
            Some((name, outcome)) => report.response(name, Some(outcome), &host),
            None => report.response("", None, &host),
        }
    }
    report.print(args.json)?;
    Ok(if report.allowed() || report.answered() {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// Writes the report while the chain runs: each stage's decision and why.
struct Explainer<'a> {
    report: Report,
    method: String,
    /// `--claims`: the file and its claims, handed on in place of the JWT stage.
    claims: Option<(&'a Path, Map<String, Value>)>,
}

impl chain::Observer for Explainer<'_> {
    fn before(&mut self, name: &str, config: &Value, host: &mut MockHost) -> bool {
        let Some((path, claims)) = &self.claims else {
            return true;
        };
        if name != "portcullis_jwt" {
            return true;
        }
        let why = give_claims(host, config, claims, &self.method, path);
        self.report.stages.push(StageReport::skipped(name, why));
        false
    }

    fn after(&mut self, name: &str, config: &Value, host: &MockHost, outcome: &Outcome) {
        let (why, hidden) = explain_stage(name, host, config, &self.method);
        if !hidden.is_empty() {
            self.report.hidden = hidden;
        }
        let stage = StageReport::ran(name, outcome.clone(), why);
        self.report.stages.push(stage);
    }
}

fn explain_stage(
    name: &str,
    host: &MockHost,
    config: &Value,
    method: &str,
) -> (Vec<String>, Vec<String>) {
    match name {
        "portcullis_jwt" => (why::jwt(host, config, method), Vec::new()),
        "portcullis_tenant" => (why::tenant(host, config), Vec::new()),
        "portcullis_authz" => (why::authz(host, config, method), Vec::new()),
        "portcullis_redact" => why::redact(host),
        "portcullis_accounts" => (why::accounts(host, config), Vec::new()),
        _ => (Vec::new(), Vec::new()),
    }
}

fn read_claims(path: &PathBuf) -> Result<Map<String, Value>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--claims {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("--claims {}: not a JSON object: {e}", path.display()))
}

/// `--claims`: hands the claims on as the JWT filter would after verifying a token, unless
/// the route is public (the filter reads no token there).
fn give_claims(
    host: &mut MockHost,
    config: &Value,
    claims: &Map<String, Value>,
    method: &str,
    path: &Path,
) -> Vec<String> {
    let shown = path.display();
    let mut why = vec![format!(
        "claims from {shown} taken as verified: signature, exp, nbf, iss and aud are not checked"
    )];
    let requirement = why::entry(host, config).and_then(|e| e.requirement);
    let public = requirement.as_deref().and_then(|t| RouteRequirement::parse(t).ok()).is_some_and(|r| {
        matches!(r.for_method(method), MethodRequirement::Applies(req) if req.auth_mode() == AuthMode::Public)
    });
    if public {
        why.push("public route: the filter reads no token, so the claims are ignored".into());
        return why;
    }
    let text = |key: &str| claims.get(key).and_then(Value::as_str).map(str::to_string);
    let identity = Identity {
        provider: "claims-file".into(),
        issuer: text("iss").unwrap_or_default(),
        subject: text("sub"),
        claims: claims.clone(),
    };
    host.properties
        .insert(IDENTITY_PROPERTY.join("."), identity.to_bytes());
    why
}
