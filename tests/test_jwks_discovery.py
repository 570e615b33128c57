"""OpenID Connect discovery through a real Envoy (SPEC section 2, issue 3), against a real
OpenID provider (oidc-provider, tests/oidc/provider.mjs, realms Keycloak-style under
`/realms/<name>`): a provider with `remote_jwks.openid_discovery` fetches its issuer's
`/.well-known/openid-configuration` through the gateway, then the key set its `jwks_uri`
names. A document that names another issuer, or whose `jwks_uri` would send the gateway
to another host, is refused, and tokens fail closed with a reason. Also: a request whose
body arrives while it waits for the first key set reaches the backend only once the
token is decided, body intact."""

import contextlib

import pytest

from harness import tokens
from harness.gateway import Envoy, bootstrap, route, wait_for, wasm_filter
from harness.oidc import OidcProvider, claims_of

RESOURCE = "https://api.discovery.test"
ROUTES = [route("required", "/required", "GET,POST: authenticated")]
REALMS = {
    "acme": {"algorithms": ["RS256"], "resources": {RESOURCE: {"alg": "RS256"}},
             "clients": {"svc": {"secret": "svc-secret"}}},
    # A realm served at /realms/moved whose provider still says it is /realms/acme: the
    # document at the configured issuer's address names another issuer.
    "moved": {"algorithms": ["RS256"], "issuer_path": "/realms/acme"},
}


@pytest.fixture(scope="module")
def provider():
    with OidcProvider(REALMS, name="oidc-discovery") as p:
        yield p


@pytest.fixture
def idp(provider):
    try:
        yield provider
    finally:
        provider.restore()


def discovery_config(issuer, timeout_ms=1000, **remote):
    return {
        "providers": [{
            "name": "keycloak", "issuer": issuer, "audiences": [RESOURCE], "algorithms": ["RS256"],
            "remote_jwks": {"cluster": "oidc", "openid_discovery": True, "timeout_ms": timeout_ms,
                            "refetch_min_interval_seconds": 1, **remote},
        }],
    }


@contextlib.contextmanager
def gateway(backend, idp, config, name="discovery"):
    boot = bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port)
    boot["static_resources"]["clusters"].append(idp.cluster())
    with Envoy(boot, name=name) as envoy:
        yield envoy


def token(idp):
    return idp.token("acme", "svc", RESOURCE)


def test_keys_are_found_through_the_issuers_openid_configuration(backend, idp):
    t = token(idp)
    with gateway(backend, idp, discovery_config(idp.issuer("acme"))) as gw:
        r = wait_for(lambda: (r := gw.get("/required", token=t)).status_code == 200 and r,
                     what="a token verified with the discovered keys")
        assert r.json()["path"] == "/required"
        assert "names the key set /realms/acme/jwks" in gw.logs()


def test_a_configuration_sending_the_gateway_to_another_host_fails_closed(backend, idp):
    # The gateway asks for the document as `idp.internal`: the provider builds its
    # `jwks_uri` on that host, which is not the issuer's.
    t = token(idp)
    jwks_hits = idp.hits("/realms/acme/jwks")
    config = discovery_config(idp.issuer("acme"), authority="idp.internal")
    with gateway(backend, idp, config) as gw:
        wait_for(lambda: "another host" in gw.logs(), what="the refusal logged")
        r = gw.get("/required", token=t)
        assert r.status_code == 401
        assert r.json()["error"] == "keys_unavailable"
        assert idp.hits("/realms/acme/jwks") == jwks_hits, "the key set was never fetched"


def test_a_configuration_for_another_issuer_fails_closed(backend, idp):
    moved = idp.issuer("acme").replace("/realms/acme", "/realms/moved")
    # A token naming the configured issuer: no key the gateway could trust signed it,
    # since the document at that issuer's address is another issuer's.
    t = tokens.new_rsa("moved-rs256-1").sign({**claims_of(token(idp))[1], "iss": moved})
    with gateway(backend, idp, discovery_config(moved)) as gw:
        wait_for(lambda: "`issuer` is not the provider's" in gw.logs(), what="the refusal logged")
        r = gw.get("/required", token=t)
        assert r.status_code == 401
        assert r.json()["error"] == "keys_unavailable"


def test_a_request_body_waits_with_its_request_for_the_first_key_set(backend, idp):
    t = token(idp)
    idp.faults("acme", delay_ms=1000)  # both fetches are slow: the request arrives before any key set
    with gateway(backend, idp, discovery_config(idp.issuer("acme"), timeout_ms=4000)) as gw:
        before = len(backend.seen("/required"))
        r = gw.get("/required", token=t, method="POST", data=b'{"n": 1}' * 1000)
        assert r.status_code == 200, r.text
        received = backend.seen("/required")[before:]
        assert [x["body"] for x in received] == [b'{"n": 1}' * 1000]
