//! Warnings: what the filters accept but is probably a mistake.
//!
//! - a role or group grant that matches no route's requirement (a dead grant, or a typo);
//! - a scope whose application prefix (first segment) is at most two edits (insertions,
//!   deletions, substitutions, transpositions) from another prefix used at least as often:
//!   "did you mean"; prefixes shorter than 6 characters are not compared, too many short
//!   names are a letter apart;
//! - a `*` in a route's requirement, which the policy language reserves for grants;
//! - a tenant's wildcard domain that covers another tenant's domain (the exact domain,
//!   or the longer wildcard, wins: probably not what was meant).

use super::Diagnostic;
use crate::gateway::{find_line, find_text, Source};
use portcullis_core::policy::{GrantSet, Permission, PermissionKind, RoleTable};
use portcullis_core::route::{Requirement, RouteRequirement};
use portcullis_core::tenant::{normalize_host, TenantConfig};
use std::collections::BTreeMap;

/// Shortest application prefix compared for typos.
const MIN_PREFIX_CHARS: usize = 6;
/// Largest edit distance reported as a probable typo.
const MAX_EDITS: usize = 2;

/// Where a permission was written.
struct Site {
    file: String,
    line: Option<usize>,
    field: String,
}

/// Adds every warning.
pub fn warnings(source: &Source, table: Option<&RoleTable>, out: &mut Vec<Diagnostic>) {
    let requirements = requirements(source);
    for (permission, site) in &requirements {
        if permission.has_wildcard() {
            let message =
                format!("`{permission}` contains `*`: a requirement names one scope or policy");
            out.push(Diagnostic::warning(
                &site.file,
                site.line,
                &site.field,
                message,
            ));
        }
    }
    let grants = table.map(|t| grants(source, t)).unwrap_or_default();
    for (grant, site) in &grants {
        let single = GrantSet::compile([grant.clone()]);
        if !requirements
            .iter()
            .any(|(required, _)| single.allows(required))
        {
            let message = format!("grant `{grant}` matches no route's requirement");
            out.push(Diagnostic::warning(
                &site.file,
                site.line,
                &site.field,
                message,
            ));
        }
    }
    prefix_typos(requirements.iter().chain(grants.iter()), out);
    tenant_overlaps(source, out);
}

/// Every permission of every requirement: `routes[*].requirement` and the filters' own
/// route tables.
fn requirements(source: &Source) -> Vec<(Permission, Site)> {
    let file = source.file.shown();
    let text = &source.file.text;
    let mut texts: Vec<(String, Site)> = Vec::new();
    for route in &source.gateway.routes {
        if let Some(requirement) = &route.requirement {
            let line = find_line(
                text,
                &["routes", &format!("name: {}", route.name), "requirement"],
            );
            let field = format!("routes[{}].requirement", route.name);
            texts.push((
                requirement.clone(),
                Site {
                    file: file.clone(),
                    line,
                    field,
                },
            ));
        }
    }
    for (filter, config) in &source.gateway.filters {
        let Some(table) = config.get("routes").and_then(|r| r.as_object()) else {
            continue;
        };
        for (route, entry) in table {
            if let Some(requirement) = entry.get("requirement").and_then(|r| r.as_str()) {
                let line = find_line(text, &["filters", filter, "routes", route, "requirement"]);
                let field = format!("filters.{filter}.routes.{route}.requirement");
                texts.push((
                    requirement.to_string(),
                    Site {
                        file: file.clone(),
                        line,
                        field,
                    },
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (text, site) in texts {
        if let Ok(parsed) = RouteRequirement::parse(&text) {
            let mut leaves = Vec::new();
            match &parsed {
                RouteRequirement::AllMethods(r) => collect(r, &mut leaves),
                RouteRequirement::ByMethod(clauses) => {
                    clauses.iter().for_each(|(_, r)| collect(r, &mut leaves))
                }
            }
            for permission in leaves {
                let site = Site {
                    file: site.file.clone(),
                    line: site.line,
                    field: site.field.clone(),
                };
                out.push((permission, site));
            }
        }
    }
    out
}

fn collect(requirement: &Requirement, out: &mut Vec<Permission>) {
    match requirement {
        Requirement::Permission(p) => out.push(p.clone()),
        Requirement::AnyOf(terms) | Requirement::AllOf(terms) => {
            terms.iter().for_each(|t| collect(t, out))
        }
        Requirement::Public | Requirement::Optional | Requirement::Authenticated => {}
    }
}

/// Every grant of every role and group, with where it is written.
fn grants(source: &Source, table: &RoleTable) -> Vec<(Permission, Site)> {
    let Some(file) = &source.policies_file else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let sections = [
        ("roles", table.roles().collect::<Vec<_>>()),
        ("groups", table.groups().collect()),
    ];
    for (section, entries) in sections {
        for (name, set) in entries {
            let start = find_line(&file.text, &[section, name]);
            for grant in set.iter() {
                let line = start
                    .and_then(|s| {
                        find_text(&file.text, s, &grant.to_string())
                            .or_else(|| find_text(&file.text, s, grant.name()))
                    })
                    .or(start);
                let site = Site {
                    file: file.shown(),
                    line,
                    field: format!("{section}.{name}"),
                };
                out.push((grant.clone(), site));
            }
        }
    }
    out
}

fn prefix_typos<'a>(
    permissions: impl Iterator<Item = &'a (Permission, Site)>,
    out: &mut Vec<Diagnostic>,
) {
    let mut uses: BTreeMap<&str, Vec<&Site>> = BTreeMap::new();
    for (permission, site) in permissions {
        if permission.kind() != PermissionKind::Scope {
            continue;
        }
        let prefix = permission.name().split('/').next().unwrap_or_default();
        if prefix.chars().count() >= MIN_PREFIX_CHARS && !prefix.contains('*') {
            uses.entry(prefix).or_default().push(site);
        }
    }
    for (prefix, sites) in &uses {
        // The most used prefix within reach (then the nearest) is the probable spelling.
        let best = uses
            .iter()
            .filter(|(other, other_sites)| other != &prefix && other_sites.len() >= sites.len())
            .map(|(other, other_sites)| (other, other_sites.len(), distance(prefix, other)))
            .filter(|(_, _, edits)| *edits <= MAX_EDITS)
            .max_by_key(|(_, count, edits)| (*count, std::cmp::Reverse(*edits)));
        let Some((other, _, edits)) = best else {
            continue;
        };
        let unit = if edits == 1 { "edit" } else { "edits" };
        for site in sites {
            let message = format!(
                "scope prefix `{prefix}` is {edits} {unit} from `{other}`: did you mean `{other}`?"
            );
            out.push(Diagnostic::warning(
                &site.file,
                site.line,
                &site.field,
                message,
            ));
        }
    }
}

/// Edit distance with adjacent transpositions (optimal string alignment), on characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        d[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        d[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[at(i - 1, j)] + 1)
                .min(d[at(i, j - 1)] + 1)
                .min(d[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[at(i - 2, j - 2)] + 1);
            }
            d[at(i, j)] = best;
        }
    }
    d[at(a.len(), b.len())]
}

fn tenant_overlaps(source: &Source, out: &mut Vec<Diagnostic>) {
    let Some(config) = source.filter_json("portcullis_tenant") else {
        return;
    };
    let Ok(config) = serde_json::from_value::<TenantConfig>(config) else {
        return; // reported as an error by the filter's own parser
    };
    let file = source.file.shown();
    let text = &source.file.text;
    let start = find_line(text, &["filters", "portcullis_tenant", "tenants"]).unwrap_or(0);
    let mut patterns: Vec<(&str, &str, String)> = Vec::new();
    for tenant in &config.tenants {
        for raw in &tenant.domains {
            let normal = match raw.strip_prefix("*.") {
                Some(rest) => normalize_host(rest).map(|h| format!("*.{h}")),
                None => normalize_host(raw),
            };
            if let Ok(normal) = normal {
                patterns.push((tenant.id.as_str(), raw.as_str(), normal));
            }
        }
    }
    for (wild_tenant, wild_raw, wild) in &patterns {
        let Some(suffix) = wild.strip_prefix("*.") else {
            continue;
        };
        for (tenant, raw, pattern) in &patterns {
            let covered = pattern
                .trim_start_matches("*.")
                .ends_with(&format!(".{suffix}"));
            if tenant == wild_tenant || !covered {
                continue;
            }
            let line = find_text(text, start, raw);
            let field = format!("filters.portcullis_tenant.tenants[{tenant}].domains");
            let message = format!(
                "`{raw}` of tenant `{tenant}` is also covered by `{wild_raw}` of tenant `{wild_tenant}` (the more specific pattern wins)"
            );
            out.push(Diagnostic::warning(&file, line, field, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn transposition_is_one_edit() {
        assert_eq!(
            distance("br.com.chaordic.cockipt", "br.com.chaordic.cockpit"),
            1
        );
        assert_eq!(
            distance("br.com.chardic.cockpit", "br.com.chaordic.cockpit"),
            1
        );
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("", "ab"), 2);
    }
}
