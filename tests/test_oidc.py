"""A real OpenID provider in front of the filters, end to end through a real Envoy (SPEC
sections 1-4): oidc-provider (npm; tests/oidc/provider.mjs) serves two realms
Keycloak-style (`/realms/acme`, `/realms/globex`), each its own issuer. The filter finds
each realm's keys through OpenID discovery, fetched through an Envoy cluster; every
token is a JWT access token (RFC 9068, `typ: at+jwt`) that the provider issued at its
token endpoint (client credentials with a resource indicator), its Keycloak- and
Cognito-shaped claims added by the provider's `extraTokenClaims` hook.

Checked: each signing algorithm the provider and the filter share (RS256, PS256, ES256,
EdDSA); key rotation while traffic runs; requests on the cached keys while the provider
is stopped; one tenant per realm; roles, groups and scopes read through configurable
claim paths (`realm_access.roles`, `resource_access.<client>.roles`, `groups`, `scope`,
`cognito:groups`) deciding the route."""

import contextlib
import time
import uuid

import pytest

from harness.gateway import Envoy, Traffic, bootstrap, route, wait_for, wasm_filter
from harness.oidc import OidcProvider, claims_of

ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
API = "https://api.acme.test"
KEYCLOAK_API = f"{API}/keycloak"  # its tokens' `aud` is an array, as Keycloak's are
GLOBEX_API = "https://api.globex.test"
FINANCE = {"FINANCEIRO": ["finance:*"]}


def api(alg):
    """The acme resource server whose access tokens the provider signs with `alg`."""
    return f"{API}/{alg.lower()}"


def client(scope=None, **claims):
    entry = {"secret": f"secret-{uuid.uuid4()}", "claims": claims}
    if scope:
        entry["scope"] = scope
    return entry


REALMS = {
    "acme": {
        "algorithms": ALGORITHMS,
        "resources": {
            **{api(alg): {"alg": alg} for alg in ALGORITHMS},
            KEYCLOAK_API: {"alg": "RS256", "scope": "orders/read orders/write reports/read",
                           "audiences": ["account"]},
        },
        "clients": {
            "orders-service": client(scope="orders/read reports/read"),
            # Keycloak: realm roles, groups (full paths), client roles per client id.
            "kc-finance": client(realm_access={"roles": ["offline_access", "FINANCEIRO"]}),
            "kc-support": client(realm_access={"roles": ["offline_access", "ATENDIMENTO"]}, groups=["/support"]),
            "kc-finance-group": client(groups=["/staff", "/finance"]),
            "kc-portal": client(resource_access={"portal.web": {"roles": ["FINANCEIRO"]},
                                                 "account": {"roles": ["manage-account"]}}),
            "kc-other-client": client(resource_access={"portal": {"web": {"roles": ["FINANCEIRO"]}},
                                                       "account": {"roles": ["FINANCEIRO"]}}),
            # Cognito: groups under `cognito:groups`, `token_use`, `username`.
            "cognito-finance": client(**{"cognito:groups": ["finance-team"], "token_use": "access", "username": "ana"}),
            "cognito-support": client(**{"cognito:groups": ["support-team"], "token_use": "access", "username": "bia"}),
        },
    },
    "globex": {
        "algorithms": ["RS256"],
        "resources": {GLOBEX_API: {"alg": "RS256"}},
        "clients": {"globex-app": client()},
    },
}
AUDIENCES = {"acme": [api(alg) for alg in ALGORITHMS] + [KEYCLOAK_API], "globex": [GLOBEX_API]}
JWKS_PATH = "/realms/acme/jwks"

ROUTES = [
    route("whoami", "/whoami", "GET: authenticated"),
    route("reports", "/reports", "GET: finance:reports:read"),
    route("orders", "/orders", "GET: orders/read; POST: orders/write"),
]
FORWARD = [{"claim": "sub", "header": "x-portcullis-subject"}, {"claim": "client_id", "header": "x-client-id"}]


# --- the provider and the gateways ---------------------------------------------------------

@pytest.fixture(scope="module")
def provider():
    with OidcProvider(REALMS, name="oidc-realms") as p:
        yield p


@pytest.fixture
def idp(provider):
    """The module's provider, running and without faults again after each test."""
    try:
        yield provider
    finally:
        provider.restore()


def jwt_config(idp, realms=("acme",), forward=(), cache=600, interval=0):
    """One provider per realm, its keys found through OpenID discovery. A re-fetch
    interval of 0 by default: a gateway that outlives a rotation in another test picks
    the new key up at its first token."""
    return {
        "providers": [{
            "name": realm, "issuer": idp.issuer(realm), "audiences": AUDIENCES[realm],
            "algorithms": ALGORITHMS if realm == "acme" else ["RS256"],
            "remote_jwks": {"cluster": "oidc", "openid_discovery": True, "cache_duration_seconds": cache,
                            "refetch_min_interval_seconds": interval, "timeout_ms": 2000},
        } for realm in realms],
        "forward": FORWARD + list(forward),
    }


@contextlib.contextmanager
def gateway(backend, idp, filters, name):
    boot = bootstrap([wasm_filter(f, c) for f, c in filters], ROUTES, backend.port)
    boot["static_resources"]["clusters"].append(idp.cluster())
    with Envoy(boot, name=name) as envoy:
        yield envoy


@pytest.fixture(scope="module")
def realms_gw(backend, provider):
    """Both realms, each bound to its tenant's domain."""
    tenants = {"tenants": [
        {"id": "acme", "domains": ["acme.localhost"], "issuers": [provider.issuer("acme")]},
        {"id": "globex", "domains": ["globex.localhost"], "issuers": [provider.issuer("globex")]},
    ]}
    filters = [("portcullis_jwt", jwt_config(provider, realms=("acme", "globex"))), ("portcullis_tenant", tenants)]
    with gateway(backend, provider, filters, "oidc-realms") as gw:
        yield gw


def authz_gateway(backend, provider, authz, name, forward=()):
    return gateway(backend, provider, [("portcullis_jwt", jwt_config(provider, forward=forward)),
                                       ("portcullis_authz", authz)], name)


@pytest.fixture(scope="module")
def keycloak_gw(backend, provider):
    authz = {"scopes_claim": "scope", "roles_claim": "realm_access.roles", "groups_claim": "groups",
             "policies": {"roles": FINANCE, "groups": {"/finance": ["finance:*"]}}}
    with authz_gateway(backend, provider, authz, "oidc-keycloak") as gw:
        yield gw


@pytest.fixture(scope="module")
def keycloak_client_gw(backend, provider):
    # A client id with a dot: the path is written as a list of segments.
    authz = {"roles_claim": ["resource_access", "portal.web", "roles"], "policies": {"roles": FINANCE}}
    with authz_gateway(backend, provider, authz, "oidc-keycloak-client") as gw:
        yield gw


@pytest.fixture(scope="module")
def cognito_gw(backend, provider):
    authz = {"scopes_claim": "scope", "groups_claim": "cognito:groups",
             "policies": {"groups": {"finance-team": ["finance:*"]}}}
    forward = [{"claim": "token_use", "header": "x-token-use"}, {"claim": "cognito:groups", "header": "x-groups"}]
    with authz_gateway(backend, provider, authz, "oidc-cognito", forward=forward) as gw:
        yield gw


def marker():
    return {"x-test-marker": f"oidc-{uuid.uuid4()}"}


def received(backend, mark):
    return [r for r in backend.requests if r["headers"].get("x-test-marker") == mark["x-test-marker"]]



# --- algorithms and token format -----------------------------------------------------------

@pytest.mark.parametrize("alg", ALGORITHMS)
def test_an_access_token_the_provider_signs_passes_with_each_algorithm(realms_gw, idp, alg):
    token = idp.token("acme", "orders-service", api(alg))
    header, _ = claims_of(token)
    assert header["alg"] == alg and header["kid"] in [k["kid"] for k in idp.jwks("acme")["keys"]]
    r = realms_gw.get("/whoami", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["x-portcullis-subject"] == "orders-service"


def test_an_rfc9068_access_token_with_an_audience_array_passes(realms_gw, idp):
    token = idp.token("acme", "orders-service", KEYCLOAK_API)
    header, payload = claims_of(token)
    assert header["typ"] == "at+jwt"
    assert payload["aud"] == [KEYCLOAK_API, "account"] and payload["client_id"] == "orders-service"
    r = realms_gw.get("/whoami", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["x-client-id"] == "orders-service"


# --- one tenant per realm ------------------------------------------------------------------

REALM_TOKENS = {"acme": ("orders-service", api("RS256")), "globex": ("globex-app", GLOBEX_API)}


@pytest.mark.parametrize("realm", ["acme", "globex"])
def test_a_realms_token_passes_on_its_tenants_domain(realms_gw, idp, realm):
    token = idp.token(realm, *REALM_TOKENS[realm])
    r = realms_gw.get("/whoami", host=f"{realm}.localhost", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["x-portcullis-tenant"] == realm


@pytest.mark.parametrize("realm, other", [("acme", "globex"), ("globex", "acme")])
def test_a_realms_token_is_refused_on_another_realms_domain(realms_gw, backend, idp, realm, other):
    token = idp.token(realm, *REALM_TOKENS[realm])
    mark = marker()
    r = realms_gw.get("/whoami", host=f"{other}.localhost", token=token, headers=mark)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "issuer_not_valid_for_tenant"
    assert received(backend, mark) == []


# --- the provider's keys change or go away -------------------------------------------------

def test_keys_rotated_while_traffic_runs_fail_no_request(backend, idp):
    interval = 1  # unknown-kid re-fetches: at most one a second
    config = jwt_config(idp, cache=300, interval=interval)
    with gateway(backend, idp, [("portcullis_jwt", config)], "oidc-rotation") as gw:
        ready = time.monotonic()
        old = [idp.token("acme", "orders-service", api(alg)) for alg in ALGORITHMS]
        with Traffic(gw, "/whoami", old) as traffic:
            # Traffic on the old keys, until the re-fetch interval since the first fetch is over.
            wait_for(lambda: traffic.count() >= 8 and time.monotonic() - ready > interval + 0.5,
                     what="traffic on the old keys")
            fetches = idp.hits(JWKS_PATH)
            published = idp.rotate("acme")
            new = [idp.token("acme", "orders-service", api(alg)) for alg in ALGORITHMS]
            assert {claims_of(t)[0]["kid"] for t in new} == set(published[:len(ALGORITHMS)])
            traffic.replace(old + new)
            wait_for(lambda: traffic.count(new) >= 3 * len(new), what="traffic on the new keys")
        assert traffic.failures() == []
        assert idp.hits(JWKS_PATH) == fetches + 1, "one re-fetch brought every new key"


def test_requests_pass_on_the_cached_keys_while_the_provider_is_stopped(backend, idp):
    config = jwt_config(idp, cache=1, interval=1)  # refreshes every second: all fail while it is down
    with gateway(backend, idp, [("portcullis_jwt", config)], "oidc-outage") as gw:
        seen, unseen = (idp.token("acme", "orders-service", api("ES256")) for _ in range(2))
        assert gw.get("/whoami", token=seen).status_code == 200
        idp.stop()
        wait_for(lambda: gw.counter("portcullis_jwt_jwks_fetch_failed") >= 2, what="failed refreshes")
        assert "keeping the last good key set" in gw.logs()
        for token in (seen, unseen):  # `unseen` is not in the token cache: verified now
            r = gw.get("/whoami", token=token)
            assert r.status_code == 200, r.text


# --- Keycloak- and Cognito-shaped claims ---------------------------------------------------

def assert_decision(response, status):
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"] == "no_matching_grant"


@pytest.mark.parametrize("client_id, status", [("kc-finance", 200), ("kc-support", 403)])
def test_keycloak_realm_roles_decide_the_route(keycloak_gw, idp, client_id, status):
    token = idp.token("acme", client_id, KEYCLOAK_API)
    assert_decision(keycloak_gw.get("/reports", token=token), status)


@pytest.mark.parametrize("client_id, status", [("kc-finance-group", 200), ("kc-support", 403)])
def test_keycloak_groups_decide_the_route(keycloak_gw, idp, client_id, status):
    token = idp.token("acme", client_id, KEYCLOAK_API)
    assert_decision(keycloak_gw.get("/reports", token=token), status)


def test_the_providers_space_separated_scope_grants_per_method(keycloak_gw, idp):
    token = idp.token("acme", "orders-service", KEYCLOAK_API, scope="orders/read reports/read")
    assert claims_of(token)[1]["scope"] == "orders/read reports/read"
    assert_decision(keycloak_gw.get("/orders", token=token), 200)
    assert_decision(keycloak_gw.get("/orders", token=token, method="POST"), 403)


@pytest.mark.parametrize("client_id, status", [("kc-portal", 200), ("kc-other-client", 403)])
def test_keycloak_client_roles_are_read_under_the_clients_own_key(keycloak_client_gw, idp, client_id, status):
    token = idp.token("acme", client_id, KEYCLOAK_API)
    assert_decision(keycloak_client_gw.get("/reports", token=token), status)


@pytest.mark.parametrize("client_id, status", [("cognito-finance", 200), ("cognito-support", 403)])
def test_cognito_groups_decide_the_route(cognito_gw, idp, client_id, status):
    token = idp.token("acme", client_id, api("RS256"))
    assert_decision(cognito_gw.get("/reports", token=token), status)


def test_cognito_token_use_and_groups_reach_the_backend(cognito_gw, idp):
    token = idp.token("acme", "cognito-finance", api("RS256"))
    r = cognito_gw.get("/whoami", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["x-token-use"] == "access"
    assert r.json()["x-groups"] == "finance-team"
