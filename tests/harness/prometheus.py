"""Starting and stopping a real Prometheus (Debian's `prometheus` package, installed by
`make setup`) on a free loopback port, scraping gateways' admin `/stats/prometheus`.

Like `Envoy`, it is started by the test process itself with a parent-death signal, with
its configuration and storage in a temporary folder, and stopped at teardown even when a
test fails.
"""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests
import yaml

from .gateway import _die_with_parent, free_port


def binary(name):
    """The path of `prometheus` or `promtool`; `make setup` installs both (apt-get)."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: `make setup` installs Debian's prometheus package")
    return path


class Prometheus:
    """One Prometheus scraping `targets` (host:port of Envoy admin endpoints) every
    `interval`, evaluating `rule_files` as often."""

    def __init__(self, targets, rule_files=(), job="portcullis", interval="1s", name="prometheus"):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"portcullis-{name}-"))
        self.config_path = self.dir / "prometheus.yml"
        self.log_path = self.dir / "prometheus.log"
        self.config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(Path(f).resolve()) for f in rule_files],
            "scrape_configs": [{
                "job_name": job,
                "metrics_path": "/stats/prometheus",
                "static_configs": [{"targets": list(targets)}],
            }],
        }
        self.process = None

    def start(self, timeout=30):
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [binary("prometheus"), f"--config.file={self.config_path}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            cwd=self.dir, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            try:
                if requests.get(self.url("/-/ready"), timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready after {timeout}s:\n{self.logs()[-4000:]}")

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

    def logs(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, path, **params):
        """The `data` of a Prometheus HTTP API answer (`/api/v1/...`); an error answer raises."""
        r = requests.get(self.url(f"/api/v1/{path}"), params=params, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise AssertionError(f"/api/v1/{path} {params}: {r.status_code} {body}")
        return body["data"]

    def query(self, expr):
        """The instant vector of `expr` now: a list of {"metric": labels, "value": [t, "v"]}."""
        return self.api("query", query=expr)["result"]

    def alerts(self, name=None):
        """Active alerts (pending or firing), from /api/v1/alerts."""
        return [a for a in self.api("alerts")["alerts"] if name is None or a["labels"]["alertname"] == name]

    def rule(self, name):
        """The rule named `name` (an alert or a recorded series) from /api/v1/rules."""
        for group in self.api("rules")["groups"]:
            for rule in group["rules"]:
                if rule["name"] == name:
                    return rule
        raise AssertionError(f"no rule {name} loaded")
