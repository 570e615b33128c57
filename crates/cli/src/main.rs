//! `portcullis`: the operator's command-line tool. Each subcommand lives in `cmd/` and
//! runs the same core code as the gateway filters.
//!
//! Exit codes: 0 ok (check passed, request allowed, cases passed), 1 check failed, request
//! denied or a case failed, 2 usage or I/O error (or a malformed case file).

mod chain;
mod cmd;
mod deploy;
mod gateway;
mod routes;
mod yaml;

use clap::{Parser, Subcommand};
use cmd::Status;
use std::process::ExitCode;

/// Portcullis command-line tool: check a gateway configuration, explain a decision,
/// render the gateway's configuration, pack the filters as OCI images, run policy cases,
/// mint test tokens.
#[derive(Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate gateway.yaml and its role table with the filters' own parsers.
    Check(cmd::check::CheckArgs),
    /// Explain, stage by stage, what the gateway decides for one request.
    Explain(cmd::explain::ExplainArgs),
    /// Pack each filter into a reproducible OCI image (compat Wasm variant).
    Oci(cmd::oci::OciArgs),
    /// Render a gateway's configuration from gateway.yaml and the role table.
    Render(cmd::render::RenderArgs),
    /// Run policy cases (requests and what must happen) through the gateway's own chain.
    Test(cmd::test::TestArgs),
    /// Mint a signed token from a claims file, for local use and tests.
    Token(cmd::token::TokenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(&args),
        Command::Explain(args) => cmd::explain::run(&args),
        Command::Oci(args) => cmd::oci::run(&args),
        Command::Render(args) => cmd::render::run(&args),
        Command::Test(args) => cmd::test::run(&args),
        Command::Token(args) => cmd::token::run(&args).map(|()| Status::Ok),
    };
    match result {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Failed) => ExitCode::from(1),
        Err(err) => {
            eprintln!("portcullis: {err}");
            ExitCode::from(2)
        }
    }
}
