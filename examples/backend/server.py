"""The demo's sample backend (SPEC section 10), also the test harness's upstream.

It knows nothing of Portcullis: it answers the demo routes with small JSON bodies,
echoes the request headers it received on /whoami, and records every request so tests
can prove that a refused request never reached it. Run it alone with
``python3 examples/backend/server.py --port 8080``.
"""

import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEMO_CONTRACT = {
    "id": "123-456",
    "contractOwner": "demostore",
    "source": "adwords",
    "user": {"name": "Usuário", "cpf": "000.000.370.00", "rendaMensal": 15000},
    "mother": {"name": "Mãe", "cpf": "000.000.370.00", "rendaMensal": 15000},
}


def contract(contract_id, owner):
    """A contract shaped like the demo one, for another id or owner."""
    body = json.loads(json.dumps(DEMO_CONTRACT))
    body["id"] = contract_id
    body["contractOwner"] = owner
    return body


def compact(value):
    """JSON exactly as the demo contract is written in the SPEC (no spaces, UTF-8)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# The automations of each client account, with the client's owner (SPEC section 10).
AUTOMATIONS = {
    "demostore": [
        {"id": "a1", "name": "nightly-sync", "client": "demostore", "owner": "acme"},
        {"id": "a2", "name": "sms-trigger", "client": "demostore", "owner": "acme"},
    ],
    "qa": [{"id": "a9", "name": "qa-crawler", "client": "qa", "owner": "acme"}],
}


def automations(account):
    """The account's automations plus, by a backend bug the gateway must catch, the
    first automation of the other demo client (demostore gets `a9` of qa, qa gets `a1` of
    demostore). Any other account has none: `[]`."""
    own = AUTOMATIONS.get(account)
    if own is None:
        return []
    other = "qa" if account == "demostore" else "demostore"
    return own + AUTOMATIONS[other][:1]


CONTRACT_PATH = re.compile(r"^/accounts/([^/]+)/contracts/([^/]+)$")
CONTRACTS_PATH = re.compile(r"^/accounts/([^/]+)/contracts$")
AUTOMATIONS_PATH = re.compile(r"^/accounts/([^/]+)/automations$")


def demo_answer(method, path, headers):
    """(status, content-type, body bytes) for a demo request."""
    if path == "/public/health":
        return 200, "application/json", compact({"status": "ok"})
    if path == "/whoami":
        return 200, "application/json", compact({k.lower(): v for k, v in headers.items()})
    match = CONTRACT_PATH.match(path)
    if match:
        account, contract_id = match.groups()
        if contract_id == "999":
            # A backend bug the gateway must catch: another account's contract.
            return 200, "application/json", compact(contract("999", "qa"))
        if account == "demostore" and contract_id == "123-456":
            return 200, "application/json", compact(DEMO_CONTRACT)
        return 200, "application/json", compact(contract(contract_id, account))
    match = CONTRACTS_PATH.match(path)
    if match:
        account = match.group(1)
        items = [contract("123-456", account), contract("123-457", account)]
        if account == "demostore":
            items.append(contract("999", "qa"))  # the same backend bug, in a list
        return 200, "application/json", compact(items)
    match = AUTOMATIONS_PATH.match(path)
    if match:
        return 200, "application/json", compact(automations(match.group(1)))
    if path == "/sales/customerServices/stockout":
        return 200, "application/json", compact({"stockout": "recorded"})
    if path == "/finance/reports":
        return 200, "application/json", compact({"reports": [{"month": "2026-10", "revenue": 1000}]})
    return 200, "application/json", compact({"method": method, "path": path})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        self.server.record(record)
        override = self.server.overrides.get(path)
        if override is not None:
            status, headers, payload = override(record) if callable(override) else override
        else:
            status, ctype, payload = demo_answer(self.command, path, self.headers)
            headers = {"content-type": ctype}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-length" not in {k.lower() for k in headers}:
            self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, fmt, *args):  # quiet: tests read `requests`, not stderr
        pass


class Backend(ThreadingHTTPServer):
    """The sample backend. `overrides` maps a path to (status, headers, body) or to a
    function of the recorded request returning that, for tests' special answers."""

    daemon_threads = True

    def __init__(self, port=0, host="127.0.0.1"):
        super().__init__((host, port), Handler)
        self.requests = []
        self.overrides = {}
        self._lock = threading.Lock()

    def record(self, request):
        with self._lock:
            self.requests.append(request)

    def seen(self, path_prefix):
        """Requests received whose path starts with `path_prefix`."""
        with self._lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]

    @property
    def port(self):
        return self.server_address[1]

    def start(self):
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return self


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 in a container: deploy/compose/)")
    args = parser.parse_args()
    server = Backend(args.port, args.host)
    print(f"sample backend on {args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
