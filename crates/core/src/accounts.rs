//! "Every access must be bound to an account": account-ownership leak checks.
//!
//! - [`AccountTree`]: the configured account hierarchy (child -> parent/owner), checked at
//!   build time, answering "may this caller access that account?" in O(depth).
//! - [`AccountLocation`]: where a route's request carries its account id (`none`: nowhere, the
//!   route's data belongs to no account; a path template,
//!   a path segment, a query parameter, a header, or a field of a JSON body), and its
//!   extraction. Ids are never decoded: an id must already be plain (see
//!   [`AccountLocation`]), and an id given twice with different values is refused.
//! - [`ResponseAccounts`]: which JSON paths of a response hold account ids, what happens to
//!   a foreign one (`block` the whole response, or `filter` the array elements carrying
//!   it), and which owner fields are hidden from everyone but the owner (`hide_owner`),
//!   checked in one pass by the walker shared with redaction ([`crate::json`]).
//!
//! Everything fails closed: invalid JSON, an ambiguous or malformed id, or an id that is an
//! object where a string was expected is an error or a block, never a pass. Error messages
//! name the configuration or the location of an id, never a value a client sent.

mod location;
mod paths;
mod response;
mod tree;

pub use location::AccountLocation;
pub use response::{AccountOutcome, ResponseAccounts};
pub use tree::AccountTree;

use crate::json::JsonError;
use thiserror::Error;

/// Why an account configuration was refused or an account id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    /// The account tree is not a forest (self-parent, cycle, empty id).
    #[error("invalid account tree at account {account:?}: {reason}")]
    InvalidTree {
        /// The account where the problem was found.
        account: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A route's account location (`path:`, `segment:`, `query:`, `header:`, `body:`) is
    /// malformed.
    #[error("invalid account location {text:?}: {reason}")]
    InvalidLocation {
        /// The location as configured.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A route's response account rule (`block: …`, `filter: …`, `hide_owner: …`) is
    /// malformed.
    #[error("invalid response account rule {text:?}: {reason}")]
    InvalidRule {
        /// The rule as configured.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The request's account id is not a plain id (percent-encoded, has `/`, a control
    /// character, whitespace, is empty or too long).
    #[error("account id in {location} is not a plain account id")]
    InvalidId {
        /// Where the id was read (e.g. `query parameter "account_id"`).
        location: String,
    },
    /// The request carries the id more than once with different values.
    #[error("account id in {location} is given more than once with different values")]
    Ambiguous {
        /// Where the ids were read.
        location: String,
    },
    /// The request body holds an object or array where the account id should be.
    #[error("account id in {location} is not a string or a number")]
    NotScalar {
        /// Where the id was expected.
        location: String,
    },
    /// The paths compile to too large an automaton.
    #[error("account paths too complex")]
    TooComplex,
    /// The body is not valid JSON or nests too deep.
    #[error("cannot check json body: {0}")]
    Json(#[from] JsonError),
}
