"""Scopes and policies (SPEC section 4, issue 5) through a real Envoy: the demo's routes
and requirements, path tricks, the permissions endpoint, shadow mode and the decision log.
"""

import copy
import http.client
import json
import uuid

import pytest

from harness import tokens
from harness.demo_contract import DEMO_GRANTS
from harness.gateway import Envoy, bootstrap, route, wasm_filter

FINANCE_SCOPE = "br.com.chaordic.cockpit/finance/reports"


def raw(gateway, path, method="GET", host="acme.localhost", token=None):
    """One request with `path` sent byte for byte (no client-side normalisation, which
    `requests`/urllib3 would apply to dot segments): (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        if token:
            conn.putheader("Authorization", f"Bearer {token}")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def finance_requests(backend):
    """Every request the backend received for something like /finance (any case, any
    encoding of the path)."""
    return [r for r in backend.requests if "finance" in r["path"].lower() or "%66inance" in r["path"].lower()]


def decision_lines(gateway, **match):
    """The JSON decision lines in Envoy's log whose fields equal `match`."""
    lines = []
    for text in gateway.logs().splitlines():
        if "wasm log portcullis" not in text or "{" not in text:
            continue
        try:
            line = json.loads(text[text.index("{"):])
        except ValueError:
            continue
        if all(line.get(k) == v for k, v in match.items()):
            lines.append(line)
    return lines


# --- the demo's routes ------------------------------------------------------------------

def test_atendimento_reads_a_contract_of_its_account(demo, demo_token):
    r = demo.get("/accounts/demostore/contracts/123-456", token=demo_token)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "123-456"


def test_atendimento_is_refused_finance_reports_with_403(demo, backend, demo_token):
    before = len(finance_requests(backend))
    r = demo.get("/finance/reports", token=demo_token)
    assert r.status_code == 403
    assert r.json()["error"] == "no_matching_grant"
    assert len(finance_requests(backend)) == before


def test_caller_with_the_finance_scope_reads_finance_reports(demo, demo_key):
    token = demo_key.sign(tokens.claims(scopes=[FINANCE_SCOPE]))
    r = demo.get("/finance/reports", token=token)
    assert r.status_code == 200
    assert "reports" in r.json()


def test_stockout_post_is_allowed_by_the_wildcard_scope(demo, demo_token):
    r = demo.get("/sales/customerServices/stockout", method="POST", token=demo_token)
    assert r.status_code == 200
    assert r.json() == {"stockout": "recorded"}


def test_stockout_get_is_refused_because_only_post_is_listed(demo, backend, demo_token):
    before = len(backend.seen("/sales/customerServices/stockout"))
    r = demo.get("/sales/customerServices/stockout", token=demo_token)
    assert r.status_code == 403
    assert r.json()["error"] == "method_not_allowed"
    assert len(backend.seen("/sales/customerServices/stockout")) == before


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_contract_with_a_method_the_route_does_not_list_is_refused(demo, demo_key, method):
    token = demo_key.sign(tokens.claims(roles=["FINANCEIRO"]))
    r = demo.get("/accounts/demostore/contracts/123-456", method=method, token=token)
    assert r.status_code == 403


def test_head_on_a_get_route_is_checked_like_get(demo, demo_token):
    assert demo.get("/finance/reports", method="HEAD", token=demo_token).status_code == 403
    assert demo.get("/accounts/demostore/contracts/123-456", method="HEAD", token=demo_token).status_code == 200


def test_route_without_requirement_is_refused_with_and_without_token(demo, backend, demo_token):
    before = len(backend.seen("/nothing"))
    for token in (None, demo_token):
        r = demo.get("/nothing", token=token)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "no_requirement"
    assert len(backend.seen("/nothing")) == before


def test_route_without_requirement_is_refused_for_a_caller_with_every_grant(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles=["FINANCEIRO", "ATENDIMENTO"], scopes=["app/*", FINANCE_SCOPE]))
    for method in ("GET", "POST", "DELETE"):
        assert demo.get("/nothing", method=method, token=token).status_code == 403


def test_public_health_needs_no_token(demo):
    r = demo.get("/public/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_missing_token_on_a_protected_route_is_401(demo, backend):
    before = len(backend.seen("/accounts/"))
    r = demo.get("/accounts/demostore/contracts/123-456")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert len(backend.seen("/accounts/")) == before


def test_financeiro_reads_a_contract_through_contract_wildcard(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles=["FINANCEIRO"], scopes=None))
    r = demo.get("/accounts/demostore/contracts/123-456", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "123-456"


def test_financeiro_is_still_refused_finance_reports_which_needs_a_scope(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles=["FINANCEIRO"], scopes=None))
    assert demo.get("/finance/reports", token=token).status_code == 403


def test_caller_without_roles_is_refused_a_contract(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles=None))
    assert demo.get("/accounts/demostore/contracts/123-456", token=token).status_code == 403


def test_space_separated_scopes_claim_works_like_the_array(demo, demo_key):
    token = demo_key.sign(tokens.claims(scopes="openid br.com.chaordic.cockpit/sales/customerServices/*"))
    assert demo.get("/sales/customerServices/stockout", method="POST", token=token).status_code == 200


def test_space_separated_roles_claim_works_like_the_array(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles="OTHER ATENDIMENTO"))
    assert demo.get("/accounts/demostore/contracts/123-456", token=token).status_code == 200


def test_role_names_are_case_sensitive(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles=["atendimento"]))
    assert demo.get("/accounts/demostore/contracts/123-456", token=token).status_code == 403


def test_inner_wildcard_scope_grants_one_segment(demo, demo_key):
    token = demo_key.sign(tokens.claims(scopes=["br.com.chaordic.cockpit/*/reports"]))
    assert demo.get("/finance/reports", token=token).status_code == 200


def test_parent_scope_without_wildcard_grants_nothing_below_it(demo, demo_key):
    token = demo_key.sign(tokens.claims(scopes=["br.com.chaordic.cockpit/finance"]))
    assert demo.get("/finance/reports", token=token).status_code == 403


def test_lone_star_scope_in_a_token_grants_nothing(demo, demo_key):
    token = demo_key.sign(tokens.claims(scopes=["*"], roles=None))
    assert demo.get("/finance/reports", token=token).status_code == 403


# --- path tricks ---------------------------------------------------------------------------

PATH_TRICKS = [
    "/public/../finance/reports",            # CVE-2019-9901: dot segments
    "/public/%2e%2e/finance/reports",
    "/public/%2E%2E/finance/reports",
    "/public/.%2e/finance/reports",
    "/public/health/../../finance/reports",
    "//finance/reports",
    "/finance//reports",
    "/finance/./reports",
    "/FINANCE/reports",                      # routes are case-sensitive
    "/Finance/Reports",
    "/finance/reports/",
    "/finance/reports;x=1",                  # path parameters (Tomcat/Spring strip them)
    "/finance/reports%3Bx=1",
    "/finance%2freports",                    # CVE-2021-29492: escaped slashes
    "/finance%2Freports",
    "/public/health/..%2f..%2ffinance/reports",
    "/public/health%2f..%2f..%2ffinance/reports",
    "/public/%252e%252e/finance/reports",    # double encoding
    "/public\\..\\finance\\reports",
    "/public/health;/../../finance/reports",
    "/%66inance/reports",                    # escaped unreserved character
    "/finance/reports%00",
    "/finance/reports#x",
]


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_path_trick_never_reaches_finance_reports(demo, backend, demo_key, path):
    before = len(finance_requests(backend))
    atendimento = demo_key.sign(tokens.claims())
    for token in (None, atendimento):
        status, body = raw(demo, path, token=token)
        assert status != 200, (path, token is not None, body)
        assert status in (400, 401, 403, 404), (path, status, body)
    assert len(finance_requests(backend)) == before, finance_requests(backend)[before:]


@pytest.fixture(scope="module")
def unnormalised(backend, demo_key):
    """jwt + authz behind an Envoy with none of the HCM's path normalisation: the
    filters' own path check is then the only line of defence."""
    routes = [
        route("public", "/public", "public", prefix=True),
        route("finance-reports", "/finance/reports", f"GET: {FINANCE_SCOPE}"),
        route("fallback", "/", prefix=True),
    ]
    config = bootstrap([wasm_filter("portcullis_jwt", jwt_config(demo_key)),
                        wasm_filter("portcullis_authz", AUTHZ_CONFIG)], routes, backend.port)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["normalize_path"] = False
    hcm["merge_slashes"] = False
    hcm["path_with_escaped_slashes_action"] = "KEEP_UNCHANGED"
    with Envoy(config, name="authz-raw") as envoy:
        yield envoy


@pytest.mark.parametrize("path", [
    "/public/../finance/reports",
    "/public/%2e%2e/finance/reports",
    "/public/%2E%2E/finance/reports",
    "/public/health/..%2f..%2ffinance/reports",
    "/public/..%5c..%5cfinance/reports",
    "/public\\..\\finance\\reports",
    "/public/health;/../../finance/reports",
    "/public//../finance/reports",
])
def test_filters_refuse_path_tricks_even_when_envoy_does_not_normalise(unnormalised, backend, path):
    before = len(finance_requests(backend))
    status, body = raw(unnormalised, path)
    assert status == 400, (path, status, body)
    assert json.loads(body)["error"].startswith("path_")
    assert len(finance_requests(backend)) == before


def test_unnormalised_gateway_still_serves_plain_public_paths(unnormalised):
    assert raw(unnormalised, "/public/health")[0] == 200


# --- the permissions endpoint ------------------------------------------------------------------

def test_permissions_lists_exactly_the_demo_user_grants(demo, demo_token):
    r = demo.get("/.well-known/permissions", token=demo_token)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["grants"] == DEMO_GRANTS


def test_permissions_never_lists_grants_the_caller_lacks(demo, demo_token):
    grants = demo.get("/.well-known/permissions", token=demo_token).json()["grants"]
    assert "contract:*" not in grants
    assert not any(g.startswith("simulations") for g in grants)
    assert not any("finance" in g for g in grants)


def test_permissions_lists_financeiro_grants_for_a_financeiro_token(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles=["FINANCEIRO"], scopes=None))
    assert demo.get("/.well-known/permissions", token=token).json()["grants"] == ["contract:*", "simulations:*"]


def test_permissions_without_token_is_401(demo, backend):
    before = len(backend.seen("/.well-known/"))
    r = demo.get("/.well-known/permissions")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert len(backend.seen("/.well-known/")) == before


def test_permissions_is_answered_by_the_gateway_not_the_backend(demo, backend, demo_token):
    before = len(backend.seen("/.well-known/"))
    assert demo.get("/.well-known/permissions", token=demo_token).status_code == 200
    assert len(backend.seen("/.well-known/")) == before


def test_permissions_is_not_cached(demo, demo_token):
    r = demo.get("/.well-known/permissions", token=demo_token)
    assert r.headers["cache-control"] == "no-store"


# --- the decision log ---------------------------------------------------------------------

def test_403_writes_one_decision_line_naming_the_missing_requirement(demo, demo_key):
    subject = f"log-{uuid.uuid4()}"
    r = demo.get("/finance/reports", token=demo_key.sign(tokens.claims(sub=subject)))
    assert r.status_code == 403
    lines = decision_lines(demo, subject=subject)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["decision"] == "deny"
    assert line["status"] == 403
    assert line["reason"] == "no_matching_grant"
    assert FINANCE_SCOPE in line["detail"]
    assert line["route"] == "finance-reports"
    assert line["tenant"] == "acme"
    assert line["request_id"]


def test_403_body_does_not_name_the_requirement(demo, demo_token):
    r = demo.get("/finance/reports", token=demo_token)
    assert r.status_code == 403
    assert "finance" not in r.text and "br.com" not in r.text
    assert r.json() == {"error": "no_matching_grant", "message": "forbidden", "status": 403}


def test_decision_line_never_contains_the_token(demo, demo_key):
    subject = f"log-{uuid.uuid4()}"
    token = demo_key.sign(tokens.claims(sub=subject))
    demo.get("/finance/reports", token=token)
    assert token not in demo.logs()
    assert token.split(".")[2] not in demo.logs()


def test_denials_are_counted_by_reason(demo, demo_token):
    demo.get("/finance/reports", token=demo_token)
    stats = demo.stats()
    assert "portcullis_403_no_matching_grant" in stats


# --- shadow mode ----------------------------------------------------------------------------

def jwt_config(demo_key):
    return {"providers": [{"name": "demo", "issuer": tokens.DEMO_ISSUER, "audiences": ["users"],
                           "algorithms": ["RS256"], "jwks": {"keys": [demo_key.jwk()]}}]}


AUTHZ_CONFIG = {
    "scopes_claim": "scopes",
    "roles_claim": "roles",
    "policies": {"roles": {"ATENDIMENTO": ["contract:one:read::!{user.cpf,mother}"]}},
}


@pytest.fixture(scope="module")
def shadow_gw(backend, demo_key):
    routes = [
        route("shadow-reports", "/shadow/finance/reports", f"GET: {FINANCE_SCOPE}", shadow="true"),
        route("enforced-reports", "/enforced/finance/reports", f"GET: {FINANCE_SCOPE}"),
    ]
    config = bootstrap([wasm_filter("portcullis_jwt", jwt_config(demo_key)),
                        wasm_filter("portcullis_authz", copy.deepcopy(AUTHZ_CONFIG))], routes, backend.port)
    with Envoy(config, name="authz-shadow") as envoy:
        yield envoy


def test_shadow_route_lets_a_caller_without_the_grant_through(shadow_gw, backend, demo_key):
    before = len(backend.seen("/shadow/finance/reports"))
    r = shadow_gw.get("/shadow/finance/reports", token=demo_key.sign(tokens.claims()))
    assert r.status_code == 200
    assert len(backend.seen("/shadow/finance/reports")) == before + 1


def test_shadow_route_logs_a_shadow_deny_decision(shadow_gw, demo_key):
    subject = f"shadow-{uuid.uuid4()}"
    assert shadow_gw.get("/shadow/finance/reports", token=demo_key.sign(tokens.claims(sub=subject))).status_code == 200
    lines = decision_lines(shadow_gw, subject=subject)
    assert [line["decision"] for line in lines] == ["shadow_deny"]
    assert lines[0]["reason"] == "no_matching_grant"
    assert FINANCE_SCOPE in lines[0]["detail"]
    assert lines[0]["route"] == "shadow-reports"


def test_shadow_route_counts_what_it_would_deny(shadow_gw, demo_key):
    shadow_gw.get("/shadow/finance/reports", token=demo_key.sign(tokens.claims()))
    assert "portcullis_shadow_403_no_matching_grant" in shadow_gw.stats()


def test_same_route_without_shadow_refuses_with_403(shadow_gw, backend, demo_key):
    before = len(backend.seen("/enforced/"))
    r = shadow_gw.get("/enforced/finance/reports", token=demo_key.sign(tokens.claims()))
    assert r.status_code == 403
    assert len(backend.seen("/enforced/")) == before


def test_shadow_route_still_needs_a_token(shadow_gw):
    assert shadow_gw.get("/shadow/finance/reports").status_code == 401


def test_shadow_route_logs_nothing_for_a_caller_with_the_grant(shadow_gw, demo_key):
    subject = f"shadow-ok-{uuid.uuid4()}"
    token = demo_key.sign(tokens.claims(sub=subject, scopes=[FINANCE_SCOPE]))
    assert shadow_gw.get("/shadow/finance/reports", token=token).status_code == 200
    assert decision_lines(shadow_gw, subject=subject) == []
