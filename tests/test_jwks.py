"""Remote JWKS through a real Envoy (SPEC section 2, issue 3): keys fetched through the
gateway from a real JWKS server on loopback, refreshed on a timer, re-fetched on an
unknown `kid` (rate-limited), kept while the endpoint is down or answers garbage, and
failing closed before any key set was fetched. Also the verified-token cache (its cost
and a cold verification's are measured by bench/jwt_cold.py, not here)."""

import contextlib
import re
import time

import pytest
import requests

from harness import tokens
from harness.gateway import Envoy, bootstrap, route, wasm_filter
from harness.jwks import JwksServer, wait_for

ISS = "https://idp.remote.test"
ROUTES = [route("required", "/required", "GET: authenticated")]
K1 = tokens.new_rsa("k1")
K2 = tokens.new_rsa("k2")
K3 = tokens.new_ec("k3")


def remote_config(cache=300, interval=1, timeout_ms=1000, **extra):
    return {
        "providers": [{
            "name": "remote", "issuer": ISS, "audiences": ["users"], "algorithms": ["RS256", "ES256"],
            "remote_jwks": {"cluster": "jwks", "path": "/jwks.json", "cache_duration_seconds": cache,
                            "timeout_ms": timeout_ms, "refetch_min_interval_seconds": interval},
        }],
        **extra,
    }


@contextlib.contextmanager
def gateway(backend, server, config, name="jwks"):
    boot = bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port)
    boot["static_resources"]["clusters"].append(server.cluster())
    with Envoy(boot, name=name) as envoy:
        yield envoy


def token(key, **claims):
    return key.sign(tokens.claims(iss=ISS, **claims))


def counter(gw, name):
    text = requests.get(f"http://127.0.0.1:{gw.admin_port}/stats", timeout=5).text
    m = re.search(rf"(?:^|\.){re.escape(name)}: (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def error_of(response):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    return response.json()["error"]


@pytest.fixture
def server():
    s = JwksServer()
    yield s
    s.stop()


def test_a_request_during_the_first_fetch_waits_for_it_and_passes(backend, server):
    server.set_keys(K1)
    server.set_delay(1.5)  # the first fetch is still in flight when the request comes
    server.start()
    with gateway(backend, server, remote_config(timeout_ms=4000)) as gw:
        started = time.monotonic()
        r = gw.get("/required", token=token(K1))
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < 8
        assert counter(gw, "portcullis_jwt_waiting_for_keys") >= 1


def test_an_unknown_kid_triggers_a_refetch_and_the_new_key_passes_at_once(backend, server):
    server.set_keys(K1)
    server.start()
    # No minimum interval: the first K2 token may re-fetch at once.
    with gateway(backend, server, remote_config(cache=300, interval=0)) as gw:
        assert gw.get("/required", token=token(K1)).status_code == 200
        hits = server.hits
        server.set_keys(K1, K2)  # rotation at the IdP: K2 appears
        assert gw.get("/required", token=token(K2)).status_code == 200
        assert server.hits == hits + 1, "exactly one re-fetch, by the worker that saw the kid"


def test_unknown_kid_refetches_are_rate_limited(backend, server):
    server.set_keys(K1)
    server.start()
    with gateway(backend, server, remote_config(cache=300, interval=3600)) as gw:
        assert gw.get("/required", token=token(K1)).status_code == 200
        hits = server.hits
        server.set_keys(K1, K2)
        stranger = tokens.new_rsa("k-unknown")
        for key in (K2, stranger, stranger, K2):
            assert error_of(gw.get("/required", token=token(key))) == "kid_unknown"
        assert server.hits == hits, "within the interval, unknown kids fetch nothing"


def test_key_rotation_is_picked_up_by_the_timer_without_restart(backend, server):
    server.set_keys(K1)
    server.start()
    # A long re-fetch interval: only the timer (cache duration 1 s) can bring K3 in.
    with gateway(backend, server, remote_config(cache=1, interval=3600)) as gw:
        old = token(K1)
        assert gw.get("/required", token=old).status_code == 200
        assert gw.get("/required", token=old).status_code == 200  # cached
        server.set_keys(K3)
        wait_for(lambda: gw.get("/required", token=token(K3)).status_code == 200, what="k3 accepted")
        # K1 left the set: its tokens, cached ones included, are refused.
        assert error_of(gw.get("/required", token=old)) == "kid_unknown"


def test_valid_tokens_pass_while_the_jwks_server_is_down_after_a_first_fetch(backend, server):
    server.set_keys(K1)
    server.start()
    with gateway(backend, server, remote_config(cache=1, interval=1)) as gw:
        assert gw.get("/required", token=token(K1)).status_code == 200
        server.stop()
        wait_for(lambda: counter(gw, "portcullis_jwt_jwks_fetch_failed") >= 2, what="failed refreshes")
        assert "keeping the last good key set" in gw.logs()
        fresh = token(K1, sub="u-after-outage")  # not in the cache
        assert gw.get("/required", token=fresh).status_code == 200


def test_down_from_the_start_fails_closed_then_recovers(backend, server):
    server.set_keys(K1)
    with gateway(backend, server, remote_config(cache=300, interval=1, timeout_ms=500)) as gw:
        r = gw.get("/required", token=token(K1))
        assert error_of(r) == "keys_unavailable"
        assert "signing keys are not available" in r.headers["www-authenticate"]
        wait_for(lambda: "no key set yet" in gw.logs(), what="the fetch failure logged")
        server.start()
        wait_for(lambda: gw.get("/required", token=token(K1)).status_code == 200, what="recovery")


def test_a_malformed_jwks_keeps_the_last_good_set_and_is_logged(backend, server):
    server.set_keys(K1)
    server.start()
    with gateway(backend, server, remote_config(cache=1, interval=1)) as gw:
        assert gw.get("/required", token=token(K1)).status_code == 200
        server.serve_raw("<html>surprise</html>")
        wait_for(lambda: "JWKS fetch from jwks/jwks.json failed" in gw.logs(), what="garbage logged")
        server.serve_raw('{"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}')
        before = counter(gw, "portcullis_jwt_jwks_fetch_failed")
        wait_for(lambda: counter(gw, "portcullis_jwt_jwks_fetch_failed") > before, what="second failure")
        assert gw.get("/required", token=token(K1, sub="after-garbage")).status_code == 200
        assert "keeping the last good key set" in gw.logs()


def test_a_repeated_token_is_served_from_the_cache(backend, server):
    server.set_keys(K1)
    server.start()
    with gateway(backend, server, remote_config()) as gw:
        t = token(K1)
        for _ in range(5):
            assert gw.get("/required", token=t).status_code == 200
        assert counter(gw, "portcullis_jwt_cache_hit") == 4
        tampered = tokens.tamper(t, sub="someone-else")
        assert error_of(gw.get("/required", token=tampered)) == "signature_invalid"


def test_remote_jwks_configuration_errors_are_refused(backend, server):
    config = remote_config()
    config["providers"][0]["remote_jwks"]["path"] = "jwks.json"
    boot = bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port)
    envoy = Envoy(boot, name="badremote")
    try:
        envoy.start(expect_ready=False)
        assert envoy.wait_exit(60) != 0
        assert "remote_jwks.path" in envoy.logs()
    finally:
        envoy.stop()
