"""The demo contract (SPEC section 10) as checks that run against any gateway serving the
demo: the repository's envoy.yaml in a local Envoy (tests/test_demo.py) and the
deploy/compose/ project in containers (tests/test_compose_run.py).

Each check takes the gateway (a `harness.gateway.Client` that also has `logs()`, Envoy's
log) and the demo's signing key, and asserts what a user trying the demo sees: routes,
statuses and bodies. `CHECKS` lists them all; tests parametrise over it.
"""

import json
import time
import uuid

from harness import tokens

SECRET_CPF = "000.000.370.00"
# The demo contract as the demo user receives it: without `user.cpf` and without `mother`.
REDACTED_CONTRACT = ('{"id":"123-456","contractOwner":"demostore","source":"adwords",'
                     '"user":{"name":"Usuário","rendaMensal":15000}}')
# The demo user's effective grants: role ATENDIMENTO's expansions, then the token's scope.
DEMO_GRANTS = [
    "contract:one:read::!{user.cpf,mother}",
    "contract:all:read::!{user.cpf,mother}",
    "automation:all:read",
    "br.com.chaordic.cockpit/sales/customerServices/*",
]


def demo_token(key):
    """A token for the demo user (`make token`'s claims)."""
    return key.sign(tokens.claims())


def log_events(gateway, event, request_id, timeout=10):
    """The structured `{"event": event}` lines the gateway logged for `request_id`,
    parsed; polled until one appears or `timeout` seconds pass (a container's log reaches
    the engine a little after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for line in gateway.logs().splitlines():
            start = line.find('{"event":')
            if start >= 0:
                record = json.loads(line[start:])
                if record["event"] == event and record.get("request_id") == request_id:
                    found.append(record)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def public_health_answers_200_without_a_token(gateway, key):
    r = gateway.get("/public/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}


def request_without_a_token_is_401_with_a_bearer_challenge(gateway, key):
    r = gateway.get("/whoami")
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")


def whoami_shows_the_verified_identity_and_never_a_client_copy(gateway, key):
    forged = {"x-portcullis-subject": "admin", "x-portcullis-tenant": "crontech", "x-portcullis-accounts": "qa"}
    r = gateway.get("/whoami", token=demo_token(key), headers=forged)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["x-portcullis-subject"] == "u1"
    assert seen["x-portcullis-tenant"] == "acme"
    assert seen["x-portcullis-accounts"] == "demostore"


def demostore_contract_comes_without_user_cpf_and_mother(gateway, key):
    r = gateway.get("/accounts/demostore/contracts/123-456", token=demo_token(key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.content.decode("utf-8") == REDACTED_CONTRACT


def contract_999_owned_by_qa_is_blocked_with_a_502_naming_no_account(gateway, key):
    r = gateway.get("/accounts/demostore/contracts/999", token=demo_token(key))
    assert r.status_code == 502, r.text
    assert r.headers["content-type"] == "application/json"
    assert len(r.content) < 200
    assert r.json()["error"] == "account_leak"
    for leaked in ("qa", "demostore", "999", "contractOwner", SECRET_CPF, "Usu"):
        assert leaked not in r.text, leaked


def blocked_leak_is_logged_naming_the_foreign_account(gateway, key):
    request_id = str(uuid.uuid4())
    r = gateway.get("/accounts/demostore/contracts/999", token=demo_token(key), headers={"x-request-id": request_id})
    assert r.status_code == 502, r.text
    events = log_events(gateway, "leak_blocked", request_id)
    assert len(events) == 1, gateway.logs()[-3000:]
    assert events[0]["foreign_accounts"] == ["qa"]
    assert events[0]["route"] == "contract"
    assert events[0]["subject"] == "u1"


def contracts_list_comes_without_the_qa_element_and_redacted(gateway, key):
    r = gateway.get("/accounts/demostore/contracts", token=demo_token(key))
    assert r.status_code == 200, r.text
    items = r.json()
    assert isinstance(items, list) and items
    assert "123-456" in [c["id"] for c in items]
    assert [c["contractOwner"] for c in items] == ["demostore"] * len(items)
    assert [c["user"] for c in items] == [{"name": "Usuário", "rendaMensal": 15000}] * len(items)
    assert not any("mother" in c for c in items)
    assert "qa" not in r.text and SECRET_CPF not in r.text


def stockout_post_is_allowed_by_the_wildcard_scope(gateway, key):
    r = gateway.get("/sales/customerServices/stockout", method="POST", token=demo_token(key))
    assert r.status_code == 200, r.text
    assert r.json() == {"stockout": "recorded"}


def finance_reports_is_refused_with_403(gateway, key):
    r = gateway.get("/finance/reports", token=demo_token(key))
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "no_matching_grant"


def permissions_lists_exactly_the_callers_grants(gateway, key):
    r = gateway.get("/.well-known/permissions", token=demo_token(key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["grants"] == DEMO_GRANTS


CHECKS = [
    public_health_answers_200_without_a_token,
    request_without_a_token_is_401_with_a_bearer_challenge,
    whoami_shows_the_verified_identity_and_never_a_client_copy,
    demostore_contract_comes_without_user_cpf_and_mother,
    contract_999_owned_by_qa_is_blocked_with_a_502_naming_no_account,
    blocked_leak_is_logged_naming_the_foreign_account,
    contracts_list_comes_without_the_qa_element_and_redacted,
    stockout_post_is_allowed_by_the_wildcard_scope,
    finance_reports_is_refused_with_403,
    permissions_lists_exactly_the_callers_grants,
]


def check_id(check):
    return check.__name__
