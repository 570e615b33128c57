#!/usr/bin/env python3
"""The criterion results of `make bench-native` as a Markdown table, with the SPEC's
native targets checked: a decision with 10,000 grants under 1 µs, redaction at 300 MB/s
or more.

Reads target/criterion/**/new/{benchmark,estimates}.json; with --since (seconds since the
epoch), only results written since then (the run just made), so benchmarks that were
renamed or removed do not linger in the table.

    python3 bench/criterion_table.py [--since EPOCH] [--json out.json]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRITERION = ROOT / "target" / "criterion"
DECISION_TARGET_NS = 1000.0
REDACTION_TARGET_MBS = 300.0


def load(since):
    results = []
    for bench in sorted(CRITERION.glob("**/new/benchmark.json")):
        estimates = bench.with_name("estimates.json")
        if not estimates.exists() or (since and estimates.stat().st_mtime < since):
            continue
        meta = json.loads(bench.read_text())
        est = json.loads(estimates.read_text())
        median = est["median"]["point_estimate"]
        lo = est["median"]["confidence_interval"]["lower_bound"]
        hi = est["median"]["confidence_interval"]["upper_bound"]
        nbytes = (meta.get("throughput") or {}).get("Bytes")
        results.append({
            "id": meta["full_id"],
            "median_ns": median, "ci_ns": [lo, hi],
            "bytes": nbytes,
            "mb_per_s": nbytes / median * 1e3 if nbytes else None,  # bytes/ns * 1e9 / 1e6
        })
    return results


def fmt_time(ns):
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def verdict(r):
    if r["id"].startswith("grants/decide/10000/"):
        return "✅ < 1 µs" if r["median_ns"] < DECISION_TARGET_NS else "❌ ≥ 1 µs (target < 1 µs)"
    if r["id"].startswith("redact/") and r["mb_per_s"]:
        ok = r["mb_per_s"] >= REDACTION_TARGET_MBS
        return f"{'✅' if ok else '❌'} target ≥ {REDACTION_TARGET_MBS:.0f} MB/s"
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", type=float, default=0.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = load(args.since)
    if not results:
        sys.exit(f"no criterion results in {CRITERION}" + (" since the start of this run" if args.since else ""))
    print("| benchmark | median | 95% CI of the median | throughput | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for r in results:
        thr = f"{r['mb_per_s']:,.0f} MB/s" if r["mb_per_s"] else ""
        print(f"| `{r['id']}` | {fmt_time(r['median_ns'])} | {fmt_time(r['ci_ns'][0])} – {fmt_time(r['ci_ns'][1])} "
              f"| {thr} | {verdict(r)} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
