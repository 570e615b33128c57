//! Tenant resolution with 10,000 tenants: exact hits, wildcard hits at several depths,
//! misses, and the whole per-request step (normalise the raw `:authority`, resolve, bind
//! the token). Resolution is a few hash look-ups, so every case should cost about the
//! same as with ten tenants.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use portcullis_core::tenant::{normalize_host, TenantConfig, TenantTable};
use serde_json::{json, Map, Value};

/// 10,000 tenants, each at `t{i}.example.com` and `*.t{i}.example.com`.
fn table() -> Option<TenantTable> {
    let tenants: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({
                "id": format!("t{i}"),
                "domains": [format!("t{i}.example.com"), format!("*.t{i}.example.com")],
                "issuers": [format!("https://kc.example.com/realms/t{i}")],
            })
        })
        .collect();
    let config: TenantConfig =
        serde_json::from_value(json!({"tenants": tenants, "tenant_claim": "tenant"})).ok()?;
    TenantTable::compile(&config).ok()
}

fn resolve(c: &mut Criterion) {
    let Some(table) = table() else {
        eprintln!("tenant bench: the configuration did not compile");
        return;
    };
    let mut group = c.benchmark_group("tenant_resolve_10k");
    let cases = [
        ("exact_hit", "t5000.example.com"),
        ("wildcard_hit", "shop.t5000.example.com"),
        ("deep_wildcard_hit", "a.b.c.d.shop.t5000.example.com"),
        ("miss", "t10000.example.com"),
        ("deep_miss", "a.b.c.d.e.f.g.unknown.example.org"),
    ];
    for (name, host) in cases {
        group.bench_function(name, |b| {
            b.iter(|| table.resolve(black_box(host)).is_some())
        });
    }
    group.finish();

    let mut claims = Map::new();
    claims.insert("tenant".into(), Value::String("t5000".into()));
    let issuer = "https://kc.example.com/realms/t5000";
    c.bench_function("tenant_normalize_resolve_bind_10k", |b| {
        b.iter(|| {
            let host = normalize_host(black_box("Shop.T5000.example.com:10000")).ok()?;
            let tenant = table.resolve(&host)?;
            table.bind_token(tenant, black_box(issuer), &claims).ok()
        })
    });
    c.bench_function("tenant_normalize_host", |b| {
        b.iter(|| normalize_host(black_box("Shop.T5000.example.com:10000")).is_ok())
    });
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("tenant_compile");
    group.sample_size(10);
    group.bench_function("10k_tenants", |b| b.iter(|| table().is_some()));
    group.finish();
}

criterion_group!(benches, resolve, compile);
criterion_main!(benches);
