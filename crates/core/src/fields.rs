//! Field filters: which response fields a requirement or grant removes (`::!{a.b,c}`)
//! or keeps (`::{id,source}`). Parsed by [`crate::policy`], applied by [`crate::redact`].

use serde::{Deserialize, Serialize};

/// Whether the listed paths are removed or are the only ones kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterMode {
    /// `::!{...}` / `::!<...>`: the listed paths are removed.
    Remove,
    /// `::{...}` / `::<...>`: only the listed paths are kept.
    Keep,
}

/// A field filter: a mode and dotted paths (`user.cpf`, `items.*.secret`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldFilter {
    /// Remove or keep.
    pub mode: FilterMode,
    /// Dotted paths; `*` matches any key at one level; arrays on the way are entered.
    pub paths: Vec<String>,
}
