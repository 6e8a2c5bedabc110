#!/usr/bin/env python3
"""Benchmark: a dynamic for_each of 10,000 noop instances (issue 17).

- dynamic: `list` (a shell task printing 10,000 numbers as JSON) then
  `each`, `for_each: "{{ tasks.list.output.items }}"`, noop, made at run
  time; run whole-process (`run`), a fresh SQLite state file each time.
- baseline, same run: the same 10,000 items as a static `for_each` (a
  literal list in the YAML, expanded when the pipeline is compiled), after
  the same `list` task. Target: the dynamic run within 1.5x.

Median wall time and peak memory over --runs runs of each, alternated.

usage: python3 tests/bench/bench_fanout.py [--runs 11] [--items 10000]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import measure  # noqa: E402  (tests/bench/measure.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

LIST = """  list:
    operator: shell
    with:
      command: 'echo "{{\\"items\\": [$(seq -s, 0 {last})]}}"'
"""


def yaml(name, items, dynamic):
    head = f"pipeline: {name}\nmax_active_tasks: 2\ntasks:\n" + LIST.format(last=items - 1)
    if dynamic:
        each = '    for_each: "{{ tasks.list.output.items }}"\n' + f"    max_instances: {items}\n"
    else:
        each = "    for_each: [" + ", ".join(str(i) for i in range(items)) + "]\n"
    return head + "  each:\n    operator: noop\n    depends_on: [list]\n" + each


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--items", type=int, default=10000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    env = dict(os.environ, CHIME_TARGET_DIR=os.path.join(ROOT, "target", "bench"), XDG_CACHE_HOME=os.path.join(ROOT, "target", "bench-cache"))
    with tempfile.TemporaryDirectory() as d:
        binaries = {}
        for name, dynamic in [("fanout_static", False), ("fanout_dynamic", True)]:
            path = os.path.join(d, name + ".yaml")
            with open(path, "w") as f:
                f.write(yaml(name, args.items, dynamic))
            out = os.path.join(d, "bin")
            subprocess.run([chime, "build", path, "-o", out], env=env, check=True, stderr=subprocess.DEVNULL)
            binaries[name] = os.path.join(out, name)
        results = {name: [] for name in binaries}
        for i in range(args.runs):
            for name, binary in binaries.items():
                state = os.path.join(d, f"{name}-{i}.state.db")
                wall, rss, code = measure.run([binary, "run", "--quiet", "--date", "2026-11-24", "--state", state], cwd=d)
                if code != 0:
                    sys.exit(f"{name}: run {i} failed")
                results[name].append((wall, rss))
    static = statistics.median(w for w, _ in results["fanout_static"])
    dynamic = statistics.median(w for w, _ in results["fanout_dynamic"])
    print(f"| {args.items:,} noop instances, whole `run` | median | peak memory |")
    print("|---|---:|---:|")
    for label, name, wall in [("static `for_each` (baseline)", "fanout_static", static), ("dynamic `for_each`", "fanout_dynamic", dynamic)]:
        rss = max(r for _, r in results[name])
        print(f"| {label} | {wall * 1000:.0f} ms | {rss:.0f} MiB |")
    print(f"\ndynamic / static: {dynamic / static:.2f}x (target: within 1.5x); {args.runs} runs each")


if __name__ == "__main__":
    main()
