#!/usr/bin/env python3
"""Cold JWT verification inside Envoy (V8): what one signature check costs the gateway.

For each build of portcullis_jwt.wasm and each algorithm, starts one Envoy
(`--concurrency 1`, the integration-test harness in tests/harness) with the JWT filter
alone and two routes Envoy answers itself (no backend in the timing): /public (no token
read) and /required (authenticated). Then measures Envoy's own CPU time per request (all
its threads, from /proc/<pid>/task/*/schedstat, so other load on the machine does not
count, unlike wall-clock time) for:

* public: the route with no token;
* repeated: one token over and over (verified-token cache hits after the first);
* distinct: a new token on every request (a signature check each);
* with --cache-off, distinct again with `token_cache_entries: 0` (builds that know it).

cold verification = distinct − public; cache hit = repeated − public. Rounds are
interleaved (every build and algorithm once per round) and the median of the rounds is
reported. Method, results and their reading: docs/jwt-performance.md.

    .venv/bin/python bench/jwt_cold.py [--n 400] [--rounds 3] [--algs RS256,ES256,EdDSA]
        [--wasm LABEL=PATH ...] [--cache-off] [--json FILE]

Without --wasm, the build measured is build/wasm/portcullis_jwt.wasm (`make wasm`).
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import tokens  # noqa: E402
from harness.gateway import WASM_DIR, Envoy, bootstrap, free_port, wasm_filter  # noqa: E402

ISS = "https://idp.bench.test"
HOST = {"host": "acme.localhost"}
KEYS = {"RS256": tokens.new_rsa, "ES256": tokens.new_ec, "EdDSA": tokens.new_ed}
WARM_UP = 50


def cpu_ns(pid):
    """CPU time of every thread of process `pid`, in ns."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


def timed(gw, session, path, headers, n):
    """Envoy's CPU µs per request over `n` requests; `headers` is a dict or a function
    giving each request's headers."""
    url = gw.url(path)
    before = cpu_ns(gw.process.pid)
    for _ in range(n):
        r = session.get(url, headers=headers() if callable(headers) else headers, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text}")
    return (cpu_ns(gw.process.pid) - before) / n / 1000


def direct(name, path, requirement):
    """A route Envoy answers itself."""
    return {"name": name, "match": {"path": path},
            "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
            "metadata": {"filter_metadata": {"portcullis": {"requirement": requirement}}}}


def gateway(wasm, alg, key, cache_entries=None):
    config = {"providers": [{"name": "p", "issuer": ISS, "audiences": ["users"], "algorithms": [alg],
                             "jwks": {"keys": [key.jwk()]}}]}
    if cache_entries is not None:
        config["token_cache_entries"] = cache_entries
    jwt = wasm_filter("portcullis_jwt", config)
    jwt["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = str(wasm)
    routes = [direct("required", "/required", "authenticated"), direct("public", "/public", "public")]
    # The backend cluster is never used: both routes are answered by Envoy.
    return Envoy(bootstrap([jwt], routes, free_port()), name=f"bench-jwt-{alg}")


def bearer(token):
    return {**HOST, "authorization": f"Bearer {token}"}


def measure(wasm, alg, key, n, cache_off):
    """One round for one build and algorithm: a dict of CPU µs per request."""
    count = (WARM_UP + n) * (2 if cache_off else 1)
    fresh = iter([key.sign(tokens.claims(iss=ISS, sub=f"u{i}")) for i in range(count)])  # signed ahead
    same = key.sign(tokens.claims(iss=ISS))
    result = {}
    with gateway(wasm, alg, key) as gw, requests.Session() as s:
        timed(gw, s, "/public", HOST, WARM_UP)  # connection, V8 compilation
        timed(gw, s, "/required", lambda: bearer(next(fresh)), WARM_UP)
        result["public"] = timed(gw, s, "/public", HOST, n)
        result["repeated"] = timed(gw, s, "/required", bearer(same), n)
        result["distinct"] = timed(gw, s, "/required", lambda: bearer(next(fresh)), n)
    if cache_off:
        with gateway(wasm, alg, key, cache_entries=0) as gw, requests.Session() as s:
            timed(gw, s, "/required", lambda: bearer(next(fresh)), WARM_UP)
            result["distinct_cache_off"] = timed(gw, s, "/required", lambda: bearer(next(fresh)), n)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--algs", default="RS256,ES256,EdDSA")
    parser.add_argument("--wasm", action="append", default=[], metavar="LABEL=PATH",
                        help="a build to measure (repeatable); default: build/wasm/portcullis_jwt.wasm")
    parser.add_argument("--cache-off", action="store_true", help="also distinct tokens with the cache off")
    parser.add_argument("--json", type=Path, help="write the medians here")
    args = parser.parse_args()

    builds = [tuple(w.split("=", 1)) if "=" in w else (Path(w).name, w) for w in args.wasm]
    builds = builds or [("current", str(WASM_DIR / "portcullis_jwt.wasm"))]
    for label, path in builds:
        if not Path(path).is_file():
            parser.error(f"--wasm {label}: no file {path}")
    algs = args.algs.split(",")
    for alg in algs:
        if alg not in KEYS:
            parser.error(f"--algs: {alg} is not one of {', '.join(KEYS)}")
    keys = {alg: KEYS[alg]("bench") for alg in algs}

    runs = {}
    for round_no in range(args.rounds):
        for label, path in builds:
            for alg in algs:
                r = measure(path, alg, keys[alg], args.n, args.cache_off)
                runs.setdefault((label, alg), []).append(r)
                print(f"round {round_no + 1} {label} {alg}: " + ", ".join(f"{k} {v:.0f}" for k, v in r.items()),
                      file=sys.stderr, flush=True)

    print(f"\nEnvoy CPU µs per request, median of {args.rounds} rounds of {args.n} requests")
    cols = ["public", "repeated", "distinct"] + (["distinct_cache_off"] if args.cache_off else [])
    print("| build | alg | " + " | ".join(cols) + " | cold verification (distinct − public) | cache hit (repeated − public) |")
    print("| --- | --- |" + " --- |" * (len(cols) + 2))
    out = []
    for (label, alg), rs in runs.items():
        med = {c: statistics.median(r[c] for r in rs) for c in cols}
        med["cold"] = med["distinct"] - med["public"]
        med["hit"] = med["repeated"] - med["public"]
        out.append({"build": label, "alg": alg, **med})
        print(f"| {label} | {alg} | " + " | ".join(f"{med[c]:.0f}" for c in cols)
              + f" | {med['cold']:.0f} | {med['hit']:.0f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
