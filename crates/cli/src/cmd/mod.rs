//! Subcommands, one module each. Every `run` returns `Ok(Status)` for a check or decision
//! it could make (exit 0 or 1) and `Err(message)` for a usage or I/O error (exit 2).

pub mod check;
pub mod explain;
pub mod oci;
pub mod render;
pub mod test;
pub mod token;

/// The outcome of a subcommand that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit 0: the check passed, the request is allowed, the output was written.
    Ok,
    /// Exit 1: the check failed, or the request is denied.
    Failed,
}
