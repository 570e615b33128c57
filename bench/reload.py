#!/usr/bin/env python3
"""Reload under load (issue 11): the filters' configuration changes while requests flow;
no request may fail, and once a change is acknowledged no request may be decided by the
old policy.

Envoy's static configuration cannot change in place, so this runs Envoy with the demo's
listener (the repository's envoy.yaml: every filter, the same routes) delivered by LDS
from a file (`dynamic_resources.lds_config.path_config_source`). Two versions of the
listener differ only in the authorization filter's role table:

* A: the demo's (`ATENDIMENTO` grants `contract:one:read::!{user.cpf,mother}`): the
  demo user reads `/accounts/demostore/contracts/123-456` (200, redacted);
* B: `ATENDIMENTO` without that grant: the same request is denied (403).

Worker threads send that request (and `/whoami`, allowed by both) on a new connection
each, as fast as they can, while the main thread swaps A and B every `--interval`
seconds by writing the other version and renaming it over the watched file (atomic). A
swap counts as acknowledged when `listener_manager.lds.update_success` has moved past it,
no listener is warming, and the replaced filter chains are draining (admin /stats: the
drain starts once every worker runs the new listener); from then on a contract request *sent* must
get the new policy's answer. Counted:

* failed: connection errors, timeouts, any status but 200/403 (5xx during a reload);
* wrongly authorised: 200 for the contract after B was acknowledged (B denies it);
* wrongly denied: 403 after A was acknowledged (A allows it); 403 on `/whoami`;
* leaked: a 200 contract body carrying `cpf`/`mother` (redaction skipped in a reload).

The target is zero for all of them. Bounded: `--duration` seconds of load (default 30).
Envoy runs with `--drain-strategy immediate --drain-time-s 2` so connections of the
replaced listener close promptly; every request uses its own connection, so "sent after
the acknowledgement" means "on the new listener".

    .venv/bin/python bench/reload.py [--duration 30] [--interval 2] [--threads 8]

Prints a summary and exits 1 when any count is not zero. Results: docs/hardening.md.
"""

import argparse
import copy
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "examples" / "backend"))

from harness import tokens  # noqa: E402
from harness.gateway import ENVOY, _die_with_parent, free_port, load_repo_config  # noqa: E402
from server import Backend  # noqa: E402

CONTRACT = "/accounts/demostore/contracts/123-456"
HOST = "acme.localhost"
GRANT = "contract:one:read::!{user.cpf,mother}"


def listener_versions(backend_port, port):
    """The demo listener twice: A (the demo's roles) and B (ATENDIMENTO without the
    contract grant), and the static clusters they need."""
    config = load_repo_config(backend_port)
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["port_value"] = port
    versions = {}
    for name, keep in (("A", True), ("B", False)):
        copy_ = copy.deepcopy(listener)
        hcm = copy_["filter_chains"][0]["filters"][0]["typed_config"]
        for f in hcm["http_filters"]:
            if f["name"] != "portcullis_authz":
                continue
            holder = f["typed_config"]["config"]["configuration"]
            authz = json.loads(holder["value"])
            grants = authz["policies"]["roles"]["ATENDIMENTO"]
            assert GRANT in grants, grants
            if not keep:
                authz["policies"]["roles"]["ATENDIMENTO"] = [g for g in grants if g != GRANT]
            holder["value"] = json.dumps(authz, separators=(",", ":"))
        versions[name] = copy_
    return versions, config["static_resources"]["clusters"]


def write_lds(path, listener, version):
    """Writes the LDS file atomically: a temporary file in the same folder, renamed."""
    doc = {"version_info": version, "resources": [
        dict({"@type": "type.googleapis.com/envoy.config.listener.v3.Listener"}, **listener)]}
    tmp = path.with_name(f".{path.name}.{version}.tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.rename(tmp, path)


class Gateway:
    def __init__(self, workdir, clusters, first_listener, concurrency):
        self.dir = workdir
        self.admin_port = free_port()
        self.lds = workdir / "lds.yaml"
        write_lds(self.lds, first_listener, "A0")
        bootstrap = {
            "node": {"id": "portcullis-reload", "cluster": "portcullis"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}}},
            "static_resources": {"clusters": clusters},
            "dynamic_resources": {"lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": str(self.lds), "watched_directory": {"path": str(workdir)}}}},
        }
        (workdir / "bootstrap.yaml").write_text(yaml.safe_dump(bootstrap, sort_keys=False))
        self.log = open(workdir / "envoy.log", "wb")
        self.process = subprocess.Popen(
            [str(ENVOY), "-c", str(workdir / "bootstrap.yaml"), "--concurrency", str(concurrency),
             "--drain-strategy", "immediate", "--drain-time-s", "2", "--log-level", "warning",
             "--base-id", str(free_port()), "--disable-hot-restart"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def stats(self):
        text = requests.get(f"http://127.0.0.1:{self.admin_port}/stats?usedonly", timeout=5).text
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            try:
                out[name] = int(value)
            except ValueError:
                pass
        return out

    def wait_ready(self, port, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited:\n{(self.dir / 'envoy.log').read_text()[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/public/health", headers={"host": HOST},
                                timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gateway not ready")

    def wait_ack(self, successes_before, timeout=60, signal="drain"):
        """Waits until one more LDS update succeeded and nothing is warming; returns the
        stats then. A rejected update is an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.stats()
            if s.get("listener_manager.lds.update_rejected", 0):
                raise RuntimeError("an LDS update was rejected:\n" + (self.dir / "envoy.log").read_text()[-3000:])
            # Accepted, warmed, and the replaced filter chains (or listener) draining:
            # the main thread starts the drain only once every worker runs the new
            # listener; `update_success` alone moves before the workers switch.
            draining = (s.get("listener_manager.total_filter_chains_draining", 0)
                        + s.get("listener_manager.total_listeners_draining", 0))
            if (s.get("listener_manager.lds.update_success", 0) > successes_before
                    and s.get("listener_manager.total_listeners_warming", 0) == 0
                    and (draining > 0 or signal == "lds")):
                return s
            time.sleep(0.005)
        raise RuntimeError("LDS update not acknowledged in time")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


class Load:
    """Worker threads, one request per connection, recording (start, end, path, status
    or error, redaction leak)."""

    def __init__(self, port, token, threads):
        self.port, self.token = port, token
        self.records = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def one(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"host": HOST, "authorization": f"Bearer {self.token}",
                                               "connection": "close"})
            r = conn.getresponse()
            body = r.read()
            leak = r.status == 200 and path == CONTRACT and (b"cpf" in body or b"mother" in body)
            return r.status, leak
        except (OSError, http.client.HTTPException) as e:
            return f"error: {type(e).__name__}", False
        finally:
            conn.close()

    def run(self, seed):
        rnd = random.Random(seed)
        local = []
        while not self.stop.is_set():
            path = CONTRACT if rnd.random() < 0.8 else "/whoami"
            start = time.monotonic()
            status, leak = self.one(path)
            local.append((start, time.monotonic(), path, status, leak))
        with self.lock:
            self.records.extend(local)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return sorted(self.records)


def classify(records, changes):
    """`changes`: [(written, acknowledged, version)] in order, the first (0, 0, "A").
    A request overlapping a change's window (from the rename to the acknowledgement) may
    get either answer; any other request must get the answer of the version
    acknowledged last before it was sent."""
    counts = {"requests": len(records), "failed": 0, "wrongly_authorised": 0, "wrongly_denied": 0,
              "leaked": 0, "in_transition": 0}
    examples = []
    for start, end, path, status, leak in records:
        if not isinstance(status, int) or status not in (200, 403):
            counts["failed"] += 1
            examples.append(("failed", round(start, 3), path, status))
            continue
        if leak:
            counts["leaked"] += 1
        if path != CONTRACT:
            if status != 200:
                counts["wrongly_denied"] += 1
                examples.append(("whoami denied", round(start, 3), path, status))
            continue
        if any(written <= end and start <= acked for written, acked, _ in changes[1:]):
            counts["in_transition"] += 1
            continue
        version = [v for _, acked, v in changes if acked <= start][-1]
        expected = 200 if version == "A" else 403
        if status != expected:
            key = "wrongly_authorised" if status == 200 else "wrongly_denied"
            counts[key] += 1
            examples.append((key, round(start, 3), version, status))
    return counts, examples[:10]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between swaps (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--concurrency", type=int, default=2, help="Envoy worker threads (default 2)")
    parser.add_argument("--ack", choices=["drain", "lds"], default="drain",
                        help="acknowledgement: lds.update_success and the old chains draining (default), "
                             "or lds.update_success alone (too early: shows the difference)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()

    backend = Backend(0).start()
    port = free_port()
    versions, clusters = listener_versions(backend.port, port)
    workdir = Path(tempfile.mkdtemp(prefix="portcullis-reload-"))
    gateway = Gateway(workdir, clusters, versions["A"], args.concurrency)
    token = tokens.demo_key().sign(tokens.claims())
    try:
        gateway.wait_ready(port)
        t0 = time.monotonic()
        changes = [(0.0, 0.0, "A")]
        load = Load(port, token, args.threads)
        load.start()
        current, n, swap_times = "A", 0, []
        deadline = time.monotonic() + args.duration
        while time.monotonic() + args.interval < deadline:
            time.sleep(args.interval)
            n += 1
            current = "B" if current == "A" else "A"
            before = gateway.stats().get("listener_manager.lds.update_success", 0)
            sent = time.monotonic()
            write_lds(gateway.lds, versions[current], f"{current}{n}")
            gateway.wait_ack(before, signal=args.ack)
            acked = time.monotonic()
            changes.append((sent - t0, acked - t0, current))
            swap_times.append(acked - sent)
        time.sleep(max(0.0, deadline - time.monotonic()))
        records = [(s - t0, e - t0, p, st, lk) for s, e, p, st, lk in load.finish()]
        stats = gateway.stats()
        counts, examples = classify(records, changes)
        summary = {
            "ack": args.ack, "duration_s": args.duration, "threads": args.threads, "envoy_concurrency": args.concurrency,
            "swaps": n, "swap_ack_ms_max": round(max(swap_times, default=0) * 1000, 1),
            "swap_ack_ms_median": round(sorted(swap_times)[len(swap_times) // 2] * 1000, 1) if swap_times else 0,
            "lds_update_success": stats.get("listener_manager.lds.update_success"),
            "lds_update_rejected": stats.get("listener_manager.lds.update_rejected", 0),
            "listener_in_place_updated": stats.get("listener_manager.listener_in_place_updated", 0),
            "listener_modified": stats.get("listener_manager.listener_modified", 0),
            "requests_per_s": round(len(records) / args.duration, 1),
            **counts, "examples": examples,
        }
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            for k, v in summary.items():
                print(f"{k:28} {v}")
        bad = summary["failed"] + summary["wrongly_authorised"] + summary["wrongly_denied"] + summary["leaked"]
        return 1 if bad or summary["lds_update_rejected"] else 0
    finally:
        gateway.stop()
        backend.shutdown()


if __name__ == "__main__":
    sys.exit(main())
