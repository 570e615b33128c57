"""Response field redaction through a real Envoy (SPEC sections 6 and 7, issue 7).

On the demo, the contract routes redact for the demo user (role ATENDIMENTO) and check the
response's owner; a module gateway runs the redaction filter without the account filter,
so its own fail-closed behaviour is proven, not the account filter's."""

import gzip
import json
import uuid

import pytest
from server import DEMO_CONTRACT, compact

from harness import tokens
from harness.demo_contract import REDACTED_CONTRACT as REDACTED, SECRET_CPF
from harness.gateway import Envoy, bootstrap, route, wasm_filter

ROLES = {"FINANCEIRO": ["contract:*", "simulations:*"],
         "ATENDIMENTO": ["contract:one:read::!{user.cpf,mother}", "contract:all:read::!{user.cpf,mother}"]}


def brotli_stored(data):
    """A valid brotli stream (RFC 7932) holding `data` in uncompressed meta-blocks: the
    standard library has no brotli encoder, and the gateway must refuse the encoding
    whatever the compression inside."""
    out, bits = bytearray(), []

    def put(value, n):
        bits.extend((value >> i) & 1 for i in range(n))

    def flush():
        bits.extend([0] * (-len(bits) % 8))
        out.extend(sum(b << j for j, b in enumerate(bits[i:i + 8])) for i in range(0, len(bits), 8))
        bits.clear()

    put(0, 1)  # WBITS = 16
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        put(0, 1)                # ISLAST = 0
        put(0, 2)                # MNIBBLES = 4
        put(len(chunk) - 1, 16)  # MLEN - 1
        put(1, 1)                # ISUNCOMPRESSED
        flush()
        out += chunk
    put(3, 2)  # ISLAST, ISLASTEMPTY
    flush()
    return bytes(out)


def secret_contract(contract_id):
    """A demostore contract whose cpf is a marker that must never leave the gateway."""
    body = json.loads(json.dumps(DEMO_CONTRACT))
    body["id"] = contract_id
    body["user"]["cpf"] = f"CPF-{contract_id}"
    return body


JSON = {"content-type": "application/json"}


def unreadable_answers(contract_id):
    """(name, backend answer) pairs that a redacting route must refuse with 502. Each
    answer carries the secret `CPF-<contract_id>`."""
    plain = compact(secret_contract(contract_id))
    big = dict(secret_contract(contract_id), pad="x" * (1024 * 1024 + 1))
    return {
        "gzip": (200, {**JSON, "content-encoding": "gzip"}, gzip.compress(plain)),
        "brotli": (200, {**JSON, "content-encoding": "br"}, brotli_stored(plain)),
        "oversize": (200, JSON, compact(big)),
        "invalid-json": (200, JSON, plain[:-1]),
        "html": (200, {"content-type": "text/html"}, b"<pre>" + plain + b"</pre>"),
        "partial": (206, {**JSON, "content-range": f"bytes 0-{len(plain) - 1}/{len(plain) * 2}"}, plain),
    }


CASES = list(unreadable_answers("x"))


def marker():
    return str(uuid.uuid4())


def seen_headers(backend, mark):
    reqs = [{k.lower(): v for k, v in r["headers"].items()} for r in backend.requests]
    reqs = [h for h in reqs if h.get("x-test-marker") == mark]
    assert len(reqs) == 1, f"backend saw {len(reqs)} requests for {mark}"
    return reqs[0]


def assert_length_consistent(response):
    """`content-length` matches the body sent, or is absent and the body is chunked."""
    length = response.headers.get("content-length")
    if length is None:
        assert response.headers.get("transfer-encoding") == "chunked"
    else:
        assert int(length) == len(response.content)


@pytest.fixture
def override(backend):
    """Sets backend answers for the test's own paths and removes them afterwards."""
    paths = []

    def set_answer(path, answer):
        paths.append(path)
        backend.overrides[path] = answer

    yield set_answer
    for path in paths:
        backend.overrides.pop(path, None)


@pytest.fixture(scope="module")
def financeiro(demo_key):
    return demo_key.sign(tokens.claims(roles=["FINANCEIRO"]))


# --- the demo ------------------------------------------------------------------------

def test_demo_user_gets_the_contract_redacted_byte_exact(demo, demo_token):
    r = demo.get("/accounts/demostore/contracts/123-456", token=demo_token)
    assert r.status_code == 200
    assert r.content.decode("utf-8") == REDACTED
    assert r.headers["content-type"] == "application/json"
    assert_length_consistent(r)


def test_financeiro_gets_the_contract_whole(demo, financeiro):
    r = demo.get("/accounts/demostore/contracts/123-456", token=financeiro)
    assert r.status_code == 200
    assert r.content == compact(DEMO_CONTRACT)
    assert_length_consistent(r)


def test_list_is_redacted_element_by_element(demo, demo_token):
    r = demo.get("/accounts/demostore/contracts", token=demo_token)
    assert r.status_code == 200
    assert SECRET_CPF not in r.text and "mother" not in r.text and "Mãe" not in r.text
    assert [c["user"] for c in r.json()] == [{"name": "Usuário", "rendaMensal": 15000}] * len(r.json())
    assert_length_consistent(r)


def test_redacting_route_asks_the_backend_for_identity_encoding_and_no_range(demo, backend, demo_token):
    mark = marker()
    r = demo.get("/accounts/demostore/contracts/123-456", token=demo_token,
                 headers={"accept-encoding": "gzip, br", "range": "bytes=0-10", "if-range": '"v1"',
                          "x-test-marker": mark})
    assert r.status_code == 200
    assert r.content.decode("utf-8") == REDACTED
    seen = seen_headers(backend, mark)
    assert seen["accept-encoding"] == "identity"
    assert "range" not in seen and "if-range" not in seen


def test_head_on_a_redacting_route_does_not_tell_the_unredacted_length(demo, demo_token):
    r = demo.get("/accounts/demostore/contracts/123-456", token=demo_token, method="HEAD")
    assert r.status_code == 200
    assert r.headers.get("content-length") in (None, str(len(REDACTED.encode())))


@pytest.mark.parametrize("case", CASES)
def test_unreadable_backend_answer_on_a_redacting_demo_route_is_a_502(demo, backend, demo_token, override, case):
    contract_id = f"redact-{case}"
    path = f"/accounts/demostore/contracts/{contract_id}"
    override(path, unreadable_answers(contract_id)[case])
    mark = marker()
    r = demo.get(path, token=demo_token, headers={"accept-encoding": "gzip, br", "x-test-marker": mark})
    assert r.status_code == 502
    assert f"CPF-{contract_id}".encode() not in r.content
    assert r.headers["content-type"] == "application/json" and len(r.content) < 200
    assert "content-encoding" not in r.headers
    assert seen_headers(backend, mark)["accept-encoding"] == "identity"


# --- the redaction filter alone --------------------------------------------------------

@pytest.fixture(scope="module")
def gw(backend, demo_key):
    jwt = {"providers": [{"name": "demo", "issuer": tokens.DEMO_ISSUER, "audiences": ["users"],
                          "algorithms": ["RS256"], "jwks": {"keys": [demo_key.jwk()]}}]}
    authz = {"roles_claim": "roles", "scopes_claim": "scopes", "policies": {"roles": ROLES, "groups": {}}}
    filters = [wasm_filter("portcullis_jwt", jwt), wasm_filter("portcullis_authz", authz),
               wasm_filter("portcullis_redact", {"max_body_bytes": 1048576})]
    routes = [
        route("contract", "/r/contract/", "GET: contract:one:read", prefix=True),
        route("sourced", "/r/sourced/", "GET: contract:one:read::{id,source}", prefix=True),
    ]
    with Envoy(bootstrap(filters, routes, backend.port), name="redact") as envoy:
        yield envoy


def test_redaction_filter_alone_redacts_the_demo_contract_byte_exact(gw, demo_token, override):
    override("/r/contract/plain", (200, JSON, compact(DEMO_CONTRACT)))
    r = gw.get("/r/contract/plain", token=demo_token)
    assert r.status_code == 200
    assert r.content.decode("utf-8") == REDACTED
    assert_length_consistent(r)


def test_route_filter_applies_to_every_caller(gw, financeiro, override):
    override("/r/sourced/plain", (200, JSON, compact(DEMO_CONTRACT)))
    r = gw.get("/r/sourced/plain", token=financeiro)
    assert r.status_code == 200
    assert r.json() == {"id": "123-456", "source": "adwords"}


def test_unrestricted_caller_passes_through_untouched_even_when_compressed(gw, backend, financeiro, override):
    body = gzip.compress(compact(DEMO_CONTRACT))
    override("/r/contract/gz-open", (200, {**JSON, "content-encoding": "gzip"}, body))
    mark = marker()
    r = gw.get("/r/contract/gz-open", token=financeiro,
               headers={"accept-encoding": "gzip", "x-test-marker": mark})
    assert r.status_code == 200
    assert r.json() == DEMO_CONTRACT
    assert seen_headers(backend, mark)["accept-encoding"] == "gzip"


@pytest.mark.parametrize("case", CASES)
def test_unreadable_backend_answer_is_a_502_from_the_redaction_filter(gw, demo_token, override, case):
    contract_id = f"alone-{case}"
    path = f"/r/contract/{contract_id}"
    override(path, unreadable_answers(contract_id)[case])
    r = gw.get(path, token=demo_token, headers={"accept-encoding": "gzip, br"})
    assert r.status_code == 502
    assert f"CPF-{contract_id}".encode() not in r.content
    assert r.json()["status"] == 502
    assert "content-encoding" not in r.headers


def test_backend_error_in_json_is_redacted_too(gw, demo_token, override):
    answer = dict(secret_contract("err"), error="boom")
    override("/r/contract/err", (500, JSON, compact(answer)))
    r = gw.get("/r/contract/err", token=demo_token)
    assert r.status_code == 500
    assert b"CPF-err" not in r.content
    assert r.json()["error"] == "boom"
