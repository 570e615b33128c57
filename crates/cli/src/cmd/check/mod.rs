//! `portcullis check`: validates `gateway.yaml` and its role table with the parsers the
//! filters themselves run at load, so that a configuration `check` accepts is one every
//! filter accepts. Errors name the file, the field and, where it can be found, the line.
//! Warnings point at what parses but is probably a mistake (see `lint.rs`); they fail the
//! check only with `--strict`. With `--openapi`, the backends' own API documents are
//! checked for coverage too (see `coverage.rs`).

mod config;
mod coverage;
mod lint;
mod openapi;

use super::Status;
use crate::gateway::{LoadError, Source};
use clap::Args;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Arguments of `portcullis check`.
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 no errors (and no warnings with --strict), 1 check failed, \
2 usage or I/O error (or an unreadable OpenAPI document).\n\nExamples:\n  \
portcullis check --gateway gateway.yaml --strict\n  \
portcullis check --openapi examples/openapi/demo.yaml"
)]
pub struct CheckArgs {
    /// The gateway's single source of truth.
    #[arg(long, default_value = "gateway.yaml")]
    gateway: PathBuf,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    strict: bool,
    /// Print the findings as one JSON object.
    #[arg(long)]
    json: bool,
    /// A backend's OpenAPI 3.0/3.1 document (YAML or JSON, repeatable): every operation
    /// must reach a route with a requirement for its method and an account binding.
    #[arg(long, value_name = "FILE")]
    openapi: Vec<PathBuf>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The filters would refuse the configuration.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

/// One finding, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as given or relative to `gateway.yaml`.
    pub file: String,
    /// 1-based line, when found.
    pub line: Option<usize>,
    /// The field, dotted (`routes[contract].requirement`, `roles.FINANCEIRO`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// An error.
    pub fn error(
        file: &str,
        line: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A warning.
    pub fn warning(
        file: &str,
        line: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, field, message)
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.line {
            Some(line) => write!(f, "{}:{line}: {severity}: ", self.file)?,
            None => write!(f, "{}: {severity}: ", self.file)?,
        }
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Every finding for a loaded source: errors first, then warnings, each in file order.
pub fn diagnose(source: &Source) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let table = config::policies(source, &mut out);
    config::filters(source, table.is_some(), &mut out);
    config::routes(source, &mut out);
    config::clusters(source, &mut out);
    lint::warnings(source, table.as_ref(), &mut out);
    out.sort_by_key(|d| !d.is_error());
    out
}

/// Runs the check and prints the findings.
pub fn run(args: &CheckArgs) -> Result<Status, String> {
    let specs = args
        .openapi
        .iter()
        .map(|path| openapi::load(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut covered = None;
    let (diagnostics, summary) = match Source::load(&args.gateway) {
        Ok(source) => {
            let summary = format!(
                "{}{}: {} filters, {} routes",
                source.file.shown(),
                source
                    .policies_file
                    .as_ref()
                    .map(|p| format!(" and {}", p.shown()))
                    .unwrap_or_default(),
                source.gateway.filters.len(),
                source.gateway.routes.len(),
            );
            let mut diagnostics = diagnose(&source);
            if !specs.is_empty() {
                covered = Some(coverage::check(&source, &specs, &mut diagnostics));
                diagnostics.sort_by_key(|d| !d.is_error());
            }
            (diagnostics, summary)
        }
        Err(LoadError::Io(message)) => return Err(message),
        Err(LoadError::Invalid {
            file,
            line,
            message,
        }) => (
            vec![Diagnostic::error(&file, line, "", message)],
            file.clone(),
        ),
    };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let ok = errors == 0 && (warnings == 0 || !args.strict);
    if args.json {
        let mut report = serde_json::json!({
            "ok": ok, "errors": errors, "warnings": warnings, "diagnostics": diagnostics,
        });
        if let Some(c) = covered {
            report["openapi"] =
                serde_json::json!({"operations": c.operations, "covered": c.covered});
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        for diagnostic in &diagnostics {
            println!("{diagnostic}");
        }
        let verdict = if ok { "ok" } else { "failed" };
        let coverage = covered
            .map(|c| format!("; {} of {} operation(s) covered", c.covered, c.operations))
            .unwrap_or_default();
        println!("{verdict}: {summary}{coverage}; {errors} error(s), {warnings} warning(s)");
    }
    Ok(if ok { Status::Ok } else { Status::Failed })
}
