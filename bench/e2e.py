#!/usr/bin/env python3
"""End-to-end benchmark: the Portcullis chain against Envoy's native filters, in one run.

Starts everything itself on free loopback ports (with the integration-test harness in
tests/harness), measures with wrk, stops everything at the end (also on failure or
Ctrl-C; every Envoy also dies with this process):

* one backend: a separate Envoy (`--concurrency 1`) answering every request with
  `direct_response`: the demo contract as application/json, the exact bytes the sample
  backend serves for /accounts/demostore/contracts/123-456. It is far cheaper than the
  Python sample backend, so the gateway is what is measured;
* one gateway Envoy (`--concurrency 1`) per row, all running side by side, all in front
  of that backend, all sent the same request (GET /accounts/demostore/contracts/123-456,
  Host acme.localhost, Authorization: Bearer <token>) by the same wrk script.

Rows (see ROWS): passthrough (the ceiling); the native anchor (jwt_authn RS256 with its
token cache + rbac on the `scopes` claim through `payload_in_metadata`); the Portcullis
chain of the repository's own envoy.yaml, without the redaction filter, with it but
nothing to hide (role FINANCEIRO), and redacting the demo contract (demo user,
ATENDIMENTO); cold-token rows (a different token on every request); with --ablation, the
chain built up one filter at a time.

Rows are measured in interleaved rounds (the row order rotates every round) and the
median round is reported, so the machine's noise hits every row alike. Besides wrk's
requests/s and latency, the gateway's own CPU time per request (from /proc) is reported:
it is the per-request cost even when the gateway is not the only thing on the machine.

With --ablation, also empty Wasm filters (bench/noop) and the Lua hold alone; with
--hostcalls, one Wasm filter repeating each host call; with --perf, `perf record` of
chosen rows. Results and their reading: BENCHMARKS.md.

    .venv/bin/python bench/e2e.py [--duration 5] [--rounds 3] [--ablation] [--hostcalls]
        [--perf chain,anchor] [--pin] [--json target/bench/e2e.json] [--report FILE]
"""

import argparse
import collections
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt as pyjwt
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "examples" / "backend"))

from harness import tokens  # noqa: E402
from harness.gateway import (ENVOY, WASM_DIR, Envoy, bootstrap, load_repo_config, portcullis, route,  # noqa: E402
                             stage_config, wasm_filter)
from server import DEMO_CONTRACT, compact  # noqa: E402

WRK_SCRIPT = ROOT / "bench" / "wrk.lua"
CONTRACT_PATH = "/accounts/demostore/contracts/123-456"
HOST = "acme.localhost"
SCOPE = "br.com.chaordic.cockpit/sales/customerServices/*"
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
HOLD = "portcullis.hold_response"
# The one filter's stages, in the order it runs them; `HOLD` in a list keeps the Lua hold.
CHAIN = [HOLD, "jwt", "tenant", "authz", "redact", "accounts"]
CHAIN_NO_REDACT = [f for f in CHAIN if f != "redact"]

FULL = DEMO_CONTRACT
REDACTED = {k: v for k, v in DEMO_CONTRACT.items() if k != "mother"}
REDACTED["user"] = {k: v for k, v in DEMO_CONTRACT["user"].items() if k != "cpf"}


# --- configurations ------------------------------------------------------------------

def hcm(config):
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def keep_filters(config, names):
    """Keeps only the named HTTP filters (in their original order) and the router."""
    filters = hcm(config)["http_filters"]
    hcm(config)["http_filters"] = [f for f in filters if f["name"] in names] + [ROUTER]
    return config


def backend_config():
    """The benchmark backend: Envoy's own direct_response with the demo contract."""
    return {"static_resources": {"listeners": [{
        "name": "main",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": HCM_TYPE,
                "stat_prefix": "backend",
                "route_config": {"virtual_hosts": [{"name": "backend", "domains": ["*"], "routes": [{
                    "match": {"prefix": "/"},
                    "direct_response": {"status": 200, "body": {"inline_string": compact(DEMO_CONTRACT).decode()}},
                    "response_headers_to_add": [{
                        "header": {"key": "content-type", "value": "application/json"},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }],
                }]}]},
                "http_filters": [ROUTER],
            },
        }]}],
    }]}}


def passthrough(backend_port):
    """No filter but the router: the ceiling."""
    config = bootstrap([], [{"name": "contract", "match": {"prefix": "/"}, "route": {"cluster": "backend"}}],
                       backend_port)
    return keep_filters(config, [])


def native(backend_port, rbac=True):
    """The anchor: jwt_authn (RS256, local JWKS, token cache on, payload in dynamic
    metadata, `sub` and `tenant` forwarded as headers like the chain does) and rbac
    allowing GET on the contract route only to a token whose `scopes` claim holds the
    demo user's scope."""
    jwks = (ROOT / "examples" / "keys" / "demo-jwks.json").read_text()
    jwt_authn = {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"demo": {
                "issuer": tokens.DEMO_ISSUER,
                "audiences": ["users"],
                "local_jwks": {"inline_string": jwks},
                "payload_in_metadata": "jwt_payload",
                "jwt_cache_config": {"jwt_cache_size": 100},
                "claim_to_headers": [
                    {"header_name": "x-portcullis-subject", "claim_name": "sub"},
                    {"header_name": "x-portcullis-tenant", "claim_name": "tenant"},
                ],
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "demo"}}],
        },
    }
    rbac_filter = {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "ALLOW", "policies": {"contract-read": {
                "permissions": [{"and_rules": {"rules": [
                    {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                    {"url_path": {"path": {"safe_regex": {"regex": "^/accounts/[^/]+/contracts/[^/]+$"}}}},
                ]}}],
                "principals": [{"metadata": {
                    "filter": "envoy.filters.http.jwt_authn",
                    "path": [{"key": "jwt_payload"}, {"key": "scopes"}],
                    "value": {"list_match": {"one_of": {"string_match": {"exact": SCOPE}}}},
                }}],
            }}},
        },
    }
    routes = [{"name": "contract", "match": {"safe_regex": {"regex": "^/accounts/[^/]+/contracts/[^/]+$"}},
               "route": {"cluster": "backend"}}]
    config = bootstrap([jwt_authn] + ([rbac_filter] if rbac else []), routes, backend_port)
    return keep_filters(config, ["envoy.filters.http.jwt_authn", "envoy.filters.http.rbac"])


def chain(names, separate=False):
    """The repository's own envoy.yaml (the demo) with only the stages in `names` (and the
    Lua hold if `HOLD` is in it): in the one filter, or with `separate`, each stage in its
    own Wasm filter and VM (`portcullis_<stage>.wasm`, the design before the one filter),
    configured with the same sections."""
    def build(backend_port):
        config = load_repo_config(backend_port)
        filters = hcm(config)["http_filters"]
        one = next((f for f in filters if f["name"] == "portcullis"), None)
        if one is None:
            raise SystemExit("envoy.yaml has no `portcullis` filter; re-render it")
        sections = json.loads(one["typed_config"]["config"]["configuration"]["value"])
        stages = [n for n in CHAIN if n != HOLD and n in names]
        if separate:
            entries = [wasm_filter(f"portcullis_{n}", sections[n]) for n in stages]
        else:
            entries = [portcullis(**{n: sections[n] for n in stages})] if stages else []
        hold = [f for f in filters if f["name"] == HOLD and HOLD in names]
        hcm(config)["http_filters"] = hold + entries + [ROUTER]
        if HOLD not in names:
            for vh in hcm(config)["route_config"]["virtual_hosts"]:
                for r in vh["routes"]:
                    r.get("typed_per_filter_config", {}).pop(HOLD, None)
        return config
    return build


def jwt_only(requirement):
    """`portcullis_jwt` alone (the demo's configuration) on the contract path with the
    given requirement: `GET: public` runs the filter without reading the token."""
    def build(backend_port):
        demo = load_repo_config(backend_port)
        jwt_filter = wasm_filter("portcullis_jwt", stage_config(demo, "jwt"))
        config = bootstrap([jwt_filter], [route("contract", CONTRACT_PATH, requirement=requirement)], backend_port)
        return keep_filters(config, ["portcullis"])
    return build


NOOP_WASM = ROOT / "target" / "bench-flows" / "wasm32-wasip1" / "release" / "portcullis_bench_noop.wasm"


def build_noop():
    """Builds bench/noop (an empty proxy-wasm filter) for the ablation rows."""
    subprocess.run(["cargo", "build", "--release", "--quiet", "--target", "wasm32-wasip1", "--manifest-path",
                    str(ROOT / "bench" / "noop" / "Cargo.toml")], check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target" / "bench-flows")})


def noop_chain(count, configuration=""):
    """Passthrough plus `count` bench/noop Wasm filters, each in its own VM like the chain's,
    configured with `configuration` (empty: do nothing; `<call>:<n>`: repeat a host call),
    on a route carrying Portcullis metadata like the contract route's."""
    def build(backend_port):
        filters = [{
            "name": f"noop_{i}",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": f"noop_{i}", "root_id": f"noop_{i}",
                    "vm_config": {"vm_id": f"noop_{i}", "runtime": "envoy.wasm.runtime.v8",
                                  "code": {"local": {"filename": str(NOOP_WASM)}}},
                    "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                      "value": configuration},
                },
            },
        } for i in range(count)]
        config = passthrough(backend_port)
        hcm(config)["route_config"]["virtual_hosts"][0]["routes"] = [
            route("contract", "/", requirement="GET: contract:one:read", prefix=True)]
        hcm(config)["http_filters"] = filters + [ROUTER]
        return config
    return build


HOST_CALLS = ["route_name", "route_metadata", "get_headers", "get_header", "set_header", "set_property",
              "get_property", "metric"]
CALLS_PER_REQUEST = 10


# key, label, configuration, token file, expected body, group
ROWS = [
    ("passthrough", "passthrough (router only)", passthrough, "fin", FULL, "main"),
    ("anchor", "native jwt_authn (cached) + rbac", native, "fin", FULL, "main"),
    ("chain", "one filter: jwt+tenant+authz+accounts (+hold)", chain(CHAIN_NO_REDACT), "fin", FULL, "main"),
    ("chain_redact_noop", "one filter + redact stage, nothing hidden (FINANCEIRO)", chain(CHAIN), "fin", FULL,
     "main"),
    ("chain_redact", "one filter + redaction of the demo contract (ATENDIMENTO)", chain(CHAIN), "demo", REDACTED,
     "main"),
    ("five", "five filters (before): jwt+tenant+authz+accounts (+hold)", chain(CHAIN_NO_REDACT, separate=True),
     "fin", FULL, "main"),
    ("five_redact", "five filters (before) + redaction of the demo contract", chain(CHAIN, separate=True), "demo",
     REDACTED, "main"),
    ("anchor_cold", "native jwt_authn + rbac, new token every request", native, "cold", FULL, "cold"),
    ("chain_cold", "one filter (no redact), new token every request", chain(CHAIN_NO_REDACT), "cold", FULL,
     "cold"),
    ("native_jwt", "native jwt_authn alone (cached)", lambda p: native(p, rbac=False), "fin", FULL, "cold"),
    ("native_jwt_cold", "native jwt_authn alone, new token every request", lambda p: native(p, rbac=False),
     "cold", FULL, "cold"),
    ("pjwt_public", "portcullis_jwt alone, public route (token not read)", jwt_only("GET: public"), "fin",
     FULL, "cold"),
    ("pjwt", "portcullis_jwt alone, same token", jwt_only("GET: authenticated"), "fin", FULL, "cold"),
    ("pjwt_cold", "portcullis_jwt alone, new token every request", jwt_only("GET: authenticated"), "cold",
     FULL, "cold"),
    ("up_jwt", "build-up: jwt", chain(["jwt"]), "fin", FULL, "ablation"),
    ("up_tenant", "build-up: jwt+tenant", chain(["jwt", "tenant"]), "fin", FULL,
     "ablation"),
    ("up_authz", "build-up: jwt+tenant+authz", chain(["jwt", "tenant", "authz"]),
     "fin", FULL, "ablation"),
    ("up_accounts", "build-up: jwt+tenant+authz+accounts (no hold)",
     chain(["jwt", "tenant", "authz", "accounts"]), "fin", FULL,
     "ablation"),
    ("hold_only", "Lua response hold alone", chain([HOLD]), "fin", FULL, "ablation"),
    ("noop1", "one empty Wasm filter", noop_chain(1), "fin", FULL, "ablation"),
    ("noop4", "four empty Wasm filters (four VMs)", noop_chain(4), "fin", FULL, "ablation"),
] + [(f"hc_{call}", f"one Wasm filter making {CALLS_PER_REQUEST} `{call}` host calls", noop_chain(1, f"{call}:{CALLS_PER_REQUEST}"),
      "fin", FULL, "hostcalls") for call in HOST_CALLS]


# --- tokens ----------------------------------------------------------------------------

def write_tokens(directory, cold_count):
    """Token files: `demo` (the demo user, ATENDIMENTO), `fin` (the same user with role
    FINANCEIRO: sees the whole contract), `cold` (`cold_count` distinct FINANCEIRO tokens)."""
    key = tokens.demo_key()

    def sign(claims):
        return pyjwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})

    files = {}
    for name, claims in [("demo", tokens.claims()), ("fin", tokens.claims(roles=["FINANCEIRO"]))]:
        files[name] = directory / f"{name}.txt"
        files[name].write_text(sign(claims) + "\n")
    files["cold"] = directory / "cold.txt"
    with files["cold"].open("w") as out:
        for i in range(cold_count):
            out.write(sign(tokens.claims(roles=["FINANCEIRO"], jti=f"bench-{i}")) + "\n")
    return files


def first_token(path):
    return path.read_text().split("\n", 1)[0]


# --- measurement -----------------------------------------------------------------------

def process_cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid, cpus):
    """Pins every thread of a running process to `cpus`."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(gateway, backend, token_file, args, duration=None):
    duration = duration or args.duration
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{duration}s", "--latency", "-s", str(WRK_SCRIPT),
           gateway.url("/"), "--", CONTRACT_PATH, HOST, str(token_file)]
    if args.pin:
        cmd = ["taskset", "-c", args.client_cpus] + cmd
    gw0, be0, cl0, t0 = (process_cpu_seconds(gateway.process.pid), process_cpu_seconds(backend.process.pid),
                         children_cpu_seconds(), time.monotonic())
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    wall = time.monotonic() - t0
    gw = process_cpu_seconds(gateway.process.pid) - gw0
    be = process_cpu_seconds(backend.process.pid) - be0
    cl = children_cpu_seconds() - cl0
    line = next((l for l in done.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    r = json.loads(line[len("WRKJSON "):])
    n = max(r["requests"], 1)
    errors = sum(v for k, v in r.items() if k.startswith("errors_"))
    return {
        "requests": r["requests"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_us": r["p50_us"], "p90_us": r["p90_us"], "p99_us": r["p99_us"], "max_us": r["max_us"],
        "errors": errors, "non_2xx": r["errors_status"],
        "gw_cpu_us_per_req": gw / n * 1e6,
        "gw_cpu_util": gw / wall, "backend_cpu_util": be / wall, "client_cpu_util": cl / wall,
        "wrk_text": done.stdout,
    }


def check(gateway, key, token, expected):
    """The row does what it claims before it is measured: the right body for the token,
    and (except passthrough and the public route) 401 without a token."""
    r = gateway.get(CONTRACT_PATH, host=HOST, token=token)
    if r.status_code != 200 or r.json() != expected:
        raise RuntimeError(f"{key}: expected 200 with {expected}, got {r.status_code} {r.text[:300]}")
    if key not in ("passthrough", "pjwt_public", "hold_only") and not key.startswith(("noop", "hc_")):
        r = gateway.get(CONTRACT_PATH, host=HOST)
        if r.status_code != 401:
            raise RuntimeError(f"{key}: a request without a token got {r.status_code}, not 401")


def rows_by_key(rows):
    return {r[0]: r for r in rows}


def perf_profile(gateway, backend, token_file, args, workdir):
    """`perf record` on the gateway during one wrk run; CPU share by code object: [JIT]
    (the Wasm filters' compiled code and V8's generated stubs), envoy (Envoy itself, with
    V8's runtime and the proxy-wasm host linked in; the binary has no symbols), kernel."""
    if shutil.which("perf") is None:
        raise SystemExit("--perf needs perf (apt-get install linux-perf)")
    data = workdir / f"perf-{gateway.process.pid}.data"
    recorder = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-p", str(gateway.process.pid), "-o",
                                 str(data), "--", "sleep", str(max(args.duration - 1, 1))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_wrk(gateway, backend, token_file, args)
    recorder.wait(60)
    report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "--stdio"],
                            capture_output=True, text=True).stdout
    shares = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.+?)\s*$", line)
        if m:
            name = m.group(2)
            name = "[JIT] wasm + V8 stubs" if name.startswith("[JIT]") else name
            shares[name] += float(m.group(1))
    return shares.most_common(6)


# --- reporting ---------------------------------------------------------------------------

def machine():
    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""
    model = next((l.split(":", 1)[1].strip() for l in cmd("lscpu").splitlines() if l.startswith("Model name")), "?")
    mem = next((l.split(":", 1)[1].strip() for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), "?")
    return {
        "nproc": cmd("nproc"), "cpu": model, "memory": mem, "kernel": platform.release(),
        "envoy": cmd(str(ENVOY), "--version").split("version:")[-1].strip(),
        "wrk": cmd("wrk", "--version").splitlines()[0] if cmd("wrk", "--version") else "?",
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "wasm_bytes": {p.name: p.stat().st_size for p in sorted(WASM_DIR.glob("*.wasm"))},
    }


def summarise(samples):
    med = {}
    for field in ("rps", "p50_us", "p99_us", "gw_cpu_us_per_req", "gw_cpu_util", "backend_cpu_util",
                  "client_cpu_util"):
        med[field] = statistics.median(s[field] for s in samples)
    med["rps_min"] = min(s["rps"] for s in samples)
    med["rps_max"] = max(s["rps"] for s in samples)
    med["errors"] = sum(s["errors"] for s in samples)
    med["requests"] = sum(s["requests"] for s in samples)
    return med


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "-"


def table(rows, results):
    """Throughput ratios (req/s over passthrough's and the anchor's: higher is better) and
    cost ratios (the anchor's gateway CPU per request over the row's: higher is better,
    1.00× = costs the same as the anchor)."""
    base, anchor = results.get("passthrough"), results.get("anchor")
    out = ["| row | req/s (median) | min–max req/s | p50 ms | p99 ms | × passthrough | × anchor "
           "| gateway CPU µs/req | anchor CPU ÷ row CPU | gateway busy | errors |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, label, *_ in rows:
        m = results[key]
        out.append(
            f"| {label} | {m['rps']:,.0f} | {m['rps_min']:,.0f}–{m['rps_max']:,.0f} | {m['p50_us'] / 1000:.2f} "
            f"| {m['p99_us'] / 1000:.2f} | {ratio(m['rps'], base['rps']) if base else '-'} "
            f"| {ratio(m['rps'], anchor['rps']) if anchor else '-'} | {m['gw_cpu_us_per_req']:.0f} "
            f"| {ratio(anchor['gw_cpu_us_per_req'], m['gw_cpu_us_per_req']) if anchor else '-'} "
            f"| {m['gw_cpu_util'] * 100:.0f}% | {m['errors']} |")
    return "\n".join(out)


def derived(results):
    """Per-request costs from differences of gateway CPU per request (µs)."""
    c = {k: v["gw_cpu_us_per_req"] for k, v in results.items()}
    d = {}

    def diff(name, a, b, what):
        if a in c and b in c:
            d[name] = {"us": c[a] - c[b], "what": what}

    diff("portcullis_cold_rs256", "pjwt_cold", "pjwt_public",
         "portcullis_jwt: new token every request minus the filter on a public route (token not read)")
    diff("portcullis_same_token", "pjwt", "pjwt_public",
         "portcullis_jwt: same token every request minus the filter on a public route")
    diff("native_cold_rs256", "native_jwt_cold", "native_jwt", "native jwt_authn: new token minus cached token")
    diff("native_jwt_cached", "native_jwt", "passthrough", "native jwt_authn, cached token, minus passthrough")
    diff("chain_cold_extra", "chain_cold", "chain", "chain: new token every request minus same token")
    diff("anchor_cold_extra", "anchor_cold", "anchor", "anchor: new token every request minus same token")
    diff("chain_overhead", "chain", "passthrough", "chain (no redact) minus passthrough")
    diff("anchor_overhead", "anchor", "passthrough", "anchor minus passthrough")
    diff("one_filter_saves", "five", "chain", "five filters minus the one filter (same stages, same token)")
    diff("one_filter_saves_redacting", "five_redact", "chain_redact",
         "five filters minus the one filter, redacting the demo contract")
    steps = [("passthrough", "up_jwt", "+ jwt stage"), ("up_jwt", "up_tenant", "+ tenant stage"),
             ("up_tenant", "up_authz", "+ authz stage"), ("up_authz", "up_accounts", "+ accounts stage"),
             ("up_accounts", "chain", "+ Lua response hold"), ("chain", "chain_redact_noop",
                                                               "+ redact stage (nothing hidden)"),
             ("chain_redact_noop", "chain_redact", "redacting the demo contract instead"),
             ("passthrough", "hold_only", "Lua response hold alone"),
             ("passthrough", "noop1", "one empty Wasm filter"), ("passthrough", "noop4", "four empty Wasm filters")]
    for a, b, what in steps:
        diff(f"step:{b}", b, a, what)
    for call in HOST_CALLS:
        if f"hc_{call}" in c and "noop1" in c:
            d[f"hostcall:{call}"] = {"us": (c[f"hc_{call}"] - c["noop1"]) / CALLS_PER_REQUEST,
                                     "what": f"one `{call}` host call (difference over {CALLS_PER_REQUEST} calls)"}
    return d


def report(path):
    data = json.loads(path.read_text())
    rows = [(r["key"], r["label"]) for r in data["rows"]]
    results = {r["key"]: r for r in data["rows"]}
    print(f"{data['command']}\nmachine: {data['machine']}\n")
    print(table(rows, results))
    for key, shares in data.get("perf_dso_percent", {}).items():
        print(f"perf {key}: " + ", ".join(f"{d} {p:.1f}%" for d, p in shares.items()))
    for name, v in data["derived_us"].items():
        print(f"  {name:28} {v['us']:7.1f} µs   {v['what']}")
    return 0


# --- main ----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per row before round 1")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (one wrk thread)")
    parser.add_argument("--cold-tokens", type=int, default=4096,
                        help="distinct tokens cycled through by the cold rows (more than any token cache)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-token and single-filter rows")
    parser.add_argument("--ablation", action="store_true", help="add the chain built up one filter at a time")
    parser.add_argument("--hostcalls", action="store_true",
                        help=f"add one empty Wasm filter and one making {CALLS_PER_REQUEST} calls of each host call")
    parser.add_argument("--only", help="comma-separated row keys to run (passthrough and anchor always run)")
    parser.add_argument("--pin", action="store_true",
                        help="pin the gateways to --gateway-cpus and wrk + backend to --client-cpus")
    parser.add_argument("--gateway-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    parser.add_argument("--json", default=str(ROOT / "target" / "bench" / "e2e.json"), help="results file")
    parser.add_argument("--perf", help="comma-separated row keys to profile with `perf record` (one extra run "
                        "each, after the rounds): the share of the gateway's CPU in JIT-compiled Wasm, the "
                        "Envoy binary (including V8's runtime) and the kernel")
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier results file; run nothing")
    parser.add_argument("--keep-logs", action="store_true", help="keep the Envoy logs and configurations")
    args = parser.parse_args()
    if args.report:
        return report(Path(args.report))

    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make bench installs it: apt-get install wrk)")
    missing = [f"{f}.wasm" for f in ("portcullis", "portcullis_jwt", "portcullis_tenant", "portcullis_authz",
                                      "portcullis_redact", "portcullis_accounts")
               if not (WASM_DIR / f"{f}.wasm").exists()]
    if missing or not ENVOY.exists():
        sys.exit(f"missing {missing or ENVOY}: run `make setup build` first")

    groups = {"main"} | (set() if args.no_cold else {"cold"}) | ({"ablation"} if args.ablation else set()) \
        | ({"hostcalls"} if args.hostcalls else set())
    rows = [r for r in ROWS if r[5] in groups]
    if args.only:
        wanted = set(args.only.split(",")) | {"passthrough", "anchor"}
        rows = [r for r in ROWS if r[0] in wanted or (r[5] == "hostcalls" and args.hostcalls)]
    if args.hostcalls and not any(r[0] == "noop1" for r in rows):
        rows.append(next(r for r in ROWS if r[0] == "noop1"))
    info = machine()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['memory']}; load {info['loadavg_at_start']}; "
          f"envoy {info['envoy']}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="portcullis-bench-"))
    started = []
    try:
        needs_cold = any(r[3] == "cold" for r in rows)
        t0 = time.monotonic()
        token_files = write_tokens(workdir, args.cold_tokens if needs_cold else 1)
        print(f"tokens signed in {time.monotonic() - t0:.1f}s ({args.cold_tokens if needs_cold else 1} cold)",
              flush=True)

        if any(r[0].startswith(("noop", "hc_")) for r in rows):
            build_noop()
        backend = Envoy(backend_config(), name="bench-backend").start()
        started.append(backend)
        gateways = {}
        for key, label, build, token, expected, _ in rows:
            gw = Envoy(build(backend.port), name=f"bench-{key}").start()
            started.append(gw)
            check(gw, key, first_token(token_files[token]), expected)
            gateways[key] = gw
        if args.pin:
            gw_cpus = {int(c) for c in args.gateway_cpus.split(",")}
            cl_cpus = {int(c) for c in args.client_cpus.split(",")}
            pin(backend.process.pid, cl_cpus)
            for gw in gateways.values():
                pin(gw.process.pid, gw_cpus)
        print(f"{len(gateways)} gateways and the backend ready; checked; warming up", flush=True)
        for key, _, _, token, _, _ in rows:
            run_wrk(gateways[key], backend, token_files[token], args, duration=args.warmup)

        samples = {r[0]: [] for r in rows}
        for rnd in range(args.rounds):
            order = rows[rnd % len(rows):] + rows[:rnd % len(rows)]
            for key, label, _, token, _, _ in order:
                s = run_wrk(gateways[key], backend, token_files[token], args)
                samples[key].append(s)
                print(f"round {rnd + 1}/{args.rounds} {key:18} {s['rps']:9,.0f} req/s  p50 {s['p50_us'] / 1000:6.2f} ms"
                      f"  p99 {s['p99_us'] / 1000:6.2f} ms  gw {s['gw_cpu_us_per_req']:5.0f} µs/req "
                      f"({s['gw_cpu_util'] * 100:3.0f}%)  backend {s['backend_cpu_util'] * 100:3.0f}%"
                      f"  wrk {s['client_cpu_util'] * 100:3.0f}%  errors {s['errors']}", flush=True)
        profiles = {}
        for key in (args.perf.split(",") if args.perf else []):
            if key not in gateways:
                raise SystemExit(f"--perf {key}: no such row in this run")
            profiles[key] = perf_profile(gateways[key], backend, token_files[rows_by_key(rows)[key][3]], args,
                                         workdir)
        for key, gw in gateways.items():
            if gw.process.poll() is not None:
                raise RuntimeError(f"{key}: envoy exited during the run:\n{gw.logs()[-2000:]}")
    finally:
        for e in reversed(started):
            e.stop()
            if not args.keep_logs:
                shutil.rmtree(e.dir, ignore_errors=True)
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)

    results = {key: summarise(s) for key, s in samples.items()}
    for key, shares in profiles.items():
        print(f"perf {key}: gateway CPU by code: " + ", ".join(f"{d} {p:.1f}%" for d, p in shares))
    costs = derived(results)
    print("\n" + table(rows, results))
    if costs:
        print("\nPer-request costs from differences of gateway CPU µs/request (medians; noisy, ± ~10%):")
        for name, v in costs.items():
            print(f"  {name:28} {v['us']:7.1f} µs   {v['what']}")
    if any(m["errors"] for m in results.values()):
        print("\nWARNING: some rows had errors or non-2xx responses; see the errors column", file=sys.stderr)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": info,
        "settings": {k: v for k, v in vars(args).items()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rows": [{"key": r[0], "label": r[1], **results[r[0]]} for r in rows],
        "samples": {k: [{f: v for f, v in s.items() if f != "wrk_text"} for s in ss] for k, ss in samples.items()},
        "last_wrk_output": {k: ss[-1]["wrk_text"] for k, ss in samples.items()},
        "derived_us": costs,
        "perf_dso_percent": {k: dict(v) for k, v in profiles.items()},
    }, indent=2))
    print(f"\nresults: {out}")
    return 1 if any(m["errors"] for m in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
