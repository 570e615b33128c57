"""Remote JWKS through a real Envoy (SPEC section 2, issue 3): keys fetched through the
gateway from a real JWKS server on loopback, refreshed on a timer, re-fetched on an
unknown `kid` (rate-limited), kept while the endpoint is down or answers garbage, and
failing closed before any key set was fetched. Also the verified-token cache, and an
opt-in timing run (PORTCULLIS_PERF=1) recorded in docs/jwt-performance.md."""

import contextlib
import os
import re
import statistics
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


# --- timings (opt-in) ------------------------------------------------------------------------

PERF = os.environ.get("PORTCULLIS_PERF") == "1"


def _cpu_ns(pid):
    """CPU time of every thread of process `pid`, in ns (schedstat: robust to load)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


def _timed(gw, session, url, headers, n):
    """Envoy's CPU time per request, in µs, over `n` requests."""
    before = _cpu_ns(gw.process.pid)
    for _ in range(n):
        h = headers() if callable(headers) else headers
        r = session.get(url, headers=h, timeout=10)
        assert r.status_code == 200, r.text
    return (_cpu_ns(gw.process.pid) - before) / n / 1000


def _direct(name, path, requirement):
    """A route Envoy answers itself (no backend in the timing)."""
    return {"name": name, "match": {"path": path},
            "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
            "metadata": {"filter_metadata": {"portcullis": {"requirement": requirement}}}}


@pytest.mark.skipif(not PERF, reason="timing run: PORTCULLIS_PERF=1")
@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_timing_cold_vs_cached_verification(backend, alg):
    """Envoy's CPU time per request (all its threads, from /proc schedstat, so other load
    on the machine does not count; routes answered by Envoy itself) with distinct tokens
    (a signature check each), with one repeated token (cache hits), and with the cache
    off; distinct minus repeated is the cold verification's cost inside V8."""
    key = {"RS256": tokens.new_rsa, "ES256": tokens.new_ec, "EdDSA": tokens.new_ed}[alg]("perf")
    n = int(os.environ.get("PORTCULLIS_PERF_N", "400"))
    routes = [_direct("required", "/required", "authenticated"), _direct("public", "/public", "public")]
    distinct = [key.sign(tokens.claims(iss=ISS, sub=f"u{i}")) for i in range(2 * n + 100)]
    same = key.sign(tokens.claims(iss=ISS))
    host = {"host": "acme.localhost"}
    bearer = lambda t: {**host, "authorization": f"Bearer {t}"}  # noqa: E731
    results = {}
    other = os.environ.get("PORTCULLIS_PERF_WASM")  # a build of another revision (no cache setting)
    for cache in (1024, 0):
        config = {"providers": [{"name": "p", "issuer": ISS, "audiences": ["users"], "algorithms": [alg],
                                 "jwks": {"keys": [key.jwk()]}}]}
        if not other:
            config["token_cache_entries"] = cache
        elif cache == 0:
            results[0] = results[1024]
            break
        jwt = wasm_filter("portcullis_jwt", config)
        if other:
            jwt["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = other
        boot = bootstrap([jwt], routes, backend.port)
        with Envoy(boot, name=f"perf-{alg}") as gw, requests.Session() as s:
            pool = iter(distinct if cache else distinct[n + 100:] + distinct[:n + 100])
            _timed(gw, s, gw.url("/public"), host, 50)  # warm-up: connection, V8 tiers
            _timed(gw, s, gw.url("/required"), lambda: bearer(next(pool)), 50)
            public = _timed(gw, s, gw.url("/public"), host, n)
            repeated = _timed(gw, s, gw.url("/required"), bearer(same), n)
            cold = _timed(gw, s, gw.url("/required"), lambda: bearer(next(pool)), n)
            results[cache] = (public, repeated, cold)
    (pub, rep, cold), (_, rep_off, cold_off) = results[1024], results[0]
    print(f"\n{alg}: Envoy CPU µs per request: public {pub:.0f}, repeated token {rep:.0f} (cache off {rep_off:.0f}), "
          f"distinct tokens {cold:.0f} (cache off {cold_off:.0f}); cold verification ≈ {cold - rep:.0f} µs, "
          f"a cache hit saves ≈ {rep_off - rep:.0f} µs; token check on a hit ≈ {rep - pub:.0f} µs")
