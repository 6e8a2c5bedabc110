#!/usr/bin/env python3
"""Benchmark: `predict` over 1,000,000 rows of 16 float features with a
logistic-regression ONNX model (tests/data/logreg16.onnx), CSV in, SQLite
table out, against the same job in Python (predict_python.py: pandas +
onnxruntime + sqlite3), side by side in one run.

Each side runs --runs times (default 3) as its own process; the figures
are medians of wall time (rows/s) and of peak RSS (the process's maxrss,
measured from a small helper process, tests/bench/measure.py;
for chime, the pipeline binary running the task). Target: chime at least
2x the Python rows/s with at most a third of its peak memory.

usage: python3 tests/bench/bench_predict.py [--rows N] [--runs K]
needs: pip install pandas onnxruntime numpy
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "tests", "data", "logreg16.onnx")

PIPELINE = """pipeline: bench_predict
connections:
  out: "sqlite://{{ env.BENCH_DB }}"
tasks:
  score:
    operator: predict
    with:
      model: "{{ env.BENCH_MODEL }}"
      input: { csv: "{{ env.BENCH_INPUT }}" }
      features: [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15]
      keep: [id]
      batch_size: 8192
      output: { connection: out, table: scores, mode: replace }
"""


# Wall seconds and peak RSS (MiB) of one process, spawned from a small
# helper process: this script's own memory (numpy, the generated input)
# would otherwise count in the child's peak (see measure.py).
from measure import measure  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    benv = dict(os.environ, CHIME_TARGET_DIR=os.path.join(ROOT, "target", "bench"), XDG_CACHE_HOME=os.path.join(ROOT, "target", "bench-cache"))
    with tempfile.TemporaryDirectory() as d:
        yaml = os.path.join(d, "pipeline.yaml")
        with open(yaml, "w") as f:
            f.write(PIPELINE)
        subprocess.run([chime, "build", yaml, "-o", os.path.join(d, "bin")], env=benv, check=True, stderr=subprocess.DEVNULL)
        binary = os.path.join(d, "bin", "bench_predict")

        rng = np.random.default_rng(1)
        csv_path = os.path.join(d, "input.csv")
        with open(csv_path, "w") as f:
            f.write("id," + ",".join(f"f{i}" for i in range(16)) + "\n")
            for start in range(0, args.rows, 100_000):
                n = min(100_000, args.rows - start)
                x = rng.normal(size=(n, 16))
                ids = np.arange(start, start + n).reshape(-1, 1)
                np.savetxt(f, np.hstack([ids, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * 16)
        size = os.path.getsize(csv_path) / 2**20

        results = {"chime": [], "python": []}
        for i in range(args.runs):
            for side in ("chime", "python"):
                db = os.path.join(d, f"{side}.db")
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
                if side == "chime":
                    state = os.path.join(d, f"state{i}")
                    os.makedirs(state)
                    env = dict(os.environ, BENCH_DB=db, BENCH_MODEL=MODEL, BENCH_INPUT=csv_path)
                    cmd = [binary, "run", "--quiet"]
                    cwd = state
                else:
                    env = dict(os.environ)
                    cmd = [sys.executable, os.path.join(HERE, "predict_python.py"), MODEL, csv_path, db]
                    cwd = d
                results[side].append(measure(cmd, env, cwd))
                shutil.rmtree(os.path.join(d, f"state{i}"), ignore_errors=True) if side == "chime" else None

    def med(side, k):
        return statistics.median(r[k] for r in results[side])

    rate = {s: args.rows / med(s, 0) for s in results}
    rss = {s: med(s, 1) for s in results}
    print(f"input: {args.rows:,} rows x 16 features, {size:.0f} MiB of CSV; medians of {args.runs} runs")
    for s in ("chime", "python"):
        print(f"{s:>7}: {med(s, 0):6.2f} s  {rate[s]:>10,.0f} rows/s  peak RSS {rss[s]:7.1f} MiB")
    print(f"chime / python: {rate['chime'] / rate['python']:.2f}x the rows/s, {rss['chime'] / rss['python']:.2f}x the peak memory")


if __name__ == "__main__":
    main()
