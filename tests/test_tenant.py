"""Tenant by domain (SPEC section 3, issue 4) through the demo's own envoy.yaml.

The demo serves tenant `acme` on `acme.localhost` and `*.acme.localhost`, and `crontech`
on `crontech.localhost`; the demo user's token names tenant `acme` (SPEC section 10).
"""

import http.client
import uuid

import pytest

from harness import tokens


def marker():
    return f"tenant-{uuid.uuid4()}"


def received(backend, mark):
    """The requests the backend received carrying our marker header."""
    return [r for r in backend.requests if r["headers"].get("x-test-marker") == mark]


def raw_request(gateway, headers, path="/whoami"):
    """One HTTP/1.1 request whose header lines are sent exactly as given (repeated names
    included): (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def assert_refused(response, reason):
    assert response.status_code == 403, response.text
    assert response.json()["error"] == reason


@pytest.mark.parametrize("host", ["acme.localhost", "shop.acme.localhost", "ACME.localhost:10000", "acme.localhost."])
def test_demo_user_reaches_whoami_on_every_acme_domain(demo, demo_token, host):
    r = demo.get("/whoami", host=host, token=demo_token)
    assert r.status_code == 200, r.text
    assert r.json()["x-portcullis-tenant"] == "acme"


def test_deeper_subdomain_of_acme_is_acme(demo, demo_token):
    r = demo.get("/whoami", host="eu.shop.acme.localhost", token=demo_token)
    assert r.status_code == 200
    assert r.json()["x-portcullis-tenant"] == "acme"


def test_demo_user_is_refused_through_the_crontech_domain(demo, backend, demo_token):
    mark = marker()
    r = demo.get("/whoami", host="crontech.localhost", token=demo_token, headers={"x-test-marker": mark})
    assert_refused(r, "tenant_mismatch")
    assert received(backend, mark) == []


def test_crontech_user_is_refused_through_an_acme_domain(demo, demo_key):
    token = demo_key.sign(tokens.claims(tenant="crontech"))
    assert_refused(demo.get("/whoami", host="shop.acme.localhost", token=token), "tenant_mismatch")
    assert demo.get("/whoami", host="crontech.localhost", token=token).status_code == 200


@pytest.mark.parametrize("path", ["/whoami", "/public/health"])
def test_unknown_host_is_refused(demo, backend, demo_token, path):
    mark = marker()
    r = demo.get(path, host="evil.localhost", token=demo_token, headers={"x-test-marker": mark})
    assert_refused(r, "unknown_host")
    assert received(backend, mark) == []


def test_unknown_host_is_refused_on_public_health_without_a_token(demo):
    assert_refused(demo.get("/public/health", host="evil.localhost"), "unknown_host")


def test_look_alike_domain_ending_in_acme_localhost_is_unknown(demo, demo_token):
    assert_refused(demo.get("/whoami", host="evilacme.localhost", token=demo_token), "unknown_host")


def test_upstream_sees_the_resolved_tenant(demo, backend, demo_token):
    mark = marker()
    assert demo.get("/whoami", host="shop.acme.localhost", token=demo_token,
                    headers={"x-test-marker": mark}).status_code == 200
    [seen] = received(backend, mark)
    assert seen["headers"]["x-portcullis-tenant"] == "acme"


def test_client_copy_of_the_tenant_header_never_reaches_the_upstream(demo, backend, demo_token):
    mark = marker()
    forged = {"x-test-marker": mark, "X-Portcullis-Tenant": "crontech"}
    assert demo.get("/whoami", token=demo_token, headers=forged).status_code == 200
    [seen] = received(backend, mark)
    values = [v for k, v in seen["headers"].items() if k.lower() == "x-portcullis-tenant"]
    assert values == ["acme"]


def test_client_copy_of_the_tenant_header_is_replaced_on_public_routes_too(demo, backend):
    mark = marker()
    r = demo.get("/public/health", headers={"x-test-marker": mark, "x-portcullis-tenant": "crontech"})
    assert r.status_code == 200
    [seen] = received(backend, mark)
    values = [v for k, v in seen["headers"].items() if k.lower() == "x-portcullis-tenant"]
    assert values == ["acme"]


def test_x_forwarded_host_never_chooses_the_tenant(demo, backend, demo_token):
    mark = marker()
    r = demo.get("/whoami", host="evil.localhost", token=demo_token,
                 headers={"x-forwarded-host": "acme.localhost", "forwarded": "host=acme.localhost",
                          "x-test-marker": mark})
    assert_refused(r, "unknown_host")
    assert received(backend, mark) == []


def test_x_forwarded_host_of_another_tenant_does_not_change_the_tenant(demo, demo_token):
    r = demo.get("/whoami", host="acme.localhost", token=demo_token,
                 headers={"x-forwarded-host": "crontech.localhost"})
    assert r.status_code == 200
    assert r.json()["x-portcullis-tenant"] == "acme"


def test_token_without_tenant_claim_is_refused_because_the_demo_issuer_is_shared(demo, backend, demo_key):
    # Both demo tenants list the same issuer, so the issuer cannot name the token's
    # tenant (docs/tenants-and-paths.md section 4).
    mark = marker()
    token = demo_key.sign(tokens.claims(tenant=None))
    r = demo.get("/whoami", token=token, headers={"x-test-marker": mark})
    assert_refused(r, "token_tenant_unknown")
    assert received(backend, mark) == []


@pytest.mark.parametrize("tenant", [["acme", "crontech"], "", 7, {"id": "acme"}],
                         ids=["two-values", "empty", "number", "object"])
def test_malformed_tenant_claim_is_refused(demo, demo_key, tenant):
    token = demo_key.sign(tokens.claims(tenant=tenant))
    assert_refused(demo.get("/whoami", token=token), "token_tenant_malformed")


def test_tenant_claim_is_case_sensitive(demo, demo_key):
    assert_refused(demo.get("/whoami", token=demo_key.sign(tokens.claims(tenant="ACME"))), "tenant_mismatch")


@pytest.mark.parametrize("host", [
    "evil@acme.localhost",
    "acme.localhost@evil.localhost",
    "user:pass@acme.localhost",
    "acme.localhost:abc",
    "acme.localhost:65536",
    "acme..localhost",
    "acme.localhost..",
    "acme.localhost\\x",
    "acme%2elocalhost",
    "acme.localhost,crontech.localhost",
    "[::1",
], ids=["userinfo", "userinfo-suffix", "user-password", "port-text", "port-too-big", "empty-label",
        "two-trailing-dots", "backslash", "percent", "list", "bracket"])
def test_host_with_userinfo_or_garbage_is_refused(demo, backend, demo_token, host):
    mark = marker()
    r = demo.get("/whoami", host=host, token=demo_token, headers={"x-test-marker": mark})
    assert r.status_code in (400, 403), r.text
    if r.status_code == 403:
        assert r.json()["error"] == "invalid_host"
    assert received(backend, mark) == []


def test_two_host_headers_are_refused(demo, backend, demo_token):
    mark = marker()
    for hosts in (["evil.localhost", "acme.localhost"], ["acme.localhost", "evil.localhost"]):
        headers = [("Host", h) for h in hosts]
        headers += [("Authorization", f"Bearer {demo_token}"), ("x-test-marker", mark)]
        status, _ = raw_request(demo, headers)
        assert status in (400, 403)
    assert received(backend, mark) == []


def test_tenant_refusal_body_names_neither_tenant(demo, demo_token):
    r = demo.get("/whoami", host="crontech.localhost", token=demo_token)
    assert r.status_code == 403
    assert "acme" not in r.text and "crontech" not in r.text


def test_permissions_endpoint_is_bound_to_the_domain_tenant(demo, demo_token):
    assert demo.get("/.well-known/permissions", host="shop.acme.localhost", token=demo_token).json()["tenant"] == "acme"
    assert_refused(demo.get("/.well-known/permissions", host="crontech.localhost", token=demo_token),
                   "tenant_mismatch")
