//! Redaction and response account-check throughput on the demo contract shape: a JSON
//! array of contracts at 1 KB, 100 KB and 5 MB, reported in bytes per second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_core::accounts::ResponseAccounts;
use portcullis_core::fields::{FieldFilter, FilterMode};
use portcullis_core::redact::Redactor;
use std::hint::black_box;

const SIZES: &[(&str, usize)] = &[
    ("1KB", 1024),
    ("100KB", 100 * 1024),
    ("5MB", 5 * 1024 * 1024),
];

/// A JSON array of demo contracts, about `size` bytes long; every tenth one is owned by
/// `qa` (the backend bug the account filter catches).
fn contracts(size: usize) -> Vec<u8> {
    let mut out = String::from("[");
    let mut i = 0usize;
    while out.len() < size {
        if i > 0 {
            out.push(',');
        }
        let owner = if i % 10 == 9 { "qa" } else { "demostore" };
        out.push_str(&format!(
            r#"{{"id":"{i:03}-456","contractOwner":"{owner}","source":"adwords","user":{{"name":"Usuário","cpf":"000.000.370.00","rendaMensal":15000}},"mother":{{"name":"Mãe","cpf":"000.000.370.00","rendaMensal":15000}}}}"#
        ));
        i += 1;
    }
    out.push(']');
    out.into_bytes()
}

fn redact(c: &mut Criterion) {
    let remove = FieldFilter {
        mode: FilterMode::Remove,
        paths: vec!["user.cpf".into(), "mother".into()],
    };
    let keep = FieldFilter {
        mode: FilterMode::Keep,
        paths: vec!["id".into(), "contractOwner".into(), "user.name".into()],
    };
    let removing = Redactor::compile(std::slice::from_ref(&remove), &[]).unwrap();
    let keeping = Redactor::compile(&[keep], &[]).unwrap();
    let mut group = c.benchmark_group("redact");
    for &(label, size) in SIZES {
        let body = contracts(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("remove_cpf_mother", label),
            &body,
            |b, body| b.iter(|| removing.apply(black_box(body)).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("keep_id_owner_name", label),
            &body,
            |b, body| b.iter(|| keeping.apply(black_box(body)).unwrap()),
        );
    }
    group.finish();
}

fn accounts(c: &mut Criterion) {
    let rule = ResponseAccounts::parse("filter: [*].contractOwner").unwrap();
    let allowed = |id: &str| id == "demostore";
    let mut group = c.benchmark_group("accounts");
    for &(label, size) in SIZES {
        let body = contracts(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("filter_contract_owner", label),
            &body,
            |b, body| b.iter(|| rule.check(black_box(body), &allowed).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, redact, accounts);
criterion_main!(benches);
