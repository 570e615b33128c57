"""The JWT filter through a real Envoy (SPEC section 2, issue 2)."""

import json
import re
import time

import pytest
import requests

from harness import tokens
from harness.gateway import Envoy, bootstrap, route, wasm_filter

EC = tokens.new_ec()
ED = tokens.new_ed()
OTHER_RSA = tokens.new_rsa("not-in-jwks")


def jwt_config(demo_key):
    return {
        "providers": [
            {"name": "demo", "issuer": tokens.DEMO_ISSUER, "audiences": ["users"], "algorithms": ["RS256"],
             "jwks": {"keys": [demo_key.jwk()]}},
            {"name": "ec", "issuer": "https://ec.test", "audiences": ["users"], "algorithms": ["ES256"],
             "jwks": {"keys": [EC.jwk()]}},
            {"name": "ed", "issuer": "https://ed.test", "audiences": ["users"], "algorithms": ["EdDSA"],
             "jwks": {"keys": [ED.jwk()]}},
            {"name": "hmac", "issuer": "https://hmac.test", "audiences": ["users"], "algorithms": ["HS256"],
             "shared_secret_base64": __import__("base64").b64encode(tokens.HMAC_SECRET).decode()},
        ],
        "sources": [
            {"header": "authorization", "prefix": "Bearer "},
            {"cookie": "session"},
            {"query": "access_token"},
        ],
        "forward": [
            {"claim": "sub", "header": "x-portcullis-subject"},
            {"claim": "organization", "header": "x-portcullis-accounts"},
        ],
    }


ROUTES = [
    route("required", "/required", "GET: authenticated"),
    route("optional", "/optional", "optional"),
    route("public", "/public", "public"),
]


@pytest.fixture(scope="module")
def gw(backend, demo_key):
    config = bootstrap([wasm_filter("portcullis_jwt", jwt_config(demo_key))], ROUTES, backend.port)
    with Envoy(config, name="jwt") as envoy:
        yield envoy


def whoami(gw, **kwargs):
    """The headers the backend received (the backend echoes them on /whoami-like paths)."""
    r = gw.get("/required", **kwargs)
    return r


def seen_headers(backend, marker):
    reqs = [r for r in backend.requests if r["headers"].get("x-test-marker") == marker]
    assert len(reqs) == 1, f"backend saw {len(reqs)} requests for {marker}"
    return {k.lower(): v for k, v in reqs[0]["headers"].items()}


def assert_401(response, reason=None):
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    if reason:
        assert body["error"] == reason, body


def test_valid_token_passes_and_upstream_sees_forwarded_claims(gw, backend, demo_key):
    r = gw.get("/required", token=demo_key.sign(tokens.claims()), headers={"x-test-marker": "valid"})
    assert r.status_code == 200
    h = seen_headers(backend, "valid")
    assert h["x-portcullis-subject"] == "u1"
    assert h["x-portcullis-accounts"] == "demostore"
    assert "authorization" not in h, "the bearer token is not forwarded upstream by default"


def test_client_sent_identity_headers_never_reach_the_upstream(gw, backend, demo_key):
    forged = {"x-portcullis-subject": "admin", "X-Portcullis-Tenant": "crontech",
              "x-portcullis-accounts": "qa", "x-portcullis-anything": "x", "x-test-marker": "forged"}
    r = gw.get("/required", token=demo_key.sign(tokens.claims()), headers=forged)
    assert r.status_code == 200
    h = seen_headers(backend, "forged")
    assert h["x-portcullis-subject"] == "u1"
    assert h["x-portcullis-accounts"] == "demostore"
    assert "x-portcullis-tenant" not in h and "x-portcullis-anything" not in h


def test_identity_headers_are_removed_on_public_routes_too(gw, backend):
    r = gw.get("/public", headers={"x-portcullis-subject": "admin", "x-test-marker": "public-forged"})
    assert r.status_code == 200
    assert "x-portcullis-subject" not in seen_headers(backend, "public-forged")


@pytest.mark.parametrize("key", [EC, ED], ids=["es256", "eddsa"])
def test_ec_and_ed25519_tokens_pass(gw, key):
    iss = "https://ec.test" if key is EC else "https://ed.test"
    assert gw.get("/required", token=key.sign(tokens.claims(iss=iss))).status_code == 200


def test_hmac_token_passes_for_the_provider_with_a_shared_secret(gw):
    assert gw.get("/required", token=tokens.hmac_token(tokens.claims(iss="https://hmac.test"))).status_code == 200


def test_token_is_found_in_a_cookie_and_in_a_query_parameter(gw, demo_key):
    token = demo_key.sign(tokens.claims())
    assert gw.get("/required", headers={"cookie": f"a=b; session={token}"}).status_code == 200
    assert gw.get(f"/required?access_token={token}").status_code == 200


def test_missing_token_on_a_required_route_is_rejected_with_401(gw):
    r = gw.get("/required")
    assert_401(r, "token_missing")


def test_expired_token_is_rejected_with_401(gw, demo_key):
    past = int(time.time()) - 7200
    assert_401(gw.get("/required", token=demo_key.sign(tokens.claims(exp=past, iat=past - 60))), "token_expired")


def test_token_without_exp_is_rejected_with_401(gw, demo_key):
    assert_401(gw.get("/required", token=demo_key.sign(tokens.claims(exp=None))), "exp_missing")


def test_not_yet_valid_token_is_rejected_with_401(gw, demo_key):
    r = gw.get("/required", token=demo_key.sign(tokens.claims(nbf=int(time.time()) + 3600)))
    assert_401(r, "token_not_yet_valid")


def test_token_issued_in_the_future_is_rejected_with_401(gw, demo_key):
    r = gw.get("/required", token=demo_key.sign(tokens.claims(iat=int(time.time()) + 3600)))
    assert_401(r, "iat_in_future")


def test_wrong_issuer_is_rejected_with_401(gw, demo_key):
    assert_401(gw.get("/required", token=demo_key.sign(tokens.claims(iss="https://evil.test"))), "issuer_unknown")


def test_wrong_audience_is_rejected_with_401(gw, demo_key):
    assert_401(gw.get("/required", token=demo_key.sign(tokens.claims(aud="admins"))), "audience_invalid")


def test_alg_none_is_rejected_with_401(gw):
    token = tokens.unsigned({"alg": "none", "typ": "JWT"}, tokens.claims())
    assert_401(gw.get("/required", token=token), "algorithm_unsupported")


def test_algorithm_the_provider_does_not_allow_is_rejected_with_401(gw, demo_key):
    token = demo_key.sign(tokens.claims(), alg="RS384")
    assert_401(gw.get("/required", token=token), "algorithm_not_allowed")


def test_hs256_token_signed_with_the_rsa_public_key_is_rejected_with_401(gw, demo_key):
    import base64
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": "demo-rs256"}
    unsigned = tokens.unsigned(header, tokens.claims())[:-1]
    sig = hmac.new(demo_key.public_pem(), unsigned.encode(), hashlib.sha256).digest()
    token = unsigned + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    assert_401(gw.get("/required", token=token), "algorithm_not_allowed")


def test_unknown_kid_is_rejected_with_401(gw):
    token = OTHER_RSA.sign(tokens.claims())
    assert_401(gw.get("/required", token=token), "kid_unknown")


def test_token_signed_by_another_key_with_the_known_kid_is_rejected_with_401(gw):
    token = OTHER_RSA.sign(tokens.claims(), headers={"kid": "demo-rs256"})
    assert_401(gw.get("/required", token=token), "signature_invalid")


def test_tampered_payload_is_rejected_with_401(gw, demo_key):
    token = tokens.tamper(demo_key.sign(tokens.claims()), organization=["qa"])
    assert_401(gw.get("/required", token=token), "signature_invalid")


def native_checks(gw):
    """RS256 signatures checked by Envoy's own `verify_signature` (BoringSSL)."""
    text = requests.get(f"http://127.0.0.1:{gw.admin_port}/stats?filter=signature_native", timeout=5).text
    m = re.search(r"portcullis_jwt_signature_native: (\d+)", text)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rs256_and_es256_signatures_are_checked_by_envoys_native_verifier(gw, demo_key, alg):
    key, iss = (demo_key, tokens.DEMO_ISSUER) if alg == "RS256" else (EC, "https://ec.test")
    before = native_checks(gw)
    token = key.sign(tokens.claims(iss=iss, jti=f"native-{time.time_ns()}"))  # new: not cached
    assert gw.get("/required", token=token).status_code == 200
    assert native_checks(gw) == before + 1


def test_eddsa_signatures_are_checked_in_wasm(gw):
    before = native_checks(gw)
    token = ED.sign(tokens.claims(iss="https://ed.test", jti=f"ed-{time.time_ns()}"))
    assert gw.get("/required", token=token).status_code == 200
    assert native_checks(gw) == before, "Envoy's verify_signature takes a digest: not Ed25519"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_signature_envoy_finds_invalid_is_rejected_with_401(gw, demo_key, alg):
    key, iss = (demo_key, tokens.DEMO_ISSUER) if alg == "RS256" else (EC, "https://ec.test")
    before = native_checks(gw)
    token = key.sign(tokens.claims(iss=iss, jti=f"bad-{time.time_ns()}"))
    head, payload, signature = token.split(".")
    flipped = ("B" if signature[10] != "B" else "C")
    forged = f"{head}.{payload}.{signature[:10]}{flipped}{signature[11:]}"
    assert_401(gw.get("/required", token=forged), "signature_invalid")
    assert native_checks(gw) == before + 1


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30"],
                         ids=["one-part", "two-parts", "garbage", "dots", "no-signature"])
def test_malformed_token_is_rejected_with_401(gw, token):
    assert_401(gw.get("/required", token=token), "token_malformed")


def test_unknown_crit_header_is_rejected_with_401(gw, demo_key):
    token = demo_key.sign(tokens.claims(), headers={"crit": ["exp-ext"], "exp-ext": 1})
    assert_401(gw.get("/required", token=token), "crit_unsupported")


def test_jku_in_the_header_is_never_used_to_find_a_key(gw):
    token = OTHER_RSA.sign(tokens.claims(), headers={"jku": "http://127.0.0.1:1/jwks.json",
                                                     "jwk": OTHER_RSA.jwk()})
    assert_401(gw.get("/required", token=token), "kid_unknown")


def test_rejection_reason_never_echoes_the_token(gw, demo_key):
    token = tokens.tamper(demo_key.sign(tokens.claims()), sub="x")
    r = gw.get("/required", token=token)
    assert token not in r.text and token not in r.headers["www-authenticate"]


def test_optional_route_passes_without_token_and_refuses_a_bad_one(gw, demo_key):
    assert gw.get("/optional").status_code == 200
    assert_401(gw.get("/optional", token="a.b.c"))
    assert gw.get("/optional", token=demo_key.sign(tokens.claims())).status_code == 200


def test_public_route_ignores_any_token(gw):
    assert gw.get("/public", token="not-a-token").status_code == 200


def test_unknown_configuration_field_makes_envoy_refuse_the_filter(backend, demo_key):
    config = jwt_config(demo_key)
    config["providers"][0]["audience"] = "users"  # typo of `audiences`
    envoy = Envoy(bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port), name="badcfg")
    try:
        envoy.start(expect_ready=False)
        assert envoy.wait_exit(60) != 0
        logs = envoy.logs()
        assert "portcullis: configuration rejected: jwt: " in logs
        assert "audience" in logs
    finally:
        envoy.stop()


def test_bad_key_makes_envoy_refuse_the_filter(backend, demo_key):
    config = jwt_config(demo_key)
    config["providers"][0]["jwks"] = {"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}
    envoy = Envoy(bootstrap([wasm_filter("portcullis_jwt", config)], ROUTES, backend.port), name="badkey")
    try:
        envoy.start(expect_ready=False)
        assert envoy.wait_exit(60) != 0
        assert "providers[0] (demo): jwks" in envoy.logs()
    finally:
        envoy.stop()
