"""Portcullis counters in Envoy's /stats/prometheus (SPEC section 7, issue 10).

Each filter defines its counters with proxy-wasm `define_metric`. Envoy 1.40 keeps them in
the custom stat namespace `wasmcustom` (`/stats` shows `wasmcustom.portcullis_allowed`) and
`/stats/prometheus` exports them with the namespace stripped and without Envoy's `envoy_`
prefix: `portcullis_allowed`. A counter exists from its first increment. Names are listed
in docs/metrics.md.

The module runs its own copy of the demo (the repository's envoy.yaml), so no other test
moves its counters."""

import json
import re
import uuid

import pytest
import requests

from harness import tokens
from harness.gateway import Envoy, bootstrap, load_repo_config, route, wasm_filter

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def counters(gateway):
    """Every sample of /stats/prometheus without labels beyond `{}`: name -> value."""
    values = {}
    for line in gateway.stats().splitlines():
        match = SAMPLE.match(line)
        if match and match.group(2) in (None, "{}"):
            values[match.group(1)] = float(match.group(3))
    return values


class Moved:
    """The counters that moved across a block: `with Moved(gw) as moved: ...`."""

    def __init__(self, gateway):
        self.gateway = gateway

    def __enter__(self):
        self.before = counters(self.gateway)
        return self

    def __exit__(self, *exc):
        after = counters(self.gateway)
        self.delta = {name: value - self.before.get(name, 0.0) for name, value in after.items()
                      if value != self.before.get(name, 0.0)}

    def portcullis(self):
        """The decision counters that moved (the JWT filter's token counters, which say
        how a token was verified rather than what was decided, are left out)."""
        return {k: v for k, v in self.delta.items() if DECISION.match(k)}

    def jwt(self):
        return {k: v for k, v in self.delta.items() if k.startswith("portcullis_jwt_")}


DECISION = re.compile(r"^portcullis_(allowed|\d{3}_\w+|shadow_403_\w+|leak_blocked|leak_filtered|owner_hidden"
                      r"|redacted|redaction_failed)$")


@pytest.fixture(scope="module")
def gw(backend):
    with Envoy(load_repo_config(backend.port), name="metrics") as envoy:
        yield envoy


@pytest.fixture(scope="module")
def token(demo_key):
    return demo_key.sign(tokens.claims())


def test_custom_metrics_live_in_the_wasmcustom_namespace(gw, token):
    assert gw.get("/whoami", token=token).status_code == 200
    plain = requests.get(f"http://127.0.0.1:{gw.admin_port}/stats?filter=portcullis_allowed", timeout=5).text
    assert "wasmcustom.portcullis_allowed:" in plain
    prometheus = gw.stats()
    assert "# TYPE portcullis_allowed counter" in prometheus
    assert re.search(r"^portcullis_allowed(\{\})? \d+$", prometheus, re.M)
    assert "envoy_wasmcustom" not in prometheus and "envoy_portcullis_" not in prometheus


def test_allowed_request_moves_allowed(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=token).status_code == 200
    assert moved.portcullis() == {"portcullis_allowed": 1}


def test_new_token_moves_jwt_verified_and_signature_native(gw, demo_key):
    """A new RS256 token: its signature checked by Envoy's own verifier, once."""
    token = demo_key.sign(tokens.claims(jti=str(uuid.uuid4())))
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=token).status_code == 200
    assert moved.jwt() == {"portcullis_jwt_verified": 1, "portcullis_jwt_signature_native": 1}


def test_repeated_token_moves_jwt_verified_and_cache_hit(gw, demo_key):
    """`jwt_verified` counts every token handed on; `jwt_cache_hit` those of them that
    came from the verified-token cache (no signature check)."""
    token = demo_key.sign(tokens.claims(jti=str(uuid.uuid4())))
    assert gw.get("/whoami", token=token).status_code == 200
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=token).status_code == 200
    assert moved.jwt() == {"portcullis_jwt_verified": 1, "portcullis_jwt_cache_hit": 1}


def test_public_request_moves_allowed_only(gw):
    with Moved(gw) as moved:
        assert gw.get("/public/health").status_code == 200
    assert moved.portcullis() == {"portcullis_allowed": 1}


def test_missing_token_moves_401_token_missing(gw):
    with Moved(gw) as moved:
        assert gw.get("/whoami").status_code == 401
    assert moved.portcullis() == {"portcullis_401_token_missing": 1}


@pytest.mark.parametrize("claims, reason", [
    ({"exp": 1_000_000_000, "iat": 999_999_000}, "token_expired"),
    ({"aud": "admins"}, "audience_invalid"),
], ids=["expired", "wrong-audience"])
def test_invalid_token_moves_401_by_reason(gw, demo_key, claims, reason):
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=demo_key.sign(tokens.claims(**claims))).status_code == 401
    assert moved.portcullis() == {f"portcullis_401_{reason}": 1}


def test_tampered_token_moves_401_signature_invalid(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=tokens.tamper(token, sub="admin")).status_code == 401
    assert moved.portcullis() == {"portcullis_401_signature_invalid": 1}


def test_missing_grant_moves_403_no_matching_grant(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/finance/reports", token=token).status_code == 403
    assert moved.portcullis() == {"portcullis_403_no_matching_grant": 1}


def test_route_without_requirement_moves_403_no_requirement(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/nowhere", token=token).status_code == 403
    assert moved.portcullis() == {"portcullis_403_no_requirement": 1}


def test_method_not_listed_moves_403_method_not_allowed(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=token, method="DELETE").status_code == 403
    assert moved.portcullis() == {"portcullis_403_method_not_allowed": 1}


def test_foreign_account_moves_403_account_not_allowed(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/accounts/qa/contracts/123-456", token=token).status_code == 403
    assert moved.portcullis() == {"portcullis_allowed": 1,
                                  "portcullis_403_account_not_allowed": 1}


def test_token_of_another_tenant_moves_403_tenant_mismatch(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=token, host="crontech.localhost").status_code == 403
    assert moved.portcullis() == {"portcullis_403_tenant_mismatch": 1}


def test_unknown_domain_moves_403_unknown_host(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/whoami", token=token, host="evil.localhost").status_code == 403
    assert moved.portcullis() == {"portcullis_403_unknown_host": 1}


def test_path_not_in_normal_form_moves_400_by_reason(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/accounts/qa;x/contracts/1", token=token).status_code == 400
    assert moved.portcullis() == {"portcullis_400_path_parameter": 1}


def test_redacted_response_moves_redacted(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/accounts/demostore/contracts/123-456", token=token).status_code == 200
    assert moved.portcullis() == {"portcullis_allowed": 1, "portcullis_redacted": 1}


def test_unrestricted_caller_moves_no_redaction(gw, demo_key):
    token = demo_key.sign(tokens.claims(roles=["FINANCEIRO"]))
    with Moved(gw) as moved:
        assert gw.get("/accounts/demostore/contracts/123-456", token=token).status_code == 200
    assert moved.portcullis() == {"portcullis_allowed": 1}


def test_blocked_leak_moves_leak_blocked_and_502_account_leak(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/accounts/demostore/contracts/999", token=token).status_code == 502
    assert moved.portcullis() == {"portcullis_allowed": 1,
                                  "portcullis_leak_blocked": 1, "portcullis_502_account_leak": 1}


def test_filtered_leak_moves_leak_filtered_and_redacted(gw, token):
    with Moved(gw) as moved:
        assert gw.get("/accounts/demostore/contracts", token=token).status_code == 200
    assert moved.portcullis() == {"portcullis_allowed": 1,
                                  "portcullis_leak_filtered": 1, "portcullis_redacted": 1}


def test_unreadable_backend_answer_moves_502_by_reason(gw, backend, token):
    path = "/accounts/demostore/contracts/metrics-html"
    backend.overrides[path] = (200, {"content-type": "text/html"}, b"<p>hello</p>")
    try:
        with Moved(gw) as moved:
            assert gw.get(path, token=token).status_code == 502
    finally:
        backend.overrides.pop(path, None)
    assert moved.portcullis() == {"portcullis_allowed": 1,
                                  "portcullis_502_not_json": 1}


def test_denied_request_writes_one_decision_log_line(gw, token):
    request_id = str(uuid.uuid4())
    r = gw.get("/finance/reports", token=token, headers={"x-request-id": request_id})
    assert r.status_code == 403
    lines = [line for line in gw.logs().splitlines() if request_id in line]
    assert len(lines) == 1, lines
    record = json.loads(lines[0][lines[0].index("{"):])
    assert record["decision"] == "deny"
    assert record["filter"] == "portcullis_authz"
    assert record["status"] == 403 and record["reason"] == "no_matching_grant"
    assert record["subject"] == "u1" and record["route"] == "finance-reports"
    assert token not in lines[0]


@pytest.fixture(scope="module")
def redact_gw(backend, demo_key):
    """The redaction filter without the account filter, which would refuse an unreadable
    body first on the demo's routes."""
    jwt = {"providers": [{"name": "demo", "issuer": tokens.DEMO_ISSUER, "audiences": ["users"],
                          "algorithms": ["RS256"], "jwks": {"keys": [demo_key.jwk()]}}]}
    authz = {"policies": {"roles": {"ATENDIMENTO": ["contract:one:read::!{user.cpf,mother}"]}, "groups": {}}}
    filters = [wasm_filter("portcullis_jwt", jwt), wasm_filter("portcullis_authz", authz),
               wasm_filter("portcullis_redact", {"max_body_bytes": 1024})]
    routes = [route("contract", "/metrics-redact/", "GET: contract:one:read", prefix=True)]
    with Envoy(bootstrap(filters, routes, backend.port), name="metrics-redact") as envoy:
        yield envoy


@pytest.mark.parametrize("headers, body, reason", [
    ({"content-encoding": "gzip"}, b"\x1f\x8b\x08\x00", "encoded_response"),
    ({}, b'{"user": {"cpf": "1"}', "response_not_redactable"),
    ({}, b'{"pad": "' + b"x" * 2048 + b'"}', "response_too_large"),
], ids=["gzip", "invalid-json", "oversize"])
def test_redaction_failure_moves_redaction_failed_and_502_by_reason(redact_gw, backend, token, headers, body, reason):
    path = f"/metrics-redact/{reason}"
    backend.overrides[path] = (200, {"content-type": "application/json", **headers}, body)
    try:
        with Moved(redact_gw) as moved:
            assert redact_gw.get(path, token=token).status_code == 502
    finally:
        backend.overrides.pop(path, None)
    assert moved.portcullis() == {"portcullis_allowed": 1, "portcullis_redaction_failed": 1,
                                  f"portcullis_502_{reason}": 1}
