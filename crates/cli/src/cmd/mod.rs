//! Subcommands.

pub mod token;
