//! `portcullis render <target>`: turns `gateway.yaml` and the role table into a gateway's
//! own configuration. One module per target; each builds a `serde_json::Value` with keys
//! in a fixed order, and this module writes it as YAML under a header saying how it was
//! made, so the output is byte-for-byte reproducible. The configuration is checked first
//! (the errors of `portcullis check`): a configuration the filters would refuse is never
//! rendered.

pub mod envoy;
pub mod hold;
pub mod kong;

use super::{check, Status};
use crate::gateway::{LoadError, Source};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Arguments of `portcullis render`.
#[derive(Args)]
pub struct RenderArgs {
    #[command(subcommand)]
    target: Target,
}

/// The gateways `render` knows.
#[derive(Subcommand)]
enum Target {
    /// Envoy static configuration (the repository's envoy.yaml).
    Envoy(TargetArgs),
    /// Kong 3.x declarative configuration with filter chains (kong/kong.yaml).
    Kong(TargetArgs),
}

/// Arguments every target takes.
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 rendered, 1 the configuration has errors (see `portcullis check`), \
2 usage or I/O error.\n\nExamples:\n  portcullis render envoy --out envoy.yaml\n  portcullis render kong --out kong/kong.yaml"
)]
struct TargetArgs {
    /// The gateway's single source of truth.
    #[arg(long, default_value = "gateway.yaml")]
    gateway: PathBuf,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl Target {
    /// The target's name, as typed after `render`.
    fn name(&self) -> &'static str {
        match self {
            Target::Envoy(_) => "envoy",
            Target::Kong(_) => "kong",
        }
    }

    fn args(&self) -> &TargetArgs {
        match self {
            Target::Envoy(args) | Target::Kong(args) => args,
        }
    }

    fn build(&self, source: &Source) -> Result<Value, String> {
        match self {
            Target::Envoy(_) => envoy::render(source),
            Target::Kong(_) => kong::render(source),
        }
    }

    /// The output file the repository keeps for this target.
    fn default_file(&self) -> &'static str {
        match self {
            Target::Envoy(_) => "envoy.yaml",
            Target::Kong(_) => "kong/kong.yaml",
        }
    }
}

/// Renders the target's configuration to `--out` or standard output.
pub fn run(args: &RenderArgs) -> Result<Status, String> {
    let target = &args.target;
    let options = target.args();
    let source = match Source::load(&options.gateway) {
        Ok(source) => source,
        Err(LoadError::Io(message)) => return Err(message),
        Err(invalid) => {
            eprintln!("error: {invalid}");
            return Ok(Status::Failed);
        }
    };
    let errors: Vec<_> = check::diagnose(&source)
        .into_iter()
        .filter(check::Diagnostic::is_error)
        .collect();
    if !errors.is_empty() {
        for error in &errors {
            eprintln!("{error}");
        }
        eprintln!(
            "portcullis: not rendered: {} error(s); see `portcullis check`",
            errors.len()
        );
        return Ok(Status::Failed);
    }
    let value = target.build(&source)?;
    let text = to_yaml(target, &source, &options.gateway, &value)?;
    match &options.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("--out {}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(Status::Ok)
}

/// The file's text: a header naming its inputs and the command, then the YAML.
fn to_yaml(
    target: &Target,
    source: &Source,
    gateway: &Path,
    value: &Value,
) -> Result<String, String> {
    let body = serde_yaml::to_string(value).map_err(|e| format!("writing yaml: {e}"))?;
    let gateway_name = gateway
        .file_name()
        .map_or_else(|| "gateway.yaml".into(), |n| n.to_string_lossy());
    let inputs = match source.policies_name() {
        Some(policies) => format!("{gateway_name} and {policies}"),
        None => gateway_name.to_string(),
    };
    let (name, file) = (target.name(), target.default_file());
    Ok(format!(
        "# Rendered from {inputs} by `portcullis render {name}`; do not edit by hand.\n\
         # Regenerate with: portcullis render {name} --out {file}\n{body}"
    ))
}
