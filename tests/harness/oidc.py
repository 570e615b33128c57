"""A real OpenID provider on loopback for the remote-JWKS and discovery tests:
oidc-provider (npm; the certified OpenID Connect provider for Node.js), run by
tests/oidc/provider.mjs with one issuer per realm, Keycloak-style
(`http://127.0.0.1:<port>/realms/<name>`). Tokens come from its token endpoint (client
credentials with a resource indicator: RFC 9068 JWT access tokens, `typ: at+jwt`); the
gateway fetches its discovery document and JWKS through an Envoy cluster.

The process is started by the test process, with a parent-death signal and its standard
input held open (it exits when either goes), and stopped at teardown."""

import base64
import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from .gateway import _die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "oidc"
SCRIPT = PROJECT / "provider.mjs"


class OidcProvider:
    """One provider process serving `realms` (the `realms` object of provider.mjs's
    configuration: algorithms, resources, clients with their extra claims)."""

    def __init__(self, realms, name="oidc"):
        self.realms = realms
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"portcullis-{name}-"))
        self.config_path = self.dir / "config.json"
        self.log_path = self.dir / "provider.log"
        self.config_path.write_text(json.dumps({
            "port": self.port, "state": str(self.dir / "keys.json"), "realms": realms}))
        self.process = None
        self.issuers = {}

    # --- up and down ----------------------------------------------------------------------
    def start(self, timeout=30):
        """Starts the process (again, after `stop`: same port, same keys) and waits for
        its readiness line."""
        if not (PROJECT / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("tests/oidc/node_modules is missing: run `make oidc` (npm ci in tests/oidc)")
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", str(SCRIPT), str(self.config_path)],
            cwd=PROJECT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            preexec_fn=_die_with_parent,
        )
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"oidc provider not ready (exit {self.process.returncode}):\n{self.logs()[-4000:]}")
            if selector.select(min(left, 0.5)):
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk and self.process.poll() is not None:
                    continue
                line += chunk
        selector.close()
        ready = json.loads(line)
        assert ready["ready"] and ready["port"] == self.port, ready
        self.issuers = ready["issuers"]
        return self

    def stop(self):
        """Stops the process: its port refuses connections until `start`."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process:
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe:
                    pipe.close()
        if getattr(self, "_log", None):
            self._log.close()

    def restore(self):
        """After a test: running again (same port and keys), with no faults."""
        if not self.running:
            self.stop()
            self.start()
        for realm in self.realms:
            self.faults(realm)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def logs(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- what it serves -------------------------------------------------------------------
    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def issuer(self, realm):
        return self.issuers[realm]

    def realm_path(self, realm, rest=""):
        return f"/realms/{realm}{rest}"

    def token(self, realm, client, resource, scope=None):
        """A JWT access token from the realm's token endpoint: client credentials for
        `client` (its secret from the configuration), for `resource` (RFC 8707)."""
        form = {"grant_type": "client_credentials", "resource": resource}
        if scope:
            form["scope"] = scope
        secret = self.realms[realm]["clients"][client]["secret"]
        r = requests.post(self.url(self.realm_path(realm, "/token")), data=form, auth=(client, secret), timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer", body
        return body["access_token"]

    def jwks(self, realm):
        """The realm's published key set, as the provider serves it."""
        r = requests.get(self.url(self.realm_path(realm, "/jwks")), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    # --- test controls --------------------------------------------------------------------
    def _admin(self, realm, action, body=None):
        r = requests.post(self.url(f"/admin/realms/{realm}/{action}"), json=body or {}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["kids"]

    def rotate(self, realm, keep_old=True):
        """A new signing key per algorithm, published first and used from now on; the old
        keys stay published unless `keep_old` is false (replaced in one step). The kids
        now published, newest first."""
        return self._admin(realm, "rotate", {"keep_old": keep_old})

    def faults(self, realm, delay_ms=0, jwks_body=None):
        """The realm's discovery and JWKS answers wait `delay_ms`; its JWKS answer is
        `jwks_body` instead of the key set (None: the real one)."""
        fault = {"delay_ms": delay_ms}
        if jwks_body is not None:
            fault["jwks_body"] = jwks_body
        self._admin(realm, "faults", fault)

    def hits(self, path):
        """How many requests for `path` the provider has served."""
        return requests.get(self.url("/admin/hits"), timeout=10).json().get(path, 0)

    def cluster(self, name="oidc"):
        """An Envoy cluster for the provider (short connect timeout: it may be down)."""
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "0.25s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.port}}}}]}]},
        }


def claims_of(token):
    """The (unverified) header and payload of a token, to check what the provider issued."""
    def part(segment):
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    header, payload, _ = token.split(".")
    return part(header), part(payload)
