//! `portcullis`: the operator's command-line tool. Each subcommand lives in `cmd/` and
//! runs the same core code as the gateway filters.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Portcullis command-line tool.
#[derive(Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint a signed token from a claims file, for local use and tests.
    Token(cmd::token::TokenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(args) => cmd::token::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portcullis: {err}");
            ExitCode::from(2)
        }
    }
}
