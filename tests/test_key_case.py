"""Issue 18, class 6: response keys that differ from a hidden or checked key only in case.

Many clients bind JSON keys case-insensitively: Go's `encoding/json` (Unicode simple case
folding, so `ſ` is `s` and the Kelvin sign `K` is `k`), .NET with
`PropertyNameCaseInsensitive` (also dotless `ı` is `I`), Jackson with
`ACCEPT_CASE_INSENSITIVE_PROPERTIES`. For them `Mother` is `mother` and `ContractOwner` is
`contractOwner`, so the gateway hides and checks every spelling of a key up to case, raw or
`\\u`-escaped, in every duplicate.

Single contracts run on the demo (`/accounts/demostore/contracts/{id}`: the demo user's
grant hides `user.cpf` and `mother`, the route blocks a foreign `contractOwner`), served
by the sample backend's overrides. Arrays, owner hiding and a route Keep filter run on the
demo configuration plus routes in front of a scripted `RawBackend`. Every spelling below
is generated from the key it stands for, and each differs from it."""

import hashlib
import json

import pytest

from harness.gateway import Envoy
from harness.raw import http_response, raw_http, request_bytes
from test_attacks import (SECRET_CPF, SECRET_MOTHER, SECRET_QA, _route, attack_config, compact,  # noqa: F401
                          contract, leaks, no_account_named, override, raw, token)

# Non-ASCII letters that case-insensitive clients match to an ASCII letter.
LOOKALIKES = {"s": ["\u017f"], "k": ["\u212a"], "i": ["\u0131", "\u0130"]}


def case_variants(key):
    """Spellings of `key` up to case: ASCII case changes and the non-ASCII letters above,
    each different from `key`."""
    out = {key.upper(), key.capitalize(), key.swapcase(), key[:-1] + key[-1].upper()}
    for i, c in enumerate(key.lower()):
        for other in LOOKALIKES.get(c, []):
            out.add(key[:i] + other + key[i + 1:])
            out.add((key[:i] + other + key[i + 1:]).upper())
    out.discard(key)
    return sorted(out)


def u(c, hex_format="04X"):
    """`c` as a JSON `\\u` escape."""
    return f"\\u{ord(c):{hex_format}}"


def spellings(key):
    """JSON string contents (between the quotes) that a case-insensitive client reads as
    `key`, other than `key` itself: every case variant raw, with its first letter escaped
    (upper- and lower-case hex), and fully escaped."""
    out = set()
    for v in case_variants(key):
        out |= {v, u(v[0]) + v[1:], u(v[0], "04x") + v[1:], "".join(map(u, v))}
    return sorted(out)


def digest(text):
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def contract_text(**members):
    """A demo contract (owner demostore) as JSON text with extra members given as raw
    JSON: {key token: value text}, in order."""
    extra = "".join(f',"{k}":{v}' for k, v in members.items())
    return f'{{"id":"kc","contractOwner":"demostore","source":"adwords"{extra}}}'


def fetch_contract(demo, token, override, text):
    """Serves `text` as the contract at a fresh override path; returns the response."""
    path = f"/accounts/demostore/contracts/atk-kc-{digest(text)}"
    override(path, (200, {"content-type": "application/json"}, text.encode()))
    return demo.get(path, token=token)


def assert_redacted(r):
    assert r.status_code == 200, (r.status_code, r.text)
    assert not leaks(r.content), r.content
    assert json.loads(r.content)["id"] == "kc"


MOTHER = json.dumps({"name": SECRET_MOTHER, "cpf": SECRET_CPF})
USER = json.dumps({"name": "U", "cpf": SECRET_CPF})


# === redaction (Remove filter `!{user.cpf,mother}` on the demo) ================================

class TestHiddenKeysInAnyCase:

    @pytest.mark.parametrize("key", spellings("mother"))
    def test_mother_in_any_case_is_hidden(self, demo, token, override, key):
        assert_redacted(fetch_contract(demo, token, override, contract_text(**{key: MOTHER})))

    @pytest.mark.parametrize("key", spellings("cpf"))
    def test_cpf_in_any_case_under_user_is_hidden(self, demo, token, override, key):
        user = '{"name":"U","%s":"%s"}' % (key, SECRET_CPF)
        r = fetch_contract(demo, token, override, contract_text(user=user))
        assert_redacted(r)
        assert r.json()["user"] == {"name": "U"}

    @pytest.mark.parametrize("key", spellings("user"))
    def test_cpf_under_user_in_any_case_is_hidden(self, demo, token, override, key):
        r = fetch_contract(demo, token, override, contract_text(**{key: USER}))
        assert_redacted(r)
        assert list(r.json()[json.loads(f'"{key}"')]) == ["name"]

    @pytest.mark.parametrize("user,cpf", [("USER", "CPF"), ("User", "Cpf"), ("u\u017fer", "CPF"),
                                          ("\\u0055SER", "\\u0043PF"), ("user", "c\\u0050F")])
    def test_both_segments_in_other_cases_are_hidden(self, demo, token, override, user, cpf):
        text = contract_text(**{user: '{"name":"U","%s":"%s"}' % (cpf, SECRET_CPF)})
        assert_redacted(fetch_contract(demo, token, override, text))

    @pytest.mark.parametrize("first,second", [("mother", "MOTHER"), ("MOTHER", "mother"), ("Mother", "mOTHER"),
                                              ("mother", "\\u004dother")])
    def test_mother_duplicated_in_other_cases_is_hidden_in_every_copy(self, demo, token, override, first, second):
        text = contract_text(**{first: '{"name":"M"}', second: MOTHER})
        r = fetch_contract(demo, token, override, text)
        assert_redacted(r)
        assert set(r.json()) == {"id", "contractOwner", "source"}

    def test_cpf_duplicated_in_another_case_is_hidden_in_every_copy(self, demo, token, override):
        user = '{"name":"U","cpf":"x","CPF":"%s","\\u0063pF":"%s"}' % (SECRET_CPF, SECRET_CPF)
        r = fetch_contract(demo, token, override, contract_text(user=user))
        assert_redacted(r)
        assert r.json()["user"] == {"name": "U"}


# === account checks (block mode on the demo) ===================================================

class TestCheckedKeysInAnyCase:

    @pytest.mark.parametrize("key", spellings("contractOwner"))
    def test_foreign_owner_under_a_key_in_another_case_blocks(self, demo, token, override, key):
        text = '{"id":"kc","%s":"qa","leak":"%s"}' % (key, SECRET_QA)
        r = fetch_contract(demo, token, override, text)
        assert r.status_code == 502, (key, r.status_code, r.text)
        assert no_account_named(r.text), r.text

    @pytest.mark.parametrize("own,foreign", [("contractOwner", "CONTRACTOWNER"), ("CONTRACTOWNER", "contractOwner"),
                                             ("contractOwner", "ContractOwner"), ("ContractOwner", "\\u0043ONTRACTOWNER")])
    def test_own_and_foreign_owner_in_two_cases_blocks(self, demo, token, override, own, foreign):
        for first, second in [((own, "demostore"), (foreign, "qa")), ((foreign, "qa"), (own, "demostore"))]:
            text = '{"id":"kc","%s":"%s","%s":"%s","leak":"%s"}' % (*first, *second, SECRET_QA)
            r = fetch_contract(demo, token, override, text)
            assert r.status_code == 502, (first, second, r.status_code, r.text)
            assert no_account_named(r.text), r.text

    def test_own_owner_under_a_key_in_another_case_passes(self, demo, token, override):
        r = fetch_contract(demo, token, override, '{"id":"kc","ContractOwner":"demostore","CONTRACTOWNER":null}')
        assert r.status_code == 200, r.text
        assert r.json() == {"id": "kc", "ContractOwner": "demostore", "CONTRACTOWNER": None}


# === arrays, owner hiding and Keep filters (RawBackend routes) =================================

KEYCASE_ROUTES = [
    _route("kc-list", {"prefix": "/kc/list/"}, "raw", requirement="GET: contract:all:read",
           response_accounts="filter: [*].contractOwner", account="none"),
    _route("kc-owner", {"prefix": "/kc/owner/"}, "raw", requirement="GET: authenticated",
           response_accounts="filter: [*].client; hide_owner: [*].owner", account="none"),
    _route("kc-keep", {"prefix": "/kc/keep/"}, "raw", requirement="GET: contract:one:read::{id,source}",
           account="none"),
]


@pytest.fixture(scope="module")
def keycase_gw(backend, raw):
    with Envoy(attack_config(backend.port, raw.port, KEYCASE_ROUTES), name="keycase") as envoy:
        yield envoy


def raw_get(gw, raw, token, path, body):
    """Serves `body` (bytes) at `path` on the RawBackend; returns (status, body) as the
    client got them, after checking that no secret crossed the gateway."""
    raw.script[path] = http_response(200, {"content-type": "application/json"}, body)
    try:
        status, _, out, received = raw_http(gw.port, request_bytes(path, token=token))
    finally:
        raw.script.pop(path, None)
    assert not leaks(received), received[:400]
    return status, out


class TestArraysAndFiltersInAnyCase:

    @pytest.mark.parametrize("key", spellings("contractOwner"))
    def test_list_element_with_a_foreign_owner_in_another_case_is_removed(self, keycase_gw, raw, token, key):
        text = '[{"id":"a","contractOwner":"demostore"},{"id":"b","%s":"qa","leak":"%s"}]' % (key, SECRET_QA)
        status, body = raw_get(keycase_gw, raw, token, f"/kc/list/{digest(text)}", text.encode())
        assert status == 200, body
        assert [c["id"] for c in json.loads(body)] == ["a"]

    def test_list_element_with_own_and_foreign_owner_in_two_cases_is_removed(self, keycase_gw, raw, token):
        items = [contract("a"), contract("b") | {"CONTRACTOWNER": "qa", "leak": SECRET_QA},
                 {"id": "c", "ContractOwner": "demostore"}, {"CONTRACTOWNER": "qa", "contractOwner": "demostore",
                                                             "id": "d", "leak": SECRET_QA}]
        status, body = raw_get(keycase_gw, raw, token, "/kc/list/mixed", compact(items))
        assert status == 200, body
        assert [c["id"] for c in json.loads(body)] == ["a", "c"]

    @pytest.mark.parametrize("key", spellings("owner"))
    def test_owner_field_in_another_case_is_hidden(self, keycase_gw, raw, token, key):
        text = '[{"id":"a1","client":"demostore","%s":"%s"}]' % (key, SECRET_QA)
        status, body = raw_get(keycase_gw, raw, token, f"/kc/owner/{digest(text)}", text.encode())
        assert status == 200, body
        assert json.loads(body) == [{"id": "a1", "client": "demostore"}]

    def test_keep_filter_keeps_listed_keys_in_any_case_and_nothing_else(self, keycase_gw, raw, token):
        text = ('{"ID":"x","Source":"adwords","\\u0131d":"y","\u017fource":"z","Mother":"%s","CPF":"%s",'
                '"SOURCEx":"%s"}' % (SECRET_MOTHER, SECRET_CPF, SECRET_QA))
        status, body = raw_get(keycase_gw, raw, token, "/kc/keep/mixed", text.encode())
        assert status == 200, body
        assert json.loads(body) == {"ID": "x", "Source": "adwords", "\u0131d": "y", "\u017fource": "z"}
