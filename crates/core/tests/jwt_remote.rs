#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A provider's remote JWKS state (`jwt::remote`): fetch schedule, stale-on-error,
//! rate-limited re-fetch, and OpenID discovery. Times are passed in.
use portcullis_core::jwt::config::RemoteJwksConfig;
use portcullis_core::jwt::keys::KeySet;
use portcullis_core::jwt::remote::{FetchOutcome, FetchRequest, Refetch, RemoteKeys, RemoteSource};
use serde_json::json;

const RSA_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";

fn jwks(kids: &[&str]) -> Vec<u8> {
    let keys: Vec<_> = kids
        .iter()
        .map(|kid| json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": RSA_N, "e": "AQAB"}))
        .collect();
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

const ISSUER: &str = "https://idp.example.com/realms/acme";

fn config() -> RemoteJwksConfig {
    RemoteJwksConfig {
        cluster: "idp".into(),
        path: Some("/jwks".into()),
        openid_discovery: false,
        authority: None,
        cache_duration_seconds: 600,
        timeout_ms: 2000,
        refetch_min_interval_seconds: 30,
    }
}

fn state() -> RemoteKeys {
    RemoteKeys::new(RemoteSource::compile(&config(), ISSUER).unwrap())
}

fn discovering() -> RemoteKeys {
    let config = RemoteJwksConfig {
        path: None,
        openid_discovery: true,
        ..config()
    };
    RemoteKeys::new(RemoteSource::compile(&config, ISSUER).unwrap())
}

fn header<'a>(req: &'a FetchRequest, name: &str) -> &'a str {
    req.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap()
}

fn document(jwks_uri: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"issuer": ISSUER, "jwks_uri": jwks_uri})).unwrap()
}

const T0: u64 = 1_700_000_000_000;

#[test]
fn the_first_fetch_is_due_at_once_and_names_the_cluster_path_and_authority() {
    let mut s = state();
    assert_eq!(s.next_event(T0), 0);
    let req = s.poll(T0).unwrap();
    assert_eq!(req.upstream, "idp");
    assert!(req.headers.contains(&(":path".into(), "/jwks".into())));
    assert!(req.headers.contains(&(":authority".into(), "idp".into())));
    assert_eq!(req.timeout_ms, 2000);
    assert!(s.is_pending());
    assert!(s.poll(T0 + 10).is_none(), "never two fetches at once");
    assert!(s.keys().is_none());
}

#[test]
fn a_good_answer_is_used_until_the_cache_duration_then_refetched() {
    let mut s = state();
    s.poll(T0).unwrap();
    let out = s.on_response(T0 + 5, Some(200), &jwks(&["k1"]));
    assert_eq!(
        out,
        FetchOutcome::Updated {
            keys: 1,
            changed: false,
            skipped: vec![]
        }
    );
    assert!(s.has_kid("k1") && !s.has_kid("k2"));
    assert!(!s.is_pending());
    assert_eq!(s.next_event(T0 + 5), 600_000);
    assert!(s.poll(T0 + 599_000).is_none());
    assert!(s.poll(T0 + 600_005).is_some());
    assert_eq!(
        s.on_response(T0 + 600_010, Some(200), &jwks(&["k1"])),
        FetchOutcome::Unchanged
    );
    s.poll(T0 + 1_200_010).unwrap();
    let out = s.on_response(T0 + 1_200_020, Some(200), &jwks(&["k2"]));
    assert!(matches!(out, FetchOutcome::Updated { changed: true, .. }));
    assert!(
        s.has_kid("k2") && !s.has_kid("k1"),
        "rotation replaces the set"
    );
}

#[test]
fn failures_and_garbage_keep_the_last_good_set_and_back_off() {
    let mut s = state();
    s.poll(T0).unwrap();
    s.on_response(T0, Some(200), &jwks(&["k1"]));
    let t = T0 + 600_000;
    for (i, (status, body)) in [
        (None, &b""[..]),
        (Some(503), &b"down"[..]),
        (Some(200), &b"<html>not json</html>"[..]),
        (Some(200), &br#"{"keys": []}"#[..]),
        (
            Some(200),
            &br#"{"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}"#[..],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let now = s.next_event(t) + t + i as u64 * 10_000_000;
        assert!(s.poll(now).is_some(), "attempt {i}");
        match s.on_response(now, status, body) {
            FetchOutcome::Failed {
                stale_keys_kept, ..
            } => assert!(stale_keys_kept),
            other => panic!("attempt {i}: {other:?}"),
        }
        assert!(s.has_kid("k1"), "attempt {i}: last good set kept");
        assert!(s.last_error().is_some());
    }
    assert_eq!(s.failures(), 5);
}

#[test]
fn retries_back_off_from_the_min_interval_up_to_the_cache_duration() {
    let mut s = state();
    let mut now = T0;
    let mut delays = Vec::new();
    for _ in 0..8 {
        s.poll(now).unwrap();
        s.on_response(now, None, b"");
        let d = s.next_event(now);
        delays.push(d / 1000);
        now += d;
    }
    assert_eq!(delays, vec![30, 60, 120, 240, 480, 600, 600, 600]);
    s.poll(now).unwrap();
    s.on_response(now, Some(200), &jwks(&["k1"]));
    assert_eq!(s.failures(), 0);
    assert_eq!(s.next_event(now), 600_000);
}

#[test]
fn an_unknown_kid_asks_for_one_rate_limited_refetch() {
    let mut s = state();
    s.poll(T0).unwrap();
    s.on_response(T0, Some(200), &jwks(&["k1"]));
    let t = T0 + 60_000;
    assert_eq!(s.request_refetch(t), Refetch::Requested);
    assert_eq!(s.request_refetch(t), Refetch::Pending);
    assert_eq!(s.next_event(t), 0);
    assert!(s.poll(t).is_some());
    assert_eq!(s.request_refetch(t + 1), Refetch::Pending);
    s.on_response(t + 2, Some(200), &jwks(&["k1", "k2"]));
    assert!(s.has_kid("k2"));
    assert_eq!(s.request_refetch(t + 10_000), Refetch::RateLimited);
    assert!(s.poll(t + 10_000).is_none());
    assert_eq!(s.request_refetch(t + 30_000), Refetch::Requested);
    assert!(s.poll(t + 30_000).is_some());
}

#[test]
fn a_wanted_refetch_waits_for_the_rate_limit_when_the_timer_runs_first() {
    let mut s = state();
    s.poll(T0).unwrap();
    s.on_response(T0, Some(200), &jwks(&["k1"]));
    // The timer's refresh ran at T0 + 600 s: the on-demand window restarts from it.
    s.poll(T0 + 600_000).unwrap();
    s.on_response(T0 + 600_001, Some(200), &jwks(&["k1"]));
    assert_eq!(s.request_refetch(T0 + 610_000), Refetch::RateLimited);
    assert_eq!(s.request_refetch(T0 + 630_000), Refetch::Requested);
    assert_eq!(s.next_event(T0 + 630_000), 0);
}

#[test]
fn a_lost_answer_counts_as_a_failure_after_the_timeout() {
    let mut s = state();
    s.poll(T0).unwrap();
    assert_eq!(s.next_event(T0), 3000);
    assert!(s.poll(T0 + 2999).is_none());
    assert!(s.poll(T0 + 3000).is_none(), "failed, retry not yet due");
    assert_eq!(s.failures(), 1);
    assert_eq!(
        s.on_response(T0 + 3001, Some(200), &jwks(&["k"])),
        FetchOutcome::Ignored
    );
    assert!(s.keys().is_none());
}

#[test]
fn before_any_key_set_a_request_may_ask_for_a_fetch_once_per_interval() {
    let mut s = state();
    s.poll(T0).unwrap();
    assert_eq!(s.request_refetch(T0 + 1), Refetch::Pending);
    s.on_response(T0 + 2, None, b"");
    assert!(s.keys().is_none());
    assert_eq!(s.request_refetch(T0 + 3), Refetch::RateLimited);
    assert_eq!(s.request_refetch(T0 + 30_000), Refetch::Requested);
    s.poll(T0 + 30_000).unwrap();
    s.on_response(T0 + 30_001, Some(200), &jwks(&["k1"]));
    assert!(s.has_kid("k1"));
}

#[test]
fn remote_documents_skip_unusable_keys_but_refuse_duplicates_and_symmetric_keys() {
    let body = serde_json::to_vec(&json!({"keys": [
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": RSA_N, "e": "AQAB"},
        {"kty": "XYZ", "kid": "odd"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "sig", "alg": "RS256", "n": RSA_N, "e": "AQAB"},
    ]}))
    .unwrap();
    let (set, skipped) = KeySet::from_remote_jwks(&body).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.has_kid("sig") && !set.has_kid("hmac"));
    assert_eq!(skipped.len(), 3);
    let dup = jwks(&["a", "a"]);
    assert!(KeySet::from_remote_jwks(&dup).is_err());
    assert!(KeySet::from_remote_jwks(b"{\"keys\": 1}").is_err());
}

#[test]
fn settings_are_validated() {
    let ok = RemoteJwksConfig {
        authority: Some("idp.example.com".into()),
        ..config()
    };
    let compile = |c: &RemoteJwksConfig| RemoteSource::compile(c, ISSUER);
    assert_eq!(compile(&ok).unwrap().authority, "idp.example.com");
    let mut bad = ok.clone();
    bad.path = Some("jwks".into());
    assert!(compile(&bad).unwrap_err().contains("remote_jwks.path"));
    let mut bad = ok.clone();
    bad.path = None;
    assert!(compile(&bad).unwrap_err().contains("remote_jwks.path"));
    let mut bad = ok.clone();
    bad.openid_discovery = true;
    assert!(compile(&bad).unwrap_err().contains("openid_discovery"));
    let mut bad = ok.clone();
    bad.cluster = String::new();
    assert!(compile(&bad).unwrap_err().contains("cluster"));
    let mut bad = ok;
    bad.timeout_ms = 0;
    assert!(compile(&bad).unwrap_err().contains("timeout_ms"));
}

#[test]
fn discovery_needs_an_issuer_url() {
    let config = RemoteJwksConfig {
        path: None,
        openid_discovery: true,
        ..config()
    };
    let err = RemoteSource::compile(&config, "accounts").unwrap_err();
    assert!(err.contains("remote_jwks.openid_discovery"), "{err}");
}

#[test]
fn discovery_fetches_the_issuers_document_first_from_the_issuers_host() {
    let mut s = discovering();
    let req = s.poll(T0).unwrap();
    assert_eq!(req.upstream, "idp");
    assert_eq!(
        header(&req, ":path"),
        "/realms/acme/.well-known/openid-configuration"
    );
    assert_eq!(header(&req, ":authority"), "idp.example.com");
    assert!(s.keys().is_none());
}

#[test]
fn the_discovered_jwks_uri_is_fetched_at_once_and_kept_for_refreshes() {
    let mut s = discovering();
    s.poll(T0).unwrap();
    let out = s.on_response(
        T0 + 5,
        Some(200),
        &document("https://idp.example.com/realms/acme/certs"),
    );
    assert_eq!(
        out,
        FetchOutcome::Discovered {
            jwks_path: "/realms/acme/certs".into()
        }
    );
    assert_eq!(s.next_event(T0 + 5), 0);
    let req = s.poll(T0 + 5).unwrap();
    assert_eq!(header(&req, ":path"), "/realms/acme/certs");
    assert!(matches!(
        s.on_response(T0 + 10, Some(200), &jwks(&["k1"])),
        FetchOutcome::Updated { keys: 1, .. }
    ));
    assert!(s.has_kid("k1"));
    let req = s.poll(T0 + 600_010).unwrap();
    assert_eq!(header(&req, ":path"), "/realms/acme/certs");
}

#[test]
fn a_discovery_document_pointing_elsewhere_is_a_failed_fetch() {
    let mut s = discovering();
    s.poll(T0).unwrap();
    let out = s.on_response(T0, Some(200), &document("https://evil.example/certs"));
    let FetchOutcome::Failed {
        reason,
        stale_keys_kept,
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(reason.contains("another host"), "{reason}");
    assert!(!stale_keys_kept);
    assert!(s.keys().is_none());
}

#[test]
fn a_failed_key_set_fetch_rediscovers_and_keeps_the_last_good_keys() {
    let mut s = discovering();
    s.poll(T0).unwrap();
    s.on_response(T0, Some(200), &document("https://idp.example.com/certs"));
    s.poll(T0).unwrap();
    s.on_response(T0, Some(200), &jwks(&["k1"]));
    s.poll(T0 + 600_000).unwrap();
    let out = s.on_response(T0 + 600_000, Some(404), b"");
    assert!(matches!(
        out,
        FetchOutcome::Failed {
            stale_keys_kept: true,
            ..
        }
    ));
    assert!(s.has_kid("k1"));
    let req = s.poll(T0 + 700_000).unwrap();
    assert_eq!(
        header(&req, ":path"),
        "/realms/acme/.well-known/openid-configuration"
    );
}

#[test]
fn with_an_internal_authority_the_jwks_uri_is_still_checked_against_the_issuers_host() {
    let config = RemoteJwksConfig {
        path: None,
        openid_discovery: true,
        authority: Some("idp.internal".into()),
        ..config()
    };
    let mut s = RemoteKeys::new(RemoteSource::compile(&config, ISSUER).unwrap());
    let req = s.poll(T0).unwrap();
    assert_eq!(header(&req, ":authority"), "idp.internal");
    let out = s.on_response(
        T0,
        Some(200),
        &document("https://idp.example.com/realms/acme/certs"),
    );
    assert!(matches!(out, FetchOutcome::Discovered { .. }), "{out:?}");
}
