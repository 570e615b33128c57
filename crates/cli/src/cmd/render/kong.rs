//! `portcullis render kong`: the Kong 3.x declarative configuration of the demo gateway
//! (`kong/kong.yaml`, `_format_version: "3.0"`, loaded with `declarative_config` or
//! `kong config db_import`). How to deploy it: `docs/kong.md`.
//!
//! - One service, the backend of `envoy.backend`, with every route of `gateway.yaml`.
//! - Every route carries its own filter chain with every Portcullis filter, the fallback
//!   included: on Kong a route without a chain runs no filter at all, so a chain-less
//!   route would reach the backend unchecked. There is no service-level chain (Kong
//!   would run it in front of each route's chain: every filter twice).
//! - Each filter's `config` is its JSON configuration (see [`Source::filter_json`]) plus,
//!   for the filters that read a route table, `routes: {<route name>: <the route's
//!   settings>}` for that route only: Kong has no route metadata, and the filters find
//!   their route by `kong.route_name`. Kong validates each `config` against the filter's
//!   `<name>.meta.json` schema and hands it to the filter as JSON.
//! - Chain order: Kong runs a chain in the same order for requests and responses, while
//!   Envoy reverses it for responses. The filters that read the response body come last
//!   and in reverse order, so that the response sees them as on Envoy (account checks
//!   before redaction); on the request side they do not depend on each other.
//! - Kong's router does not try routes in order: every path is rendered as a regular
//!   expression (`~`, anchored at the start by Kong) with a `regex_priority` that falls
//!   with the route's position, so the first route of `gateway.yaml` that matches wins,
//!   as on Envoy.
//! - Lua cannot tell an empty list from an empty map: Kong would hand `[]` to a filter
//!   as `{}`. Empty maps are left out (every optional map defaults to empty); an empty
//!   list is an error naming the field.

use crate::gateway::{ClusterSpec, RouteSpec, Source, ROUTE_TABLE_FILTERS};
use serde_json::{json, Map, Value};

/// The filters that read the response body; on Kong they end the chain, reversed.
pub const RESPONSE_FILTERS: &[&str] = &["portcullis_redact", "portcullis_accounts"];

/// The service every route belongs to.
pub const SERVICE_NAME: &str = "portcullis-demo-backend";

/// The whole declarative configuration as a value, keys in a fixed order.
pub fn render(source: &Source) -> Result<Value, String> {
    let backend = &source.gateway.envoy.backend;
    let order = chain_order(source.gateway.filters.keys().map(String::as_str));
    let mut globals = Vec::new();
    for name in order {
        let config = source
            .filter_json(name)
            .ok_or_else(|| format!("filters.{name}: missing"))?;
        let config = lua_safe(&config, &format!("filters.{name}"))?;
        let config = with_kong_upstreams(config, &source.gateway.envoy.clusters)?;
        globals.push((name, config));
    }
    let count = source.gateway.routes.len();
    let routes = source
        .gateway
        .routes
        .iter()
        .enumerate()
        .map(|(index, spec)| route(spec, count - index, &globals))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "_format_version": "3.0",
        "services": [{
            "name": SERVICE_NAME,
            "url": format!("http://{}:{}", backend.address, backend.port),
            "routes": routes,
        }],
    }))
}

/// Kong has no clusters: a provider's `remote_jwks.cluster` becomes the `host:port` of
/// the `envoy.clusters` entry it names (nginx resolves and connects to it; an IPv6
/// address in brackets). Refused, naming the field: a TLS cluster (the filter's fetch
/// sends no `:scheme`, so Kong would fetch the keys in clear text from a port meant for
/// TLS) and the `backend` (on Kong it is not a name the fetch could resolve).
fn with_kong_upstreams(mut config: Value, clusters: &[ClusterSpec]) -> Result<Value, String> {
    let providers = config.get_mut("providers").and_then(Value::as_array_mut);
    for (index, provider) in providers.into_iter().flatten().enumerate() {
        let Some(Value::String(cluster)) = provider.pointer_mut("/remote_jwks/cluster") else {
            continue;
        };
        let field = format!("filters.portcullis_jwt.providers[{index}].remote_jwks.cluster");
        let spec = clusters
            .iter()
            .find(|c| &c.name == cluster)
            .ok_or_else(|| format!("{field}: `{cluster}` is not one of envoy.clusters"))?;
        if spec.tls {
            return Err(format!(
                "envoy.clusters[{}].tls: Kong fetches keys over plain HTTP only (docs/kong.md)",
                spec.name
            ));
        }
        *cluster = match spec.address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{}", spec.port),
            _ => format!("{}:{}", spec.address, spec.port),
        };
    }
    Ok(config)
}

/// The filters in Kong chain order: request-side filters as listed, then the filters
/// that read the response body, reversed.
pub fn chain_order<'a>(listed: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let (response, request): (Vec<&str>, Vec<&str>) =
        listed.partition(|name| RESPONSE_FILTERS.contains(name));
    request
        .into_iter()
        .chain(response.into_iter().rev())
        .collect()
}

fn route(spec: &RouteSpec, priority: usize, globals: &[(&str, Value)]) -> Result<Value, String> {
    let entry = spec.table_entry();
    let filters: Vec<Value> = globals
        .iter()
        .map(|(name, global)| {
            let mut config = global.clone();
            if let (Some(entry), Value::Object(map), true) =
                (&entry, &mut config, ROUTE_TABLE_FILTERS.contains(name))
            {
                map.insert("routes".into(), json!({ spec.name.clone(): entry }));
            }
            json!({"name": name, "enabled": true, "config": config})
        })
        .collect();
    Ok(json!({
        "name": spec.name,
        "paths": [kong_path(spec)?],
        "regex_priority": priority,
        "strip_path": false,
        "preserve_host": true,
        "filter_chains": [{"name": format!("portcullis-{}", spec.name), "filters": filters}],
    }))
}

/// The route's match as a Kong regex path (`~/...`). Kong anchors it at the start; the
/// end is anchored here where Envoy's match is whole-path (`path`, `safe_regex`).
fn kong_path(spec: &RouteSpec) -> Result<String, String> {
    let m = &spec.matcher;
    match (&m.path, &m.prefix, &m.safe_regex) {
        (Some(path), None, None) => Ok(format!("~{}$", regex::escape(path))),
        (None, Some(prefix), None) => Ok(format!("~{}", regex::escape(prefix))),
        (None, None, Some(re)) => {
            let inner = re.strip_prefix('^').unwrap_or(re);
            if !inner.starts_with('/') || top_level_alternation(inner) {
                return Err(format!(
                    "routes[{}].match.safe_regex `{re}`: Kong needs a regex that starts \
                     with `/` (or `^/`) and has no top-level `|`: write `^/(?:a|b)$`",
                    spec.name
                ));
            }
            let end = if inner.ends_with('$') { "" } else { "$" };
            Ok(format!("~{inner}{end}"))
        }
        _ => Err(format!(
            "routes[{}].match: give exactly one of `path`, `prefix` or `safe_regex`",
            spec.name
        )),
    }
}

/// Whether `re` has a `|` outside every group and class (`a|b`, not `(a|b)`).
fn top_level_alternation(re: &str) -> bool {
    let (mut depth, mut class, mut escaped) = (0usize, false, false);
    for c in re.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if !class => class = true,
            ']' if class => class = false,
            _ if class => {}
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// The configuration as Lua can carry it: empty maps left out, empty lists refused.
pub fn lua_safe(value: &Value, at: &str) -> Result<Value, String> {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let item = lua_safe(item, &format!("{at}.{key}"))?;
                if !matches!(&item, Value::Object(m) if m.is_empty()) {
                    out.insert(key.clone(), item);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) if items.is_empty() => Err(format!(
            "{at}: an empty list cannot be given to a Kong filter (Kong's Lua turns [] into \
             {{}}); leave the field out or give it a value"
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| lua_safe(item, &format!("{at}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gateway::RouteMatch;

    fn spec(matcher: RouteMatch) -> RouteSpec {
        RouteSpec {
            name: "r".into(),
            matcher,
            requirement: None,
            account: None,
            response_accounts: None,
            shadow: false,
        }
    }

    #[test]
    fn exact_paths_are_escaped_and_anchored() {
        let s = spec(RouteMatch {
            path: Some("/.well-known/permissions".into()),
            ..RouteMatch::default()
        });
        assert_eq!(kong_path(&s).unwrap(), r"~/\.well\-known/permissions$");
    }

    fn regex(re: &str) -> Result<String, String> {
        kong_path(&spec(RouteMatch {
            safe_regex: Some(re.into()),
            ..RouteMatch::default()
        }))
    }

    #[test]
    fn regexes_lose_the_caret_and_are_anchored_at_the_end() {
        assert_eq!(regex("^/a/[^/]+$").unwrap(), "~/a/[^/]+$");
        assert_eq!(regex("/a/(x|y)").unwrap(), "~/a/(x|y)$");
        assert_eq!(regex(r"^/a/[|]\|$").unwrap(), r"~/a/[|]\|$");
    }

    #[test]
    fn regexes_kong_cannot_anchor_are_refused() {
        assert!(regex("^/a$|^/b$").unwrap_err().contains("top-level `|`"));
        assert!(regex(".*/a").is_err());
    }

    #[test]
    fn response_filters_end_the_chain_in_reverse() {
        let listed = [
            "portcullis_jwt",
            "portcullis_tenant",
            "portcullis_authz",
            "portcullis_redact",
            "portcullis_accounts",
        ];
        assert_eq!(
            chain_order(listed.into_iter()),
            [
                "portcullis_jwt",
                "portcullis_tenant",
                "portcullis_authz",
                "portcullis_accounts",
                "portcullis_redact"
            ]
        );
    }

    #[test]
    fn empty_maps_are_left_out_and_empty_lists_refused() {
        let value = json!({"a": {"b": {}}, "c": [1]});
        assert_eq!(lua_safe(&value, "f").unwrap(), json!({"c": [1]}));
        let err = lua_safe(&json!({"t": [{"issuers": []}]}), "f").unwrap_err();
        assert!(err.starts_with("f.t[0].issuers: "), "{err}");
    }
}
