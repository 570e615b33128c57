//! `accounts::AccountLocation::parse` and `extract`. The input is either a location text
//! (first byte `L`: parsed, then used on an empty request) or a request: `:path` (with
//! query), header lines (`name: value`), body, split at 0xFF, run through every location
//! kind. Invariants: no panic; an extracted id is plain (1..=256 bytes of letters,
//! digits, `-._~:@`); every copy of the id in the request (query parameters whose
//! form-decoded name matches, headers of that name, the body field as serde_json reads
//! it) holds that same id, so the backend cannot read another one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::accounts::AccountLocation;
use portcullis_fuzz::{split, text};
use std::sync::OnceLock;

static LOCATIONS: OnceLock<Vec<(&'static str, AccountLocation)>> = OnceLock::new();

const TEXTS: [&str; 7] = [
    "path:/accounts/{account}/contracts/{id}",
    "segment:2",
    "query:account_id",
    "header:x-account-id",
    "body:account.id",
    "body:[*].owner",
    "body:items[*].account",
];

fn locations() -> Vec<(&'static str, AccountLocation)> {
    TEXTS
        .iter()
        .map(|t| (*t, AccountLocation::parse(t).expect("fixed location")))
        .collect()
}

fn plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:@".contains(&b))
}

fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|&h| char::from(h).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1
            }
            (c, _, _) => {
                out.push(c);
                i += 1
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Some(rest) = data.strip_prefix(b"L") {
        if let Ok(loc) = AccountLocation::parse(&text(rest)) {
            let _ = loc.to_string();
            let _ = loc.extract(
                "/a/b/c",
                Some("a=b"),
                &[("x".into(), "y".into())],
                Some(b"{}"),
            );
        }
        return;
    }
    let parts = split(data, 3);
    let target = text(parts[0]);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.clone(), None),
    };
    let headers: Vec<(String, String)> = text(parts[1])
        .lines()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.to_string(), v.to_string()))
        })
        .collect();
    let body = parts[2];
    for (kind, loc) in LOCATIONS.get_or_init(locations) {
        let Ok(Some(id)) = loc.extract(&path, query.as_deref(), &headers, Some(body)) else {
            continue;
        };
        assert!(plain(&id), "{kind}: extracted a non-plain id {id:?}");
        match *kind {
            "query:account_id" => {
                for pair in query.as_deref().unwrap_or("").split('&') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if form_decode(k) == b"account_id" {
                        assert_eq!(v, id, "query parameter disagrees");
                    }
                }
            }
            "header:x-account-id" => {
                for (n, v) in &headers {
                    if n.eq_ignore_ascii_case("x-account-id") {
                        assert_eq!(v.trim_matches([' ', '\t']), id, "header disagrees");
                    }
                }
            }
            "body:account.id" => {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                    match v.get("account").and_then(|a| a.get("id")) {
                        Some(serde_json::Value::String(s)) => {
                            assert_eq!(*s, id, "body field disagrees")
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
});
