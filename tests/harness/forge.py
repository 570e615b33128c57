"""Hand-built tokens carrying hostile text, and the checks that a gateway answer echoes
none of it. For the response-splitting and identity-header suites (issue 18): the
header and payload are written as exact JSON bytes (ASCII with `\\u` escapes, raw UTF-8,
or raw bytes that are not UTF-8 at all), so every way a byte can enter a token is tried."""

import base64
import json
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

# Injection payloads, by name: what an attacker puts in a token field to break out of a
# header line, into the body, or past a byte-oriented check.
INJECTIONS = {
    "crlf-set-cookie": "RS256\r\nSet-Cookie: portcullis_pwned=1",
    "crlf-crlf-body": "x\r\n\r\n<img src=x>",
    "lf-set-cookie": "x\nSet-Cookie: portcullis_pwned=1",
    "cr-set-cookie": "x\rSet-Cookie: portcullis_pwned=1",
    "nul": "RS256\x00pwned",
    "del": "x\x7fpwned",
    "tab": "x\tpwned",
    "utf8": "RS256-\u00e9-\u2026-\u2603-pwned",
    "latin1": "\u0080\u00ff\u00e9pwned",
    "line-separator": "x\u2028Set-Cookie: portcullis_pwned=1",
    "html": "<img src=x onerror=alert(1)>",
    "quote-break": "x\", Set-Cookie: portcullis_pwned=1, \"",
    "backslash": "x\\\"pwned",
}

# Fragments of the payloads above that must never come back to the client.
ECHO_MARKERS = ("pwned", "<img", "img src", "onerror", "set-cookie")

# How the JSON text of a token part is written: `\u` escapes only, raw UTF-8, or with a
# raw byte that is not UTF-8 (a decoder must refuse it, never pass it on).
ENCODINGS = ("escaped", "utf8", "raw-byte")


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def json_bytes(value, encoding="escaped"):
    """`value` as JSON bytes written the way `encoding` says."""
    if encoding == "escaped":
        return json.dumps(value).encode("ascii")
    text = json.dumps(value, ensure_ascii=False).encode("utf-8")
    if encoding == "raw-byte":
        # A lone 0xff byte inside the first string: invalid UTF-8 in a JSON string.
        return text.replace(b'"', b'"\xff', 1)
    return text


def signed(key, header, payload, encoding="escaped"):
    """A token over `header` and `payload` (dicts, or exact bytes) with a real RS256
    signature by `key` (a `harness.tokens.Key`)."""
    h = header if isinstance(header, bytes) else json_bytes(header, encoding)
    p = payload if isinstance(payload, bytes) else json_bytes(payload, encoding)
    signing_input = f"{b64(h)}.{b64(p)}"
    sig = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(sig)}"


def broken_signature(token):
    """`token` with its signature replaced by one that verifies under no key."""
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{b64(b'not-a-signature' * 16)}"


def header_safe(text):
    """Whether `text` is a value the gateway may write into a header (visible ASCII, SP
    and HTAB only between visible characters): the core's `header_value::check`."""
    return re.fullmatch(r"([\x21-\x7e]([\x20\x09]*[\x21-\x7e])*)?", text) is not None


_HEAD_LINE = re.compile(rb"^[\x20-\x7e\t]*$")
_CHALLENGE = re.compile(r'^Bearer( error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*")?$')


def assert_echoes_nothing(status, headers, body, raw, allowed_names):
    """The gateway's refusal holds no byte of client input: every head line is visible
    ASCII, only `allowed_names` headers are present, the challenge is well formed, and
    the body is ASCII JSON with no fragment of an injection."""
    assert status is not None, raw[:300]
    head = raw.partition(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n"):
        assert _HEAD_LINE.match(line), f"control or non-ASCII byte in a response head line: {line!r}"
    names = [line.split(b":", 1)[0].strip().lower().decode("latin-1") for line in head.split(b"\r\n")[1:]]
    assert set(names) <= set(allowed_names), f"unexpected response headers: {names}"
    challenge = headers.get("www-authenticate")
    if challenge is not None:
        assert _CHALLENGE.match(challenge), f"malformed challenge: {challenge!r}"
    assert all(0x20 <= b <= 0x7E for b in body), f"control or non-ASCII byte in the body: {body!r}"
    text = (head + b"\n" + body).decode("ascii", "replace").lower()
    assert not [m for m in ECHO_MARKERS if m in text], f"client input echoed: {raw!r}"
    assert set(json.loads(body)) == {"error", "message", "status"}, body
