//! The demo gateway's single source of truth, `gateway.yaml` (SPEC section 10), and the role
//! table it points to. Every subcommand reads them through [`Source::load`]: `render` turns
//! them into a gateway configuration, `check` validates them, `explain` runs the filters on
//! them. [`Source::filter_json`] is the one place that decides what JSON a filter is given.

use crate::deploy::Deploy;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The filters Portcullis ships, in the order a gateway usually chains them.
pub const KNOWN_FILTERS: &[&str] = &[
    "portcullis_jwt",
    "portcullis_tenant",
    "portcullis_authz",
    "portcullis_redact",
    "portcullis_accounts",
];

/// The authorization filter, whose configuration receives the role table as `policies`.
pub const AUTHZ_FILTER: &str = "portcullis_authz";

/// The filters whose configuration takes a `routes` table keyed by route name (SPEC
/// section 7): the portable form of route metadata, for gateways that cannot attach
/// settings to a route (Kong) or that push filter configuration apart from routes (ECDS).
pub const ROUTE_TABLE_FILTERS: &[&str] = &[
    "portcullis_jwt",
    "portcullis_tenant",
    "portcullis_authz",
    "portcullis_accounts",
];

/// `gateway.yaml` as written. Unknown fields are refused at every level but inside
/// `filters`, whose configurations the filters' own parsers check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Envoy listener, admin, backend and where the `.wasm` files are.
    pub envoy: EnvoySection,
    /// The role and group table, relative to `gateway.yaml`'s folder.
    #[serde(default)]
    pub policies: Option<String>,
    /// Each filter's configuration by filter name, in chain order.
    pub filters: Map<String, Value>,
    /// The routes, matched in order.
    pub routes: Vec<RouteSpec>,
    /// Kubernetes deployment settings (`render istio|envoy-gateway`); see [`Deploy`].
    #[serde(default)]
    pub deploy: Deploy,
}

/// The `envoy:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvoySection {
    /// Where clients connect.
    pub listener: Address,
    /// Envoy's admin interface.
    pub admin: Address,
    /// The backend every route forwards to.
    pub backend: Address,
    /// Folder of the filters' `.wasm` files, relative to where Envoy runs.
    pub wasm_dir: String,
    /// Other upstreams the filters call (a provider's `remote_jwks.cluster`), by name.
    #[serde(default)]
    pub clusters: Vec<ClusterSpec>,
}

/// An upstream the filters call through the gateway (`dispatch_http_call`), such as an
/// identity provider's JWKS endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// The cluster's name, as `remote_jwks.cluster` gives it.
    pub name: String,
    /// IP address (a fixed endpoint) or DNS name (resolved by Envoy).
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Speak TLS to it: the certificate must name the address (SNI too when it is a
    /// name). Without TLS, a cluster off the loopback is warned about by `check`.
    #[serde(default)]
    pub tls: bool,
    /// The certificate authorities TLS trusts, as a file Envoy reads; default: the
    /// system bundle `/etc/ssl/certs/ca-certificates.crt`.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A socket address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// IP address or host name.
    pub address: String,
    /// TCP port.
    pub port: u16,
}

/// One route: how it matches, and its Portcullis settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// The route's name (`xds.route_name`, key of the filters' route tables).
    pub name: String,
    /// How a request path selects the route.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// The requirement expression (`crates/core/src/route.rs`).
    #[serde(default)]
    pub requirement: Option<String>,
    /// Where the request's account id is.
    #[serde(default)]
    pub account: Option<String>,
    /// Which response paths hold account ids, and what a foreign one does.
    #[serde(default)]
    pub response_accounts: Option<String>,
    /// Shadow (dry-run) mode for authorization denials.
    #[serde(default)]
    pub shadow: bool,
}

impl RouteSpec {
    /// The route's Portcullis settings as route metadata leaf strings, in a fixed order.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let fields = [
            ("requirement", &self.requirement),
            ("account", &self.account),
            ("response_accounts", &self.response_accounts),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                out.push((key, value.clone()));
            }
        }
        if self.shadow {
            // The filters read metadata as leaf strings: a YAML boolean would not be one.
            out.push(("shadow", "true".to_string()));
        }
        out
    }

    /// The route's settings as an entry of a filter's route table (`shadow` a boolean
    /// there), `None` when the route declares nothing.
    pub fn table_entry(&self) -> Option<Value> {
        let mut entry = Map::new();
        for (key, value) in self.metadata() {
            if key == "shadow" {
                entry.insert(key.into(), Value::Bool(true));
            } else {
                entry.insert(key.into(), Value::String(value));
            }
        }
        (!entry.is_empty()).then_some(Value::Object(entry))
    }
}

/// A route's match: exactly one of the three (checked by `portcullis check`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// The path, exactly (query string removed).
    #[serde(default)]
    pub path: Option<String>,
    /// A prefix of `:path`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// A regular expression (RE2 syntax) the whole path must match.
    #[serde(default)]
    pub safe_regex: Option<String>,
}

/// A text file as read, for error locations.
#[derive(Debug, Clone)]
pub struct TextFile {
    /// The path as given on the command line (or relative to `gateway.yaml`).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

impl TextFile {
    /// Reads a file; the error names it.
    pub fn read(path: &Path) -> Result<TextFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TextFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// The file's name as shown in messages.
    pub fn shown(&self) -> String {
        self.path.display().to_string()
    }
}

/// `gateway.yaml` and the role table, loaded.
#[derive(Debug, Clone)]
pub struct Source {
    /// `gateway.yaml`'s text.
    pub file: TextFile,
    /// The parsed model.
    pub gateway: Gateway,
    /// The role table file, when `policies` names one and it could be read.
    pub policies_file: Option<TextFile>,
    /// The role table as a plain value (what the authorization filter is given).
    pub policies: Option<Value>,
}

/// Why the source could not be loaded.
#[derive(Debug, Clone)]
pub enum LoadError {
    /// A file could not be read (exit code 2).
    Io(String),
    /// A file is not of the expected shape; `line` where YAML says so.
    Invalid {
        /// The file.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(message) => f.write_str(message),
            LoadError::Invalid {
                file,
                line: Some(line),
                message,
            } => write!(f, "{file}:{line}: {message}"),
            LoadError::Invalid {
                file,
                line: None,
                message,
            } => write!(f, "{file}: {message}"),
        }
    }
}

impl Source {
    /// Reads and parses `gateway.yaml` and the role table it names.
    pub fn load(path: &Path) -> Result<Source, LoadError> {
        let file = TextFile::read(path).map_err(LoadError::Io)?;
        let gateway: Gateway =
            crate::yaml::from_str(&file.text).map_err(|e| yaml_error(&file, e))?;
        let (policies_file, policies) = match &gateway.policies {
            None => (None, None),
            Some(relative) => {
                let dir = path.parent().unwrap_or_else(|| Path::new("."));
                let policies_path = dir.join(relative);
                let policies_file = TextFile::read(&policies_path).map_err(LoadError::Io)?;
                let value: Value = if policies_file.text.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    crate::yaml::from_str(&policies_file.text)
                        .map_err(|e| yaml_error(&policies_file, e))?
                };
                (Some(policies_file), Some(value))
            }
        };
        Ok(Source {
            file,
            gateway,
            policies_file,
            policies,
        })
    }

    /// The JSON configuration filter `name` is given, exactly as the gateway gets it: the
    /// `filters.<name>` section, plus `policies` (the role table) for the authorization
    /// filter.
    pub fn filter_json(&self, name: &str) -> Option<Value> {
        let mut config = self.gateway.filters.get(name)?.clone();
        if let (AUTHZ_FILTER, Some(table), Value::Object(map)) = (name, &self.policies, &mut config)
        {
            map.insert("policies".into(), table.clone());
        }
        Some(config)
    }

    /// Every route's settings keyed by route name, in `gateway.yaml` order (routes
    /// declaring nothing are left out).
    pub fn route_table(&self) -> Value {
        let table: Map<String, Value> = self
            .gateway
            .routes
            .iter()
            .filter_map(|spec| Some((spec.name.clone(), spec.table_entry()?)))
            .collect();
        Value::Object(table)
    }

    /// The one filter's (`portcullis`) configuration: each filter of `filters` becomes
    /// the stage section of its name without the `portcullis_` prefix (`jwt`, `tenant`,
    /// `authz`, `redact`, `accounts`), with [`Source::filter_json`]'s content, and then
    /// `routes`: the [`Source::route_table`], given once for every stage that reads one.
    pub fn pipeline_json(&self) -> Result<Value, String> {
        let mut sections = Map::new();
        for name in self.gateway.filters.keys() {
            let stage = name
                .strip_prefix("portcullis_")
                .ok_or_else(|| format!("filters.{name}: not a Portcullis filter"))?;
            let config = self
                .filter_json(name)
                .ok_or_else(|| format!("filters.{name}: missing"))?;
            sections.insert(stage.to_string(), config);
        }
        sections.insert("routes".into(), self.route_table());
        Ok(Value::Object(sections))
    }

    /// The policies file's name as written in `gateway.yaml` (`policies/roles.yaml`).
    pub fn policies_name(&self) -> Option<&str> {
        self.gateway.policies.as_deref()
    }
}

fn yaml_error(file: &TextFile, err: crate::yaml::YamlError) -> LoadError {
    LoadError::Invalid {
        file: file.shown(),
        line: err.line,
        message: err.message,
    }
}

/// Finds the 1-based line of a nested key in YAML text, following `steps` from the top:
/// each step is a key (`filters`, `portcullis_jwt`) or a list item named `name: X`
/// (written `- name: X`). Good for error locations; `None` when the layout is unusual.
pub fn find_line(text: &str, steps: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    // The indent of the last match, and whether it was a list item.
    let mut parent: Option<(usize, bool)> = None;
    let mut found = None;
    for step in steps {
        let mut hit = None;
        for (index, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let item = trimmed.starts_with("- ");
            if let Some((p, parent_item)) = parent {
                // A key's list may sit at the key's own indent (`routes:` / `- name: x`).
                if indent < p || (indent == p && (parent_item || !item)) {
                    break;
                }
            }
            let key = trimmed.trim_start_matches("- ");
            let matches = if step.contains(": ") {
                key == *step || key.strip_prefix(*step).is_some_and(|r| r.starts_with(" #"))
            } else {
                key.strip_prefix(*step).is_some_and(|r| r.starts_with(':'))
            };
            if matches {
                hit = Some((index, indent, item));
                break;
            }
        }
        let (index, indent, item) = hit?;
        found = Some(index + 1);
        from = index + 1;
        parent = Some((indent, item));
    }
    found
}

/// The 1-based line of the first line after line `after` (0: from the top) that contains
/// `needle`.
pub fn find_text(text: &str, after: usize, needle: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, line)| line.contains(needle))
        .map(|(index, _)| index + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = "filters:\n  a:\n    x: 1\n  b:\n    x: 2\nroutes:\n- name: r1\n  requirement: one\n- name: r2\n  match:\n    path: /\n";

    #[test]
    fn nested_keys_are_found_below_their_parent() {
        assert_eq!(find_line(TEXT, &["filters", "b", "x"]), Some(5));
    }

    #[test]
    fn list_items_are_found_by_name() {
        assert_eq!(
            find_line(TEXT, &["routes", "name: r2", "match", "path"]),
            Some(11)
        );
        assert_eq!(
            find_line(TEXT, &["routes", "name: r2", "requirement"]),
            None
        );
    }
}
