//! The value a verified claim is forwarded as, in an upstream header (`forward` in the
//! JWT configuration), such that a backend can read it only one way and that way agrees
//! with what the gateway decided (issue 18, class 2).
//!
//! The rules, by the claim's JSON type:
//!
//! - An array is a list: its elements joined by `,` (`["qa","demostore"]` is
//!   `qa,demostore`). Every element must be a string that is not empty, holds no `,` and
//!   has no leading or trailing whitespace, so splitting on `,` (trimming or not) gives
//!   back exactly the elements; otherwise `forwarded_claim_separator`. Without this
//!   `["demostore,qa"]`, one account the gateway does not know, reads as `demostore` and
//!   `qa` to a backend that splits the header.
//! - A string is forwarded as written. A claim that is single-valued by RFC 7519 (`iss`,
//!   `sub`, `jti`) is one value and may contain `,`. Any other string claim may be a list
//!   (SPEC §1: an array or a space-separated string; the gateway cannot tell a
//!   one-element list from a single value), so it may hold no `,` and no leading or
//!   trailing whitespace (`forwarded_claim_separator`): `"demostore,qa"` is refused just
//!   like `["demostore,qa"]`. A space-separated list keeps its spaces.
//! - A number or a boolean is forwarded as JSON writes it; an object or `null` is not
//!   forwarded (the header is absent: client copies are removed regardless).
//!
//! Every value (and every list element) must also pass [`crate::header_value::check`]:
//! no control character, no byte outside visible ASCII, no edge whitespace; otherwise
//! `forwarded_claim_invalid`. Nothing is ever cleaned up: a cleaned-up value is one the
//! token did not say. An empty single value (`"sub": ""`) is refused too: a backend may
//! read an empty header as an absent one.

use crate::claims::ClaimPath;
use crate::decision::Denial;
use crate::header_value;
use serde_json::{Map, Value};
use std::fmt;

/// The list separator of forwarded list claims.
pub const SEPARATOR: char = ',';

/// Claims that hold exactly one value by RFC 7519 (§4.1.1, §4.1.2, §4.1.7): forwarded
/// as one value, so they may contain the separator.
const SINGLE_VALUED: [&str; 3] = ["iss", "sub", "jti"];

/// Why a claim cannot be forwarded. Names the claim and the element, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardRefusal {
    /// An element (or a list-like string) is empty, holds the separator, or has leading
    /// or trailing whitespace: a backend could split it differently from the gateway.
    Separator {
        /// The claim path.
        claim: String,
        /// The array index, `None` for a string claim.
        element: Option<usize>,
    },
    /// A value holds a control character or a byte outside visible ASCII, or is a list
    /// element that is not a string, or an empty single value.
    Invalid {
        /// The claim path.
        claim: String,
        /// The array index, `None` for a string claim.
        element: Option<usize>,
        /// What is wrong (a byte offset and class, never the value).
        reason: String,
    },
}

impl ForwardRefusal {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            ForwardRefusal::Separator { .. } => "forwarded_claim_separator",
            ForwardRefusal::Invalid { .. } => "forwarded_claim_invalid",
        }
    }

    /// The 403 the client receives; the detail goes to the decision log only.
    pub fn denial(&self) -> Denial {
        Denial::forbidden(self.code(), self.to_string())
    }
}

fn at(element: &Option<usize>) -> String {
    element.map_or(String::new(), |i| format!(" (element {i})"))
}

impl fmt::Display for ForwardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardRefusal::Separator { claim, element } => write!(
                f,
                "a forwarded claim value contains the list separator: claim `{claim}`{}",
                at(element)
            ),
            ForwardRefusal::Invalid {
                claim,
                element,
                reason,
            } => write!(
                f,
                "a forwarded claim value is not a valid header value: claim `{claim}`{}: {reason}",
                at(element)
            ),
        }
    }
}

/// The header value the claim at `path` is forwarded as: `Ok(None)` when the claim is
/// absent, an object or `null`; an error when the value could be read two ways or is
/// not a safe header value (see the module's rules).
pub fn forwarded_value(
    path: &ClaimPath,
    claims: &Map<String, Value>,
) -> Result<Option<String>, ForwardRefusal> {
    let claim = path.to_string();
    match path.lookup(claims) {
        Some(Value::String(s)) if is_single_valued(path) => {
            single(&claim, s).map(|()| Some(s.clone()))
        }
        Some(Value::String(s)) => list_like(&claim, s).map(|()| Some(s.clone())),
        Some(Value::Array(items)) => list(&claim, items).map(Some),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Object(_) | Value::Null) | None => Ok(None),
    }
}

fn is_single_valued(path: &ClaimPath) -> bool {
    matches!(path.segments(), [name] if SINGLE_VALUED.contains(&name.as_str()))
}

fn invalid(claim: &str, element: Option<usize>, reason: impl Into<String>) -> ForwardRefusal {
    ForwardRefusal::Invalid {
        claim: claim.to_string(),
        element,
        reason: reason.into(),
    }
}

fn safe(claim: &str, element: Option<usize>, value: &str) -> Result<(), ForwardRefusal> {
    header_value::check(value).map_err(|e| invalid(claim, element, e.to_string()))
}

/// A single-valued claim: any safe, non-empty header value.
fn single(claim: &str, value: &str) -> Result<(), ForwardRefusal> {
    if value.is_empty() {
        return Err(invalid(claim, None, "empty value"));
    }
    safe(claim, None, value)
}

/// Whether `value` is an element a split on the separator gives back unchanged.
fn splits_cleanly(value: &str) -> bool {
    !value.contains(SEPARATOR)
        && !value.starts_with(char::is_whitespace)
        && !value.ends_with(char::is_whitespace)
}

/// A string that may be a (space-separated) list: no separator, no edge whitespace.
fn list_like(claim: &str, value: &str) -> Result<(), ForwardRefusal> {
    if !splits_cleanly(value) {
        return Err(ForwardRefusal::Separator {
            claim: claim.to_string(),
            element: None,
        });
    }
    safe(claim, None, value)
}

/// An array: string elements, each non-empty and splitting cleanly, joined by `,`.
fn list(claim: &str, items: &[Value]) -> Result<String, ForwardRefusal> {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let Some(text) = item.as_str() else {
            return Err(invalid(claim, Some(i), "element is not a string"));
        };
        if text.is_empty() || !splits_cleanly(text) {
            return Err(ForwardRefusal::Separator {
                claim: claim.to_string(),
                element: Some(i),
            });
        }
        safe(claim, Some(i), text)?;
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.push_str(text);
    }
    Ok(out)
}
