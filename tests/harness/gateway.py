"""Starting and stopping a real Envoy on free loopback ports.

Envoy is started by the test process itself, with a parent-death signal so it can never
outlive the tests, and is stopped at teardown even when a test fails.
"""

import copy
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENVOY = ROOT / ".venv" / "bin" / "envoy"
WASM_DIR = ROOT / "build" / "wasm"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Client:
    """HTTP requests to a gateway listening on 127.0.0.1:`port` (admin on `admin_port`),
    as a demo user sends them: on the demo's domain, with a bearer token."""

    def __init__(self, port, admin_port):
        self.port = port
        self.admin_port = admin_port

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, host="acme.localhost", token=None, headers=None, method="GET", **kwargs):
        h = {"host": host}
        if token:
            h["authorization"] = f"Bearer {token}"
        h.update(headers or {})
        return requests.request(method, self.url(path), headers=h, timeout=10, allow_redirects=False, **kwargs)

    def stats(self):
        return requests.get(f"http://127.0.0.1:{self.admin_port}/stats/prometheus", timeout=5).text

    def counter(self, name):
        """The value of the admin /stats counter whose name ends with `name` (0: none)."""
        text = requests.get(f"http://127.0.0.1:{self.admin_port}/stats", timeout=5).text
        m = re.search(rf"(?:^|\.){re.escape(name)}: (\d+)$", text, re.M)
        return int(m.group(1)) if m else 0


class Envoy(Client):
    """One Envoy process running `config` (a dict in Envoy's bootstrap shape)."""

    def __init__(self, config, name="envoy", concurrency=1):
        super().__init__(free_port(), free_port())
        self.config = copy.deepcopy(config)
        self.concurrency = concurrency  # worker threads, each with its own filter instances
        self.config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}}}
        listener = self.config["static_resources"]["listeners"][0]
        listener["address"]["socket_address"]["port_value"] = self.port
        self.dir = Path(tempfile.mkdtemp(prefix=f"portcullis-{name}-"))
        self.config_path = self.dir / "envoy.yaml"
        self.log_path = self.dir / "envoy.log"
        self.process = None

    def start(self, timeout=60, expect_ready=True):
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(ENVOY), "-c", str(self.config_path), "--concurrency", str(self.concurrency), "--log-level", "info",
             "--base-id", str(free_port()), "--disable-hot-restart"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        if expect_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"envoy not ready after {timeout}s:\n{self.logs()[-4000:]}")

    def wait_exit(self, timeout=60):
        """For configurations Envoy must refuse: its exit code."""
        return self.process.wait(timeout)

    def logs(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def load_repo_config(backend_port):
    """The repository's own envoy.yaml, with the backend cluster pointed at the test
    backend. Listener and admin ports are replaced by `Envoy` itself."""
    config = yaml.safe_load((ROOT / "envoy.yaml").read_text())
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] == "backend":
            endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
            endpoint["address"]["socket_address"]["port_value"] = backend_port
    return config


def wasm_filter(name, configuration):
    """An Envoy HTTP filter entry running Portcullis filter `name` with `configuration`."""
    return {
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(WASM_DIR / f"{name}.wasm")}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration if isinstance(configuration, str) else json.dumps(configuration),
                },
            },
        },
    }


#: The one filter's stages in the order it runs them, by the name of the separate filter
#: each used to be (`wasm_filter("portcullis_jwt", ...)`).
STAGES = {"portcullis_jwt": "jwt", "portcullis_tenant": "tenant", "portcullis_authz": "authz",
          "portcullis_redact": "redact", "portcullis_accounts": "accounts"}


def _wasm_configuration(entry):
    return entry["typed_config"]["config"]["configuration"]


def portcullis(**sections):
    """The one filter (`portcullis.wasm`) running the given stages (`jwt=`, `tenant=`,
    `authz=`, `redact=`, `accounts=`: each the stage's configuration)."""
    return wasm_filter("portcullis", {k: sections[k] for k in STAGES.values() if k in sections})


def one_filter(filters):
    """`filters` with each run of stage filters (`wasm_filter("portcullis_<stage>", ...)`,
    in the pipeline's order) merged into one `portcullis` filter with those sections: the
    way the gateway deploys them."""
    out, order = [], list(STAGES.values())
    for entry in filters:
        stage = STAGES.get(entry.get("name"))
        if stage is None:
            out.append(entry)
            continue
        config = json.loads(_wasm_configuration(entry)["value"])
        last = out[-1] if out else None
        if last is not None and last.get("name") == "portcullis":
            sections = json.loads(_wasm_configuration(last)["value"])
            if all(order.index(s) < order.index(stage) for s in sections):
                sections[stage] = config
                _wasm_configuration(last)["value"] = json.dumps(sections)
                continue
        out.append(portcullis(**{stage: config}))
    return out


def stage_config(config, stage):
    """Stage `stage`'s section of the `portcullis` filter in bootstrap `config` (or its
    route table: `stage_config(config, "routes")`)."""
    return json.loads(_wasm_configuration(_pipeline_entry(config))["value"])[stage]


def set_stage_config(config, stage, section):
    """Replaces stage `stage`'s section of the `portcullis` filter in `config`."""
    holder = _wasm_configuration(_pipeline_entry(config))
    sections = json.loads(holder["value"])
    sections[stage] = section
    holder["value"] = json.dumps(sections)


def _pipeline_entry(config):
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return next(f for f in hcm["http_filters"] if f["name"] == "portcullis")


def route(name, path, requirement=None, cluster="backend", prefix=False, **metadata):
    """A route to the backend with Portcullis metadata."""
    meta = dict(metadata)
    if requirement is not None:
        meta["requirement"] = requirement
    entry = {"name": name, "match": {"prefix" if prefix else "path": path}, "route": {"cluster": cluster}}
    if meta:
        entry["metadata"] = {"filter_metadata": {"portcullis": meta}}
    return entry


HOLD_RESPONSE = {
    # The same response hold `portcullis render envoy` puts first in the chain: it keeps
    # response headers back until the body is checked (crates/cli/src/cmd/render/hold.rs).
    "name": "portcullis.hold_response",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "default_source_code": {"inline_string": "function envoy_on_response(response)\n  response:body(true)\nend\n"},
    },
}


def bootstrap(filters, routes, backend_port):
    """A minimal Envoy bootstrap: one listener, the response hold and the given HTTP
    filters (stage filters merged into the one filter, see `one_filter`), the routes, the
    HCM's path normalisation on, one backend cluster."""
    return {
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "per_connection_buffer_limit_bytes": 8388608,
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "normalize_path": True,
                        "merge_slashes": True,
                        "path_with_escaped_slashes_action": "REJECT_REQUEST",
                        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
                        "http_filters": [HOLD_RESPONSE] + one_filter(filters) + [{
                            "name": "envoy.filters.http.router",
                            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                        }],
                    },
                }]}],
            }],
            "clusters": [{
                "name": "backend",
                "type": "STATIC",
                "per_connection_buffer_limit_bytes": 8388608,
                "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": backend_port}}}}]}]},
            }],
        }
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


class Traffic:
    """Requests sent to `gateway` from a background thread, one after another, while a
    test changes something around it: each request carries the next of the current
    tokens in turn. Bounded by `max_requests` and `max_seconds`; stops at exit.
    `results` holds (token, status) pairs; `replace` changes the tokens sent."""

    def __init__(self, gateway, path, tokens, host="acme.localhost", max_requests=5000, max_seconds=60):
        self.gateway, self.path, self.host = gateway, path, host
        self.tokens = list(tokens)
        self.results = []
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        i = 0
        while not self._stop.is_set() and i < self.max_requests and time.monotonic() < deadline:
            with self._lock:
                token = self.tokens[i % len(self.tokens)]
            try:
                status = self.gateway.get(self.path, host=self.host, token=token).status_code
            except requests.RequestException as e:
                status = repr(e)
            with self._lock:
                self.results.append((token, status))
            i += 1

    def replace(self, tokens):
        with self._lock:
            self.tokens = list(tokens)

    def count(self, tokens=None):
        """Requests answered so far (carrying one of `tokens`, if given)."""
        with self._lock:
            return sum(1 for t, _ in self.results if tokens is None or t in tokens)

    def failures(self):
        with self._lock:
            return [(t[-12:], s) for t, s in self.results if s != 200]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
