"""A JWKS endpoint on loopback for the remote-JWKS tests: a small threaded HTTP server
serving a mutable document, which can answer garbage, answer slowly, or go down (its
listening socket closed: connection refused) and come back on the same port."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .gateway import free_port


class JwksServer:
    """Serves `GET <path>` with the current JWKS. Thread-safe setters; `hits` counts
    requests for the path."""

    def __init__(self, path="/jwks.json", port=None):
        self.path = path
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._keys = []
        self._body = None  # raw bytes overriding the document (garbage)
        self._status = 200
        self._delay = 0.0
        self.hits = 0
        self.documents = {}  # other paths served as JSON (an OpenID configuration)
        self._server = None
        self._thread = None

    # --- what it serves -------------------------------------------------------------------
    def set_keys(self, *keys):
        """Serve these keys (`tokens.Key` objects or JWK dicts)."""
        with self._lock:
            self._keys = [k if isinstance(k, dict) else k.jwk() for k in keys]
            self._body = None
            self._status = 200

    def serve_raw(self, body, status=200):
        """Serve `body` (bytes or str) with `status` instead of a JWKS."""
        with self._lock:
            self._body = body.encode() if isinstance(body, str) else body
            self._status = status

    def set_delay(self, seconds):
        with self._lock:
            self._delay = seconds

    def _answer(self):
        with self._lock:
            self.hits += 1
            delay = self._delay
            if self._body is not None:
                answer = (self._status, self._body)
            else:
                answer = (self._status, json.dumps({"keys": self._keys}).encode())
        if delay:
            time.sleep(delay)
        return answer

    # --- up and down ----------------------------------------------------------------------
    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0]
                if path in owner.documents:
                    status, body = 200, json.dumps(owner.documents[path]).encode()
                elif path != owner.path:
                    status, body = 404, b"not found"
                else:
                    status, body = owner._answer()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    # No keep-alive: once stopped, the server is really gone for the
                    # gateway (a kept connection would go on being served).
                    self.send_header("connection", "close")
                    self.close_connection = True
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up (its timeout) before the answer

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Closes the listening socket: new connections are refused."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread.join(5)

    @property
    def running(self):
        return self._server is not None

    def cluster(self, name="jwks"):
        """An Envoy cluster for this server (short connect timeout: it may be down)."""
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "0.25s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.port}}}}]}]},
        }


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
