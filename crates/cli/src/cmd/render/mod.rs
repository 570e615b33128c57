//! `portcullis render <target>`: turns `gateway.yaml` and the role table into a gateway's
//! own configuration. One module per target; each builds `serde_json::Value`s with keys
//! in a fixed order, and this module writes them as YAML under a header saying how they
//! were made, so the output is byte-for-byte reproducible. The configuration is checked
//! first (the errors of `portcullis check`): a configuration the filters would refuse is
//! never rendered.
//!
//! Two kinds of target: single-file ones (`envoy`, `kong`: one document, to `--out` or
//! standard output) and deployment bundles (`ecds`, `istio`, `envoy-gateway`, `compose`:
//! several files written under `--out-dir`, by default `deploy/<target>/`).

pub mod compose;
pub mod ecds;
pub mod envoy;
pub mod envoy_gateway;
pub mod hold;
pub mod istio;
pub mod k8s;
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
    /// Envoy with every filter configured through ECDS from a watched folder (deploy/ecds/).
    Ecds(BundleArgs),
    /// Istio WasmPlugin manifests, one per filter (deploy/istio/).
    Istio(BundleArgs),
    /// Envoy Gateway: Gateway, HTTPRoute and EnvoyExtensionPolicy (deploy/envoy-gateway/).
    EnvoyGateway(BundleArgs),
    /// Docker Compose: the official Envoy image, the filters and the sample backend
    /// (deploy/compose/).
    Compose(BundleArgs),
}

/// Arguments of the deployment bundles.
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 rendered, 1 the configuration has errors (see `portcullis check`), \
2 usage or I/O error.\n\nExamples:\n  portcullis render istio\n  portcullis render ecds --out-dir /tmp/ecds"
)]
pub struct BundleArgs {
    /// The gateway's single source of truth.
    #[arg(long, default_value = "gateway.yaml")]
    gateway: PathBuf,
    /// Write the files here (created if missing); default `deploy/<target>`.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// The image digests the manifests pin (written by `portcullis oci`).
    #[arg(long, default_value = "deploy/digests.json")]
    pub digests: PathBuf,
}

/// One file of a bundle: its path under the output folder and its YAML documents
/// (several documents are written separated by `---`).
pub struct BundleFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// The documents, in order.
    pub documents: Vec<Value>,
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
            Target::Ecds(_) => "ecds",
            Target::Istio(_) => "istio",
            Target::EnvoyGateway(_) => "envoy-gateway",
            Target::Compose(_) => "compose",
        }
    }

    fn gateway(&self) -> &Path {
        match self {
            Target::Envoy(args) | Target::Kong(args) => &args.gateway,
            Target::Ecds(args)
            | Target::Istio(args)
            | Target::EnvoyGateway(args)
            | Target::Compose(args) => &args.gateway,
        }
    }

    /// What a bundle file says about itself under the header (why it is made that way,
    /// what `make test` checks of it), for the targets that say something.
    fn file_comment(&self, path: &str) -> Option<&'static str> {
        match self {
            Target::Istio(_) => istio::comment(path),
            Target::EnvoyGateway(_) => envoy_gateway::comment(path),
            _ => None,
        }
    }

    /// The output file the repository keeps for a single-file target.
    fn default_file(&self) -> &'static str {
        match self {
            Target::Kong(_) => "kong/kong.yaml",
            _ => "envoy.yaml",
        }
    }
}

/// Renders the target's configuration to `--out`/`--out-dir` or standard output.
pub fn run(args: &RenderArgs) -> Result<Status, String> {
    let target = &args.target;
    let gateway = target.gateway();
    let source = match Source::load(gateway) {
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
    let header = |regenerate: &str| {
        let gateway_name = gateway
            .file_name()
            .map_or_else(|| "gateway.yaml".into(), |n| n.to_string_lossy());
        let inputs = match source.policies_name() {
            Some(policies) => format!("{gateway_name} and {policies}"),
            None => gateway_name.to_string(),
        };
        let name = target.name();
        format!(
            "# Rendered from {inputs} by `portcullis render {name}`; do not edit by hand.\n\
             # Regenerate with: portcullis render {name}{regenerate}\n"
        )
    };
    let (options, value) = match target {
        Target::Envoy(options) => (options, envoy::render(&source)?),
        Target::Kong(options) => (options, kong::render(&source)?),
        Target::Ecds(bundle) => {
            return write_bundle(target, bundle, ecds::render(&source, bundle)?, header)
        }
        Target::Istio(bundle) => {
            return write_bundle(target, bundle, istio::render(&source, bundle)?, header)
        }
        Target::EnvoyGateway(bundle) => {
            return write_bundle(
                target,
                bundle,
                envoy_gateway::render(&source, bundle)?,
                header,
            )
        }
        Target::Compose(bundle) => {
            return write_bundle(target, bundle, compose::render(&source, bundle)?, header)
        }
    };
    let file = target.default_file();
    let text = header(&format!(" --out {file}")) + &to_yaml(&value)?;
    match &options.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("--out {}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(Status::Ok)
}

/// Writes a bundle's files under `--out-dir` (default `deploy/<target>`), each with the
/// header, documents separated by `---`.
fn write_bundle(
    target: &Target,
    args: &BundleArgs,
    files: Vec<BundleFile>,
    header: impl Fn(&str) -> String,
) -> Result<Status, String> {
    let default_dir = PathBuf::from("deploy").join(target.name());
    let dir = args.out_dir.clone().unwrap_or(default_dir);
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("--out-dir {}: {e}", parent.display()))?;
        }
        // The command as the repository runs it: its default folder needs no option.
        let mut text = header("");
        if let Some(comment) = target.file_comment(&file.path) {
            for line in comment.lines() {
                text.push_str(&format!("# {line}\n"));
            }
        }
        for (index, document) in file.documents.iter().enumerate() {
            if index > 0 {
                text.push_str("---\n");
            }
            text.push_str(&to_yaml(document)?);
        }
        write_replacing(&path, &text)?;
        println!("{}", path.display());
    }
    Ok(Status::Ok)
}

/// Writes `path` by renaming a finished temporary file in the same folder over it: a
/// reader never sees half a file, and a watcher of the folder sees a move (Envoy's ECDS
/// `watched_directory` reloads only on a move; writing in place is ignored).
fn write_replacing(path: &Path, text: &str) -> Result<(), String> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&temporary, text).map_err(|e| format!("{}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One YAML document.
fn to_yaml(value: &Value) -> Result<String, String> {
    crate::yaml::to_string(value)
}
