#!/usr/bin/env python3
"""What each filter's .wasm is made of: code bytes by crate.

Builds the five filters exactly as `make wasm` does but without stripping the name
section (CARGO_PROFILE_RELEASE_STRIP=false, in target/bench-sizes so the shipped build is
untouched), then reads each module's code section and name section and adds up function
body sizes by the crate the (mangled) function name belongs to. Also prints the shipped
sizes in build/wasm against the 400 KB target.

    python3 bench/wasm_sizes.py [--top 10] [--no-build]
"""

import argparse
import collections
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILTERS = ["jwt", "tenant", "authz", "accounts", "redact"]
TARGET = ROOT / "target" / "bench-sizes"
LIMIT = 400 * 1024


def leb(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def sections(data):
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, pos = leb(data, pos + 1)
        yield sid, data[pos:pos + size]
        pos += size


def analyse(path):
    data = path.read_bytes()
    imported_funcs = 0
    bodies = []
    names = {}
    by_section = collections.Counter()
    for sid, body in sections(data):
        if sid == 0:
            nlen, p = leb(body, 0)
            name = body[p:p + nlen].decode(errors="replace")
            by_section[f"custom:{name}"] += len(body)
            if name == "name":
                p += nlen
                while p < len(body):
                    sub = body[p]
                    size, p = leb(body, p + 1)
                    end = p + size
                    if sub == 1:
                        count, q = leb(body, p)
                        for _ in range(count):
                            idx, q = leb(body, q)
                            ln, q = leb(body, q)
                            names[idx] = body[q:q + ln].decode(errors="replace")
                            q += ln
                    p = end
            continue
        by_section[{1: "type", 2: "import", 3: "function", 5: "memory", 6: "global", 7: "export", 9: "element",
                    10: "code", 11: "data"}.get(sid, f"section {sid}")] += len(body)
        if sid == 2:
            count, p = leb(body, 0)
            for _ in range(count):
                for _ in range(2):
                    ln, p = leb(body, p)
                    p += ln
                kind = body[p]
                p += 1
                if kind == 0:
                    _, p = leb(body, p)
                    imported_funcs += 1
                elif kind == 1:
                    p += 1
                    flags, p = leb(body, p)
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 2:
                    flags, p = leb(body, p)
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 3:
                    p += 2
        elif sid == 10:
            count, p = leb(body, 0)
            for i in range(count):
                size, p = leb(body, p)
                bodies.append((imported_funcs + i, size))
                p += size
    crates = collections.Counter()
    for idx, size in bodies:
        crates[crate_of(names.get(idx, ""))] += size
    return len(data), by_section, crates


def crate_of(name):
    if name.startswith("_ZN"):
        m = re.match(r"_ZN(\d+)", name)
        n = int(m.group(1))
        crate = name[len(m.group(0)):len(m.group(0)) + n]
        if crate.startswith("_$LT$"):  # <T as Trait>::f: T's crate, or the trait's if T is generic
            inner = re.search(r"\$LT\$([A-Za-z_][A-Za-z0-9_]*)", crate)
            crate = inner.group(1) if inner else crate
            trait = re.search(r"\$u20\$as\$u20\$([A-Za-z_][A-Za-z0-9_]*)", name)
            if len(crate) == 1 and trait:
                crate = trait.group(1)
        return crate
    if name.startswith("_R"):
        m = re.search(r"C(?:s[0-9A-Za-z]*_)?\d+([A-Za-z_][A-Za-z0-9_]*)", name)
        return m.group(1) if m else "(rust)"
    if not name:
        return "(unnamed)"
    return "(C / runtime: " + ("malloc" if "malloc" in name or "free" in name else name.split("_")[0] or name) + ")"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    print("shipped (build/wasm):")
    for f in FILTERS:
        p = ROOT / "build" / "wasm" / f"portcullis_{f}.wasm"
        if p.exists():
            size = p.stat().st_size
            print(f"  portcullis_{f}.wasm {size:>9,} bytes  {'OK' if size <= LIMIT else 'OVER'} (target ≤ {LIMIT:,})")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--target", "wasm32-wasip1",
                        *[a for f in FILTERS for a in ("-p", f"portcullis-{f}")]], check=True, cwd=ROOT,
                       env={**os.environ, "CARGO_TARGET_DIR": str(TARGET), "CARGO_PROFILE_RELEASE_STRIP": "false"})
    for f in FILTERS:
        path = TARGET / "wasm32-wasip1" / "release" / f"portcullis_{f}.wasm"
        total, by_section, crates = analyse(path)
        code = sum(crates.values())
        print(f"\nportcullis_{f}.wasm (with names: {total:,} bytes; code {by_section['code']:,}, "
              f"data {by_section['data']:,}, names {by_section['custom:name']:,})")
        for crate, size in crates.most_common(args.top):
            print(f"  {size:>9,}  {100 * size / code:5.1f}%  {crate}")


if __name__ == "__main__":
    main()
