//! Errors: what the filters would refuse at load. Each part of the configuration goes
//! through the parser that reads it in the gateway.

use super::Diagnostic;
use crate::gateway::{find_line, find_text, Source, AUTHZ_FILTER, KNOWN_FILTERS};
use crate::routes::Matcher;
use portcullis_core::accounts::{AccountLocation, ResponseAccounts};
use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::tenant::TenantFilter;
use portcullis_core::policy::{PolicyError, RoleTable};
use std::collections::HashSet;

/// Loads the role table with [`RoleTable::from_value`] from the YAML the CLI read, as the
/// filter gets it; `None` (and an error) when it does not load, or when there is none.
pub fn policies(source: &Source, out: &mut Vec<Diagnostic>) -> Option<RoleTable> {
    let file = source.policies_file.as_ref()?;
    let value = source.policies.as_ref()?;
    match RoleTable::from_value(value) {
        Ok(table) => Some(table),
        Err(err) => {
            let (field, line) = policy_location(&file.text, &err);
            out.push(Diagnostic::error(
                &file.shown(),
                line,
                field,
                err.to_string(),
            ));
            None
        }
    }
}

fn policy_location(text: &str, err: &PolicyError) -> (String, Option<usize>) {
    let (section, name, inner) = match err {
        PolicyError::Role { name, source } => ("roles", name, source),
        PolicyError::Group { name, source } => ("groups", name, source),
        PolicyError::Table(message) => return (String::new(), unknown_key_line(text, message)),
        _ => return (String::new(), None),
    };
    let start = find_line(text, &[section, name]);
    let grant_line = match inner.as_ref() {
        PolicyError::Malformed { text: grant, .. } => start.and_then(|s| find_text(text, s, grant)),
        _ => None,
    };
    (format!("{section}.{name}"), grant_line.or(start))
}

/// The line of the top-level key serde names in "unknown field `rols`, expected ...".
fn unknown_key_line(text: &str, message: &str) -> Option<usize> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    let key = &rest[..rest.find('`')?];
    find_line(text, &[key])
}

/// Runs each filter's own `from_json` on the JSON the gateway gets.
pub fn filters(source: &Source, policies_loaded: bool, out: &mut Vec<Diagnostic>) {
    let file = source.file.shown();
    let text = &source.file.text;
    for name in source.gateway.filters.keys() {
        let line = find_line(text, &["filters", name]);
        let Some(mut config) = source.filter_json(name) else {
            continue;
        };
        if name == AUTHZ_FILTER {
            if source
                .gateway
                .filters
                .get(name)
                .and_then(|c| c.get("policies"))
                .is_some()
                && source.policies.is_some()
            {
                let at = find_line(text, &["filters", name, "policies"]);
                let message = "replaced by the role table named by the top-level `policies`";
                out.push(Diagnostic::warning(
                    &file,
                    at,
                    format!("filters.{name}.policies"),
                    message,
                ));
            }
            if !policies_loaded {
                // The table's own error is reported once, against its file.
                if let Some(map) = config.as_object_mut() {
                    map.remove("policies");
                }
            }
        }
        let bytes = config.to_string().into_bytes();
        let result = match name.as_str() {
            "portcullis_jwt" => JwtFilter::from_json(&bytes).map(|_| ()),
            "portcullis_tenant" => TenantFilter::from_json(&bytes).map(|_| ()),
            "portcullis_authz" => AuthzFilter::from_json(&bytes).map(|_| ()),
            "portcullis_redact" => RedactFilter::from_json(&bytes).map(|_| ()),
            "portcullis_accounts" => AccountsFilter::from_json(&bytes).map(|_| ()),
            _ => Err(format!(
                "unknown filter (known: {})",
                KNOWN_FILTERS.join(", ")
            )),
        };
        if let Err(message) = result {
            let message = strip_position(&message);
            let (field, at) = filter_location(text, name, &message);
            out.push(Diagnostic::error(&file, at.or(line), field, message));
        }
    }
}

/// serde_json's " at line 1 column 80" points into the rendered JSON, not the YAML.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// The field and line a filter's error message points at: an unknown or missing field it
/// names in backticks, or the dotted field path it starts with.
fn filter_location(text: &str, filter: &str, message: &str) -> (String, Option<usize>) {
    let base = format!("filters.{filter}");
    for marker in ["unknown field `", "missing field `"] {
        if let Some(at) = message.find(marker) {
            let rest = &message[at + marker.len()..];
            let key = rest.split('`').next().unwrap_or_default();
            return (base, find_line(text, &["filters", filter, key]));
        }
    }
    let head = message.split([':', ' ']).next().unwrap_or_default();
    let is_path = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.[]".contains(c))
        && head != "invalid";
    if !is_path {
        return (base, None);
    }
    let mut steps = vec!["filters".to_string(), filter.to_string()];
    steps.extend(
        head.split('.')
            .map(|s| s.split('[').next().unwrap_or(s).to_string()),
    );
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let line = (3..=steps.len())
        .rev()
        .find_map(|n| find_line(text, &steps[..n]));
    (format!("{base}.{head}"), line)
}

/// Route names, matches, requirements and account settings.
pub fn routes(source: &Source, out: &mut Vec<Diagnostic>) {
    let file = source.file.shown();
    let text = &source.file.text;
    let filters = &source.gateway.filters;
    let mut names = HashSet::new();
    for route in &source.gateway.routes {
        let item = format!("name: {}", route.name);
        let at = |key: &str| {
            find_line(text, &["routes", &item, key]).or_else(|| find_line(text, &["routes", &item]))
        };
        let field = |key: &str| format!("routes[{}].{key}", route.name);
        if !names.insert(route.name.as_str()) {
            out.push(Diagnostic::error(
                &file,
                at("name"),
                field("name"),
                "route name used twice",
            ));
        }
        if let Err(message) = Matcher::compile(&route.matcher) {
            out.push(Diagnostic::error(
                &file,
                at("match"),
                field("match"),
                message,
            ));
        }
        if let Some(requirement) = &route.requirement {
            if let Err(e) = portcullis_core::route::RouteRequirement::parse(requirement) {
                out.push(Diagnostic::error(
                    &file,
                    at("requirement"),
                    field("requirement"),
                    e.to_string(),
                ));
            } else if !filters.contains_key(AUTHZ_FILTER) {
                let message = "not enforced: `portcullis_authz` is not among the filters";
                out.push(Diagnostic::warning(
                    &file,
                    at("requirement"),
                    field("requirement"),
                    message,
                ));
            }
        }
        if let Some(location) = &route.account {
            if let Err(e) = AccountLocation::parse(location) {
                out.push(Diagnostic::error(
                    &file,
                    at("account"),
                    field("account"),
                    e.to_string(),
                ));
            }
        }
        if let Some(rule) = &route.response_accounts {
            if let Err(e) = ResponseAccounts::parse(rule) {
                let key = "response_accounts";
                out.push(Diagnostic::error(&file, at(key), field(key), e.to_string()));
            }
        }
        if (route.account.is_some() || route.response_accounts.is_some())
            && !filters.contains_key("portcullis_accounts")
        {
            let message =
                "account settings not enforced: `portcullis_accounts` is not among the filters";
            out.push(Diagnostic::warning(
                &file,
                at("account"),
                field("account"),
                message,
            ));
        }
    }
}

/// Every provider's `remote_jwks.cluster` names a cluster the rendered Envoy has (the
/// backend or one of `envoy.clusters`), and cluster names are unique: a fetch to a
/// missing cluster would fail at every request, leaving the provider without keys.
pub fn clusters(source: &Source, out: &mut Vec<Diagnostic>) {
    let file = source.file.shown();
    let text = &source.file.text;
    let mut known = HashSet::from(["backend"]);
    for cluster in &source.gateway.envoy.clusters {
        let line = find_text(text, 0, &format!("name: {}", cluster.name));
        let field = |key: &str| format!("envoy.clusters[{}].{key}", cluster.name);
        if !known.insert(cluster.name.as_str()) {
            out.push(Diagnostic::error(
                &file,
                line,
                field("name"),
                "cluster name used twice",
            ));
        }
        if cluster.port == 0 {
            out.push(Diagnostic::error(
                &file,
                line,
                field("port"),
                "must be 1 to 65535",
            ));
        }
        let loopback = cluster.address == "localhost"
            || cluster
                .address
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !cluster.tls && !loopback {
            let message = "keys fetched in clear text from another host: anyone on the path \
                           could serve their own (set `tls: true`)";
            out.push(Diagnostic::warning(&file, line, field("tls"), message));
        }
    }
    let providers = source
        .gateway
        .filters
        .get("portcullis_jwt")
        .and_then(|jwt| jwt.get("providers"))
        .and_then(|p| p.as_array());
    for (index, provider) in providers.into_iter().flatten().enumerate() {
        let Some(cluster) = provider
            .pointer("/remote_jwks/cluster")
            .and_then(|c| c.as_str())
        else {
            continue;
        };
        if cluster == "backend" {
            let line = find_text(text, 0, &format!("cluster: {cluster}"));
            let field = format!("filters.portcullis_jwt.providers[{index}].remote_jwks.cluster");
            let message = "the keys come from the backend the filters protect: declare the \
                           identity provider under envoy.clusters";
            out.push(Diagnostic::warning(&file, line, field, message));
        } else if !known.contains(cluster) {
            let line = find_text(text, 0, &format!("cluster: {cluster}"));
            let field = format!("filters.portcullis_jwt.providers[{index}].remote_jwks.cluster");
            let message = format!("no cluster `{cluster}`: declare it under envoy.clusters");
            out.push(Diagnostic::error(&file, line, field, message));
        }
    }
}
