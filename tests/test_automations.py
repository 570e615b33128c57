"""The automations route and "every resource must have a bound account" (SPEC sections 5
and 10, issue 22), through the repository's own envoy.yaml.

`GET /accounts/{account}/automations` filters foreign elements on `[*].client` and hides
`[*].owner` from a caller who may not see the owner account. A route that declares no
account binding, or nothing at all, is refused by the account filter on its own
(`no_account_binding`), whatever the other stages say."""

import json

import pytest

from harness import tokens
from harness.gateway import Envoy, bootstrap, load_repo_config, portcullis, route, stage_config

A1 = {"id": "a1", "name": "nightly-sync", "client": "demostore", "owner": "acme"}
A2 = {"id": "a2", "name": "sms-trigger", "client": "demostore", "owner": "acme"}
A9 = {"id": "a9", "name": "qa-crawler", "client": "qa", "owner": "acme"}


def without_owner(automation):
    return {k: v for k, v in automation.items() if k != "owner"}


def token_for(demo_key, *accounts):
    return demo_key.sign(tokens.claims(organization=list(accounts)))


def account_log_lines(gateway, event):
    """The accounts stage's JSON log lines with `event`."""
    out = []
    for text in gateway.logs().splitlines():
        if "wasm log portcullis" in text and "{" in text:
            try:
                line = json.loads(text[text.index("{"):])
            except ValueError:
                continue
            if line.get("filter") != "portcullis_accounts":
                continue
            if line.get("event") == event or line.get("reason") == event:
                out.append(line)
    return out


# --- the automations route ----------------------------------------------------------------

def test_demo_user_gets_its_automations_without_the_owner(demo, demo_token):
    r = demo.get("/accounts/demostore/automations", token=demo_token)
    assert r.status_code == 200, r.text
    assert r.json() == [without_owner(A1), without_owner(A2)]


def test_a_caller_given_the_owner_gets_every_automation_with_its_owner(demo, demo_key):
    r = demo.get("/accounts/demostore/automations", token=token_for(demo_key, "acme"))
    assert r.status_code == 200, r.text
    assert r.json() == [A1, A2, A9]


def test_a_caller_given_qa_gets_the_qa_automations_without_the_owner(demo, demo_key):
    r = demo.get("/accounts/qa/automations", token=token_for(demo_key, "qa"))
    assert r.status_code == 200, r.text
    assert r.json() == [without_owner(A9)]


def test_the_foreign_automation_is_removed_logged_and_counted_and_the_hiding_counted(demo, demo_key):
    subject = "automations-leak"
    filtered, hidden = demo.counter("portcullis_leak_filtered"), demo.counter("portcullis_owner_hidden")
    r = demo.get("/accounts/demostore/automations", token=demo_key.sign(tokens.claims(sub=subject)))
    assert r.status_code == 200
    assert "qa" not in r.text and "acme" not in r.text
    assert demo.counter("portcullis_leak_filtered") == filtered + 1
    assert demo.counter("portcullis_owner_hidden") == hidden + 1, "one response with owners hidden"
    leaks = [line for line in account_log_lines(demo, "leak_filtered") if line.get("subject") == subject]
    assert [line["foreign_accounts"] for line in leaks] == [["qa"]]


def test_hiding_an_owner_is_not_logged_as_a_leak(demo, demo_key):
    subject = "automations-owner-only"
    r = demo.get("/accounts/qa/automations", token=demo_key.sign(tokens.claims(sub=subject, organization=["qa"])))
    assert r.status_code == 200
    leaks = [line for line in account_log_lines(demo, "leak_filtered") if line.get("subject") == subject]
    assert len(leaks) == 1, "only the foreign element is a leak"
    assert leaks[0]["foreign_accounts"] == ["demostore"]


def test_demo_user_cannot_read_another_accounts_automations(demo, backend, demo_token):
    before = len(backend.seen("/accounts/qa/automations"))
    r = demo.get("/accounts/qa/automations", token=demo_token)
    assert r.status_code == 403
    assert r.json()["error"] == "account_not_allowed"
    assert len(backend.seen("/accounts/qa/automations")) == before


# --- every route declares its account binding ---------------------------------------------

UNBOUND = route("unbound", "/unbound", "GET: authenticated")
UNBOUND_PUBLIC = route("unbound-public", "/unbound-public", "GET: public")
NONE_PUBLIC = route("none-public", "/none-public", "GET: public", account="none")


@pytest.fixture(scope="module")
def unbound_gw(backend):
    """The demo plus routes the authorization filter allows: two without an account
    binding, one with `account: none`."""
    config = load_repo_config(backend.port)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"][-1:-1] = [UNBOUND, UNBOUND_PUBLIC, NONE_PUBLIC]
    with Envoy(config, name="unbound") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def accounts_alone_gw(backend):
    """The account filter alone (as configured in the demo) before a route that declares
    nothing at all."""
    demo = load_repo_config(backend.port)
    hcm = demo["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    accounts = [portcullis(accounts=stage_config(demo, "accounts"))]
    config = bootstrap(accounts, [route("bare", "/", prefix=True)], backend.port)
    with Envoy(config, name="accounts-alone") as gateway:
        yield gateway


def test_a_route_without_an_account_binding_is_refused(unbound_gw, backend, demo_token):
    before = len(backend.seen("/unbound"))
    r = unbound_gw.get("/unbound", token=demo_token)
    assert r.status_code == 403
    assert r.json()["error"] == "no_account_binding"
    assert len(backend.seen("/unbound")) == before
    lines = account_log_lines(unbound_gw, "no_account_binding")
    assert lines and lines[-1]["route"] == "unbound"


def test_a_public_route_without_an_account_binding_is_refused(unbound_gw):
    r = unbound_gw.get("/unbound-public")
    assert r.status_code == 403
    assert r.json()["error"] == "no_account_binding"


def test_a_public_route_bound_to_no_account_needs_no_identity(unbound_gw):
    assert unbound_gw.get("/none-public").status_code == 200


def test_a_route_declaring_nothing_is_refused_by_the_account_filter_alone(accounts_alone_gw, backend):
    before = len(backend.seen("/anything"))
    r = accounts_alone_gw.get("/anything")
    assert r.status_code == 403
    assert r.json()["error"] == "no_account_binding"
    assert len(backend.seen("/anything")) == before


def test_the_demo_fallback_route_is_refused(demo, demo_token):
    r = demo.get("/not/a/demo/route", token=demo_token)
    assert r.status_code == 403
