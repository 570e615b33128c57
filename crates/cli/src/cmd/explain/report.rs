//! What `explain` prints: the request, the route, each stage with its decision and why,
//! and the verdict; as text or as one JSON object.

use crate::chain::Outcome;
use crate::gateway::RouteSpec;
use crate::routes::Matcher;
use portcullis_core::flow::mock::MockHost;
use serde_json::{json, Value};

/// One filter's line in the explanation.
#[derive(Debug, Clone)]
pub struct StageReport {
    filter: String,
    /// `None`: the stage was skipped.
    outcome: Option<Outcome>,
    why: Vec<String>,
}

impl StageReport {
    /// A filter that ran.
    pub fn ran(filter: &str, outcome: Outcome, why: Vec<String>) -> Self {
        StageReport {
            filter: filter.into(),
            outcome: Some(outcome),
            why,
        }
    }

    /// A filter that explain did not run (token checks with `--claims`).
    pub fn skipped(filter: &str, why: Vec<String>) -> Self {
        StageReport {
            filter: filter.into(),
            outcome: None,
            why,
        }
    }

    fn decision(&self) -> &'static str {
        match &self.outcome {
            None => "skipped",
            Some(Outcome::Pass) => "pass",
            Some(Outcome::Answered { .. }) => "answered",
            Some(Outcome::Deny { .. }) => "deny",
            Some(Outcome::Waiting) => "waiting",
        }
    }

    fn to_json(&self) -> Value {
        let mut out = json!({"filter": self.filter, "decision": self.decision(), "why": self.why});
        if let Some(Outcome::Deny {
            status,
            reason,
            detail,
        }) = &self.outcome
        {
            out["status"] = json!(status);
            out["reason"] = json!(reason);
            out["detail"] = json!(detail);
        }
        if let Some(Outcome::Answered { status, body }) = &self.outcome {
            out["status"] = json!(status);
            out["body"] = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
        }
        out
    }
}

/// The whole explanation.
#[derive(Debug, Clone)]
pub struct Report {
    request: Value,
    route: Value,
    /// Every stage, in chain order.
    pub stages: Vec<StageReport>,
    /// Remarks that belong to no stage.
    pub notes: Vec<String>,
    /// Fields the response loses.
    pub hidden: Vec<String>,
    response: Value,
}

impl Report {
    /// An explanation of a request, nothing decided yet.
    pub fn new(method: &str, host: &str, path: &str) -> Self {
        Report {
            request: json!({"method": method, "host": host, "path": path}),
            route: Value::Null,
            stages: Vec::new(),
            notes: Vec::new(),
            hidden: Vec::new(),
            response: Value::Null,
        }
    }

    /// The route the request is on.
    pub fn route(&mut self, spec: &RouteSpec, matcher: &Matcher) {
        let metadata: serde_json::Map<String, Value> =
            crate::cmd::render::hold::route_metadata(spec)
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
        self.route = json!({"name": spec.name, "match": matcher.describe(), "metadata": metadata});
    }

    /// What the response-side filters did to `--response`.
    pub fn response(&mut self, filter: &str, outcome: Option<Outcome>, host: &MockHost) {
        self.response = match outcome {
            Some(Outcome::Deny {
                status,
                reason,
                detail,
            }) => {
                json!({"status": status, "filter": filter, "reason": reason, "detail": detail})
            }
            _ => {
                let body = String::from_utf8_lossy(&host.response_body).to_string();
                json!({"status": 200, "body": serde_json::from_str::<Value>(&body).unwrap_or(json!(body))})
            }
        };
    }

    fn denial(&self) -> Option<(&StageReport, u16, &str, &str)> {
        self.stages.iter().find_map(|s| match &s.outcome {
            Some(Outcome::Deny {
                status,
                reason,
                detail,
            }) => Some((s, *status, reason.as_str(), detail.as_str())),
            _ => None,
        })
    }

    /// True when the request reaches the backend.
    pub fn allowed(&self) -> bool {
        self.stages
            .iter()
            .all(|s| matches!(s.outcome, None | Some(Outcome::Pass)))
    }

    /// True when a filter answered the request itself (the permissions endpoint).
    pub fn answered(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s.outcome, Some(Outcome::Answered { .. })))
    }

    fn verdict(&self) -> Value {
        if let Some((stage, status, reason, detail)) = self.denial() {
            return json!({"decision": "denied", "status": status, "filter": stage.filter, "reason": reason, "detail": detail});
        }
        if let Some(Outcome::Answered { status, .. }) = self.stages.iter().find_map(|s| {
            s.outcome
                .clone()
                .filter(|o| matches!(o, Outcome::Answered { .. }))
        }) {
            return json!({"decision": "answered", "status": status});
        }
        if let Some(stage) = self
            .stages
            .iter()
            .find(|s| matches!(s.outcome, Some(Outcome::Waiting)))
        {
            return json!({"decision": "undecided", "filter": stage.filter, "detail": "waits for the request body, which explain does not send"});
        }
        json!({"decision": "allowed", "hidden_fields": self.hidden})
    }

    /// Prints the explanation.
    pub fn print(&self, as_json: bool) -> Result<(), String> {
        if as_json {
            let mut out = json!({
                "request": self.request, "route": self.route,
                "stages": self.stages.iter().map(StageReport::to_json).collect::<Vec<_>>(),
                "notes": self.notes, "verdict": self.verdict(),
            });
            if !self.response.is_null() {
                out["response"] = self.response.clone();
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            );
            return Ok(());
        }
        let r = &self.request;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        println!(
            "request  {} {} {}",
            text(&r["method"]),
            text(&r["host"]),
            text(&r["path"])
        );
        if self.route.is_null() {
            println!("route    none");
        } else {
            println!(
                "route    {} ({})",
                text(&self.route["name"]),
                text(&self.route["match"])
            );
        }
        for stage in &self.stages {
            let mut head = format!("{:<20} {}", stage.filter, stage.decision());
            if let Some((_, status, reason, detail)) =
                self.denial().filter(|d| d.0.filter == stage.filter)
            {
                head.push_str(&format!(" {status} {reason}: {detail}"));
            }
            println!("{head}");
            for line in &stage.why {
                println!("    {line}");
            }
        }
        for note in &self.notes {
            println!("note: {note}");
        }
        let verdict = self.verdict();
        let line = match text(&verdict["decision"]).as_str() {
            "denied" => format!(
                "denied: {} {} by {}",
                verdict["status"],
                text(&verdict["reason"]),
                text(&verdict["filter"])
            ),
            "answered" => format!("answered by the gateway: {}", verdict["status"]),
            "undecided" => format!(
                "undecided: {} {}",
                text(&verdict["filter"]),
                text(&verdict["detail"])
            ),
            _ if self.hidden.is_empty() => "allowed".to_string(),
            _ => format!("allowed; the response hides {}", self.hidden.join(", ")),
        };
        println!("decision {line}");
        if !self.response.is_null() {
            println!(
                "response {}",
                serde_json::to_string(&self.response).map_err(|e| e.to_string())?
            );
        }
        Ok(())
    }
}
