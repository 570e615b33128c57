//! Which response fields a granted request shows, computed from the field filters alone (no
//! response body): the route's filter always applies; among the caller's matching grants the
//! most permissive wins, field by field (`docs/policy-language.md`, "Which filter applies").
//!
//! Paths are the filters' dotted paths (`user.cpf`, `items.*.cpf`), where `*` stands for any
//! one key. A path names a value and everything under it, so the set of values a Remove
//! filter hides is the union, over its paths `p`, of `H(p)`: every value whose path starts
//! with something `p` matches. Two facts make the Remove case exact:
//!
//! - `H(p) ∩ H(q) = H(meet(p, q))`, where `meet` matches the common prefix segment by
//!   segment (a `*` gives way to the other side's key; two different keys: empty) and then
//!   continues with the longer path ([`meet`]);
//! - `H(q) ⊆ H(p)` exactly when `p` is no longer than `q` and each of its segments is `*` or
//!   `q`'s ([`covers`]).
//!
//! So "hidden by every matching grant" is the pairwise meets of the grants' paths, and the
//! route's Remove paths are added on top; both lists are reduced to their minimal form
//! (sorted, duplicates and covered paths dropped).
//!
//! A Keep filter (`::{id,source}`) hides every field it does not list, which depends on the
//! body: it is reported as a separate `keep_only` list instead of hidden paths (see
//! [`Visibility`]).

use portcullis_core::fields::{FieldFilter, FilterMode};

/// What a granted request shows, from the filters that apply.
///
/// The response keeps only what is under a `keep_only` path (and the objects on the way to
/// one) when `keep_only` is set, and never what is under a `hidden` path. Every path in
/// `hidden` is hidden. `exact` is false in the one combination these two lists cannot
/// spell: matching grants that mix Keep and Remove filters where a Keep path overlaps a
/// Remove path without containing it (then `hidden` leaves out the Remove paths the Keep
/// filter partly shows back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// Dotted paths removed from the response: sorted, minimal (no path under another).
    pub hidden: Vec<String>,
    /// When a Keep filter applies: the only paths shown (sorted, minimal); `None` otherwise.
    pub keep_only: Option<Vec<String>>,
    /// True when `hidden` and `keep_only` say exactly what the gateway removes (up to empty
    /// objects it leaves on the way to kept fields).
    pub exact: bool,
}

impl Visibility {
    /// Nothing hidden.
    pub fn everything() -> Visibility {
        Visibility {
            hidden: Vec::new(),
            keep_only: None,
            exact: true,
        }
    }
}

/// Computes the visibility for the route's own filter (`route`, always applied) and the
/// filters of the caller's matching grants (`grants`; empty when some matching grant has no
/// filter, i.e. [`portcullis_core::policy::GrantMatch::filters`]).
pub fn visibility(route: Option<&FieldFilter>, grants: &[FieldFilter]) -> Visibility {
    let mut out = grants_visibility(grants);
    match route {
        None => {}
        Some(f) if f.mode == FilterMode::Remove => {
            out.hidden.extend(f.paths.iter().cloned());
            out.hidden = minimal(out.hidden);
        }
        Some(f) => {
            out.keep_only = Some(match out.keep_only.take() {
                None => minimal(f.paths.clone()),
                // Keep(a) ∩ Keep(b) = Keep(meet(a, b)) for paths that meet; objects on the
                // way to both that do not meet are left empty by the gateway.
                Some(kept) => meets(&kept, &f.paths),
            });
        }
    }
    out
}

fn grants_visibility(grants: &[FieldFilter]) -> Visibility {
    let mut removed: Option<Vec<String>> = None;
    let mut kept: Option<Vec<String>> = None;
    for filter in grants {
        match filter.mode {
            FilterMode::Remove => {
                removed = Some(match removed {
                    None => minimal(filter.paths.clone()),
                    Some(so_far) => meets(&so_far, &filter.paths),
                });
            }
            FilterMode::Keep => {
                // Keep(a) ∪ Keep(b) = Keep(a ∪ b).
                let mut all = kept.unwrap_or_default();
                all.extend(filter.paths.iter().cloned());
                kept = Some(minimal(all));
            }
        }
    }
    match (removed, kept) {
        (None, None) => Visibility::everything(),
        (Some(hidden), None) => Visibility {
            hidden,
            keep_only: None,
            exact: true,
        },
        (None, Some(kept)) => Visibility {
            hidden: Vec::new(),
            keep_only: Some(kept),
            exact: true,
        },
        (Some(removed), Some(kept)) => {
            // Shown: what the Keep grants keep, plus what the Remove grants do not all hide.
            // A removed path no kept path touches stays hidden; one a kept path contains is
            // shown again; one a kept path only partly shows cannot be listed.
            let mut exact = true;
            let mut hidden = Vec::new();
            for r in removed {
                let rs = segments(&r);
                let touched: Vec<_> = kept
                    .iter()
                    .filter(|k| meet(&segments(k), &rs).is_some())
                    .collect();
                if touched.is_empty() {
                    hidden.push(r);
                } else if !touched.iter().any(|k| covers(&segments(k), &rs)) {
                    exact = false;
                }
            }
            Visibility {
                hidden,
                keep_only: None,
                exact,
            }
        }
    }
}

/// Whether the value at the concrete dotted path `path` (no `*`) is removed, assuming the
/// values on the way to it are objects (or arrays of them). Exact for every combination of
/// filters: `route` always applies, and among the grants' filters (`grants`, empty =
/// unrestricted) the value is hidden only when every one hides it.
pub fn is_hidden(route: Option<&FieldFilter>, grants: &[FieldFilter], path: &str) -> bool {
    let x = segments(path);
    route.is_some_and(|f| hides(f, &x))
        || (!grants.is_empty() && grants.iter().all(|f| hides(f, &x)))
}

/// Whether `filter` alone hides the value at `x` (or an object it is in).
fn hides(filter: &FieldFilter, x: &[&str]) -> bool {
    let paths = filter.paths.iter().map(|p| segments(p));
    match filter.mode {
        FilterMode::Remove => paths.into_iter().any(|p| prefix_matches(&p, x)),
        FilterMode::Keep => !paths.into_iter().any(|k| {
            // Kept: under a listed path, or an object on the way to one.
            prefix_matches(&k, x) || (x.len() < k.len() && prefix_matches(x, &k))
        }),
    }
}

/// `pattern` matches the first `pattern.len()` segments of `x` (`*` in `pattern` matches any
/// key). Used both ways round: a concrete `x` against a pattern, and a concrete prefix
/// against a pattern's first segments (a `*` in `x` is then only matched by a `*`).
fn prefix_matches(pattern: &[&str], x: &[&str]) -> bool {
    pattern.len() <= x.len()
        && pattern
            .iter()
            .zip(x)
            .all(|(p, s)| *p == "*" || p == s || *s == "*")
}

/// The segments of a dotted path (validated by the field-filter parser).
pub fn segments(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

/// The pattern for `H(a) ∩ H(b)`, or `None` when no value is under both.
pub fn meet(a: &[&str], b: &[&str]) -> Option<String> {
    let mut out: Vec<&str> = Vec::with_capacity(a.len().max(b.len()));
    for (x, y) in a.iter().zip(b) {
        out.push(match (*x, *y) {
            ("*", y) => y,
            (x, "*") => x,
            (x, y) if x == y => x,
            _ => return None,
        });
    }
    let longer = if a.len() > b.len() { a } else { b };
    out.extend(longer.iter().skip(out.len()));
    Some(out.join("."))
}

/// `H(q) ⊆ H(p)`: everything under `q` is under `p`.
pub fn covers(p: &[&str], q: &[&str]) -> bool {
    p.len() <= q.len() && p.iter().zip(q).all(|(x, y)| *x == "*" || x == y)
}

/// Every non-empty pairwise meet of `a` and `b`, minimal.
fn meets(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if let Some(m) = meet(&segments(x), &segments(y)) {
                out.push(m);
            }
        }
    }
    minimal(out)
}

/// Sorted, without duplicates and without paths another path covers.
pub fn minimal(mut paths: Vec<String>) -> Vec<String> {
    paths.sort();
    paths.dedup();
    let keep: Vec<bool> = paths
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let qs = segments(q);
            !paths
                .iter()
                .enumerate()
                .any(|(j, p)| i != j && covers(&segments(p), &qs))
        })
        .collect();
    paths
        .into_iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(p))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn filter(mode: FilterMode, paths: &[&str]) -> FieldFilter {
        FieldFilter {
            mode,
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }
    fn rm(paths: &[&str]) -> FieldFilter {
        filter(FilterMode::Remove, paths)
    }
    fn kp(paths: &[&str]) -> FieldFilter {
        filter(FilterMode::Keep, paths)
    }

    #[test]
    fn meet_resolves_stars_and_extends_with_the_longer_path() {
        assert_eq!(
            meet(&["user"], &["user", "cpf"]).as_deref(),
            Some("user.cpf")
        );
        assert_eq!(meet(&["*", "cpf"], &["user"]).as_deref(), Some("user.cpf"));
        assert_eq!(meet(&["*", "cpf"], &["*"]).as_deref(), Some("*.cpf"));
        assert_eq!(meet(&["user"], &["mother"]), None);
        assert_eq!(meet(&["a", "*"], &["*", "b"]).as_deref(), Some("a.b"));
    }

    #[test]
    fn covers_is_subtree_inclusion() {
        assert!(covers(&["user"], &["user", "cpf"]));
        assert!(covers(&["*"], &["user"]));
        assert!(!covers(&["user"], &["*"]));
        assert!(!covers(&["user", "cpf"], &["user"]));
    }

    #[test]
    fn minimal_drops_duplicates_and_covered_paths() {
        let got = minimal(vec![
            "user.cpf".into(),
            "mother".into(),
            "user".into(),
            "mother".into(),
        ]);
        assert_eq!(got, ["mother", "user"]);
        assert_eq!(minimal(vec!["*.cpf".into(), "user.cpf".into()]), ["*.cpf"]);
    }

    #[test]
    fn remove_filters_intersect_across_grants_and_the_route_adds() {
        let v = visibility(None, &[rm(&["user.cpf", "mother"]), rm(&["mother"])]);
        assert_eq!(v.hidden, ["mother"]);
        let v = visibility(None, &[rm(&["mother"]), rm(&["mother.cpf"])]);
        assert_eq!(v.hidden, ["mother.cpf"]);
        let v = visibility(Some(&rm(&["source"])), &[rm(&["user.cpf", "mother"])]);
        assert_eq!(v.hidden, ["mother", "source", "user.cpf"]);
        assert_eq!(visibility(Some(&rm(&["source"])), &[]).hidden, ["source"]);
        assert_eq!(visibility(None, &[]), Visibility::everything());
    }

    #[test]
    fn keep_filters_are_reported_as_keep_only() {
        let v = visibility(None, &[kp(&["id"]), kp(&["source"])]);
        assert_eq!(v.keep_only, Some(vec!["id".into(), "source".into()]));
        assert!(v.hidden.is_empty());
        let v = visibility(Some(&kp(&["user"])), &[rm(&["user.cpf"])]);
        assert_eq!(v.keep_only, Some(vec!["user".into()]));
        assert_eq!(v.hidden, ["user.cpf"]);
        let v = visibility(Some(&kp(&["user", "id"])), &[kp(&["user.name", "source"])]);
        assert_eq!(v.keep_only, Some(vec!["user.name".into()]));
    }

    #[test]
    fn mixed_keep_and_remove_grants() {
        // Disjoint: exact.
        let v = visibility(None, &[kp(&["id"]), rm(&["mother"])]);
        assert_eq!(
            (v.hidden.clone(), v.keep_only.clone(), v.exact),
            (vec!["mother".into()], None, true)
        );
        // The Keep grant shows all of `user` back: exact.
        let v = visibility(None, &[kp(&["user"]), rm(&["user.cpf", "mother"])]);
        assert_eq!((v.hidden, v.exact), (vec!["mother".to_string()], true));
        // The Keep grant shows only part of `user` back: not listable.
        let v = visibility(None, &[kp(&["user.name"]), rm(&["user"])]);
        assert_eq!((v.hidden, v.exact), (Vec::<String>::new(), false));
    }

    #[test]
    fn is_hidden_follows_every_rule() {
        let atendimento = rm(&["user.cpf", "mother"]);
        assert!(is_hidden(
            None,
            std::slice::from_ref(&atendimento),
            "mother"
        ));
        assert!(is_hidden(
            None,
            std::slice::from_ref(&atendimento),
            "mother.name"
        ));
        assert!(!is_hidden(None, std::slice::from_ref(&atendimento), "user"));
        assert!(!is_hidden(
            None,
            &[atendimento.clone(), rm(&["mother"])],
            "user.cpf"
        ));
        assert!(is_hidden(
            None,
            &[rm(&["mother"]), rm(&["mother.cpf"])],
            "mother.cpf"
        ));
        assert!(!is_hidden(None, &[], "mother"));
        assert!(is_hidden(Some(&rm(&["source"])), &[], "source"));
        let keep = kp(&["id", "user.name"]);
        assert!(!is_hidden(None, std::slice::from_ref(&keep), "user"));
        assert!(!is_hidden(None, std::slice::from_ref(&keep), "user.name"));
        assert!(is_hidden(None, std::slice::from_ref(&keep), "user.cpf"));
        assert!(is_hidden(Some(&keep), &[], "mother"));
        assert!(is_hidden(None, &[rm(&["*.cpf"])], "user.cpf"));
    }
}
