//! A streaming JSON scanner and rewriter, shared by response redaction
//! ([`crate::redact`]) and account-leak checks ([`crate::accounts`]).
//!
//! Parse once, write once: [`rewrite`] walks the input bytes a single time with an explicit
//! stack (no recursion, so no stack overflow whatever the input), asks a [`Visitor`] what to
//! do with each object member and array element, and produces the output by copying the
//! untouched spans of the input verbatim. Numbers stay exactly as the backend wrote them
//! (`1.0e+2`, `-0`, 30-digit integers), string escapes are not re-encoded, and whitespace is
//! preserved around everything that is kept. Removing a member or element also removes one
//! adjacent comma so that the output stays valid JSON.
//!
//! Validation is strict (RFC 8259): the whole input must be UTF-8, exactly one value
//! surrounded by optional whitespace (anything after it is an error), literals, numbers and
//! escapes exactly as the grammar says (no leading zeros, no `NaN`, no trailing commas, no
//! comments, no control characters in strings, no lone UTF-16 surrogate escapes). Subtrees
//! the visitor drops or copies wholesale are validated too: a body is never half checked.
//! Nesting deeper than the configured limit ([`DEFAULT_MAX_DEPTH`] by default) is an
//! error. Errors carry a byte offset and a fixed reason, never input content.
//!
//! Object keys reach the visitor decoded (`"m\u006fther"` is `mother`). The path
//! automaton compares them with configured keys up to case ([`fold_key`]): `Mother`,
//! `MOTHER`, `\u004dother` and `moTher` all match `mother`, `MÃE` matches `mãe`, and the
//! non-ASCII letters that case-insensitive clients read as ASCII ones match those (`uſer`
//! is `user`, KELVIN SIGN `K` is `k`, dotless `ı` is `i`): Go's `encoding/json`, .NET and
//! Jackson (with their case-insensitive options) bind all of these to the same field.
//! There is no Unicode normalisation (precomposed and decomposed `ã` differ). Duplicate
//! keys, also keys that differ only in case, are not merged or rejected: each occurrence
//! is offered to the visitor on its own, so a rule about a key (remove it, check it)
//! holds for every copy, whichever copy a client's parser would keep.
//!
//! Paths (`json::path`) and the automaton that tracks them (`json::dfa`) are
//! crate-internal: both consumers compile their paths into one deterministic automaton
//! whose state is a `u32`, so the per-member cost is one small key lookup whatever the
//! number of paths.

pub(crate) mod dfa;
mod fold;
pub(crate) mod path;
mod scan;
mod walk;

pub use fold::fold as fold_key;
pub use walk::{rewrite, validate, Scalar, ScalarKind, Step, Visitor};

use thiserror::Error;

/// Default limit on nested arrays and objects: deep enough for any real API body, shallow
/// enough that an attacker cannot make the walker's stack grow without bound.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Why a JSON text was refused. Offsets are byte positions in the input; messages never
/// quote the input, so they are safe to log and to send to a client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonError {
    /// The text breaks the JSON grammar at `offset`.
    #[error("invalid json at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset of the offending byte (or of the end of the input).
        offset: usize,
        /// What was expected or found, as a fixed phrase.
        reason: &'static str,
    },
    /// The text is not UTF-8.
    #[error("invalid json at byte {offset}: not utf-8")]
    Utf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// Arrays and objects nest deeper than the limit.
    #[error("json nested deeper than {limit} levels at byte {offset}")]
    TooDeep {
        /// Byte offset of the bracket that went over the limit.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Something other than whitespace follows the value.
    #[error("invalid json at byte {offset}: data after the value")]
    Trailing {
        /// Byte offset of the first byte after the value.
        offset: usize,
    },
    /// The visitor dropped the top-level value: there is no document left to send.
    #[error("the whole json document would be removed")]
    RootRemoved,
}

impl JsonError {
    /// The byte offset the error refers to, when it refers to one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            JsonError::Syntax { offset, .. }
            | JsonError::Utf8 { offset }
            | JsonError::TooDeep { offset, .. }
            | JsonError::Trailing { offset } => Some(*offset),
            JsonError::RootRemoved => None,
        }
    }
}
