"""Real keys and real tokens for the tests: RSA (the demo key), EC P-256, Ed25519 and
HMAC, plus hand-built malformed tokens for the attacks."""

import base64
import json
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ROOT = Path(__file__).resolve().parents[2]
DEMO_ISSUER = "https://accounts.crontech.localhost"
DEMO_KEY_PATH = ROOT / "examples" / "keys" / "demo-rs256.pem"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(i):
    return b64(i.to_bytes((i.bit_length() + 7) // 8, "big"))


class Key:
    """A signing key with its JWK."""

    def __init__(self, private, alg, kid):
        self.private = private
        self.alg = alg
        self.kid = kid

    def pem(self):
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self):
        pub = self.private.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            n = pub.public_numbers()
            return {"kty": "RSA", "kid": self.kid, "alg": self.alg, "use": "sig", "n": _int(n.n), "e": _int(n.e)}
        if isinstance(pub, ec.EllipticCurvePublicKey):
            n = pub.public_numbers()
            size = 32
            return {"kty": "EC", "kid": self.kid, "alg": self.alg, "crv": "P-256", "use": "sig",
                    "x": b64(n.x.to_bytes(size, "big")), "y": b64(n.y.to_bytes(size, "big"))}
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": self.kid, "alg": "EdDSA", "crv": "Ed25519", "use": "sig", "x": b64(raw)}

    def sign(self, claims, headers=None, alg=None):
        h = {"kid": self.kid}
        h.update(headers or {})
        return jwt.encode(claims, self.pem(), algorithm=alg or self.alg, headers=h)


def demo_key():
    private = serialization.load_pem_private_key(DEMO_KEY_PATH.read_bytes(), None)
    return Key(private, "RS256", "demo-rs256")


def new_rsa(kid="rsa-2"):
    return Key(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", kid)


def new_ec(kid="ec-1"):
    return Key(ec.generate_private_key(ec.SECP256R1()), "ES256", kid)


def new_ed(kid="ed-1"):
    return Key(ed25519.Ed25519PrivateKey.generate(), "EdDSA", kid)


HMAC_SECRET = b"portcullis-test-hmac-secret-for-tests-only-0123456789"


def hmac_token(claims, secret=HMAC_SECRET, alg="HS256", headers=None):
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def claims(**overrides):
    """The demo user's claims (SPEC section 10), valid for an hour, with overrides;
    an override of None removes the claim."""
    now = int(time.time())
    c = {
        "sub": "u1",
        "tenant": "acme",
        "organization": ["demostore"],
        "roles": ["ATENDIMENTO"],
        "scopes": ["br.com.chaordic.cockpit/sales/customerServices/*"],
        "iss": DEMO_ISSUER,
        "aud": "users",
        "iat": now,
        "exp": now + 3600,
    }
    for k, v in overrides.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def unsigned(header, payload, signature=""):
    """A token built by hand, for attacks (alg none, tampering, garbage)."""
    return f"{b64(json.dumps(header))}.{b64(json.dumps(payload))}.{signature}"


def tamper(token, **changes):
    """`token` with its payload changed and the original signature kept."""
    h, p, s = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload.update(changes)
    return f"{h}.{b64(json.dumps(payload))}.{s}"
