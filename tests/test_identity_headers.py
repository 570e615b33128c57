"""Issue 18, class 2: the identity the backend receives reads only one way, the
gateway's.

The demo forwards `sub` as `x-portcullis-subject` and `organization` as
`x-portcullis-accounts` (elements joined by `,`). A token signed by the real IdP (here:
the demo key) whose claim values a backend could read differently from the gateway (an
account holding the separator, edge whitespace, an empty element, control or non-ASCII
bytes) is refused with 403 and its own reason, before the backend; it is never cleaned
up into a value the token did not say. A clean token is forwarded exactly. `/whoami`
echoes the headers the backend received.
"""

import itertools
import json

import pytest

from harness import tokens
from harness.forge import signed
from harness.raw import raw_http, request_bytes

SEPARATOR = "forwarded_claim_separator"
INVALID = "forwarded_claim_invalid"

# organization values a backend could split or decode differently, with the reason.
HOSTILE_ACCOUNTS = [
    (["demostore,qa"], SEPARATOR),
    ("demostore,qa", SEPARATOR),
    (["demostore", "qa,"], SEPARATOR),
    ([","], SEPARATOR),
    ([" demostore"], SEPARATOR),
    (["demostore "], SEPARATOR),
    (["\tdemostore"], SEPARATOR),
    (["demostore\r\n"], SEPARATOR),
    ([""], SEPARATOR),
    (["demostore", ""], SEPARATOR),
    (" demostore", SEPARATOR),
    (["demostore\r\nx-evil: 1"], INVALID),
    (["demostore\nx-portcullis-accounts: qa"], INVALID),
    (["demo\x00store"], INVALID),
    (["demostore\x7f"], INVALID),
    (["d\u00e9mostore"], INVALID),
    (["demostore\u2028qa"], INVALID),
    (["demostore", 7], INVALID),
]

# sub values with bytes no header may carry (cleaning them up would forward another
# subject than the token's).
HOSTILE_SUBJECTS = ["u1\r\nx-portcullis-accounts: qa", "u1\n", "u1\r", "u1\x00", "u1\x01", "u1\x7f",
                    "\u00fcser", "u1\u2028", "u1\ufeff", " u1", "u1 ", "\tu1", ""]

ENCODINGS = ("escaped", "utf8")


def refused(demo, backend, token, expect, case):
    """The token is refused with 403 `expect` on /whoami and the backend never saw it."""
    marker = f"identity-{case}"
    status, _, body, raw = raw_http(demo.port, request_bytes("/whoami", token=token, headers=[("x-attack", marker)]))
    assert status == 403, (case, raw[:600])
    assert json.loads(body)["error"] == expect, (case, body)
    assert not [r for r in backend.requests if r["headers"].get("x-attack") == marker], \
        f"{case}: the backend saw a refused request"


def claims_token(demo_key, encoding="escaped", **claims):
    return signed(demo_key, {"alg": "RS256", "typ": "JWT", "kid": "demo-rs256"}, tokens.claims(**claims), encoding)


@pytest.mark.parametrize("accounts,reason", HOSTILE_ACCOUNTS, ids=[repr(a) for a, _ in HOSTILE_ACCOUNTS])
def test_accounts_a_backend_could_read_differently_are_refused(demo, backend, demo_key, accounts, reason):
    for encoding in ENCODINGS:
        token = claims_token(demo_key, encoding, organization=accounts)
        refused(demo, backend, token, reason, f"accounts-{json.dumps(accounts)}-{encoding}")


def test_subjects_with_control_or_non_ascii_bytes_are_refused(demo, backend, demo_key):
    for sub, encoding in itertools.product(HOSTILE_SUBJECTS, ENCODINGS):
        token = claims_token(demo_key, encoding, sub=sub)
        refused(demo, backend, token, INVALID, f"sub-{sub.encode().hex()}-{encoding}")


def test_a_separator_inside_an_account_never_grants_the_other_account(demo, backend, demo_key):
    token = claims_token(demo_key, organization=["demostore,qa"])
    # The sample backend is shared by the session: count only what this test sends.
    before = len(backend.seen("/accounts/qa/"))
    for path in ("/whoami", "/accounts/qa/contracts/123-456", "/accounts/demostore/contracts/123-456"):
        r = demo.get(path, token=token)
        assert r.status_code == 403 and r.json()["error"] == SEPARATOR, (path, r.status_code, r.text)
    assert len(backend.seen("/accounts/qa/")) == before


def test_clean_accounts_are_forwarded_joined_by_commas(demo, demo_key):
    r = demo.get("/whoami", token=claims_token(demo_key, organization=["demostore", "qa"]))
    assert r.status_code == 200, r.text
    assert r.json()["x-portcullis-accounts"] == "demostore,qa"


def test_a_subject_may_hold_a_comma_since_it_is_one_value(demo, demo_key):
    r = demo.get("/whoami", token=claims_token(demo_key, sub="CN=u1,O=acme"))
    assert r.status_code == 200, r.text
    assert r.json()["x-portcullis-subject"] == "CN=u1,O=acme"


def test_a_space_separated_accounts_string_is_forwarded_as_written(demo, demo_key):
    r = demo.get("/whoami", token=claims_token(demo_key, organization="demostore qa"))
    assert r.status_code == 200, r.text
    assert r.json()["x-portcullis-accounts"] == "demostore qa"
