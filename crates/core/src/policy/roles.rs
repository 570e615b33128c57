//! [`RoleTable`]: the role and group table kept in `policies/roles.yaml`, mapping each role and
//! each group to its grants, every grant parsed and every set compiled when the table loads
//! so that a request only looks up the caller's roles.

use super::grammar::Permission;
use super::grants::GrantSet;
use super::PolicyError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The table as written (YAML or JSON): two maps from a name to its grant texts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoleTable {
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

/// Roles and groups, each compiled into a [`GrantSet`]. Role and group names are separate
/// namespaces and are matched exactly (case-sensitive).
///
/// Loaded with [`RoleTable::from_value`], or deserialized with serde from the same shape
/// (the filters' JSON configuration embeds it; `policies/roles.yaml` is YAML that the CLI
/// turns into this JSON, so the core reads no YAML):
/// ```yaml
/// roles:
///   FINANCEIRO: ["contract:*", "simulations:*"]
/// groups:
///   group1: ["app/sales/customerServices/*"]
/// ```
/// Unknown top-level keys are refused; a malformed grant refuses the whole table with an
/// error naming the role or group and the grant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "RawRoleTable")]
pub struct RoleTable {
    roles: BTreeMap<String, GrantSet>,
    groups: BTreeMap<String, GrantSet>,
}

impl RoleTable {
    /// Parses and compiles a table from a JSON value of the same shape.
    pub fn from_value(value: &serde_json::Value) -> Result<RoleTable, PolicyError> {
        let raw =
            RawRoleTable::deserialize(value).map_err(|e| PolicyError::Table(e.to_string()))?;
        RoleTable::try_from(raw)
    }

    /// The compiled grants of role `name`, if the table has it.
    pub fn role(&self, name: &str) -> Option<&GrantSet> {
        self.roles.get(name)
    }

    /// The compiled grants of group `name`, if the table has it.
    pub fn group(&self, name: &str) -> Option<&GrantSet> {
        self.groups.get(name)
    }

    /// Role names with their grants, sorted by name (CLI listings, diagnostics).
    pub fn roles(&self) -> impl Iterator<Item = (&str, &GrantSet)> {
        self.roles.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Group names with their grants, sorted by name.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &GrantSet)> {
        self.groups.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when the table has neither roles nor groups.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.groups.is_empty()
    }
}

impl TryFrom<RawRoleTable> for RoleTable {
    type Error = PolicyError;

    fn try_from(raw: RawRoleTable) -> Result<Self, Self::Error> {
        let roles = compile_all(raw.roles, |name, source| PolicyError::Role { name, source })?;
        let groups = compile_all(raw.groups, |name, source| PolicyError::Group {
            name,
            source,
        })?;
        Ok(RoleTable { roles, groups })
    }
}

fn compile_all(
    entries: BTreeMap<String, Vec<String>>,
    wrap: impl Fn(String, Box<PolicyError>) -> PolicyError,
) -> Result<BTreeMap<String, GrantSet>, PolicyError> {
    let mut out = BTreeMap::new();
    for (name, texts) in entries {
        let mut grants = Vec::with_capacity(texts.len());
        for text in &texts {
            match Permission::parse_grant(text) {
                Ok(grant) => grants.push(grant),
                Err(e) => return Err(wrap(name, Box::new(e))),
            }
        }
        out.insert(name, GrantSet::compile(grants));
    }
    Ok(out)
}
