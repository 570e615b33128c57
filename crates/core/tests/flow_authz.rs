#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The authorization filter's request flow against the in-memory host (SPEC §4): any-of /
//! all-of, per-method requirements, the route table keyed by `xds.route_name`, a missing
//! identity, host errors (fail closed), shadow mode, the decision log and the permissions
//! endpoint.

use portcullis_core::flow::authz::{AuthzFilter, Visibility};
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::{Action, Filter, HostKind};
use serde_json::{json, Value};

const ISSUER: &str = "https://accounts.crontech.localhost";

/// The demo's authorization configuration (gateway.yaml + policies/roles.yaml), with
/// `routes` added by each test where it needs a route table.
fn config(routes: Value) -> Vec<u8> {
    json!({
        "scopes_claim": "scopes",
        "roles_claim": "roles",
        "groups_claim": "groups",
        "permissions_path": "/.well-known/permissions",
        "policies": {
            "roles": {
                "FINANCEIRO": ["contract:*", "simulations:*"],
                "ATENDIMENTO": [
                    "contract:one:read::!{user.cpf,mother}",
                    "contract:all:read::!{user.cpf,mother}"
                ]
            },
            "groups": {"group1": ["br.com.chaordic.cockpit/sales/customerServices/*"]}
        },
        "routes": routes,
    })
    .to_string()
    .into_bytes()
}

fn filter() -> AuthzFilter {
    AuthzFilter::from_json(&config(json!({}))).unwrap()
}

/// The demo user's claims with overrides (`null` removes a claim).
fn demo_claims(overrides: Value) -> Value {
    let mut claims = json!({
        "sub": "u1",
        "tenant": "acme",
        "organization": ["demostore"],
        "roles": ["ATENDIMENTO"],
        "scopes": ["br.com.chaordic.cockpit/sales/customerServices/*"],
        "iss": ISSUER,
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// A request as the JWT and tenant filters leave it: a verified identity in the
/// `portcullis_identity` property, the tenant in `portcullis_tenant`.
fn request(method: &str, path: &str, claims: Value) -> MockHost {
    let identity =
        json!({"provider": "demo", "issuer": ISSUER, "subject": claims["sub"], "claims": claims});
    MockHost::request(method, "acme.localhost", path)
        .with_property("portcullis_identity", identity.to_string().as_bytes())
        .with_property("portcullis_tenant", b"acme")
        .with_header("x-request-id", "req-1")
}

/// A request on an Envoy route named `name` whose metadata says `requirement`.
fn on_route(mut host: MockHost, name: &str, requirement: &str) -> MockHost {
    host = host.with_property("xds.route_name", name.as_bytes());
    host.with_property(
        "xds.route_metadata.filter_metadata.portcullis.requirement",
        requirement.as_bytes(),
    )
}

fn run(filter: &AuthzFilter, mut host: MockHost) -> (Action, MockHost) {
    let action = filter.on_request_headers(&mut Default::default(), &mut host, true);
    (action, host)
}

fn status(host: &MockHost) -> Option<u16> {
    host.sent.as_ref().map(|s| s.status)
}

fn visibility(host: &MockHost) -> Visibility {
    serde_json::from_slice(&host.properties["portcullis_authz"]).unwrap()
}

fn decision_lines(host: &MockHost) -> Vec<Value> {
    host.logs
        .borrow()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

fn allowed(host: &MockHost) -> bool {
    host.sent.is_none() && host.properties.contains_key("portcullis_authz")
}

// --- single requirements ----------------------------------------------------------------

#[test]
fn role_grant_satisfies_a_policy_requirement() {
    let host = on_route(
        request(
            "GET",
            "/accounts/demostore/contracts/1",
            demo_claims(json!({})),
        ),
        "contract",
        "GET: contract:one:read",
    );
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Continue);
    assert!(allowed(&host));
    assert_eq!(host.counter("portcullis_allowed"), 1);
}

#[test]
fn missing_grant_is_refused_with_403() {
    let host = on_route(
        request("GET", "/finance/reports", demo_claims(json!({}))),
        "finance-reports",
        "GET: br.com.chaordic.cockpit/finance/reports",
    );
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Pause);
    assert_eq!(status(&host), Some(403));
    assert!(!host.properties.contains_key("portcullis_authz"));
}

#[test]
fn scope_grant_with_wildcard_satisfies_a_scope_requirement() {
    let host = on_route(
        request(
            "POST",
            "/sales/customerServices/stockout",
            demo_claims(json!({})),
        ),
        "stockout",
        "POST: br.com.chaordic.cockpit/sales/customerServices/stockout",
    );
    assert!(allowed(&run(&filter(), host).1));
}

#[test]
fn space_separated_scopes_claim_works_like_the_array() {
    let claims = demo_claims(json!({
        "scopes": "openid br.com.chaordic.cockpit/sales/customerServices/*",
        "roles": "ATENDIMENTO",
    }));
    let host = on_route(
        request("POST", "/sales/customerServices/stockout", claims.clone()),
        "stockout",
        "POST: br.com.chaordic.cockpit/sales/customerServices/stockout",
    );
    assert!(allowed(&run(&filter(), host).1));
    let host = on_route(
        request("GET", "/accounts/demostore/contracts/1", claims),
        "contract",
        "GET: contract:one:read",
    );
    assert!(allowed(&run(&filter(), host).1));
}

#[test]
fn group_grant_is_expanded_from_the_groups_claim() {
    let claims = demo_claims(json!({"scopes": null, "roles": null, "groups": ["group1"]}));
    let host = on_route(
        request("POST", "/sales/customerServices/stockout", claims),
        "stockout",
        "POST: br.com.chaordic.cockpit/sales/customerServices/stockout",
    );
    assert!(allowed(&run(&filter(), host).1));
}

#[test]
fn authenticated_requirement_passes_any_identity_without_grants() {
    let claims = demo_claims(json!({"scopes": null, "roles": null}));
    let host = on_route(
        request("GET", "/whoami", claims),
        "whoami",
        "GET: authenticated",
    );
    assert!(allowed(&run(&filter(), host).1));
}

#[test]
fn public_requirement_passes_without_identity() {
    let host = on_route(
        MockHost::request("GET", "acme.localhost", "/public/health"),
        "public-health",
        "GET: public",
    );
    assert!(allowed(&run(&filter(), host).1));
}

// --- any-of / all-of ---------------------------------------------------------------------

#[test]
fn any_of_passes_when_one_term_is_granted() {
    let host = on_route(
        request("GET", "/x", demo_claims(json!({}))),
        "x",
        "any(br.com.chaordic.cockpit/finance/reports, contract:one:read)",
    );
    assert!(allowed(&run(&filter(), host).1));
}

#[test]
fn any_of_refuses_when_no_term_is_granted() {
    let host = on_route(
        request("GET", "/x", demo_claims(json!({}))),
        "x",
        "any(br.com.chaordic.cockpit/finance/reports, simulations:one:run)",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(403));
}

#[test]
fn all_of_passes_when_every_term_is_granted() {
    let host = on_route(
        request("GET", "/x", demo_claims(json!({}))),
        "x",
        "all(contract:one:read, br.com.chaordic.cockpit/sales/customerServices/stockout)",
    );
    assert!(allowed(&run(&filter(), host).1));
}

#[test]
fn all_of_refuses_when_one_term_is_missing() {
    let host = on_route(
        request("GET", "/x", demo_claims(json!({}))),
        "x",
        "all(contract:one:read, br.com.chaordic.cockpit/finance/reports)",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(403));
}

#[test]
fn nested_any_of_all_of_is_decided_as_written() {
    let requirement = "any(all(simulations:one:run, contract:one:read), \
                       all(contract:all:read, br.com.chaordic.cockpit/sales/customerServices/x))";
    let host = on_route(
        request("GET", "/x", demo_claims(json!({}))),
        "x",
        requirement,
    );
    assert!(allowed(&run(&filter(), host).1));
    let without_scopes = demo_claims(json!({"scopes": null}));
    let host = on_route(request("GET", "/x", without_scopes), "x", requirement);
    assert_eq!(status(&run(&filter(), host).1), Some(403));
}

#[test]
fn matched_grant_filters_are_handed_to_redaction() {
    let host = on_route(
        request(
            "GET",
            "/accounts/demostore/contracts/1",
            demo_claims(json!({})),
        ),
        "contract",
        "GET: contract:one:read::!{source}",
    );
    let (_, host) = run(&filter(), host);
    let v = visibility(&host);
    assert_eq!(v.route.len(), 1, "the route's own filter always applies");
    assert_eq!(v.grants.len(), 1);
    assert_eq!(v.grants[0].len(), 1, "ATENDIMENTO's filter");
}

#[test]
fn failed_any_of_branch_leaves_no_filters_behind() {
    // The first branch fails after its first term matched a filtered grant
    // (ATENDIMENTO's contract:one:read::!{user.cpf,mother}); the second branch passes
    // with an unfiltered scope grant. Only what satisfied the requirement may restrict
    // the response.
    let requirement = "any(all(contract:one:read::!{source}, simulations:one:run), \
                       br.com.chaordic.cockpit/sales/customerServices/stockout)";
    let host = on_route(
        request("GET", "/x", demo_claims(json!({}))),
        "x",
        requirement,
    );
    let (_, host) = run(&filter(), host);
    assert!(allowed(&host));
    assert!(
        visibility(&host).is_unrestricted(),
        "{:?}",
        visibility(&host)
    );
}

// --- methods ------------------------------------------------------------------------------

#[test]
fn method_not_listed_is_refused_with_403() {
    let host = on_route(
        request(
            "GET",
            "/sales/customerServices/stockout",
            demo_claims(json!({})),
        ),
        "stockout",
        "POST: br.com.chaordic.cockpit/sales/customerServices/stockout",
    );
    let (_, host) = run(&filter(), host);
    assert_eq!(status(&host), Some(403));
    assert_eq!(decision_lines(&host)[0]["reason"], "method_not_allowed");
}

#[test]
fn each_method_gets_its_own_requirement() {
    let requirement = "GET,HEAD: contract:one:read; DELETE: contract:one:delete";
    let get = on_route(
        request("GET", "/c", demo_claims(json!({}))),
        "c",
        requirement,
    );
    assert!(allowed(&run(&filter(), get).1));
    let delete = on_route(
        request("DELETE", "/c", demo_claims(json!({}))),
        "c",
        requirement,
    );
    assert_eq!(status(&run(&filter(), delete).1), Some(403));
    let financeiro = demo_claims(json!({"roles": ["FINANCEIRO"]}));
    let delete = on_route(request("DELETE", "/c", financeiro), "c", requirement);
    assert!(allowed(&run(&filter(), delete).1));
}

#[test]
fn head_follows_get_when_only_get_is_listed() {
    let host = on_route(
        request("HEAD", "/c", demo_claims(json!({}))),
        "c",
        "GET: contract:one:read",
    );
    assert!(allowed(&run(&filter(), host).1));
    let host = on_route(
        request("HEAD", "/finance/reports", demo_claims(json!({}))),
        "f",
        "GET: br.com.chaordic.cockpit/finance/reports",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(403));
}

// --- route table and missing requirement ----------------------------------------------------

#[test]
fn route_table_is_keyed_by_xds_route_name() {
    let filter = AuthzFilter::from_json(&config(json!({
        "finance": {"requirement": "GET: br.com.chaordic.cockpit/finance/reports"},
        "contract": {"requirement": "GET: contract:one:read"},
    })))
    .unwrap();
    let host = request("GET", "/anything", demo_claims(json!({})))
        .with_property("xds.route_name", b"contract");
    assert!(allowed(&run(&filter, host).1));
    let host = request("GET", "/anything", demo_claims(json!({})))
        .with_property("xds.route_name", b"finance");
    assert_eq!(status(&run(&filter, host).1), Some(403));
}

#[test]
fn route_table_entry_wins_over_route_metadata() {
    let filter = AuthzFilter::from_json(&config(json!({
        "contract": {"requirement": "GET: br.com.chaordic.cockpit/finance/reports"},
    })))
    .unwrap();
    let host = on_route(
        request("GET", "/c", demo_claims(json!({}))),
        "contract",
        "GET: contract:one:read",
    );
    assert_eq!(status(&run(&filter, host).1), Some(403));
}

#[test]
fn kong_reads_the_route_table_by_kong_route_name_and_ignores_metadata() {
    let filter = AuthzFilter::from_json(&config(json!({
        "contract": {"requirement": "GET: contract:one:read"},
    })))
    .unwrap();
    let mut host =
        request("GET", "/c", demo_claims(json!({}))).with_property("kong.route_name", b"contract");
    host.kind = HostKind::Kong;
    assert!(allowed(&run(&filter, host).1));
    let mut host = on_route(
        request("GET", "/c", demo_claims(json!({}))),
        "x",
        "GET: public",
    );
    host.kind = HostKind::Kong;
    assert_eq!(status(&run(&filter, host).1), Some(403));
}

#[test]
fn route_without_requirement_is_refused_with_403_with_or_without_identity() {
    let (_, host) = run(
        &filter(),
        request("GET", "/nothing", demo_claims(json!({}))),
    );
    assert_eq!(status(&host), Some(403));
    let anonymous = MockHost::request("GET", "acme.localhost", "/nothing")
        .with_property("xds.route_name", b"fallback");
    let (_, host) = run(&filter(), anonymous);
    assert_eq!(status(&host), Some(403));
    assert_eq!(decision_lines(&host)[0]["reason"], "no_requirement");
}

#[test]
fn route_table_entry_without_requirement_is_refused_even_if_metadata_has_one() {
    let filter = AuthzFilter::from_json(&config(json!({
        "contract": {"account": "path:/accounts/{account}/contracts/{id}"},
    })))
    .unwrap();
    let host = on_route(
        request("GET", "/c", demo_claims(json!({}))),
        "contract",
        "GET: public",
    );
    assert_eq!(status(&run(&filter, host).1), Some(403));
}

#[test]
fn malformed_requirement_in_route_metadata_fails_closed() {
    let host = on_route(
        request("GET", "/c", demo_claims(json!({}))),
        "c",
        "contract:*",
    );
    let (_, host) = run(&filter(), host);
    assert_eq!(status(&host), Some(500));
}

#[test]
fn malformed_requirement_in_the_route_table_refuses_the_configuration() {
    let err = AuthzFilter::from_json(&config(json!({"c": {"requirement": "any(a:b:c"}})))
        .err()
        .unwrap();
    assert!(err.contains("routes.c.requirement"), "{err}");
}

// --- identity ------------------------------------------------------------------------------

#[test]
fn missing_identity_on_a_protected_route_is_refused_with_401() {
    let host = on_route(
        MockHost::request("GET", "acme.localhost", "/c"),
        "contract",
        "GET: contract:one:read",
    );
    let (_, host) = run(&filter(), host);
    let sent = host.sent.unwrap();
    assert_eq!(sent.status, 401);
    assert_eq!(sent.header("www-authenticate"), Some("Bearer"));
}

#[test]
fn missing_identity_on_an_authenticated_route_is_refused_with_401() {
    let host = on_route(
        MockHost::request("GET", "acme.localhost", "/whoami"),
        "whoami",
        "GET: authenticated",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(401));
}

#[test]
fn unreadable_identity_property_fails_closed() {
    let host = on_route(
        MockHost::request("GET", "acme.localhost", "/c")
            .with_property("portcullis_identity", b"{not json"),
        "contract",
        "GET: contract:one:read",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(500));
}

// --- host errors: fail closed ----------------------------------------------------------------

#[test]
fn failing_header_read_is_a_deny() {
    let mut host = on_route(
        request("GET", "/public/health", demo_claims(json!({}))),
        "p",
        "GET: public",
    );
    host.failing = vec!["get_map_value"];
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Pause);
    assert_eq!(status(&host), Some(500));
    assert!(!host.properties.contains_key("portcullis_authz"));
}

#[test]
fn failing_property_read_is_a_deny() {
    let mut host = on_route(
        request("GET", "/public/health", demo_claims(json!({}))),
        "p",
        "GET: public",
    );
    host.failing = vec!["get_property"];
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Pause);
    assert_eq!(status(&host), Some(500));
}

#[test]
fn failing_to_hand_the_decision_on_is_a_deny() {
    let mut host = on_route(
        request("GET", "/c", demo_claims(json!({}))),
        "contract",
        "GET: contract:one:read",
    );
    host.failing = vec!["set_property"];
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Pause);
    assert_eq!(status(&host), Some(500));
    assert_eq!(host.counter("portcullis_allowed"), 0);
}

#[test]
fn failing_local_response_still_pauses_the_request() {
    let mut host = on_route(
        request("GET", "/finance/reports", demo_claims(json!({}))),
        "f",
        "GET: br.com.chaordic.cockpit/finance/reports",
    );
    host.failing = vec!["send_http_response"];
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Pause);
    assert_eq!(host.sent, None);
}

// --- paths ------------------------------------------------------------------------------------

#[test]
fn path_not_in_normal_form_is_refused_before_the_route_is_consulted() {
    for path in [
        "/public/../finance/reports",
        "/public/%2e%2e/finance/reports",
        "//finance/reports",
        "/finance%2freports",
        "/finance/reports;x=1",
        "/public\\..\\finance\\reports",
    ] {
        let host = on_route(
            MockHost::request("GET", "acme.localhost", path),
            "public-health",
            "public",
        );
        let (_, host) = run(&filter(), host);
        assert_eq!(status(&host), Some(400), "{path}");
    }
}

// --- decision log and shadow mode ---------------------------------------------------------------

#[test]
fn denial_writes_one_decision_line_naming_the_requirement_and_the_body_does_not() {
    let host = on_route(
        request("GET", "/finance/reports", demo_claims(json!({}))),
        "finance-reports",
        "GET: br.com.chaordic.cockpit/finance/reports",
    );
    let (_, host) = run(&filter(), host);
    let lines = decision_lines(&host);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["reason"], "no_matching_grant");
    assert_eq!(line["route"], "finance-reports");
    assert_eq!(line["subject"], "u1");
    assert_eq!(line["tenant"], "acme");
    assert_eq!(line["request_id"], "req-1");
    assert!(line["detail"]
        .as_str()
        .unwrap()
        .contains("br.com.chaordic.cockpit/finance/reports"));
    let body = String::from_utf8(host.sent.clone().unwrap().body).unwrap();
    assert!(!body.contains("finance"), "{body}");
    assert_eq!(host.counter("portcullis_403_no_matching_grant"), 1);
}

#[test]
fn shadow_route_lets_a_denied_caller_through_and_logs_it() {
    let host = on_route(
        request("GET", "/finance/reports", demo_claims(json!({}))),
        "finance-reports",
        "GET: br.com.chaordic.cockpit/finance/reports",
    )
    .with_property(
        "xds.route_metadata.filter_metadata.portcullis.shadow",
        b"true",
    );
    let (action, host) = run(&filter(), host);
    assert_eq!(action, Action::Continue);
    assert!(allowed(&host));
    let lines = decision_lines(&host);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "shadow_deny");
    assert_eq!(lines[0]["reason"], "no_matching_grant");
    assert_eq!(lines[0]["route"], "finance-reports");
    assert_eq!(host.counter("portcullis_shadow_403_no_matching_grant"), 1);
}

#[test]
fn shadow_route_still_applies_the_route_own_field_filter() {
    let host = on_route(
        request("GET", "/x", demo_claims(json!({"roles": null}))),
        "x",
        "GET: contract:one:read::!{user.cpf}",
    )
    .with_property(
        "xds.route_metadata.filter_metadata.portcullis.shadow",
        b"true",
    );
    let (_, host) = run(&filter(), host);
    assert!(allowed(&host));
    assert_eq!(visibility(&host).route.len(), 1, "{:?}", visibility(&host));
}

#[test]
fn shadow_route_does_not_let_a_missing_token_through() {
    let host = on_route(
        MockHost::request("GET", "acme.localhost", "/finance/reports"),
        "finance-reports",
        "GET: br.com.chaordic.cockpit/finance/reports",
    )
    .with_property(
        "xds.route_metadata.filter_metadata.portcullis.shadow",
        b"true",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(401));
}

#[test]
fn shadow_value_other_than_true_enforces() {
    let host = on_route(
        request("GET", "/finance/reports", demo_claims(json!({}))),
        "finance-reports",
        "GET: br.com.chaordic.cockpit/finance/reports",
    )
    .with_property(
        "xds.route_metadata.filter_metadata.portcullis.shadow",
        b"yes",
    );
    assert_eq!(status(&run(&filter(), host).1), Some(403));
}

// --- permissions endpoint ------------------------------------------------------------------------

fn permissions(host: &MockHost) -> Value {
    let sent = host.sent.as_ref().unwrap();
    assert_eq!(sent.status, 200);
    assert_eq!(sent.header("content-type"), Some("application/json"));
    serde_json::from_slice(&sent.body).unwrap()
}

#[test]
fn permissions_endpoint_lists_the_effective_grants_in_canonical_form() {
    let (action, host) = run(
        &filter(),
        request("GET", "/.well-known/permissions", demo_claims(json!({}))),
    );
    assert_eq!(action, Action::Pause);
    let body = permissions(&host);
    assert_eq!(
        body["grants"],
        json!([
            "contract:one:read::!{user.cpf,mother}",
            "contract:all:read::!{user.cpf,mother}",
            "br.com.chaordic.cockpit/sales/customerServices/*"
        ])
    );
    assert_eq!(body["subject"], "u1");
    assert_eq!(body["tenant"], "acme");
}

#[test]
fn permissions_endpoint_lists_roles_then_groups_then_own_grants_without_duplicates() {
    let claims = demo_claims(json!({
        "roles": ["FINANCEIRO", "UNKNOWN_ROLE"],
        "groups": ["group1"],
        "scopes": "contract:* app/x",
    }));
    let (_, host) = run(
        &filter(),
        request("GET", "/.well-known/permissions", claims),
    );
    assert_eq!(
        permissions(&host)["grants"],
        json!([
            "contract:*",
            "simulations:*",
            "br.com.chaordic.cockpit/sales/customerServices/*",
            "app/x"
        ])
    );
}

#[test]
fn permissions_endpoint_ignores_the_query_string() {
    let (_, host) = run(
        &filter(),
        request(
            "GET",
            "/.well-known/permissions?v=1",
            demo_claims(json!({})),
        ),
    );
    assert_eq!(permissions(&host)["grants"].as_array().unwrap().len(), 3);
}

#[test]
fn permissions_endpoint_without_identity_is_401() {
    let (_, host) = run(
        &filter(),
        MockHost::request("GET", "acme.localhost", "/.well-known/permissions"),
    );
    assert_eq!(status(&host), Some(401));
}

#[test]
fn permissions_endpoint_answers_get_only() {
    let host = on_route(
        request("POST", "/.well-known/permissions", demo_claims(json!({}))),
        "permissions",
        "GET: authenticated",
    );
    let (_, host) = run(&filter(), host);
    assert_eq!(status(&host), Some(403));
}

#[test]
fn permissions_endpoint_is_not_answered_without_a_configured_path() {
    let config = json!({"routes": {}}).to_string();
    let filter = AuthzFilter::from_json(config.as_bytes()).unwrap();
    let (_, host) = run(
        &filter,
        request("GET", "/.well-known/permissions", demo_claims(json!({}))),
    );
    assert_eq!(status(&host), Some(403), "no requirement: refused");
}
