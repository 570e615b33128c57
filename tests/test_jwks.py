"""Remote JWKS through a real Envoy (SPEC section 2, issue 3), from a real OpenID provider
(oidc-provider, tests/oidc/provider.mjs): its key set fetched through the gateway at a
configured `remote_jwks.path`, refreshed on a timer, re-fetched on an unknown `kid`
(rate-limited), kept while the endpoint answers garbage, and failing closed before any
key set was fetched. Tokens are the provider's own JWT access tokens. Also the
verified-token cache (its cost and a cold verification's are measured by
bench/jwt_cold.py, not here). Key rotation under traffic and a stopped provider:
tests/test_oidc.py."""

import contextlib
import time

import pytest

from harness import tokens
from harness.gateway import Envoy, bootstrap, route, wait_for, wasm_filter
from harness.oidc import OidcProvider, claims_of

REALM = "idp"
RESOURCE = "https://api.jwks.test"
CLIENT = "svc"
JWKS_PATH = f"/realms/{REALM}/jwks"
ROUTES = [route("required", "/required", "GET: authenticated")]
REALMS = {REALM: {
    "algorithms": ["RS256", "ES256"],
    "resources": {RESOURCE: {"alg": "RS256"}, f"{RESOURCE}/ec": {"alg": "ES256"}},
    "clients": {CLIENT: {"secret": "svc-secret"}},
}}


@pytest.fixture(scope="module")
def provider():
    with OidcProvider(REALMS, name="oidc-jwks") as p:
        yield p


@pytest.fixture
def idp(provider):
    """The module's provider, running and without faults again after each test."""
    try:
        yield provider
    finally:
        provider.restore()


def remote_config(idp, cache=300, interval=1, timeout_ms=1000, **extra):
    return {
        "providers": [{
            "name": "remote", "issuer": idp.issuer(REALM), "audiences": [RESOURCE, f"{RESOURCE}/ec"],
            "algorithms": ["RS256", "ES256"],
            "remote_jwks": {"cluster": "oidc", "path": JWKS_PATH, "cache_duration_seconds": cache,
                            "timeout_ms": timeout_ms, "refetch_min_interval_seconds": interval},
        }],
        **extra,
    }


@contextlib.contextmanager
def gateway(backend, idp, config, name="jwks"):
    boot = bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port)
    boot["static_resources"]["clusters"].append(idp.cluster())
    with Envoy(boot, name=name) as envoy:
        yield envoy


def token(idp, resource=RESOURCE):
    """A fresh access token from the provider's token endpoint (a new `jti` each time)."""
    return idp.token(REALM, CLIENT, resource)


def kid(token):
    return claims_of(token)[0]["kid"]



def error_of(response):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    return response.json()["error"]


def test_a_request_during_the_first_fetch_waits_for_it_and_passes(backend, idp):
    t = token(idp)
    idp.faults(REALM, delay_ms=1500)  # the first fetch is still in flight when the request comes
    with gateway(backend, idp, remote_config(idp, timeout_ms=4000)) as gw:
        started = time.monotonic()
        r = gw.get("/required", token=t)
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < 8
        assert gw.counter("portcullis_jwt_waiting_for_keys") >= 1


def test_an_unknown_kid_triggers_a_refetch_and_the_new_key_passes_at_once(backend, idp):
    # No minimum interval: the first new-key token may re-fetch at once.
    with gateway(backend, idp, remote_config(idp, cache=300, interval=0)) as gw:
        assert gw.get("/required", token=token(idp)).status_code == 200
        hits = idp.hits(JWKS_PATH)
        idp.rotate(REALM)  # rotation at the provider: a new key signs from now on
        rotated = token(idp)
        assert gw.get("/required", token=rotated).status_code == 200
        assert idp.hits(JWKS_PATH) == hits + 1, "exactly one re-fetch, by the worker that saw the kid"


def test_unknown_kid_refetches_are_rate_limited(backend, idp):
    with gateway(backend, idp, remote_config(idp, cache=300, interval=3600)) as gw:
        assert gw.get("/required", token=token(idp)).status_code == 200
        hits = idp.hits(JWKS_PATH)
        idp.rotate(REALM)
        rotated = token(idp)
        stranger = tokens.new_rsa("k-unknown").sign(claims_of(rotated)[1])  # a key the provider never had
        for t in (rotated, stranger, stranger, rotated):
            assert error_of(gw.get("/required", token=t)) == "kid_unknown"
        assert idp.hits(JWKS_PATH) == hits, "within the interval, unknown kids fetch nothing"


def test_key_rotation_is_picked_up_by_the_timer_without_restart(backend, idp):
    # A long re-fetch interval: only the timer (cache duration 1 s) can bring the new key in.
    with gateway(backend, idp, remote_config(idp, cache=1, interval=3600)) as gw:
        old = token(idp)
        assert gw.get("/required", token=old).status_code == 200
        assert gw.get("/required", token=old).status_code == 200  # cached
        idp.rotate(REALM, keep_old=False)  # the new key replaces the old one in one step
        rotated = token(idp)
        assert kid(rotated) != kid(old)
        wait_for(lambda: gw.get("/required", token=rotated).status_code == 200, what="the new key accepted")
        # The old key left the set: its tokens, cached ones included, are refused.
        assert error_of(gw.get("/required", token=old)) == "kid_unknown"


def test_down_from_the_start_fails_closed_then_recovers(backend, idp):
    t = token(idp)
    idp.stop()
    with gateway(backend, idp, remote_config(idp, cache=300, interval=1, timeout_ms=500)) as gw:
        r = gw.get("/required", token=t)
        assert error_of(r) == "keys_unavailable"
        assert "signing keys are not available" in r.headers["www-authenticate"]
        wait_for(lambda: "no key set yet" in gw.logs(), what="the fetch failure logged")
        idp.start()
        wait_for(lambda: gw.get("/required", token=t).status_code == 200, what="recovery")


def test_a_malformed_jwks_keeps_the_last_good_set_and_is_logged(backend, idp):
    first, after_garbage = token(idp), token(idp)
    with gateway(backend, idp, remote_config(idp, cache=1, interval=1)) as gw:
        assert gw.get("/required", token=first).status_code == 200
        idp.faults(REALM, jwks_body="<html>surprise</html>")
        wait_for(lambda: f"JWKS fetch from oidc{JWKS_PATH} failed" in gw.logs(), what="garbage logged")
        idp.faults(REALM, jwks_body='{"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}')
        before = gw.counter("portcullis_jwt_jwks_fetch_failed")
        wait_for(lambda: gw.counter("portcullis_jwt_jwks_fetch_failed") > before, what="second failure")
        assert gw.get("/required", token=after_garbage).status_code == 200  # not cached: verified
        assert "keeping the last good key set" in gw.logs()


def test_a_repeated_token_is_served_from_the_cache(backend, idp):
    with gateway(backend, idp, remote_config(idp)) as gw:
        t = token(idp, f"{RESOURCE}/ec")
        for _ in range(5):
            assert gw.get("/required", token=t).status_code == 200
        assert gw.counter("portcullis_jwt_cache_hit") == 4
        tampered = tokens.tamper(t, sub="someone-else")
        assert error_of(gw.get("/required", token=tampered)) == "signature_invalid"


def test_remote_jwks_configuration_errors_are_refused(backend, idp):
    config = remote_config(idp)
    config["providers"][0]["remote_jwks"]["path"] = "jwks.json"
    boot = bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port)
    envoy = Envoy(boot, name="badremote")
    try:
        envoy.start(expect_ready=False)
        assert envoy.wait_exit(60) != 0
        assert "remote_jwks.path" in envoy.logs()
    finally:
        envoy.stop()
