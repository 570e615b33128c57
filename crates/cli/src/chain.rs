//! The filter chain of `gateway.yaml`, built with each filter's own `from_json` on the JSON
//! the gateway gets, and driven through the core's in-memory host ([`MockHost`]) callback by
//! callback, in Envoy's order: every request-headers callback in chain order, then (with a
//! body) every request-body callback; on the way back every response-headers callback in
//! reverse order, then every response-body callback. `explain` and `test` both run
//! requests through it, so what they report is what the code the gateway runs decides.

use crate::gateway::{RouteSpec, Source};
use crate::routes::Matcher;
use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::tenant::TenantFilter;
use portcullis_core::flow::{Action, Filter};
use serde_json::Value;

/// One filter with its per-request state.
pub trait Stage {
    /// The filter's name (`portcullis_jwt`).
    fn name(&self) -> &'static str;
    /// Runs the request-headers callback; `end_of_stream` when the request has no body.
    fn request(&mut self, host: &mut MockHost, end_of_stream: bool) -> Action;
    /// Runs the request-body callback on the whole body in `host`.
    fn request_body(&mut self, host: &mut MockHost) -> Action;
    /// Runs the response-headers callback on the response in `host`.
    fn response_headers(&mut self, host: &mut MockHost) -> Action;
    /// Runs the response-body callback on the whole body in `host`.
    fn response_body(&mut self, host: &mut MockHost) -> Action;
}

struct Running<F: Filter> {
    filter: F,
    stream: F::Stream,
}

impl<F: Filter> Stage for Running<F> {
    fn name(&self) -> &'static str {
        self.filter.name()
    }

    fn request(&mut self, host: &mut MockHost, end_of_stream: bool) -> Action {
        self.filter
            .on_request_headers(&mut self.stream, host, end_of_stream)
    }

    fn request_body(&mut self, host: &mut MockHost) -> Action {
        let size = host.request_body.len();
        self.filter
            .on_request_body(&mut self.stream, host, size, true)
    }

    fn response_headers(&mut self, host: &mut MockHost) -> Action {
        let empty = host.response_body.is_empty();
        self.filter
            .on_response_headers(&mut self.stream, host, empty)
    }

    fn response_body(&mut self, host: &mut MockHost) -> Action {
        let size = host.response_body.len();
        self.filter
            .on_response_body(&mut self.stream, host, size, true)
    }
}

fn running<F: Filter + 'static>(filter: F) -> Box<dyn Stage> {
    Box::new(Running {
        filter,
        stream: F::Stream::default(),
    })
}

/// Each filter's name and JSON configuration, in chain order, exactly as the gateway gets
/// them ([`Source::filter_json`]).
pub fn configs(source: &Source) -> Vec<(String, Value)> {
    source
        .gateway
        .filters
        .keys()
        .map(|name| {
            (
                name.clone(),
                source.filter_json(name).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Builds filter `name` from `config`, as the gateway does at load.
pub fn build(name: &str, config: &Value) -> Result<Box<dyn Stage>, String> {
    let bytes = config.to_string().into_bytes();
    let bad = |e: String| format!("filters.{name}: {e} (see `portcullis check`)");
    Ok(match name {
        "portcullis_jwt" => running(JwtFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_tenant" => running(TenantFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_authz" => running(AuthzFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_redact" => running(RedactFilter::from_json(&bytes).map_err(bad)?),
        "portcullis_accounts" => running(AccountsFilter::from_json(&bytes).map_err(bad)?),
        _ => return Err(format!("filters.{name}: unknown filter")),
    })
}

/// Chooses the route for `raw_path` as Envoy does ([`crate::routes::select`]) and gives
/// the host what Envoy gives the filters: the route's name (`xds.route_name`) and its
/// rendered metadata (`xds.route_metadata.filter_metadata.portcullis.*`, the request
/// hold's marker included). `None`: no route matches.
pub fn place_route<'a>(
    source: &'a Source,
    host: &mut MockHost,
    raw_path: &str,
) -> Option<(&'a RouteSpec, Matcher)> {
    let (spec, matcher) = crate::routes::select(&source.gateway.routes, raw_path)?;
    host.properties
        .insert("xds.route_name".into(), spec.name.clone().into_bytes());
    for (key, value) in crate::cmd::render::hold::route_metadata(spec) {
        let property = format!("xds.route_metadata.filter_metadata.portcullis.{key}");
        host.properties.insert(property, value.into_bytes());
    }
    Some((spec, matcher))
}

/// Puts `token` where the JWT filter configured by `jwt` looks first (its first `sources`
/// entry; `Authorization: Bearer` by default).
pub fn place_token(jwt: Option<&Value>, host: &mut MockHost, token: &str) {
    let first = jwt.and_then(|c| c.get("sources")).and_then(|s| s.get(0));
    let text = |key: &str| {
        first
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(cookie) = text("cookie") {
        host.request_headers
            .push(("cookie".into(), format!("{cookie}={token}")));
    } else if let Some(query) = text("query") {
        if let Some((_, path)) = host.request_headers.iter_mut().find(|(n, _)| n == ":path") {
            let separator = if path.contains('?') { '&' } else { '?' };
            path.push_str(&format!("{separator}{query}={token}"));
        }
    } else {
        let header = text("header").unwrap_or_else(|| "authorization".into());
        let prefix = if first.is_some() {
            text("prefix").unwrap_or_default()
        } else {
            "Bearer ".into()
        };
        host.request_headers
            .push((header.to_ascii_lowercase(), format!("{prefix}{token}")));
    }
}

/// Watches the request side stage by stage (`explain` writes its report from it).
pub trait Observer {
    /// Before stage `name` is built: `false` leaves it out (explain's `--claims`).
    fn before(&mut self, _name: &str, _config: &Value, _host: &mut MockHost) -> bool {
        true
    }
    /// After a request callback of stage `name` ran.
    fn after(&mut self, _name: &str, _config: &Value, _host: &MockHost, _outcome: &Outcome) {}
}

/// An observer that watches nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// What the request side did.
pub struct RequestRun {
    /// The stages that ran, in chain order (for the response side).
    pub stages: Vec<Box<dyn Stage>>,
    /// The stage that ended the request and how, or `None` when it reaches the backend.
    pub stopped: Option<(&'static str, Outcome)>,
}

/// Runs the request side of the chain configured by `configs` on the request in `host`;
/// with `host.request_body` non-empty, the headers callbacks are told a body follows and
/// the body callbacks run after them. The first stage that does not pass ends it.
pub fn run_request(
    configs: &[(String, Value)],
    host: &mut MockHost,
    observer: &mut dyn Observer,
) -> Result<RequestRun, String> {
    let has_body = !host.request_body.is_empty();
    let mut run = RequestRun {
        stages: Vec::new(),
        stopped: None,
    };
    let mut used = Vec::new();
    for (name, config) in configs {
        if !observer.before(name, config, host) {
            continue;
        }
        let mut stage = build(name, config)?;
        let action = stage.request(host, !has_body);
        let result = outcome(host, action);
        observer.after(name, config, host, &result);
        let name = stage.name();
        run.stages.push(stage);
        used.push(config);
        if result != Outcome::Pass {
            run.stopped = Some((name, result));
            return Ok(run);
        }
    }
    if has_body {
        for (stage, config) in run.stages.iter_mut().zip(used) {
            let action = stage.request_body(host);
            let result = outcome(host, action);
            observer.after(stage.name(), config, host, &result);
            if result != Outcome::Pass {
                run.stopped = Some((stage.name(), result));
                break;
            }
        }
    }
    Ok(run)
}

/// Runs the response side on the backend's answer (`status`, `headers`, `body`) through
/// `stages` in Envoy's order (the chain reversed). Returns the stage that answered instead
/// (a 502 for a leak) and how, or `None`: the client gets the response left in `host`.
pub fn run_response(
    host: &mut MockHost,
    stages: &mut [Box<dyn Stage>],
    status: u16,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Option<(&'static str, Outcome)> {
    host.response_headers = vec![(":status".into(), status.to_string())];
    if !headers.iter().any(|(n, _)| n == "content-type") {
        host.response_headers
            .push(("content-type".into(), "application/json".into()));
    }
    host.response_headers.extend(headers.iter().cloned());
    host.response_headers
        .push(("content-length".into(), body.len().to_string()));
    host.response_body = body;
    for stage in stages.iter_mut().rev() {
        let action = stage.response_headers(host);
        let result = outcome(host, action);
        if matches!(result, Outcome::Deny { .. } | Outcome::Answered { .. }) {
            return Some((stage.name(), result));
        }
    }
    for stage in stages.iter_mut().rev() {
        let action = stage.response_body(host);
        let result = outcome(host, action);
        if matches!(result, Outcome::Deny { .. } | Outcome::Answered { .. }) {
            return Some((stage.name(), result));
        }
    }
    None
}

/// What a callback did to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed on to the next filter.
    Pass,
    /// The filter answered itself with a non-error (the permissions endpoint).
    Answered {
        /// Status sent.
        status: u16,
        /// Body sent.
        body: String,
    },
    /// Refused.
    Deny {
        /// Status sent.
        status: u16,
        /// Stable reason.
        reason: String,
        /// The decision log's detail.
        detail: String,
    },
    /// Paused without answering: it needs something the in-memory host does not simulate
    /// (a remote key set fetched through the gateway).
    Waiting,
}

/// Reads what a callback did from the host: a local response (and its decision log
/// line), a pause, or nothing.
pub fn outcome(host: &MockHost, action: Action) -> Outcome {
    let Some(sent) = &host.sent else {
        return match action {
            Action::Continue => Outcome::Pass,
            Action::Pause => Outcome::Waiting,
        };
    };
    let body = String::from_utf8_lossy(&sent.body).to_string();
    if sent.status < 400 {
        return Outcome::Answered {
            status: sent.status,
            body,
        };
    }
    let line = host
        .logs
        .borrow()
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("decision").and_then(Value::as_str) == Some("deny"));
    let field = |key: &str| {
        line.as_ref()
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Outcome::Deny {
        status: sent.status,
        reason: field("reason"),
        detail: field("detail"),
    }
}
