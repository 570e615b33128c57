#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The JWT filter's request flow with a remote JWKS, on the in-memory host: the first
//! fetch, requests waiting for it (and their bodies), failures, re-fetches on an unknown
//! `kid`, the verified-token cache.
use jsonwebtoken::{encode, EncodingKey, Header};
use portcullis_core::flow::jwt::{JwtFilter, JwtStream};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Background, CalloutResponse, Filter};
use serde_json::json;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

const DEMO_PEM: &str = include_str!("../../../examples/keys/demo-rs256.pem");
const DEMO_N: &str = "_t2Ilp0iarBZGwCUKvnV_7vyB_W0GA7ykuZYuHE6SEFE3a2wxJhxP8d9AqqjuR1_MQOF6bglGDj4AOaTgkzlNRabxpqETn4dyunP_an8il2VwajjHAPB_BmGCJ0PnJGHXh0dLtRfe2qvq_ZlAc_3Ia5nEspghnf8r-T9m8vaPsrW04-Fx_-FWDpOPj8hhHkJxClKgMN7pr_TVCuJNvL2DER2bVGB5G2hx9jgKzxVuewPriWIFKmsa6MvfndGgKv3HESZ4Dzg8A5mlrH56BxB4kPhAHdYluMvxxetO1Zhtr-SSuhXoYYShqT5r50oZQ0zfc-gneabeIAiS7CKjRaEbQ";
const ISS: &str = "https://idp.test";
const NOW: u64 = 1_700_000_000;

fn jwks(kids: &[&str]) -> Vec<u8> {
    let keys: Vec<_> = kids
        .iter()
        .map(|k| json!({"kty": "RSA", "kid": k, "alg": "RS256", "n": DEMO_N, "e": "AQAB"}))
        .collect();
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

fn token(kid: &str, exp: u64) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    let claims = json!({"iss": ISS, "aud": "users", "sub": "u1", "iat": NOW, "exp": exp});
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(DEMO_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn filter() -> JwtFilter {
    let config = json!({
        "providers": [{
            "name": "idp", "issuer": ISS, "audiences": ["users"], "algorithms": ["RS256"],
            "remote_jwks": {"cluster": "idp", "path": "/jwks", "timeout_ms": 1000,
                            "cache_duration_seconds": 300, "refetch_min_interval_seconds": 10}
        }],
        "routes": {"r": {"requirement": "authenticated"}},
        "token_cache_entries": 16,
    });
    JwtFilter::from_json(&serde_json::to_vec(&config).unwrap()).unwrap()
}

fn request(token: &str, now: u64) -> MockHost {
    let mut host = MockHost::request("GET", "acme.localhost", "/x")
        .with_header("authorization", &format!("Bearer {token}"))
        .with_property("xds.route_name", b"r");
    host.now_secs = now;
    host
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn answer(f: &JwtFilter, now: u64, status: Option<u16>, body: Vec<u8>) -> Background {
    f.on_callout_response(0, CalloutResponse { status, body }, at(now))
}

fn error(host: &MockHost) -> String {
    let sent = host.sent.as_ref().expect("a local response");
    assert_eq!(sent.status, 401);
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    body["error"].as_str().unwrap().to_string()
}

#[test]
fn the_first_tick_fetches_and_a_request_before_the_answer_waits_then_passes() {
    let f = filter();
    let tick = f.on_tick(at(NOW));
    assert_eq!(tick.callouts.len(), 1);
    assert_eq!(tick.callouts[0].upstream, "idp");
    assert!(tick.next_tick.is_some());

    let mut stream = JwtStream::default();
    let mut host = request(&token("k1", NOW + 600), NOW);
    assert_eq!(
        f.on_request_headers(&mut stream, &mut host, true),
        Action::Pause
    );
    assert!(host.sent.is_none(), "waiting, not refused");
    assert!(f.is_waiting(&stream));
    assert!(!f.take_wakeup(), "the fetch is already in flight");
    assert_eq!(
        f.on_resume(&mut stream, &mut host),
        Action::Pause,
        "still in flight"
    );
    assert!(f.is_waiting(&stream));

    let done = answer(&f, NOW, Some(200), jwks(&["k1"]));
    assert!(done
        .logs
        .iter()
        .any(|(_, l)| l.contains("1 signing key(s) fetched from idp/jwks")));
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Continue);
    assert!(!f.is_waiting(&stream));
    assert!(host.properties.contains_key("portcullis_identity"));
}

#[test]
fn with_no_key_set_ever_fetched_requests_fail_closed_with_keys_unavailable() {
    let f = filter();
    f.on_tick(at(NOW));
    let mut stream = JwtStream::default();
    let mut host = request(&token("k1", NOW + 600), NOW);
    f.on_request_headers(&mut stream, &mut host, true);
    let failed = answer(&f, NOW, None, Vec::new());
    assert!(failed
        .logs
        .iter()
        .any(|(warn, l)| *warn && l.contains("no key set yet")));
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Pause);
    assert_eq!(error(&host), "keys_unavailable");
    assert!(!f.is_waiting(&stream));

    // Within the re-fetch interval: refused at once, without waiting.
    let mut host = request(&token("k1", NOW + 600), NOW + 1);
    let mut stream = JwtStream::default();
    assert_eq!(
        f.on_request_headers(&mut stream, &mut host, true),
        Action::Pause
    );
    assert_eq!(error(&host), "keys_unavailable");

    // Once the interval has passed, a request asks for a fetch (waking the timer),
    // and recovers when the endpoint answers.
    let mut host = request(&token("k1", NOW + 600), NOW + 11);
    let mut stream = JwtStream::default();
    f.on_request_headers(&mut stream, &mut host, true);
    assert!(f.is_waiting(&stream));
    assert!(f.take_wakeup());
    assert_eq!(f.on_tick(at(NOW + 11)).callouts.len(), 1);
    answer(&f, NOW + 11, Some(200), jwks(&["k1"]));
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Continue);
}

#[test]
fn the_body_of_a_request_waiting_for_keys_is_held_until_it_is_decided() {
    let f = filter();
    f.on_tick(at(NOW));
    let mut stream = JwtStream::default();
    let mut host = request(&token("k1", NOW + 600), NOW);
    f.on_request_headers(&mut stream, &mut host, false);
    assert_eq!(
        f.on_request_body(&mut stream, &mut host, 10, false),
        Action::Pause
    );
    answer(&f, NOW, Some(200), jwks(&["k1"]));
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Continue);
    assert_eq!(
        f.on_request_body(&mut stream, &mut host, 20, true),
        Action::Continue
    );
}

#[test]
fn a_request_waits_no_longer_than_its_deadline() {
    let f = filter();
    f.on_tick(at(NOW));
    let mut stream = JwtStream::default();
    let mut host = request(&token("k1", NOW + 600), NOW);
    f.on_request_headers(&mut stream, &mut host, true);
    host.now_secs = NOW + 10;
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Pause);
    assert_eq!(error(&host), "keys_unavailable");
}

#[test]
fn an_unknown_kid_waits_for_one_refetch_then_passes_or_is_refused() {
    let f = filter();
    f.on_tick(at(NOW));
    answer(&f, NOW, Some(200), jwks(&["k1"]));

    // Rotation: k2 appears at the endpoint; the first k2 token triggers a re-fetch.
    let mut stream = JwtStream::default();
    let mut host = request(&token("k2", NOW + 600), NOW + 20);
    assert_eq!(
        f.on_request_headers(&mut stream, &mut host, true),
        Action::Pause
    );
    assert!(f.is_waiting(&stream) && f.take_wakeup());
    assert_eq!(f.on_tick(at(NOW + 20)).callouts.len(), 1);
    answer(&f, NOW + 20, Some(200), jwks(&["k1", "k2"]));
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Continue);

    // A kid the endpoint does not have: one more re-fetch is rate-limited away.
    let mut host = request(&token("k9", NOW + 600), NOW + 21);
    let mut stream = JwtStream::default();
    f.on_request_headers(&mut stream, &mut host, true);
    assert!(!f.is_waiting(&stream));
    assert_eq!(error(&host), "kid_unknown");

    // After the interval it may wait once, and is refused after the re-fetch.
    let mut host = request(&token("k9", NOW + 600), NOW + 31);
    let mut stream = JwtStream::default();
    f.on_request_headers(&mut stream, &mut host, true);
    assert!(f.is_waiting(&stream));
    f.on_tick(at(NOW + 31));
    answer(&f, NOW + 31, Some(200), jwks(&["k1", "k2"]));
    assert_eq!(f.on_resume(&mut stream, &mut host), Action::Pause);
    assert_eq!(error(&host), "kid_unknown");
    assert!(!f.is_waiting(&stream), "a request waits at most once");
}

#[test]
fn a_malformed_or_failed_refresh_keeps_the_last_good_keys() {
    let f = filter();
    f.on_tick(at(NOW));
    answer(&f, NOW, Some(200), jwks(&["k1"]));
    let refresh = f.on_tick(at(NOW + 300));
    assert_eq!(refresh.callouts.len(), 1);
    let bad = answer(&f, NOW + 300, Some(200), b"{\"keys\": \"nope\"}".to_vec());
    assert!(bad
        .logs
        .iter()
        .any(|(warn, l)| *warn && l.contains("keeping the last good key set")));
    let mut host = request(&token("k1", NOW + 900), NOW + 301);
    assert_eq!(
        f.on_request_headers(&mut JwtStream::default(), &mut host, true),
        Action::Continue
    );
}

#[test]
fn a_repeated_token_is_served_from_the_cache_until_exp() {
    let f = filter();
    f.on_tick(at(NOW));
    answer(&f, NOW, Some(200), jwks(&["k1"]));
    let t = token("k1", NOW + 100);
    let mut first = request(&t, NOW);
    assert_eq!(
        f.on_request_headers(&mut JwtStream::default(), &mut first, true),
        Action::Continue
    );
    assert_eq!(first.counter("portcullis_jwt_cache_hit"), 0);
    assert_eq!(f.cached_tokens(), 1);
    let mut again = request(&t, NOW + 99);
    assert_eq!(
        f.on_request_headers(&mut JwtStream::default(), &mut again, true),
        Action::Continue
    );
    assert_eq!(again.counter("portcullis_jwt_cache_hit"), 1);
    assert_eq!(
        again.properties.get("portcullis_identity"),
        first.properties.get("portcullis_identity")
    );
    assert_eq!(again.upstream_header("authorization"), None);
    // At exp the cache is not used (the full check still allows the clock skew).
    let mut late = request(&t, NOW + 100);
    assert_eq!(
        f.on_request_headers(&mut JwtStream::default(), &mut late, true),
        Action::Continue
    );
    assert_eq!(late.counter("portcullis_jwt_cache_hit"), 0);
    let mut expired = request(&t, NOW + 161);
    f.on_request_headers(&mut JwtStream::default(), &mut expired, true);
    assert_eq!(error(&expired), "token_expired");
}

#[test]
fn a_changed_key_set_forgets_the_cached_tokens_of_its_provider() {
    let f = filter();
    f.on_tick(at(NOW));
    answer(&f, NOW, Some(200), jwks(&["k1"]));
    let t = token("k1", NOW + 3600);
    f.on_request_headers(&mut JwtStream::default(), &mut request(&t, NOW), true);
    assert_eq!(f.cached_tokens(), 1);
    f.on_tick(at(NOW + 300));
    answer(&f, NOW + 300, Some(200), jwks(&["k2"]));
    assert_eq!(
        f.cached_tokens(),
        0,
        "k1 was removed: its tokens are checked again"
    );
    let mut host = request(&t, NOW + 301);
    f.on_request_headers(&mut JwtStream::default(), &mut host, true);
    assert_eq!(error(&host), "kid_unknown");
}

#[test]
fn inline_only_configurations_need_no_timer() {
    let config = json!({"providers": [{
        "name": "idp", "issuer": ISS, "audiences": ["users"], "algorithms": ["RS256"],
        "jwks": {"keys": [{"kty": "RSA", "kid": "k1", "n": DEMO_N, "e": "AQAB"}]}
    }]});
    let f = JwtFilter::from_json(&serde_json::to_vec(&config).unwrap()).unwrap();
    assert_eq!(f.on_tick(at(NOW)), Background::default());
}

#[test]
fn a_bad_remote_jwks_setting_is_refused() {
    let config = json!({"providers": [{
        "name": "idp", "issuer": ISS, "audiences": ["users"], "algorithms": ["RS256"],
        "remote_jwks": {"cluster": "idp", "path": "jwks"}
    }]});
    let err = JwtFilter::from_json(&serde_json::to_vec(&config).unwrap())
        .err()
        .unwrap();
    assert!(
        err.contains("providers[0] (idp): remote_jwks.path"),
        "{err}"
    );
}
