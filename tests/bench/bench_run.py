#!/usr/bin/env python3
"""Benchmark: pipeline binaries built by `chime build`, run whole-process.

- a 10,000-task layered pipeline of noop tasks (each depending on 1-3 tasks
  of the layer before), and a 1,000-task chain, each run with a fresh
  SQLite state file (crash-safe: a task starts only after its upstreams'
  success is committed). Median wall time and peak memory over N runs.
- baseline, same run: the same binary's `graph` command (process start and
  loading the compiled pipeline, no execution and no state), so the ratio
  shows what executing and persisting cost on top of starting.
- `chime build` of the 10k pipeline when only the YAML changed (the shared
  target directory already holds the runtime), and the binary's size.

usage: python3 tests/bench/bench_run.py [--runs N]
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


def timed(cmd, cwd=None):
    """Wall seconds, peak RSS (MiB) and exit code, from a small helper
    process (measure.py: this script's own memory would otherwise count in
    the child's peak)."""
    return measure.run(cmd, cwd=cwd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    env = dict(os.environ, CHIME_TARGET_DIR=os.path.join(ROOT, "target", "bench"), XDG_CACHE_HOME=os.path.join(ROOT, "target", "bench-cache"))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        cases = [("layered 10,000 noop", ["10000", "--operator", "noop"]), ("chain 1,000 noop", ["1000", "--operator", "noop", "--chain"])]
        for label, gen_args in cases:
            yaml_path = os.path.join(d, gen_args[0] + ("c" if "--chain" in gen_args else "") + ".yaml")
            with open(yaml_path, "w") as f:
                subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), *gen_args], stdout=f, check=True)
            out = os.path.join(d, "bin")
            subprocess.run([chime, "build", yaml_path, "-o", out], env=env, check=True, stderr=subprocess.DEVNULL)
            name = open(yaml_path).readline().split(":")[1].strip()
            binary = os.path.join(out, name)
            results = []
            for i in range(args.runs):
                state = os.path.join(d, f"{name}-{i}.state.db")
                results.append(timed([binary, "run", "--quiet", "--date", "2026-11-24", "--state", state], cwd=d))
            if any(code != 0 for _, _, code in results):
                sys.exit(f"{label}: a run failed")
            base = statistics.median(timed([binary, "graph"], cwd=d)[0] for _ in range(args.runs))
            wall = statistics.median(r[0] for r in results)
            rss = max(r[1] for r in results)
            n = int(gen_args[0])
            rows.append((label, wall, wall / n * 1e6, rss, base))
        # Rebuild after an edit of the YAML: only the generated crate compiles.
        yaml_path = os.path.join(d, "10000.yaml")
        with open(yaml_path, "a") as f:
            f.write("# edited\n")
        text = open(yaml_path).read().replace("description: generated benchmark pipeline", "description: edited")
        open(yaml_path, "w").write(text)
        start = time.perf_counter()
        subprocess.run([chime, "build", yaml_path, "-o", os.path.join(d, "bin")], env=env, check=True, stderr=subprocess.DEVNULL)
        rebuild = time.perf_counter() - start
        size = os.path.getsize(os.path.join(d, "bin", "layered_10000"))
    print("| pipeline | run (median) | per task | peak memory | baseline: `graph` (median) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, wall, per_task, rss, base in rows:
        print(f"| {label} | {wall * 1000:.0f} ms | {per_task:.1f} us | {rss:.0f} MiB | {base * 1000:.1f} ms | {wall / base:.1f}x |")
    print()
    print(f"rebuild of the 10,000-task pipeline after editing its YAML: {rebuild:.1f} s")
    print(f"binary size (stripped, no predict): {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
