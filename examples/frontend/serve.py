"""The front-end example next to the demo: the sample backend, a static server for this
page and the package's browser build, and Envoy running the repository's envoy.yaml plus
one public route for the page (`/frontend/` -> the static server). gateway.yaml has no such
route, so this adds it to the rendered configuration instead of editing it.

    make js                                  # builds packages/permissions/web
    .venv/bin/python examples/frontend/serve.py
    # then open the printed address, e.g.
    #   http://acme.localhost:PORT/frontend/#token=$(make -s token)

Ctrl-C stops everything it started. tests/test_frontend.py uses the same pieces.
"""

import copy
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "examples" / "frontend"
PKG_DIR = ROOT / "packages" / "permissions" / "web"
PREFIX = "/frontend/"


class _Handler(SimpleHTTPRequestHandler):
    """Serves PAGE_DIR under /frontend/ and the package's browser build under
    /frontend/pkg/; nothing else (no listings, no paths outside the two folders)."""

    extensions_map = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                      ".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".png": "image/png",
                      ".json": "application/json", ".ts": "text/plain; charset=utf-8", "": "application/octet-stream"}

    def translate_path(self, path):
        path = path.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith(PREFIX):
            return ""
        rest = path[len(PREFIX):] or "index.html"
        base, rest = (PKG_DIR, rest[len("pkg/"):]) if rest.startswith("pkg/") else (PAGE_DIR, rest)
        target = (base / rest).resolve()
        return str(target) if target.is_file() and target.is_relative_to(base.resolve()) else ""

    def send_head(self):
        if not self.translate_path(self.path):
            self.send_error(404)
            return None
        return super().send_head()

    def end_headers(self):
        self.send_header("cache-control", "no-store")
        super().end_headers()

    def log_message(self, fmt, *args):
        pass


class StaticServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port=0):
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self):
        return self.server_address[1]

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def frontend_route():
    """The public route for the page (what gateway.yaml would need to serve it)."""
    return {
        "name": "frontend",
        "match": {"prefix": PREFIX},
        "route": {"cluster": "frontend"},
        "typed_per_filter_config": {"portcullis.hold_response": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute", "disabled": True}},
        "metadata": {"filter_metadata": {"portcullis": {"requirement": "GET: public", "account": "none"}}},
    }


def with_frontend(config, static_port):
    """The demo's Envoy configuration plus the page's route (first) and cluster."""
    config = copy.deepcopy(config)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"].insert(0, frontend_route())
    config["static_resources"]["clusters"].append({
        "name": "frontend", "type": "STATIC", "connect_timeout": "2s",
        "load_assignment": {"cluster_name": "frontend", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": static_port}}}}]}]},
    })
    return config


def main():
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "examples" / "backend"))
    from harness.gateway import Envoy, load_repo_config
    from server import Backend

    if not (PKG_DIR / "portcullis_permissions.js").exists():
        print("packages/permissions/web is missing: run `make js` first", file=sys.stderr)
        return 1
    backend = Backend(0).start()
    static = StaticServer(0).start()
    envoy = Envoy(with_frontend(load_repo_config(backend.port), static.port), name="frontend").start()
    print(f"\nFront-end example: http://acme.localhost:{envoy.port}{PREFIX}#token=$(make -s token)\n"
          f"(Envoy admin on :{envoy.admin_port}; Ctrl-C stops it)\n", flush=True)
    try:
        while envoy.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        envoy.stop()
        static.shutdown()
        backend.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
