"""The demo contract (SPEC section 10) through the repository's own envoy.yaml."""

from harness import tokens


def test_public_health_needs_no_token(demo):
    r = demo.get("/public/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_whoami_without_token_is_401_with_a_bearer_challenge(demo):
    r = demo.get("/whoami")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_whoami_shows_the_verified_identity_and_never_a_client_copy(demo, demo_token):
    forged = {"x-portcullis-subject": "admin", "x-portcullis-tenant": "crontech", "x-portcullis-accounts": "qa"}
    r = demo.get("/whoami", token=demo_token, headers=forged)
    assert r.status_code == 200
    seen = r.json()
    assert seen["x-portcullis-subject"] == "u1"
    assert seen["x-portcullis-accounts"] == "demostore"
    assert seen.get("x-portcullis-tenant") in (None, "acme")


def test_make_token_style_token_from_the_demo_key_is_accepted(demo, demo_key):
    token = demo_key.sign(tokens.claims(roles="ATENDIMENTO", scopes="br.com.chaordic.cockpit/sales/customerServices/*"))
    assert demo.get("/whoami", token=token).status_code == 200
