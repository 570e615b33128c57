#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Regression tests for the bugs the hardening work (issue 11) found: fuzz findings and
//! attacks that succeeded through a real Envoy (tests/test_attacks.py). Each test names
//! the attack; docs/hardening.md and docs/fuzzing.md say where each was found and what
//! changed. (The trailers fix lives in the proxy-wasm adapter, crates/proxy, and is
//! covered through Envoy by the attack suite.)

use portcullis_core::accounts::{AccountError, AccountLocation};
use portcullis_core::flow::authz::AuthzFilter;
use portcullis_core::flow::jwt::JwtFilter;
use portcullis_core::flow::mock::MockHost;
use portcullis_core::flow::tenant::TenantFilter;
use portcullis_core::flow::Filter;
use portcullis_core::route::{RouteRequirement, MAX_NESTING};
use serde_json::json;

// --- route requirements nested thousands deep -------------------------------------------

fn nested(depth: usize) -> String {
    format!(
        "GET: {}contract:one:read{}",
        "any(".repeat(depth),
        ")".repeat(depth)
    )
}

/// Route metadata `any(any(any(...)))` 20,000 deep overflowed the stack of the recursive
/// parser: natively a SIGABRT, in the gateway a Wasm trap on the route's first request.
/// Now parsing stops at `MAX_NESTING` levels, on a stack as small as the Wasm one.
#[test]
fn deeply_nested_route_requirement_is_an_error_not_a_stack_overflow() {
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let deep = RouteRequirement::parse(&nested(20_000));
            let over = RouteRequirement::parse(&nested(MAX_NESTING + 1));
            let limit = RouteRequirement::parse(&nested(MAX_NESTING));
            (deep.is_err(), over.is_err(), limit.is_ok())
        })
        .unwrap()
        .join()
        .expect("the parser must not overflow its stack");
    assert_eq!(outcome, (true, true, true));
}

#[test]
fn nesting_error_does_not_echo_the_whole_requirement() {
    let err = RouteRequirement::parse(&nested(10_000))
        .unwrap_err()
        .to_string();
    assert!(err.len() < 200, "{} bytes", err.len());
}

// --- identity headers spelled with underscores ------------------------------------------

/// `x_portcullis_subject: admin` passed the JWT filter (it removed only `x-portcullis-*`),
/// and CGI-style backends (WSGI, PHP, Rack, nginx `$http_*`) read it as
/// `x-portcullis-subject`: identity injection on every route.
#[test]
fn underscore_spelled_identity_headers_are_removed() {
    let config = json!({
        "providers": [{"name": "p", "issuer": "https://i", "audiences": ["a"], "algorithms": ["HS256"],
                       "shared_secret_base64": "cG9ydGN1bGxpcy1yZWdyZXNzaW9uLXNlY3JldC0wMTIzNDU2Nzg5"}],
        "forward": [{"claim": "sub", "header": "x-user"}],
        "routes": {"r": {"requirement": "public"}}
    });
    let filter = JwtFilter::from_json(config.to_string().as_bytes()).unwrap();
    let mut host = MockHost::request("GET", "acme.localhost", "/")
        .with_property("xds.route_name", b"r")
        .with_header("x_portcullis_subject", "admin")
        .with_header("x_portcullis_tenant", "crontech") // Envoy hands names lower-cased
        .with_header("x-portcullis_accounts", "qa")
        .with_header("x_user", "admin")
        .with_header("x-other", "kept");
    filter.on_request_headers(&mut Default::default(), &mut host, true);
    assert!(host.sent.is_none());
    let names: Vec<&str> = host
        .request_headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [":method", ":authority", ":path", "x-other"],
        "left: {names:?}"
    );
}

/// The tenant filter's header, spelled with `_` or in another case, is removed too
/// (it need not start with `x-portcullis-`, so the JWT filter does not cover it).
#[test]
fn underscore_spelled_tenant_header_is_removed() {
    let config = json!({"tenants": [{"id": "acme", "domains": ["acme.localhost"], "issuers": []}],
                        "header": "x-tenant-id"});
    let filter = TenantFilter::from_json(config.to_string().as_bytes()).unwrap();
    let mut host = MockHost::request("GET", "acme.localhost", "/")
        .with_header("x_tenant_id", "crontech")
        .with_header("X_TENANT_ID", "crontech")
        .with_header("x-tenant-id", "crontech");
    filter.on_request_headers(&mut (), &mut host, true);
    assert!(host.sent.is_none());
    let tenant: Vec<_> = host
        .request_headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().replace('_', "-") == "x-tenant-id")
        .collect();
    assert_eq!(tenant, [&("x-tenant-id".to_string(), "acme".to_string())]);
}

// --- account ids smuggled past the request check ----------------------------------------

fn ambiguous(result: Result<Option<String>, AccountError>) -> bool {
    matches!(result, Err(AccountError::Ambiguous { .. }))
}

/// `x_account_id: qa` beside `x-account-id: demostore`: the gateway checked demostore,
/// a CGI-style backend reads both names as one header.
#[test]
fn header_account_id_spelled_with_underscores_is_another_copy() {
    let loc = AccountLocation::parse("header:x-account-id").unwrap();
    let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let two = headers(&[("x-account-id", "demostore"), ("x_account_id", "qa")]);
    assert!(ambiguous(loc.extract("/", None, &two, None)));
    let one = headers(&[("X_ACCOUNT_ID", "qa")]);
    assert_eq!(
        loc.extract("/", None, &one, None).unwrap().as_deref(),
        Some("qa")
    );
    let other = headers(&[("x-account-id", "demostore"), ("x-account-idx", "qa")]);
    assert_eq!(
        loc.extract("/", None, &other, None).unwrap().as_deref(),
        Some("demostore")
    );
}

/// `?account=demostore&ACCOUNT=qa` (ASP.NET and case-insensitive binders) and
/// `?account=demostore&account[]=qa` (PHP, Rails, qs): the gateway saw only demostore.
#[test]
fn query_account_id_in_another_case_or_with_brackets_is_another_copy() {
    let loc = AccountLocation::parse("query:account").unwrap();
    for query in [
        "account=demostore&ACCOUNT=qa",
        "account=demostore&Account=qa",
        "account=demostore&account[]=qa",
        "account[]=qa&account=demostore",
        "account=demostore&account%5B%5D=qa",
        "account=demostore&account[x]=qa",
    ] {
        assert!(
            ambiguous(loc.extract("/", Some(query), &[], None)),
            "{query}"
        );
    }
    assert_eq!(
        loc.extract("/", Some("account[]=qa"), &[], None)
            .unwrap()
            .as_deref(),
        Some("qa")
    );
    for query in [
        "account=demostore&accounts=qa",
        "account=demostore&xaccount=qa",
        "account=demostore&account_id=qa",
    ] {
        assert_eq!(
            loc.extract("/", Some(query), &[], None).unwrap().as_deref(),
            Some("demostore"),
            "{query}"
        );
    }
}

/// `{"account":{"id":"demostore","ID":"qa"}}`: Go's encoding/json (and Jackson or
/// System.Text.Json with case-insensitive options) bind `ID` to the `id` field; the
/// gateway checked only the exact key. Keys now compare case-insensitively, also for
/// the Kelvin sign and the long s, which Go folds to `k` and `s`.
#[test]
fn body_account_id_under_a_case_variant_key_is_another_copy() {
    let loc = AccountLocation::parse("body:account.id").unwrap();
    for body in [
        r#"{"account":{"id":"demostore","ID":"qa"}}"#,
        r#"{"account":{"id":"demostore","Id":"qa"}}"#,
        r#"{"Account":{"id":"qa"},"account":{"id":"demostore"}}"#,
        r#"{"account":{"id":"demostore"},"ACCOUNT":{"ID":"qa"}}"#,
        r#"{"account":{"id":"demostore","\u0049D":"qa"}}"#,
    ] {
        assert!(
            ambiguous(loc.extract("", None, &[], Some(body.as_bytes()))),
            "{body}"
        );
    }
    let kelvin = AccountLocation::parse("body:kind").unwrap();
    let body = r#"{"kind":"demostore","\u212Aind":"qa"}"#;
    assert!(ambiguous(kelvin.extract(
        "",
        None,
        &[],
        Some(body.as_bytes())
    )));
    let long_s = AccountLocation::parse("body:store").unwrap();
    let body = "{\"store\":\"demostore\",\"\u{17F}tore\":\"qa\"}";
    assert!(ambiguous(long_s.extract(
        "",
        None,
        &[],
        Some(body.as_bytes())
    )));
    let single = br#"{"ACCOUNT":{"ID":"qa"}}"#;
    assert_eq!(
        loc.extract("", None, &[], Some(single)).unwrap().as_deref(),
        Some("qa")
    );
}

// --- method override -----------------------------------------------------------------------

fn authz_request(method: &str, path: &str, extra: &[(&str, &str)]) -> MockHost {
    let claims = json!({"sub": "u1", "roles": ["ATENDIMENTO"], "iss": "https://i"});
    let identity =
        json!({"provider": "p", "issuer": "https://i", "subject": "u1", "claims": claims});
    let mut host = MockHost::request(method, "acme.localhost", path)
        .with_property("portcullis_identity", identity.to_string().as_bytes())
        .with_property("xds.route_name", b"contract")
        .with_property(
            "xds.route_metadata.filter_metadata.portcullis.requirement",
            b"GET: contract:one:read",
        );
    for (n, v) in extra {
        host = host.with_header(n, v);
    }
    host
}

/// `GET` is allowed on the contract; `X-HTTP-Method-Override: DELETE` (or `_method`)
/// made backends that honour overrides run a `DELETE` the route never allowed.
#[test]
fn method_override_naming_another_method_is_refused() {
    let config = json!({"policies": {"roles": {"ATENDIMENTO": ["contract:one:read"]}}});
    let filter = AuthzFilter::from_json(config.to_string().as_bytes()).unwrap();
    let run = |mut host: MockHost| {
        filter.on_request_headers(&mut Default::default(), &mut host, true);
        host.sent.map(|s| s.status)
    };
    for (name, value) in [
        ("x-http-method-override", "DELETE"),
        ("X-HTTP-Method", "PUT"),
        ("x-method-override", "patch"),
        ("x_http_method_override", "DELETE"),
    ] {
        assert_eq!(
            run(authz_request("GET", "/c", &[(name, value)])),
            Some(400),
            "{name}"
        );
    }
    for path in [
        "/c?_method=DELETE",
        "/c?x=1&%5Fmethod=DELETE",
        "/c?_METHOD=put",
    ] {
        assert_eq!(run(authz_request("GET", path, &[])), Some(400), "{path}");
    }
    assert_eq!(
        run(authz_request(
            "GET",
            "/c",
            &[("x-http-method-override", "GET")]
        )),
        None
    );
    assert_eq!(
        run(authz_request("GET", "/c?_method=get&method=DELETE", &[])),
        None
    );
    assert_eq!(run(authz_request("GET", "/c", &[])), None);
}
