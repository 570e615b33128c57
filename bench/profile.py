#!/usr/bin/env python3
"""Where the chain's time goes without Envoy: the flow probe (bench/flows) built natively
and as wasm32-wasip1, the latter run under Node's V8, the same JIT Envoy embeds.

Prints, per filter phase, microseconds per request natively and in wasm, and the
floors (a bare `jsonwebtoken::decode` of the RS256 token, a JSON parse + write of the demo
contract); with --cpu-prof, the hottest wasm functions (Node's CPU profiler reads the
probe's name section) for the cached chain and for the bare RS256 verification.

Comparing this with bench/e2e.py's build-up rows separates what a filter computes (here)
from what running it as an Envoy Wasm filter costs (host calls, context set-up).

    .venv/bin/python bench/profile.py [--iterations 400] [--cpu-prof]
"""

import argparse
import collections
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "bench" / "flows"
TARGET = ROOT / "target" / "bench-flows"
RUNNER = FLOWS / "run-wasm.mjs"


def build(target=None):
    cmd = ["cargo", "build", "--release", "--quiet", "--manifest-path", str(FLOWS / "Cargo.toml")]
    if target:
        cmd += ["--target", target]
    subprocess.run(cmd, check=True, env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})
    return TARGET / (target or "") / "release" / ("flows.wasm" if target else "flows")


def parse(stdout):
    line = next(l for l in stdout.splitlines() if l.startswith("FLOWS "))
    return json.loads(line[len("FLOWS "):])


def demangle(name):
    """Rust legacy mangling (`_ZN...17h<hash>E`) to a readable path."""
    if not name.startswith("_ZN"):
        return name
    parts, rest = [], name[3:]
    while rest and rest[0].isdigit():
        m = re.match(r"(\d+)", rest)
        n = int(m.group(1))
        rest = rest[len(m.group(1)):]
        parts.append(rest[:n])
        rest = rest[n:]
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    text = "::".join(parts)
    for a, b in [("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("$RF$", "&"), ("$C$", ","), ("$BP$", "*"),
                 ("$u7b$", "{"), ("$u7d$", "}"), ("$u27$", "'"), ("$u5b$", "["), ("$u5d$", "]"), ("..", "::")]:
        text = text.replace(a, b)
    return text


def cpu_profile(wasm, iterations, mode, top):
    directory = Path(tempfile.mkdtemp(prefix="portcullis-cpuprof-"))
    try:
        subprocess.run(["node", "--no-warnings", "--cpu-prof", f"--cpu-prof-dir={directory}", str(RUNNER),
                        str(wasm), str(iterations), mode], check=True, capture_output=True)
        profile = json.loads(Path(glob.glob(str(directory / "*.cpuprofile"))[0]).read_text())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    nodes = {n["id"]: n["callFrame"]["functionName"] or "(program)" for n in profile["nodes"]}
    counts = collections.Counter(nodes[s] for s in profile["samples"])
    total = sum(counts.values())
    return [(100 * c / total, demangle(f)) for f, c in counts.most_common(top)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=400, help="requests per batch (5 batches)")
    parser.add_argument("--cpu-prof", action="store_true", help="profile the wasm run under Node")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    if shutil.which("node") is None:
        sys.exit("node is needed to run the wasm probe (apt-get install nodejs)")

    native_bin = build()
    wasm = build("wasm32-wasip1")
    native = parse(subprocess.run([str(native_bin), str(args.iterations)], check=True, capture_output=True,
                                  text=True).stdout)
    in_v8 = parse(subprocess.run(["node", "--no-warnings", str(RUNNER), str(wasm), str(args.iterations)],
                                 check=True, capture_output=True, text=True).stdout)

    print("| phase | native µs | wasm (V8) µs | wasm / native | host calls (get_property) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in native["floors_us"]:
        a, b = native["floors_us"][name], in_v8["floors_us"][name]
        print(f"| floor: {name} | {a:.1f} | {b:.1f} | {b / a:.1f}× | |")
    for scenario in ("nothing_hidden", "redacting"):
        total_a = total_b = 0.0
        total_calls = total_props = 0
        for name, a in native[scenario]["phases_us"].items():
            b = in_v8[scenario]["phases_us"][name]
            calls = native[scenario]["host_calls"][name]
            n, props = sum(calls.values()), calls.get("get_property", 0)
            total_a, total_b, total_calls, total_props = total_a + a, total_b + b, total_calls + n, total_props + props
            print(f"| {scenario}: {name} | {a:.1f} | {b:.1f} | {b / a:.1f}× | {n} ({props}) |")
        print(f"| **{scenario}: whole chain** | **{total_a:.1f}** | **{total_b:.1f}** | {total_b / total_a:.1f}× "
              f"| **{total_calls} ({total_props})** |")
    if native["redacting"]["body"] != in_v8["redacting"]["body"]:
        print("WARNING: the native and wasm runs returned different bodies", file=sys.stderr)

    if args.cpu_prof:
        for mode, what in [("chain", "the chain, same token (cached), both scenarios"),
                           ("rs256", "bare jsonwebtoken::decode RS256")]:
            print(f"\nwasm under V8, {what}: self time by function")
            for share, name in cpu_profile(wasm, args.iterations, mode, args.top):
                print(f"  {share:5.1f}%  {name[:140]}")


if __name__ == "__main__":
    main()
