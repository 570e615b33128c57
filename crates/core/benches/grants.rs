//! Grant compilation and decisions with 10, 1,000 and 10,000 grants (SPEC section 4: thousands
//! of grants must decide in well under a microsecond natively).
//!
//! The grant mix is what a large role table looks like: exact scopes, scope trees (`.../*`),
//! in-segment prefixes (`locations*`), inner globs, policy domains (`contract:*`) and filtered
//! exact policies. Decisions measured: a hit deep in the scope trie, a filtered policy hit, a
//! miss, and a hit on a requirement matched by several grants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use portcullis_core::policy::{GrantSet, Permission};

fn grant_texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 6 {
            0 => format!("br.com.app{i}/sales/customerServices/*"),
            1 => format!("br.com.app{i}/sales/customerServices/stockout"),
            2 => format!("br.com.app/inventory/locations{i}*"),
            3 => format!("br.com.app/r*{i}/reports"),
            4 => format!("domain{i}:*"),
            _ => format!("domain{i}:one:read::!{{user.cpf,mother}}"),
        })
        .chain([
            "contract:*".to_string(),
            "contract:one:read::!{user.cpf,mother}".to_string(),
            "contract:*:read::!{mother}".to_string(),
        ])
        .collect()
}

fn parse_all(texts: &[String]) -> Vec<Permission> {
    texts
        .iter()
        .map(|t| Permission::parse(t).unwrap())
        .collect()
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("grants/compile");
    for n in [10, 1_000, 10_000] {
        let grants = parse_all(&grant_texts(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &grants, |b, grants| {
            b.iter(|| GrantSet::compile(black_box(grants.clone())))
        });
    }
    group.finish();
}

fn decide(c: &mut Criterion) {
    let requirements = [
        (
            "scope_tree_hit",
            "br.com.app0/sales/customerServices/stockout",
        ),
        ("policy_filtered_hit", "domain5:one:read"),
        ("scope_miss", "br.com.app/finance/reports/monthly"),
        ("policy_multi_hit", "contract:one:read"),
    ];
    for n in [10, 1_000, 10_000] {
        let set = GrantSet::compile(parse_all(&grant_texts(n)));
        let mut group = c.benchmark_group(format!("grants/decide/{n}"));
        for (label, text) in requirements {
            let requirement = Permission::parse_requirement(text).unwrap();
            group.bench_function(BenchmarkId::new("check", label), |b| {
                b.iter(|| set.check(black_box(&requirement)))
            });
            group.bench_function(BenchmarkId::new("allows", label), |b| {
                b.iter(|| set.allows(black_box(&requirement)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, compile, decide);
criterion_main!(benches);
