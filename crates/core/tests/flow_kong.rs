#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Some filters' per-request state is `()`: `Default::default()` builds every kind alike.
#![allow(clippy::unit_arg)]
//! The Kong-specific paths of the request flows, natively on `MockHost` with
//! `kind = HostKind::Kong` (Kong itself cannot run where the tests run; `docs/kong.md`).
//! The filters are configured from the committed `kong/kong.yaml`, each route with its
//! own filter chain, and driven as ngx_wasm_module drives a chain:
//!
//! - one order for requests and responses (the chain's order in `kong.yaml`);
//! - `end_of_stream` false in every header callback;
//! - the route's name as `kong.route_name`; no route metadata; `:authority` is the
//!   server's own name, the client's host is the `host` header;
//! - response bodies buffered after a first `Pause`, up to the body buffers: then the
//!   body callback runs again with part of the body and `end_of_stream` false.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use portcullis_core::flow::accounts::AccountsFilter;
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::body::{self, BodyGuard, BodyStep, ResponseKind};
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::redact::RedactFilter;
use portcullis_core::flow::tenant::TenantFilter;
use portcullis_core::flow::{Action, Filter, HostKind, LogContext};
use serde_json::{json, Value};
use std::path::PathBuf;

const CONTRACT: &str = r#"{"id":"123-456","contractOwner":"demostore","source":"adwords","user":{"name":"Usuário","cpf":"000.000.370.00","rendaMensal":15000},"mother":{"name":"Mãe","cpf":"000.000.370.00","rendaMensal":15000}}"#;
const FOREIGN: &str = r#"{"id":"999","contractOwner":"qa","user":{"name":"Q","cpf":"SECRET-CPF"}}"#;
const CPF: &str = "000.000.370.00";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `config` of `filter` in `route`'s filter chain of `kong/kong.yaml`, and the
/// chain's filter names in order.
fn chain(route: &str) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(repo().join("kong/kong.yaml")).unwrap();
    let kong: Value = serde_saphyr::from_str(&text).unwrap();
    let routes = kong["services"][0]["routes"].as_array().unwrap();
    let route = routes.iter().find(|r| r["name"] == route).unwrap();
    route["filter_chains"][0]["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["config"].clone()))
        .collect()
}

/// One configured filter of a chain with its per-request state.
enum Step {
    Jwt(JwtFilter, <JwtFilter as Filter>::Stream),
    Tenant(TenantFilter, <TenantFilter as Filter>::Stream),
    Authz(AuthzFilter, <AuthzFilter as Filter>::Stream),
    Accounts(AccountsFilter, <AccountsFilter as Filter>::Stream),
    Redact(RedactFilter, <RedactFilter as Filter>::Stream),
}

macro_rules! each {
    ($step:expr, |$f:ident, $s:ident| $body:expr) => {
        match $step {
            Step::Jwt($f, $s) => $body,
            Step::Tenant($f, $s) => $body,
            Step::Authz($f, $s) => $body,
            Step::Accounts($f, $s) => $body,
            Step::Redact($f, $s) => $body,
        }
    };
}

fn steps(route: &str) -> Vec<Step> {
    chain(route)
        .into_iter()
        .map(|(name, config)| {
            let bytes = serde_json::to_vec(&config).unwrap();
            match name.as_str() {
                "portcullis_jwt" => {
                    Step::Jwt(JwtFilter::from_json(&bytes).unwrap(), Default::default())
                }
                "portcullis_tenant" => {
                    Step::Tenant(TenantFilter::from_json(&bytes).unwrap(), Default::default())
                }
                "portcullis_authz" => {
                    Step::Authz(AuthzFilter::from_json(&bytes).unwrap(), Default::default())
                }
                "portcullis_accounts" => Step::Accounts(
                    AccountsFilter::from_json(&bytes).unwrap(),
                    Default::default(),
                ),
                "portcullis_redact" => {
                    Step::Redact(RedactFilter::from_json(&bytes).unwrap(), Default::default())
                }
                other => panic!("unknown filter {other}"),
            }
        })
        .collect()
}

/// The demo user's token (examples/claims/demo-user.json), signed with the demo key.
fn token(now: u64) -> String {
    let pem = std::fs::read(repo().join("examples/keys/demo-rs256.pem")).unwrap();
    let text = std::fs::read_to_string(repo().join("examples/claims/demo-user.json")).unwrap();
    let mut claims: Value = serde_json::from_str(&text).unwrap();
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 600);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("demo-rs256".into());
    encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

/// A request as Kong presents it to the filters: `:authority` is the server's own name,
/// the client's host is `host`, the route's name is `kong.route_name`.
fn kong_request(route: &str, method: &str, path: &str) -> MockHost {
    let mut host = MockHost::request(method, "kong-gw:8000", path)
        .with_header("host", "shop.acme.localhost")
        .with_property("kong.route_name", route.as_bytes());
    host.kind = HostKind::Kong;
    let token = token(host.now_secs);
    host.with_header("authorization", &format!("Bearer {token}"))
}

/// Runs the request headers through the chain (eos false, as on Kong); stops at the first
/// filter that answers.
fn request(chain: &mut [Step], host: &mut MockHost) -> Action {
    for step in chain.iter_mut() {
        let action = each!(step, |f, s| f.on_request_headers(s, host, false));
        if host.sent.is_some() {
            return action;
        }
    }
    Action::Continue
}

fn respond(host: &mut MockHost, headers: &[(&str, &str)], body: &str) {
    host.response_headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    host.response_body = body.as_bytes().to_vec();
}

fn json_response(host: &mut MockHost, body: &str) {
    let length = body.len().to_string();
    respond(
        host,
        &[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", &length),
        ],
        body,
    );
}

/// The response through the chain in the chain's order (Kong does not reverse it): the
/// headers (eos false), then the body as ngx_wasm_module hands it: `first` bytes in a
/// first callback without end of stream; a filter that pauses there has the rest
/// buffered and is called again with the whole body and end of stream.
fn response(chain: &mut [Step], host: &mut MockHost, first: usize) {
    for step in chain.iter_mut() {
        each!(step, |f, s| f.on_response_headers(s, host, false));
        if host.sent.is_some() {
            return;
        }
    }
    let whole = host.response_body.len();
    let mut buffered = false;
    for step in chain.iter_mut() {
        if !buffered && first < whole {
            let action = each!(step, |f, s| f.on_response_body(s, host, first, false));
            if action == Action::Continue {
                continue;
            }
            buffered = true;
        }
        let size = host.response_body.len();
        each!(step, |f, s| f.on_response_body(s, host, size, true));
        if host.response_body.is_empty() {
            return;
        }
    }
}

fn body(host: &MockHost) -> Value {
    serde_json::from_slice(&host.response_body).unwrap()
}

#[test]
fn the_demo_contract_passes_the_kong_chain_and_is_redacted() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/123-456");
    assert_eq!(request(&mut chain, &mut host), Action::Continue);
    assert_eq!(host.sent, None, "{:?}", host.logs.borrow());
    assert_eq!(host.upstream_header("x-portcullis-subject"), Some("u1"));
    assert_eq!(host.upstream_header("x-portcullis-tenant"), Some("acme"));
    assert_eq!(
        host.upstream_header("x-portcullis-accounts"),
        Some("demostore")
    );
    assert_eq!(host.upstream_header("accept-encoding"), Some("identity"));
    json_response(&mut host, CONTRACT);
    response(&mut chain, &mut host, CONTRACT.len());
    assert_eq!(host.sent, None);
    let out = body(&host);
    assert_eq!(out["id"], "123-456");
    assert!(out.get("mother").is_none());
    assert!(out["user"].get("cpf").is_none());
    assert!(host
        .response_headers
        .iter()
        .all(|(k, _)| k != "content-length"));
}

#[test]
fn a_body_buffered_after_a_first_pause_is_redacted_whole() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/123-456");
    request(&mut chain, &mut host);
    json_response(&mut host, CONTRACT);
    response(&mut chain, &mut host, 40);
    assert_eq!(host.sent, None);
    assert!(!String::from_utf8_lossy(&host.response_body).contains(CPF));
    assert_eq!(body(&host)["contractOwner"], "demostore");
}

#[test]
fn the_route_comes_from_kong_route_name_and_never_from_envoy_properties() {
    // Envoy's route name and metadata, as a confused or hostile setup could present
    // them: Kong has neither, and the filters do not read them there.
    let mut chain = steps("finance-reports");
    let mut host = kong_request("whoami", "GET", "/finance/reports")
        .with_property("xds.route_name", b"finance-reports")
        .with_property(
            "xds.route_metadata.filter_metadata.portcullis.requirement",
            b"GET: public",
        );
    request(&mut chain, &mut host);
    // `whoami` is not in the finance-reports chain's route table: no requirement, 403.
    let sent = host.sent.unwrap();
    assert_eq!(sent.status, 403);
    assert!(String::from_utf8_lossy(&sent.body).contains("no_requirement"));
}

#[test]
fn a_scope_the_caller_lacks_is_refused_on_its_kong_route() {
    let mut chain = steps("finance-reports");
    let mut host = kong_request("finance-reports", "GET", "/finance/reports");
    request(&mut chain, &mut host);
    assert_eq!(host.sent.unwrap().status, 403);
}

#[test]
fn the_fallback_route_chain_refuses_everything() {
    // On Kong a route without a chain would run no filter: the fallback has one.
    let mut chain = steps("fallback");
    assert_eq!(chain.len(), 5);
    let mut host = kong_request("fallback", "GET", "/internal/admin");
    request(&mut chain, &mut host);
    assert_eq!(host.sent.unwrap().status, 403);
}

#[test]
fn a_public_route_needs_no_token_on_kong() {
    let mut chain = steps("public-health");
    let mut host = MockHost::request("GET", "kong-gw:8000", "/public/health")
        .with_header("host", "acme.localhost")
        .with_property("kong.route_name", b"public-health");
    host.kind = HostKind::Kong;
    assert_eq!(request(&mut chain, &mut host), Action::Continue);
    assert_eq!(host.sent, None);
}

#[test]
fn the_tenant_comes_from_the_host_header_not_kongs_authority() {
    let mut chain = steps("whoami");
    let mut host = kong_request("whoami", "GET", "/whoami");
    // The client's host names no tenant; Kong's :authority (its own name) is not used.
    host.request_headers.retain(|(name, _)| name != "host");
    let mut host = host.with_header("host", "evil.localhost");
    request(&mut chain, &mut host);
    assert_eq!(host.sent.unwrap().status, 403);
}

#[test]
fn a_foreign_account_in_the_response_never_reaches_the_client_on_kong() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/999");
    request(&mut chain, &mut host);
    json_response(&mut host, FOREIGN);
    response(&mut chain, &mut host, FOREIGN.len());
    // The headers have gone on Kong: the body is emptied, never passed.
    assert!(host.response_body.is_empty());
    assert_eq!(host.counter("portcullis_leak_blocked"), 1);
}

#[test]
fn an_encoded_response_is_refused_in_the_headers_with_consistent_headers() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/123-456");
    request(&mut chain, &mut host);
    respond(
        &mut host,
        &[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("content-length", "4000"),
        ],
        "\u{1f}gzip",
    );
    response(&mut chain, &mut host, 6);
    // ngx_wasm_module can still answer from the response headers, but keeps the
    // backend's headers: they are fixed first.
    assert_eq!(host.sent.as_ref().unwrap().status, 502);
    assert!(host
        .response_headers
        .iter()
        .all(|(k, _)| k != "content-length"));
    assert!(host
        .response_headers
        .contains(&("content-type".into(), "application/json".into())));
}

#[test]
fn a_head_answer_is_not_mistaken_for_an_unreadable_body() {
    // Kong's header callbacks never say end of stream; a HEAD answer has no body.
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "HEAD", "/accounts/demostore/contracts/123-456");
    request(&mut chain, &mut host);
    assert_eq!(host.sent, None);
    json_response(&mut host, "");
    host.response_headers
        .retain(|(name, _)| name != "content-length");
    host.response_headers
        .push(("content-length".into(), CONTRACT.len().to_string()));
    for step in chain.iter_mut() {
        each!(step, |f, s| f.on_response_headers(s, &mut host, false));
    }
    assert_eq!(host.sent, None);
    assert!(host
        .response_headers
        .iter()
        .all(|(k, _)| k != "content-length"));
}

#[test]
fn check_response_headers_reads_kong_bodyless_answers() {
    let mut host = MockHost::request("GET", "kong-gw:8000", "/x");
    host.kind = HostKind::Kong;
    respond(
        &mut host,
        &[
            (":status", "200"),
            ("content-type", "text/plain"),
            ("content-length", "0"),
        ],
        "",
    );
    assert_eq!(
        body::check_response_headers(&mut host, false).unwrap(),
        ResponseKind::NoBody
    );
}

#[test]
fn a_body_over_the_limit_is_emptied_on_kong() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/123-456");
    request(&mut chain, &mut host);
    let mut big = CONTRACT.to_string();
    big.push_str(&" ".repeat(1024 * 1024));
    json_response(&mut host, &big);
    response(&mut chain, &mut host, big.len());
    assert!(host.response_body.is_empty());
}

// --- BodyGuard: the buffering states of one filter on Kong ---------------------------

fn kong_body(body: &str) -> MockHost {
    let mut host = MockHost::request("GET", "kong-gw:8000", "/x");
    host.kind = HostKind::Kong;
    host.response_body = body.as_bytes().to_vec();
    host
}

#[test]
fn guard_reads_a_body_buffered_to_the_end() {
    let host = kong_body(CONTRACT);
    let mut guard = BodyGuard::default();
    assert_eq!(guard.next(&host, 10, false, 1024).unwrap(), BodyStep::Wait);
    assert_eq!(
        guard.next(&host, CONTRACT.len(), true, 1024).unwrap(),
        BodyStep::Ready(CONTRACT.as_bytes().to_vec())
    );
}

#[test]
fn guard_refuses_full_buffers_and_empties_the_part_and_the_rest() {
    let mut host = kong_body(&CONTRACT[..64]);
    let mut guard = BodyGuard::default();
    assert_eq!(guard.next(&host, 10, false, 1024).unwrap(), BodyStep::Wait);
    let denial = guard.next(&host, 64, false, 1024).unwrap_err();
    assert_eq!(denial.code, "response_buffers_full");
    let log = LogContext::default();
    assert_eq!(
        guard.fail(&mut host, "portcullis_redact", &denial, &log, 64),
        Action::Continue,
        "a second Pause would be ignored by ngx_wasm_module"
    );
    assert!(host.response_body.is_empty());
    assert_eq!(host.sent, None, "a local response would trap the filter");
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("response_body_emptied")));
    assert!(guard.failed());
    host.response_body = CONTRACT.as_bytes()[64..].to_vec();
    guard.drop_chunk(&mut host, CONTRACT.len() - 64);
    assert!(host.response_body.is_empty());
}

#[test]
fn guard_on_envoy_keeps_waiting_and_answers_502() {
    let mut host = kong_body(CONTRACT);
    host.kind = HostKind::Envoy;
    let mut guard = BodyGuard::default();
    assert_eq!(guard.next(&host, 10, false, 1024).unwrap(), BodyStep::Wait);
    assert_eq!(guard.next(&host, 20, false, 1024).unwrap(), BodyStep::Wait);
    let denial = guard.next(&host, 2048, false, 1024).unwrap_err();
    let action = guard.fail(&mut host, "f", &denial, &LogContext::default(), 2048);
    assert_eq!(action, Action::Pause);
    assert_eq!(host.sent.unwrap().status, 502);
}

// --- The flows once they keep a BodyGuard (docs/kong.md, "Response bodies") ----------

/// A filter's response path with Kong's full-buffers callback: a first chunk without end
/// of stream, then part of the body again without end of stream, then the rest.
fn full_buffers(filter: &mut dyn FnMut(&mut MockHost, usize, bool) -> Action, host: &mut MockHost) {
    let whole = host.response_body.clone();
    filter(host, 16, false);
    host.response_body = whole[..64].to_vec();
    filter(host, 64, false);
    let part = host.response_body.clone();
    assert!(
        part.is_empty(),
        "part of the body passed: {}",
        String::from_utf8_lossy(&part)
    );
    host.response_body = whole[64..].to_vec();
    filter(host, whole.len() - 64, true);
    assert!(host.response_body.is_empty(), "the rest of the body passed");
    assert_eq!(
        host.sent, None,
        "a local response after the headers traps on Kong"
    );
}

#[test]
fn redaction_never_passes_part_of_a_body_when_kongs_buffers_are_full() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/123-456");
    request(&mut chain, &mut host);
    json_response(&mut host, CONTRACT);
    let Step::Redact(filter, stream) = chain.last_mut().unwrap() else {
        panic!("redaction ends the Kong chain");
    };
    filter.on_response_headers(stream, &mut host, false);
    full_buffers(
        &mut |h: &mut MockHost, size, eos| filter.on_response_body(stream, h, size, eos),
        &mut host,
    );
}

#[test]
fn account_checks_never_pass_part_of_a_body_when_kongs_buffers_are_full() {
    let mut chain = steps("contract");
    let mut host = kong_request("contract", "GET", "/accounts/demostore/contracts/123-456");
    request(&mut chain, &mut host);
    json_response(&mut host, CONTRACT);
    let Step::Accounts(filter, stream) = &mut chain[3] else {
        panic!("account checks come fourth in the Kong chain");
    };
    filter.on_response_headers(stream, &mut host, false);
    full_buffers(
        &mut |h: &mut MockHost, size, eos| filter.on_response_body(stream, h, size, eos),
        &mut host,
    );
}
