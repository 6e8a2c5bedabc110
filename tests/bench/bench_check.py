#!/usr/bin/env python3
"""Benchmark: whole-process `chime check` on generated layered pipelines.

For 1,000 / 10,000 / 100,000 tasks it reports the median wall time and
peak memory of `chime check`, and, as a baseline measured in the same run,
the median time Python with libyaml (PyYAML's CSafeLoader) takes merely to
load the same file. Targets (issue 2): 10k under 0.3 s, 1k under 50 ms,
10k under 100 MB.

With `--against BIN` (a `chime` built from another revision, e.g. the
previous main) it also times `chime check` and `chime build
--emit-crate-only` (the compiler's whole front end and code generation,
without cargo) of both binaries on the same files, alternating runs, and
prints their medians side by side.

usage: python3 tests/bench/bench_check.py [--runs N] [--sizes 1000,10000]
                                          [--against OTHER_CHIME]
(builds chime in release mode first)
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import measure  # noqa: E402  (tests/bench/measure.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def timed(cmd):
    """Wall seconds, peak RSS (MiB) and exit code of one run of cmd, from a
    small helper process (measure.py: this script's own memory would
    otherwise count in the child's peak)."""
    return measure.run(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--against", help="another chime binary to time side by side")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    try:
        import yaml  # noqa: F401
        have_yaml = True
    except ImportError:
        have_yaml = False
    rows = []
    side = []
    with tempfile.TemporaryDirectory() as d:
        for n in [int(s) for s in args.sizes.split(",")]:
            path = os.path.join(d, f"layered_{n}.yaml")
            with open(path, "w") as f:
                subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), str(n)], stdout=f, check=True)
            runs = args.runs if n <= 10000 else max(3, args.runs // 3)
            results = [timed([chime, "check", path]) for _ in range(runs)]
            if any(code != 0 for _, _, code in results):
                sys.exit(f"chime check failed on the generated {n}-task pipeline")
            wall = statistics.median(r[0] for r in results)
            rss = max(r[1] for r in results)
            base = None
            if have_yaml:
                load = "import yaml,sys; yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)"
                base = statistics.median(timed([sys.executable, "-c", load, path])[0] for _ in range(max(3, runs // 2)))
            rows.append((n, os.path.getsize(path), wall, rss, base))
            if args.against:
                side.extend(side_by_side(chime, args.against, path, n, runs, d))
        # Custom operators: the same 10k layout with tasks of a custom
        # operator, whose crate is read from source (issue 4: within 2x).
        ops = os.path.join(ROOT, "examples", "sentiment", "ops")
        custom = os.path.join(d, "custom_10000.yaml")
        plain = os.path.join(d, "layered_10000.yaml")
        custom_row = None
        if os.path.exists(plain):
            with open(custom, "w") as f:
                subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), "10000", "--operator", "custom", "--ops", ops], stdout=f, check=True)
            c = [timed([chime, "check", custom]) for _ in range(args.runs)]
            p = [timed([chime, "check", plain]) for _ in range(args.runs)]
            custom_row = (statistics.median(r[0] for r in c), statistics.median(r[0] for r in p))
    print("| tasks | file | chime check (median) | peak memory | PyYAML+libyaml load (median) | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, size, wall, rss, base in rows:
        b = f"{base * 1000:.0f} ms" if base else "n/a"
        r = f"{base / wall:.1f}x faster" if base else "n/a"
        print(f"| {n:,} | {size / 1e6:.1f} MB | {wall * 1000:.0f} ms | {rss:.0f} MiB | {b} | {r} |")
    if custom_row:
        c, p = custom_row
        print()
        print(f"10,000 tasks of a custom operator (crate read from source): {c * 1000:.0f} ms median; the same pipeline with shell tasks, same run: {p * 1000:.0f} ms; ratio {c / p:.2f}x")
    if side:
        print()
        print(f"| tasks | command | this tree (median) | {args.against} (median) | ratio |")
        print("|---:|---|---:|---:|---:|")
        for n, what, new, old in side:
            print(f"| {n:,} | `{what}` | {new * 1000:.0f} ms | {old * 1000:.0f} ms | {new / old:.2f}x |")


def side_by_side(chime, other, path, n, runs, tmp):
    """Medians of `check` and `build --emit-crate-only` of both binaries on
    one file, their runs interleaved so drift of the machine hits both."""
    out = []
    for what, tail in (("check", []), ("build --emit-crate-only", None)):
        times = {chime: [], other: []}
        for i in range(runs):
            for exe in (chime, other):
                if tail is None:
                    cmd = [exe, "build", "--emit-crate-only", "-o", os.path.join(tmp, f"crate-{i}"), path]
                else:
                    cmd = [exe, "check", path]
                wall, _, code = timed(cmd)
                if code != 0:
                    sys.exit(f"{exe} {what} failed on the generated {n}-task pipeline")
                times[exe].append(wall)
        out.append((n, what, statistics.median(times[chime]), statistics.median(times[other])))
    return out


if __name__ == "__main__":
    main()
