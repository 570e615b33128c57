"""Account-ownership leak checks through a real Envoy (SPEC section 5, issue 6).

The demo (the repository's envoy.yaml) binds the contract routes to the path's account and
checks the response's `contractOwner`; a module gateway binds routes to the other id
locations (query parameter, header, JSON body field)."""

import http.client
import json
import uuid

import pytest

from harness import tokens
from harness.demo_contract import SECRET_CPF
from harness.gateway import Envoy, bootstrap, route, wasm_filter


def marker():
    return str(uuid.uuid4())


def reached(backend, mark):
    """The requests the backend received carrying `x-test-marker: mark`."""
    return [r for r in backend.requests
            if {k.lower(): v for k, v in r["headers"].items()}.get("x-test-marker") == mark]


def raw(gateway, path, token=None, method="GET", headers=(), body=None, host="acme.localhost"):
    """A request sent exactly as written (no client-side path normalisation, repeated
    headers allowed): (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", host)
        if token:
            conn.putheader("authorization", f"Bearer {token}")
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def log_events(gateway, event):
    """The structured leak events (`{"event": ...}`) Envoy logged, parsed."""
    found = []
    for line in gateway.logs().splitlines():
        start = line.find('{"event":')
        if start >= 0:
            record = json.loads(line[start:])
            if record["event"] == event:
                found.append(record)
    return found


@pytest.fixture(scope="module")
def caller(demo_key):
    """A token for the demo user with other `organization` accounts."""
    return lambda *accounts: demo_key.sign(tokens.claims(organization=list(accounts)))


# --- the demo: account bound to the path, response owner checked ---------------------

def test_demo_user_reads_their_own_contract(demo, demo_token):
    r = demo.get("/accounts/demostore/contracts/123-456", token=demo_token)
    assert r.status_code == 200, r.text
    assert r.json()["contractOwner"] == "demostore"
    assert r.json()["id"] == "123-456"


def test_foreign_account_in_the_path_is_403_before_the_backend(demo, backend, demo_token):
    mark = marker()
    r = demo.get("/accounts/qa/contracts/123-456", token=demo_token, headers={"x-test-marker": mark})
    assert r.status_code == 403
    assert r.json()["error"] == "account_not_allowed"
    assert "qa" not in r.text
    assert reached(backend, mark) == []


def test_backend_answering_a_foreign_contract_is_blocked_with_a_small_502(demo, demo_token):
    r = demo.get("/accounts/demostore/contracts/999", token=demo_token)
    assert r.status_code == 502
    assert r.headers["content-type"] == "application/json"
    assert len(r.content) < 200
    body = r.json()
    assert body["error"] == "account_leak"
    for leaked in ("qa", "999", "contractOwner", SECRET_CPF, "Usu"):
        assert leaked not in r.text, leaked


def test_blocked_leak_is_logged_with_the_foreign_account(demo, demo_token):
    request_id = marker()
    r = demo.get("/accounts/demostore/contracts/999", token=demo_token, headers={"x-request-id": request_id})
    assert r.status_code == 502
    events = [e for e in log_events(demo, "leak_blocked") if e["request_id"] == request_id]
    assert len(events) == 1, demo.logs()[-3000:]
    assert events[0]["foreign_accounts"] == ["qa"]
    assert events[0]["route"] == "contract"
    assert events[0]["subject"] == "u1"


def test_list_drops_the_foreign_element_and_redacts_the_others(demo, demo_token):
    request_id = marker()
    r = demo.get("/accounts/demostore/contracts", token=demo_token, headers={"x-request-id": request_id})
    assert r.status_code == 200, r.text
    items = r.json()
    assert isinstance(items, list) and items
    assert "123-456" in [c["id"] for c in items]
    for contract in items:
        assert contract["contractOwner"] == "demostore"
        assert "cpf" not in contract["user"]
        assert "mother" not in contract
    assert "qa" not in r.text and SECRET_CPF not in r.text
    events = [e for e in log_events(demo, "leak_filtered") if e["request_id"] == request_id]
    assert len(events) == 1 and events[0]["foreign_accounts"] == ["qa"]


def test_parent_account_reads_a_descendant_account(demo, caller):
    r = demo.get("/accounts/qa/contracts/123-456", token=caller("acme"))
    assert r.status_code == 200, r.text
    assert r.json()["contractOwner"] == "qa"


def test_parent_account_also_sees_descendants_in_responses(demo, caller):
    r = demo.get("/accounts/demostore/contracts/999", token=caller("acme"))
    assert r.status_code == 200, r.text
    assert r.json()["contractOwner"] == "qa"


def test_sibling_account_may_not_read_demostore(demo, backend, caller):
    mark = marker()
    r = demo.get("/accounts/demostore/contracts/123-456", token=caller("qa"), headers={"x-test-marker": mark})
    assert r.status_code == 403
    assert reached(backend, mark) == []


def test_child_account_may_not_read_its_parent(demo, backend, caller):
    mark = marker()
    r = demo.get("/accounts/acme/contracts/1", token=caller("demostore"), headers={"x-test-marker": mark})
    assert r.status_code == 403
    assert reached(backend, mark) == []


def test_caller_without_accounts_reads_nothing(demo, backend, demo_key):
    mark = marker()
    token = demo_key.sign(tokens.claims(organization=None))
    r = demo.get("/accounts/demostore/contracts/123-456", token=token, headers={"x-test-marker": mark})
    assert r.status_code == 403
    assert reached(backend, mark) == []


TRICKS = [
    "/accounts/demostore%2fqa/contracts/1",      # encoded slash: Envoy rejects it (400)
    "/accounts/demostore%2Fqa/contracts/1",
    "/accounts/demostore%5cqa/contracts/1",      # encoded backslash
    "/accounts/Demostore/contracts/1",           # ids are case-sensitive
    "/accounts/DEMOSTORE/contracts/1",
    "/accounts/%71a/contracts/1",                # `qa` percent-encoded
    "/accounts/demostore/../qa/contracts/1",     # dot segments
    "/accounts/demostore/%2e%2e/qa/contracts/1",
    "/accounts//qa/contracts/1",                 # merged slashes
    "/accounts/qa;demostore/contracts/1",        # path parameter
    "/accounts/qa%3bdemostore/contracts/1",
    "/accounts/demostore%20/contracts/1",        # not a plain id
    "/accounts/demostore+/contracts/1",
    "/accounts/demostore%00/contracts/1",
    "/accounts/demostore,qa/contracts/1",
]


@pytest.mark.parametrize("path", TRICKS)
def test_account_id_tricks_in_the_path_never_reach_the_backend(demo, backend, demo_token, path):
    mark = marker()
    status, _, body = raw(demo, path, token=demo_token, headers=[("x-test-marker", mark)])
    assert status in (400, 403), (status, body)
    assert reached(backend, mark) == []


def test_percent_encoded_own_account_is_decoded_by_envoy_before_the_check(demo, backend, demo_token):
    """`%64` is the unreserved `d`: Envoy's path normalisation (RFC 3986) decodes it before
    any filter runs, so the account checked and the account the backend reads are the same
    `demostore`. The id never arrives at Portcullis encoded."""
    mark = marker()
    status, _, body = raw(demo, "/accounts/%64emostore/contracts/123-456", token=demo_token,
                          headers=[("x-test-marker", mark)])
    assert status == 200, body
    seen = reached(backend, mark)
    assert [r["path"] for r in seen] == ["/accounts/demostore/contracts/123-456"]


# --- other id locations: a gateway of its own -------------------------------------------

ROUTES = [
    route("by-query", "/q/items", "GET: authenticated", account="query:account_id"),
    route("by-header", "/h/items", "GET: authenticated", account="header:x-account-id"),
    # `request_hold`: the marker `portcullis render envoy` puts on a route with the buffer
    # on; the account filter refuses a body account on a route without it.
    route("by-body", "/b/items", "POST: authenticated", account="body:account.id", request_hold="true"),
    # A hand-written route that forgets the request hold (buffer off, no marker).
    dict(route("unheld-body", "/u/items", "POST: authenticated", account="body:account.id"),
         typed_per_filter_config={"envoy.filters.http.buffer": {
             "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
             "disabled": True}}),
]


# A `body:` location needs the whole request body before the router may see the request.
# proxy-wasm cannot pause request headers and still receive the body (Envoy turns the pause
# into StopAllIterationAndWatermark), so the account filter lets the headers on and holds
# the body itself; Envoy's buffer filter after it keeps the headers from the router until
# the body has been checked: a refused request never reaches the backend.
REQUEST_HOLD = {
    "name": "envoy.filters.http.buffer",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                     "max_request_bytes": 1048576},
}


@pytest.fixture(scope="module")
def gw(backend, demo_key):
    jwt = {"providers": [{"name": "demo", "issuer": tokens.DEMO_ISSUER, "audiences": ["users"],
                          "algorithms": ["RS256"], "jwks": {"keys": [demo_key.jwk()]}}]}
    authz = {"roles_claim": "roles", "scopes_claim": "scopes"}
    accounts = {"accounts_claim": "organization", "include_descendants": True,
                "tree": {"acme": "crontech", "demostore": "acme", "qa": "acme"},
                "max_request_body_bytes": 1024}
    filters = [wasm_filter("portcullis_jwt", jwt), wasm_filter("portcullis_authz", authz),
               wasm_filter("portcullis_accounts", accounts), REQUEST_HOLD]
    with Envoy(bootstrap(filters, ROUTES, backend.port), name="accounts") as envoy:
        yield envoy


def call(gw, path, token, method="GET", headers=(), body=None):
    mark = marker()
    status, _, payload = raw(gw, path, token=token, method=method,
                             headers=[("x-test-marker", mark), *headers], body=body)
    return status, payload, mark


def test_query_parameter_of_the_callers_account_is_allowed(gw, backend, demo_token):
    status, _, mark = call(gw, "/q/items?account_id=demostore", demo_token)
    assert status == 200
    assert len(reached(backend, mark)) == 1


@pytest.mark.parametrize("query", ["?account_id=qa", "", "?other=demostore", "?account_id=",
                                   "?account_id=%64emostore"],
                         ids=["foreign", "missing", "other-name", "empty", "encoded"])
def test_foreign_or_missing_query_parameter_is_refused_before_the_backend(gw, backend, demo_token, query):
    status, _, mark = call(gw, "/q/items" + query, demo_token)
    assert status == 403
    assert reached(backend, mark) == []


@pytest.mark.parametrize("query", ["?account_id=demostore&account_id=qa", "?account_id=qa&account_id=demostore",
                                   "?account_id=demostore&account%5Fid=qa"],
                         ids=["own-first", "foreign-first", "encoded-name"])
def test_query_parameter_given_twice_is_refused(gw, backend, demo_token, query):
    status, payload, mark = call(gw, "/q/items" + query, demo_token)
    assert status == 403
    assert json.loads(payload)["error"] == "account_invalid"
    assert reached(backend, mark) == []


def test_header_of_the_callers_account_is_allowed(gw, backend, demo_token):
    status, _, mark = call(gw, "/h/items", demo_token, headers=[("x-account-id", "demostore")])
    assert status == 200
    assert len(reached(backend, mark)) == 1


@pytest.mark.parametrize("headers", [[("x-account-id", "qa")], [], [("X-Account-Id", "qa")],
                                     [("x-account-id", "demostore"), ("x-account-id", "qa")]],
                         ids=["foreign", "missing", "foreign-mixed-case", "repeated"])
def test_foreign_missing_or_repeated_header_is_refused_before_the_backend(gw, backend, demo_token, headers):
    status, _, mark = call(gw, "/h/items", demo_token, headers=headers)
    assert status == 403
    assert reached(backend, mark) == []


def test_json_body_field_of_the_callers_account_is_allowed_and_forwarded_intact(gw, backend, demo_token):
    body = b'{"account": {"id": "demostore"}, "amount": 1.50}'
    status, _, mark = call(gw, "/b/items", demo_token, method="POST", body=body,
                           headers=[("content-type", "application/json")])
    assert status == 200
    seen = reached(backend, mark)
    assert len(seen) == 1 and seen[0]["body"] == body


@pytest.mark.parametrize("body", [
    b'{"account": {"id": "qa"}}',
    b'{"account": {}}',
    b'{"account": {"id": null}}',
    b'{"account": {"id": "demostore"}, "account": {"id": "qa"}}',
    b'{"account": {"id": {"id": "demostore"}}}',
    b'{"account": {"id": "demostore"}',
    b'',
], ids=["foreign", "missing", "null", "duplicate-key", "object", "invalid-json", "empty"])
def test_foreign_missing_or_unreadable_body_field_is_refused_before_the_backend(gw, backend, demo_token, body):
    status, _, mark = call(gw, "/b/items", demo_token, method="POST", body=body,
                           headers=[("content-type", "application/json")])
    # Malformed JSON is refused first by the authorization filter, which reads the body
    # for a method override (400 `request_body_invalid`); the rest by the account filter.
    assert status == (400 if body == b'{"account": {"id": "demostore"}' else 403)
    assert reached(backend, mark) == []


def test_body_account_route_without_the_request_hold_is_refused_with_500_before_the_backend(
        gw, backend, demo_token):
    body = b'{"account": {"id": "demostore"}}'
    status, payload, mark = call(gw, "/u/items", demo_token, method="POST", body=body,
                                 headers=[("content-type", "application/json")])
    assert status == 500
    assert json.loads(payload)["error"] == "request_hold_missing"
    assert reached(backend, mark) == []


def test_request_body_over_the_limit_is_refused_with_413(gw, backend, demo_token):
    body = json.dumps({"account": {"id": "demostore"}, "pad": "x" * 2048}).encode()
    status, payload, mark = call(gw, "/b/items", demo_token, method="POST", body=body,
                                 headers=[("content-type", "application/json")])
    assert status == 413
    assert json.loads(payload)["error"] == "request_too_large"
    assert reached(backend, mark) == []


def test_account_bound_route_without_a_token_is_refused(gw, backend):
    status, _, mark = call(gw, "/q/items?account_id=demostore", None)
    assert status == 401
    assert reached(backend, mark) == []


def test_json_body_sent_in_chunks_is_checked_whole(gw, backend, demo_token):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    mark = marker()
    parts = [b'{"amount": 1, "acc', b'ount": {"i', b'd": "demostore"}}']
    try:
        conn.putrequest("POST", "/b/items", skip_host=True, skip_accept_encoding=True)
        for name, value in [("host", "acme.localhost"), ("authorization", f"Bearer {demo_token}"),
                            ("content-type", "application/json"), ("transfer-encoding", "chunked"),
                            ("x-test-marker", mark)]:
            conn.putheader(name, value)
        conn.endheaders()
        for part in parts:
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 200
    seen = reached(backend, mark)
    assert len(seen) == 1
