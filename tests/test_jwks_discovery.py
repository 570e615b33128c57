"""OpenID Connect discovery through a real Envoy (SPEC section 2, issue 3): a provider with
`remote_jwks.openid_discovery` fetches its issuer's `/.well-known/openid-configuration`
through the gateway, then the key set its `jwks_uri` names. A document that names
another issuer or sends the gateway to another host is refused, and tokens fail closed
with a reason. Also: a request whose body arrives while it waits for the first key set
reaches the backend only once the token is decided, body intact."""

import contextlib

import pytest

from harness import tokens
from harness.gateway import Envoy, bootstrap, route, wasm_filter
from harness.jwks import JwksServer, wait_for

ISS = "https://idp.discovery.test/realms/acme"
DOCUMENT = "/realms/acme/.well-known/openid-configuration"
ROUTES = [route("required", "/required", "GET,POST: authenticated")]
K1 = tokens.new_rsa("k1")


def discovery_config(timeout_ms=1000):
    return {
        "providers": [{
            "name": "keycloak", "issuer": ISS, "audiences": ["users"], "algorithms": ["RS256"],
            "remote_jwks": {"cluster": "jwks", "openid_discovery": True, "timeout_ms": timeout_ms,
                            "refetch_min_interval_seconds": 1},
        }],
    }


@contextlib.contextmanager
def gateway(backend, server, config, name="discovery"):
    boot = bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port)
    boot["static_resources"]["clusters"].append(server.cluster())
    with Envoy(boot, name=name) as envoy:
        yield envoy


def token():
    return K1.sign(tokens.claims(iss=ISS))


@pytest.fixture
def server():
    s = JwksServer(path="/realms/acme/protocol/openid-connect/certs")
    s.set_keys(K1)
    yield s
    s.stop()


def test_keys_are_found_through_the_issuers_openid_configuration(backend, server):
    server.documents[DOCUMENT] = {
        "issuer": ISS,
        "jwks_uri": "https://idp.discovery.test/realms/acme/protocol/openid-connect/certs",
    }
    server.start()
    with gateway(backend, server, discovery_config()) as gw:
        r = wait_for(lambda: (r := gw.get("/required", token=token())).status_code == 200 and r,
                     what="a token verified with the discovered keys")
        assert r.json()["path"] == "/required"
        assert "names the key set /realms/acme/protocol/openid-connect/certs" in gw.logs()


def test_a_configuration_sending_the_gateway_to_another_host_fails_closed(backend, server):
    server.documents[DOCUMENT] = {"issuer": ISS, "jwks_uri": "https://attacker.test/certs"}
    server.start()
    with gateway(backend, server, discovery_config()) as gw:
        wait_for(lambda: "another host" in gw.logs(), what="the refusal logged")
        r = gw.get("/required", token=token())
        assert r.status_code == 401
        assert r.json()["error"] == "keys_unavailable"
        assert server.hits == 0, "the key set was never fetched"


def test_a_configuration_for_another_issuer_fails_closed(backend, server):
    server.documents[DOCUMENT] = {
        "issuer": "https://idp.discovery.test/realms/other",
        "jwks_uri": "https://idp.discovery.test/realms/acme/protocol/openid-connect/certs",
    }
    server.start()
    with gateway(backend, server, discovery_config()) as gw:
        wait_for(lambda: "`issuer` is not the provider's" in gw.logs(), what="the refusal logged")
        r = gw.get("/required", token=token())
        assert r.status_code == 401
        assert r.json()["error"] == "keys_unavailable"


def test_a_request_body_waits_with_its_request_for_the_first_key_set(backend, server):
    server.documents[DOCUMENT] = {
        "issuer": ISS,
        "jwks_uri": "https://idp.discovery.test/realms/acme/protocol/openid-connect/certs",
    }
    server.set_delay(1.0)  # both fetches are slow: the request arrives before any key set
    server.start()
    with gateway(backend, server, discovery_config(timeout_ms=4000)) as gw:
        before = len(backend.seen("/required"))
        r = gw.get("/required", token=token(), method="POST", data=b'{"n": 1}' * 1000)
        assert r.status_code == 200, r.text
        received = backend.seen("/required")[before:]
        assert [x["body"] for x in received] == [b'{"n": 1}' * 1000]
