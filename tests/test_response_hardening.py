"""Response hardening on checked routes (issue 18, classes 4 and 5), through a real Envoy
in front of a scripted raw-socket backend (`RawBackend`).

A checked route is one whose response the gateway reads: `/rh/redact/*` redacts like the
demo contract (the demo user's grant hides `user.cpf` and `mother`), `/rh/accounts/*`
blocks a foreign `contractOwner`. The client is the raw socket of `raw_http`, so every
byte of the response head is seen as sent.

- Class 4: a JSON body declaring a charset other than UTF-8 is refused (502): a client
  that decodes by charset would read keys the gateway never saw (`"+AG0-other"` is
  `mother` in UTF-7). So is a content-type the gateway and a client could read apart
  (several `charset` parameters, an unparseable parameter list, several headers). BOMs
  and UTF-16 bodies stay refused.
- Class 5: no header describing the backend's unchecked body (its length, ranges,
  validators, digests) reaches the client, whatever the status or method.
"""

import json

import pytest

from harness import tokens
from harness.gateway import Envoy
from harness.raw import RawBackend, http_response, raw_http, request_bytes
from test_attacks import SECRET_CPF, SECRET_MOTHER, SECRET_QA, _route, attack_config, compact, contract, leaks

REDACT = "/rh/redact/"
ACCOUNTS = "/rh/accounts/"

ROUTES = [
    _route("rh-redact", {"prefix": REDACT}, "raw", requirement="GET: contract:one:read",
           account="none"),
    _route("rh-accounts", {"prefix": ACCOUNTS}, "raw", requirement="GET: authenticated",
           response_accounts="block: contractOwner", account="none"),
]


@pytest.fixture(scope="module")
def raw():
    server = RawBackend()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend, raw):
    with Envoy(attack_config(backend.port, raw.port, ROUTES), name="response-hardening") as envoy:
        yield envoy


@pytest.fixture(scope="module")
def token(demo_key):
    """The demo user u1 (organization [demostore], role ATENDIMENTO)."""
    return demo_key.sign(tokens.claims())


def fetch(gw, raw, token, path, answer, method="GET"):
    """Has the raw backend answer `path` with `answer` (raw bytes) once, and returns what
    the client got: (status, lower-case header dict, body, every byte received)."""
    raw.script[path] = answer
    try:
        return raw_http(gw.port, request_bytes(path, token=token, method=method))
    finally:
        raw.script.pop(path, None)


def case_name(text):
    return "".join(c if c.isalnum() else "-" for c in text)


def error_code(body):
    return json.loads(body)["error"]


# === class 4: charsets =========================================================================

# Hidden keys spelled in UTF-7 (`+AG0-` is `m`, `+AHA-` is `p`, `+AG8-` is `o`): plain ASCII,
# so the gateway's UTF-8 parser reads other keys than a client decoding UTF-7 does.
UTF7_CONTRACT = ('{"id":"atk","contractOwner":"demostore","source":"adwords",'
                 '"user":{"name":"U","c+AHA-f":"%s"},"+AG0-other":{"name":"%s"}}'
                 % (SECRET_CPF, SECRET_MOTHER)).encode()
UTF7_FOREIGN = ('{"id":"1","c+AG8-ntractOwner":"qa","leak":"%s"}' % SECRET_QA).encode()

NOT_UTF8 = [
    "application/json; charset=utf-7",
    "application/json; charset=UTF-7",
    'application/json; charset="utf-7"',
    'application/json; charset="UTF-7"',
    "application/json;charset=utf-7",
    "application/json ; charset=utf-7",
    "application/json;  charset=utf-7  ",
    "application/json; CHARSET=utf-7",
    "application/json; charset=utf-16",
    "application/json; charset=UTF-16LE",
    "application/json; charset=utf-32",
    "application/json; charset=iso-8859-1",
    "application/json; charset=latin1",
    "application/json; charset=us-ascii",
    "application/json; charset=cp1252",
    "application/json; charset=utf-8x",
    "application/json; charset=x-utf-8",
    "application/json; profile=x; charset=utf-7",
    "application/problem+json; charset=utf-7",
    "application/vnd.api+json; charset=utf-7",
]

# Content types the gateway and a client could read apart: refused whatever they name.
UNREADABLE = [
    "application/json; charset = utf-7",
    "application/json; charset= utf-7",
    "application/json; charset =utf-7",
    "application/json; charset = utf-8",
    "application/json; charset=utf-8; charset=utf-7",
    "application/json; charset=utf-7; charset=utf-8",
    "application/json; charset=utf-8; CHARSET=utf-8",
    "application/json; charset=",
    'application/json; charset=""',
    'application/json; charset="utf-8',
    "application/json; charset=utf-8,utf-7",
    "application/json; charset=utf 7",
    "application/json; =utf-8",
    "application/json; charset",
    'application/json; charset="utf\\-8"',
    "application/json; charset='utf-7'",
    'application/json; x="a;charset=utf-7"; charset=utf-8',
    "application/json; xcharset=utf-7",
    "application/json; x=charset",
]

UTF8 = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    'application/json; charset="UTF-8"',
    'application/json; charset="utf-8"',
    "application/json;charset=utf-8",
    "application/json ; charset=utf-8",
    "application/json; charset=utf8",
    "Application/JSON; Charset=Utf-8",
    "application/json; charset=utf-8; profile=\"https://example.com/p; q\"",
    "application/json;",
    "application/problem+json; charset=utf-8",
]


class TestCharset:
    """A JSON body is read as UTF-8: declaring anything else is a 502."""

    def refused(self, gw, raw, token, route, case, ctype, body):
        status, _, out, received = fetch(gw, raw, token, f"{route}{case}", http_response(
            200, {"content-type": ctype}, body))
        assert status == 502, (ctype, status, received[:300])
        assert not leaks(received), received[:400]
        return error_code(out)

    @pytest.mark.parametrize("ctype", NOT_UTF8)
    def test_charset_other_than_utf8_is_refused_on_a_redacted_route(self, gw, raw, token, ctype):
        assert self.refused(gw, raw, token, REDACT, "cs-" + case_name(ctype), ctype, UTF7_CONTRACT) == "charset_not_utf8"

    @pytest.mark.parametrize("ctype", NOT_UTF8)
    def test_charset_other_than_utf8_is_refused_on_an_account_checked_route(self, gw, raw, token, ctype):
        assert self.refused(gw, raw, token, ACCOUNTS, "cs-" + case_name(ctype), ctype, UTF7_FOREIGN) == "charset_not_utf8"

    @pytest.mark.parametrize("ctype", UNREADABLE)
    def test_content_type_readable_in_two_ways_is_refused(self, gw, raw, token, ctype):
        for route, body in ((REDACT, UTF7_CONTRACT), (ACCOUNTS, UTF7_FOREIGN)):
            code = self.refused(gw, raw, token, route, "bad-" + case_name(ctype), ctype, body)
            assert code in ("content_type_invalid", "charset_ambiguous", "charset_not_utf8"), (ctype, code)

    @pytest.mark.parametrize("pairs", [
        [("content-type", "application/json"), ("content-type", "application/json; charset=utf-7")],
        [("content-type", "application/json; charset=utf-7"), ("content-type", "application/json")],
        [("content-type", "application/json; charset=utf-8"), ("Content-Type", "application/json; charset=utf-8")],
        [("content-type", "application/json"), ("content-type", "text/html; charset=utf-7")],
    ], ids=lambda p: repr(p))
    def test_several_content_type_headers_are_refused(self, gw, raw, token, pairs):
        for route, body in ((REDACT, UTF7_CONTRACT), (ACCOUNTS, UTF7_FOREIGN)):
            status, _, _, received = fetch(gw, raw, token, f"{route}two-ctypes", http_response(200, pairs, body))
            assert status == 502, (pairs, status)
            assert not leaks(received)

    @pytest.mark.parametrize("ctype", UTF8)
    def test_utf8_or_no_charset_is_redacted(self, gw, raw, token, ctype):
        status, _, body, received = fetch(gw, raw, token, f"{REDACT}ok-{case_name(ctype)}", http_response(
            200, {"content-type": ctype}, compact(contract())))
        assert status == 200, (ctype, status, body)
        assert not leaks(received)
        assert json.loads(body)["user"] == {"name": "U", "rendaMensal": 1}

    @pytest.mark.parametrize("ctype", UTF8)
    def test_utf8_or_no_charset_is_account_checked(self, gw, raw, token, ctype):
        status, _, body, _ = fetch(gw, raw, token, f"{ACCOUNTS}ok-{case_name(ctype)}", http_response(
            200, {"content-type": ctype}, b'{"id":"1","contractOwner":"demostore"}'))
        assert status == 200, (ctype, status, body)
        status, _, body, received = fetch(gw, raw, token, f"{ACCOUNTS}foreign-{case_name(ctype)}", http_response(
            200, {"content-type": ctype}, compact(contract(owner="qa") | {"leak": SECRET_QA})))
        assert status == 502 and error_code(body) == "account_leak", (ctype, status, body)
        assert not leaks(received)

    @pytest.mark.parametrize("case,ctype,body", [
        ("utf8-bom", "application/json", b"\xef\xbb\xbf" + compact(contract())),
        ("utf8-bom-declared", "application/json; charset=utf-8", b"\xef\xbb\xbf" + compact(contract())),
        ("utf16-bom", "application/json", json.dumps(contract()).encode("utf-16")),
        ("utf16-le", "application/json", json.dumps(contract()).encode("utf-16-le")),
        ("utf16-be", "application/json", json.dumps(contract()).encode("utf-16-be")),
        ("utf16-declared", "application/json; charset=utf-16", json.dumps(contract()).encode("utf-16")),
        ("utf32", "application/json", json.dumps(contract()).encode("utf-32")),
    ])
    def test_bom_and_utf16_bodies_are_refused(self, gw, raw, token, case, ctype, body):
        for route in (REDACT, ACCOUNTS):
            status, _, _, received = fetch(gw, raw, token, f"{route}{case}", http_response(
                200, {"content-type": ctype}, body))
            assert status == 502, (route, case, status)
            assert not leaks(received.decode("utf-16", "replace")) and not leaks(received)


# === class 5: headers describing the unchecked body ==========================================

UNCHECKED_BODY = compact(contract())
# What a backend says about its (unchecked) body; each must be gone from what the client gets.
DESCRIBING = [
    ("content-range", f"bytes 0-{len(UNCHECKED_BODY) - 1}/{len(UNCHECKED_BODY)}"),
    ("accept-ranges", "bytes"),
    ("etag", '"unchecked-body-etag"'),
    ("last-modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
    ("content-md5", "Q2hlY2sgSW50ZWdyaXR5IQ=="),
    ("digest", "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="),
    ("content-digest", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
    ("repr-digest", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
    ("x-goog-hash", "md5=Q2hlY2sgSW50ZWdyaXR5IQ=="),
    ("x-amz-checksum-sha256", "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="),
]


def head_of(received):
    """The response head as sent: [(lower-case name, value)], duplicates kept."""
    head = received.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in head)]


def assert_nothing_describes_the_unchecked_body(received, body):
    head = head_of(received)
    names = {k for k, _ in head}
    assert not names & {k for k, _ in DESCRIBING}, head
    for name, value in head:
        if name == "content-length":
            assert int(value) == len(body), ("content-length describes another body", head)


def answer(status, body=b"", ctype="application/json"):
    """The backend's answer with every describing header and the unchecked body's length
    (but on a 204: Envoy itself refuses a 204 with a length, 502)."""
    length = [] if status == 204 else [("content-length", str(len(UNCHECKED_BODY)))]
    return http_response(status, [("content-type", ctype)] + length + DESCRIBING, body)


ROUTE_IDS = {"redact": REDACT, "accounts": ACCOUNTS}


class TestBodilessAnswers:
    """Whatever the status or method, the client never learns the unchecked body's length,
    ranges, validators or digests."""

    @pytest.mark.parametrize("route", ROUTE_IDS)
    @pytest.mark.parametrize("status", [304, 204])
    def test_bodiless_status_carries_nothing_about_the_unchecked_body(self, gw, raw, token, route, status):
        got, _, body, received = fetch(gw, raw, token, f"{ROUTE_IDS[route]}bodiless-{status}", answer(status))
        assert got == status, received[:300]
        assert body == b""
        assert_nothing_describes_the_unchecked_body(received, b"")

    @pytest.mark.parametrize("route", ROUTE_IDS)
    def test_head_on_a_get_route_carries_nothing_about_the_unchecked_body(self, gw, raw, token, route):
        got, _, _, received = fetch(gw, raw, token, f"{ROUTE_IDS[route]}head", answer(200), method="HEAD")
        assert got in (200, 502), received[:300]
        assert received.partition(b"\r\n\r\n")[2] in (b"", b"0\r\n\r\n"), received
        assert_nothing_describes_the_unchecked_body(received, b"")

    @pytest.mark.parametrize("route", ROUTE_IDS)
    @pytest.mark.parametrize("status", [200, 404, 500])
    def test_json_answer_carries_nothing_about_the_unchecked_body(self, gw, raw, token, route, status):
        got, _, body, received = fetch(gw, raw, token, f"{ROUTE_IDS[route]}json-{status}",
                                       answer(status, UNCHECKED_BODY))
        assert got == status, received[:300]
        assert route == "accounts" or not leaks(received)
        assert_nothing_describes_the_unchecked_body(received, body)

    @pytest.mark.parametrize("route", ROUTE_IDS)
    def test_refused_answer_carries_nothing_about_the_unchecked_body(self, gw, raw, token, route):
        got, _, body, received = fetch(gw, raw, token, f"{ROUTE_IDS[route]}refused",
                                       answer(200, UNCHECKED_BODY, ctype="text/html"))
        assert got == 502 and error_code(body) == "not_json", received[:300]
        assert_nothing_describes_the_unchecked_body(received, body)

    def test_conditional_request_never_reaches_the_backend(self, gw, raw, token):
        """A validator of the unchecked body (guessed: the gateway never gives one out) would
        make the backend's 304 or 412 an oracle on the hidden fields."""
        path = f"{REDACT}conditional"
        raw.script[path] = answer(200, UNCHECKED_BODY)
        try:
            raw_http(gw.port, request_bytes(path, token=token, headers=[
                ("if-none-match", '"guess"'), ("if-modified-since", "Tue, 01 Dec 2026 10:00:00 GMT"),
                ("if-match", '"guess"'), ("if-unmodified-since", "Tue, 01 Dec 2026 10:00:00 GMT")]))
            (record,) = raw.seen(path)
        finally:
            raw.script.pop(path, None)
        names = {k.lower() for k, _ in record["headers"]}
        assert not names & {"if-none-match", "if-modified-since", "if-match", "if-unmodified-since"}, names
