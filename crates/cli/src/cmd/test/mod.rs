//! `portcullis test FILE...`: policy cases as data (docs/policy-tests.md), each run through
//! the gateway's own chain ([`crate::chain`], shared with `explain`) on the configuration
//! of `gateway.yaml`, and compared with what the case expects. One line per failing case
//! naming what differed, then `N passed, M failed`; `--junit` writes JUnit XML too.

mod cases;
mod junit;
mod mint;
mod run;

use super::Status;
use crate::gateway::Source;
use clap::Args;
use junit::{CaseResult, SuiteResult};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Arguments of `portcullis test`.
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 every case passed, 1 a case failed, 2 a malformed case file, \
usage or I/O error.\n\nExamples:\n  portcullis test policies/tests\n  \
portcullis test policies/tests/demo.yaml --now 1800000000 --junit build/policy-tests.xml"
)]
pub struct TestArgs {
    /// Case files, or folders whose .yaml, .yml and .json files are case files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The gateway's single source of truth.
    #[arg(long, default_value = "gateway.yaml")]
    gateway: PathBuf,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// The clock for token checks, in seconds since the epoch (default: now).
    #[arg(long, value_name = "SECONDS")]
    now: Option<u64>,
}

/// Runs every case of every file; exit 0 when all pass, 1 when one fails.
pub fn run(args: &TestArgs) -> Result<Status, String> {
    let source = Source::load(&args.gateway).map_err(|e| e.to_string())?;
    let configs = crate::chain::configs(&source);
    let providers = source
        .filter_json("portcullis_jwt")
        .and_then(|jwt| jwt.get("providers")?.as_array().map(Vec::len))
        .unwrap_or(0);
    let files = expand(&args.files).map_err(|e| e.to_string())?;
    // Every file is read and checked before any case runs: a malformed one stops the run.
    let loaded = files
        .iter()
        .map(|path| cases::load(path, providers))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let now = match args.now {
        Some(now) => now,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("clock: {e}"))?
            .as_secs(),
    };
    let key = mint::TestKey::generate().map_err(|e| e.to_string())?;
    let mut suites = Vec::new();
    for file in &loaded {
        let mut results = Vec::new();
        for case in &file.cases {
            let started = Instant::now();
            let seen = run::run(&source, &configs, &key, case, now)?;
            let differences = run::differences(case, &seen);
            let failure = (!differences.is_empty()).then(|| differences.join("; "));
            if let Some(failure) = &failure {
                println!("FAIL {}: {}: {failure}", file.file, case.name);
            }
            results.push(CaseResult {
                name: case.name.clone(),
                failure,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        suites.push(SuiteResult {
            file: file.file.clone(),
            cases: results,
        });
    }
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failed: usize = suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| c.failure.is_some())
        .count();
    println!("{} passed, {failed} failed", total - failed);
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&suites))
            .map_err(|e| format!("--junit {}: {e}", path.display()))?;
    }
    Ok(if failed == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// The case files named on the command line: files as given, folders as the `.yaml`,
/// `.yml` and `.json` files directly in them, by name.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, cases::CaseError> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let read = |e: std::io::Error| cases::CaseError::Read {
            file: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(read)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e))
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(cases::CaseError::Read {
                file: path.display().to_string(),
                reason: "no .yaml, .yml or .json case file in this folder".into(),
            });
        }
        out.extend(found);
    }
    Ok(out)
}
