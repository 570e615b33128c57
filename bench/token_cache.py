#!/usr/bin/env python3
"""The verified-token cache per worker or in proxy-wasm shared data, inside Envoy (V8).

Builds bench/token_cache (a bench-only proxy-wasm filter; what each mode does is in its
src/lib.rs) and starts one Envoy per round (`--concurrency 2`, the integration-test harness
in tests/harness) with that filter alone, on a route Envoy answers itself (no backend in the
timing). No signature is checked in any mode: the modes (none, worker, worker_raw, shared,
shared_raw, picked per request by the `x-bench-cache` header) differ only in where the cache lives.
Measures Envoy's own CPU time per request (all its threads, /proc/<pid>/task/*/schedstat, as
bench/jwt_cold.py does), the modes interleaved in blocks of --block requests (the order
rotating every block) so that the machine's noise hits every mode alike, for:

* hit: a set of --tokens distinct tokens cycled over keep-alive connections, two on each of
  Envoy's two workers, after a warm-up that showed every token on every connection in every
  mode (so every worker has seen every token): all cache hits, checked with the filter's
  hit/miss counters;
* miss: a new token on every request (the cache write; with shared data, a compare-and-swap
  store of the serialised identity).

Tokens are demo-user tokens (tests/harness/tokens.py claims()) with the extra claims of a
typical identity provider, so the identity is ≈ 0.8 KB of JSON: the hit set RS256-signed,
the new ones with the same header and signature bytes (nothing checks them here). The median of
the rounds (one Envoy each) is reported. Results and their reading: docs/jwt-performance.md
("Verified-token cache: per worker, not shared data").

    .venv/bin/python bench/token_cache.py [--n 1500] [--rounds 5] [--tokens 50] [--block 50]
        [--json FILE]
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import tokens  # noqa: E402
from harness.gateway import Envoy, bootstrap, free_port  # noqa: E402
from jwt_cold import cpu_ns  # noqa: E402

MODES = ["none", "worker", "worker_raw", "shared", "shared_raw"]
TARGET = ROOT / "target" / "bench-token-cache"
WASM = TARGET / "wasm32-wasip1" / "release" / "portcullis_bench_token_cache.wasm"
HOST = "acme.localhost"
PER_WORKER = 2  # keep-alive connections on each of Envoy's 2 workers
WARM_MISSES = 50


def build():
    """Builds the bench filter in its own workspace and target directory."""
    subprocess.run(["cargo", "build", "--release", "--quiet", "--target", "wasm32-wasip1", "--manifest-path",
                    str(ROOT / "bench" / "token_cache" / "Cargo.toml")], check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})


def gateway():
    """Envoy with the bench filter on a route Envoy answers itself."""
    wasm = {
        "name": "token_cache",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "token_cache", "root_id": "token_cache",
                "vm_config": {"vm_id": "token_cache", "runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": str(WASM)}}},
            },
        },
    }
    routes = [{"name": "all", "match": {"prefix": "/"},
               "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]
    # The backend cluster is never used: the route is answered by Envoy.
    return Envoy(bootstrap([wasm], routes, free_port()), name="bench-token-cache", concurrency=2)


class Signer:
    """Demo-user tokens as a typical identity provider issues them."""

    def __init__(self):
        self.key = tokens.demo_key()
        self.count = 0

    def claims(self):
        self.count += 1
        sub = f"u{self.count}"
        return tokens.claims(
            sub=sub, name="Ana Atendimento", given_name="Ana", family_name="Atendimento",
            preferred_username=f"ana.atendimento.{sub}", email=f"ana.{sub}@demostore.example",
            email_verified=True, azp="cockpit-web", sid=str(uuid.uuid4()), jti=str(uuid.uuid4()),
            auth_time=tokens.claims()["iat"], acr="1", scope="openid profile email",
            realm_access={"roles": ["offline_access", "uma_authorization", "default-roles-demostore"]})

    def token(self):
        """A new RS256 token of the demo key."""
        return jwt.encode(self.claims(), self.key.private, algorithm="RS256", headers={"kid": self.key.kid})

    def unsigned(self, like):
        """A new token shaped like `like` (same header and signature, a new payload): the
        filter checks no signature, and RSA signing thousands of tokens would take longer
        than the benchmark."""
        header, _, signature = like.split(".")
        return f"{header}.{tokens.b64(json.dumps(self.claims(), separators=(',', ':')))}.{signature}"

    def identity_size(self):
        """Bytes of the serialised identity the filter hands on (as crates/core identity.rs)."""
        c = self.claims()
        identity = {"provider": "demo", "issuer": c["iss"], "subject": c["sub"], "claims": c}
        return len(json.dumps(identity, separators=(",", ":")))


def counters(gw):
    """The filter's hit and miss counters: {(mode, "hit"|"miss"): count}."""
    text = requests.get(f"http://127.0.0.1:{gw.admin_port}/stats", timeout=5).text
    found = {}
    for mode in MODES:
        for kind in ("hit", "miss"):
            m = re.search(rf"(?:^|\.)bench_tc_{mode}_{kind}: (\d+)$", text, re.M)
            found[(mode, kind)] = int(m.group(1)) if m else 0
    return found


def send(conn, mode, token):
    """One request on keep-alive connection `conn` (http.client: far less client CPU per
    request than requests, so the run stays short)."""
    conn.request("GET", "/", headers={"host": HOST, "authorization": f"Bearer {token}", "x-bench-cache": mode})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{mode}: {r.status} {body[:200]!r}")


def worker_connections(gw):
    """Connections each worker accepted so far: [worker_0, worker_1]."""
    text = requests.get(f"http://127.0.0.1:{gw.admin_port}/stats", timeout=5).text
    return [int(m) for m in re.findall(r"^listener\.127\.0\.0\.1_\d+\.worker_\d+\.downstream_cx_total: (\d+)$",
                                       text, re.M)]


def connect(gw, token):
    """PER_WORKER keep-alive connections on each worker: the kernel picks a connection's
    worker (SO_REUSEPORT), so connections are opened (one request each) until both have
    theirs; the rest are closed. Alternated, they send every worker the same requests."""
    by_worker = [[], []]
    for _ in range(100):
        if all(len(w) >= PER_WORKER for w in by_worker):
            return [c for pair in zip(*by_worker) for c in pair]
        before = worker_connections(gw)
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        send(conn, "none", token)
        moved = [a - b for a, b in zip(worker_connections(gw), before)]
        if len(moved) == 2 and sorted(moved) == [0, 1] and len(by_worker[moved.index(1)]) < PER_WORKER:
            by_worker[moved.index(1)].append(conn)
        else:
            conn.close()
    for conn in by_worker[0] + by_worker[1]:
        conn.close()
    raise RuntimeError("could not get connections on both workers")


def interleaved(gw, conns, token_at, n, block):
    """Envoy's CPU µs per request for every mode over `n` requests each, request i of a mode
    with token_at(mode, i) on connection i mod len(conns) (alternating workers); the modes
    take turns in blocks of `block` requests, their order rotating every block. Also the
    counters it moved."""
    before = counters(gw)
    ns = dict.fromkeys(MODES, 0)
    done = dict.fromkeys(MODES, 0)
    turn = 0
    while any(done[m] < n for m in MODES):
        order = MODES[turn % len(MODES):] + MODES[:turn % len(MODES)]
        turn += 1
        for mode in order:
            count = min(block, n - done[mode])
            start = cpu_ns(gw.process.pid)
            for i in range(done[mode], done[mode] + count):
                send(conns[i % len(conns)], mode, token_at(mode, i))
            ns[mode] += cpu_ns(gw.process.pid) - start
            done[mode] += count
    after = counters(gw)
    return {m: ns[m] / n / 1000 for m in MODES}, {k: after[k] - before[k] for k in after}


def measure(hot, fresh, n, block):
    """One round, one Envoy: CPU µs per request for hits and misses of every mode."""
    with gateway() as gw:
        conns = []
        try:
            conns = connect(gw, hot[0])
            # Some misses, then every hot token on every connection in every mode, twice:
            # every worker has seen every token, V8 has compiled every path.
            for mode in MODES:
                for i in range(WARM_MISSES):
                    send(conns[i % len(conns)], mode, next(fresh[mode]))
            for _ in range(2):
                for mode in MODES:
                    for conn in conns:
                        for token in hot:
                            send(conn, mode, token)
            hit, moved = interleaved(gw, conns, lambda mode, i: hot[i % len(hot)], n, block)
            for mode in MODES:
                if moved[(mode, "miss")]:
                    raise RuntimeError(f"{mode}: {moved[(mode, 'miss')]} misses among the repeated tokens")
            miss, moved = interleaved(gw, conns, lambda mode, i: next(fresh[mode]), n, block)
            for mode in MODES[1:]:  # `none` has no cache: it counts every request as a hit
                if moved[(mode, "hit")]:
                    raise RuntimeError(f"{mode}: {moved[(mode, 'hit')]} hits among the new tokens")
        finally:
            for conn in conns:
                conn.close()
    return {mode: {"hit": hit[mode], "miss": miss[mode]} for mode in MODES}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1500, help="requests per mode and measurement")
    parser.add_argument("--rounds", type=int, default=5, help="one Envoy each")
    parser.add_argument("--tokens", type=int, default=50, help="distinct tokens in the hit set")
    parser.add_argument("--block", type=int, default=50, help="requests per mode before the next mode's turn")
    parser.add_argument("--json", type=Path, help="write the rounds and medians here")
    args = parser.parse_args()

    build()
    signer = Signer()
    hot = [signer.token() for _ in range(args.tokens)]
    per_mode = args.rounds * (WARM_MISSES + args.n)
    fresh = {mode: iter([signer.unsigned(hot[0]) for _ in range(per_mode)]) for mode in MODES}
    print(f"identity ≈ {signer.identity_size()} B of JSON, token ≈ {len(hot[0])} B", file=sys.stderr)

    runs = []
    for round_no in range(args.rounds):
        r = measure(hot, fresh, args.n, args.block)
        runs.append(r)
        line = ", ".join(f"{m} hit {r[m]['hit']:.1f} miss {r[m]['miss']:.1f}" for m in MODES)
        print(f"round {round_no + 1}: {line}", file=sys.stderr, flush=True)

    med = {m: {k: statistics.median(r[m][k] for r in runs) for k in ("hit", "miss")} for m in MODES}
    pairs = [("shared", "worker"), ("shared_raw", "worker"), ("shared_raw", "worker_raw"), ("worker", "worker_raw")]
    diff = {f"{a} − {b}": {k: statistics.median(r[a][k] - r[b][k] for r in runs) for k in ("hit", "miss")}
            for a, b in pairs}
    print(f"\nEnvoy CPU µs per request (--concurrency 2), median of {args.rounds} rounds (one Envoy each) of "
          f"{args.n} requests per mode, modes interleaved in blocks of {args.block}; hits cycle {args.tokens} tokens")
    print("| mode | hit | hit − none | miss (new token) | miss − none |")
    print("| --- | --- | --- | --- | --- |")
    for m in MODES:
        print(f"| {m} | {med[m]['hit']:.1f} | {med[m]['hit'] - med['none']['hit']:+.1f} "
              f"| {med[m]['miss']:.1f} | {med[m]['miss'] - med['none']['miss']:+.1f} |")
    for pair, d in diff.items():
        print(f"{pair} (median of the rounds' differences): hit {d['hit']:+.1f} µs, miss {d['miss']:+.1f} µs")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rounds": runs, "median": med, "differences": diff}, indent=2) + "\n")


if __name__ == "__main__":
    main()
