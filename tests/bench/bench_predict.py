#!/usr/bin/env python3
"""Benchmark of `predict` (issues 6 and 12): the models users export,
through chime and through the same job in Python, side by side in one run.

Models (tests/bench/make_bench_models.py, trained on seeded synthetic data,
exported with the standard converters, cached in target/bench-models/ and
made again when missing):
  lr   scikit-learn LogisticRegression, skl2onnx (LinearClassifier)
  rf   RandomForestClassifier, 100 trees of depth 10, skl2onnx (TreeEnsembleClassifier)
  xgb  XGBClassifier, 200 trees, onnxmltools (TreeEnsembleClassifier)

1. The pipeline, per model: --rows (default 1,000,000) rows of 16 float
   features f0..f15 and an id, as CSV, to a SQLite table (`id`, `label`,
   `probability_0`, `probability_1`), by
     chime   a pipeline binary built by `chime build`: a `predict` task
             (`keep: [id]`, `batch_size: 8192`, `mode: replace`);
     pandas  predict_python.py: pandas + onnxruntime + sqlite3, as a user
             writes it (the baseline of issue 12's targets);
     polars  predict_polars.py: polars + onnxruntime + sqlite3.
   Each is its own process, run --runs times, interleaved; figures are
   the medians of wall time (as rows/s) and of peak RSS, measured from a
   small helper process (measure.py). After the first run the three
   tables are compared: labels equal, probabilities within 1e-5.
2. Inference alone, per model: chime's evaluator
   (runtime/examples/infer_bench.rs) and onnxruntime (infer_ort.py) on the
   same in-memory random rows (--infer-rows, batches of 8192, the median
   of 3 passes; each side --runs times, the median of those), on 1 thread
   (both pinned to one core with `taskset -c 0`; onnxruntime with
   intra_op_num_threads=1) and on 2 (chime splits a batch over the cores
   it may use; onnxruntime with intra_op_num_threads=2, its default on
   this 2-core machine).

Targets (issue 12): chime at least 2x the pandas job's rows/s and at most
a third of its peak memory; tree inference alone at least as fast as
onnxruntime's. The script prints markdown tables ready to paste.

usage: python tests/bench/bench_predict.py [--rows N] [--runs K]
         [--models lr,rf,xgb] [--infer-rows N] [--no-pipeline] [--no-infer]
needs: a venv from tests/bench/requirements.txt (pinned: numpy, pandas,
  polars, onnxruntime, and to make the models scikit-learn, skl2onnx,
  xgboost, onnxmltools), run with that venv's python:
    python3 -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install -r tests/bench/requirements.txt
    /tmp/bench-venv/bin/python tests/bench/bench_predict.py
  cargo (it builds chime and infer_bench in release, and the pipeline
  binary through `chime build`; $CARGO, if set, is run in place of cargo),
  and taskset (util-linux).
"""
import argparse
import os
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
MODEL_DIR = os.path.join(TARGET, "bench-models")
MODELS = {
    "lr": "LogisticRegression (skl2onnx)",
    "rf": "RandomForest, 100 trees, depth 10 (skl2onnx)",
    "xgb": "XGBoost, 200 trees (onnxmltools)",
}
SIDES = ("chime", "pandas", "polars")
WIDTH = 16
BATCH = 8192
PASSES = 3

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
      batch_size: %d
      output: { connection: out, table: scores, mode: replace }
""" % BATCH


# Wall seconds and peak RSS (MiB) of one process, spawned from a small
# helper process: this script's own memory (numpy, the generated input)
# would otherwise count in the child's peak (see measure.py).
from measure import measure  # noqa: E402


class OtherLoad:
    """CPU seconds used by other processes (builds, tests) while a part of
    the benchmark ran: the machine's busy time (/proc/stat) less this
    script's and its children's. A figure taken beside others' builds is
    noisy (onnxruntime's spinning thread pool suffers most)."""

    def __init__(self):
        self.start = self.now()
        self.wall = time.perf_counter()

    @staticmethod
    def now():
        with open("/proc/stat") as f:
            cpu = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(cpu[:8]) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait
        t = os.times()
        return busy - (t.user + t.system + t.children_user + t.children_system)

    def __str__(self):
        other = self.now() - self.start
        wall = time.perf_counter() - self.wall
        return f"other processes used {max(other, 0):.1f} CPU-s in {wall:.0f} s ({max(other, 0) / wall / os.cpu_count():.0%} of the machine)"


def cargo():
    return shlex.split(os.environ.get("CARGO", "cargo"))


def build(args):
    subprocess.run([*cargo(), "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    if not args.no_infer:
        subprocess.run(
            [*cargo(), "build", "--release", "-q", "-p", "chime-runtime", "--features", "predict", "--example", "infer_bench"],
            cwd=ROOT,
            check=True,
        )


def ensure_models(names):
    missing = [n for n in names if not os.path.exists(os.path.join(MODEL_DIR, f"{n}.onnx"))]
    if missing:
        print(f"making models {','.join(missing)} in {MODEL_DIR}", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "make_bench_models.py"), MODEL_DIR, ",".join(missing)], check=True)
    return {n: os.path.join(MODEL_DIR, f"{n}.onnx") for n in names}


def write_csv(path, rows):
    rng = np.random.default_rng(1)
    with open(path, "w") as f:
        f.write("id," + ",".join(f"f{i}" for i in range(WIDTH)) + "\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            x = rng.normal(size=(n, WIDTH))
            ids = np.arange(start, start + n).reshape(-1, 1)
            np.savetxt(f, np.hstack([ids, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * WIDTH)


def remove_db(db):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def read_table(db):
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT CAST(id AS INTEGER), label, probability_0, probability_1 FROM scores ORDER BY CAST(id AS INTEGER)"
    ).fetchall()
    con.close()
    return np.array(rows, dtype=np.float64)


def compare(d, model, rows):
    """The three tables of the first run: same ids, labels, probabilities."""
    tables = {s: read_table(os.path.join(d, f"{s}.db")) for s in SIDES}
    notes = []
    for s in ("pandas", "polars"):
        a, b = tables["chime"], tables[s]
        if a.shape != b.shape or a.shape[0] != rows:
            raise SystemExit(f"{model}: chime wrote {a.shape[0]} rows, {s} {b.shape[0]} (of {rows})")
        if not np.array_equal(a[:, 0], b[:, 0]):
            raise SystemExit(f"{model}: chime's ids differ from {s}'s")
        labels = int(np.sum(a[:, 1] != b[:, 1]))
        diff = float(np.max(np.abs(a[:, 2:] - b[:, 2:])))
        notes.append(f"vs {s}: {labels} labels differ, max probability difference {diff:.1e}")
        if labels or diff > 1e-5:
            print(f"WARNING {model}: chime's predictions differ from {s}'s: {notes[-1]}", file=sys.stderr)
    return "; ".join(notes)


def run_pipeline(args, models, binary, d):
    csv_path = os.path.join(d, "input.csv")
    write_csv(csv_path, args.rows)
    size = os.path.getsize(csv_path) / 2**20
    py = {"pandas": "predict_python.py", "polars": "predict_polars.py"}
    results = {}
    for name, model in models.items():
        res = {s: [] for s in SIDES}
        load = OtherLoad()
        for i in range(args.runs):
            for side in SIDES:
                db = os.path.join(d, f"{side}.db")
                remove_db(db)
                if side == "chime":
                    cwd = os.path.join(d, "state")
                    shutil.rmtree(cwd, ignore_errors=True)
                    os.makedirs(cwd)
                    env = dict(os.environ, BENCH_DB=db, BENCH_MODEL=model, BENCH_INPUT=csv_path)
                    cmd = [binary, "run", "--quiet"]
                else:
                    cwd, env = d, dict(os.environ)
                    cmd = [sys.executable, os.path.join(HERE, py[side]), model, csv_path, db]
                res[side].append(measure(cmd, env, cwd))
                print(f"  {name} run {i + 1} {side}: {res[side][-1][0]:.2f} s, {res[side][-1][1]:.0f} MiB", file=sys.stderr)
            if i == 0:
                check = compare(d, name, args.rows)
                print(f"  {name}: {check}", file=sys.stderr)
        results[name] = {
            s: (args.rows / statistics.median(r[0] for r in res[s]), statistics.median(r[1] for r in res[s]), [r[0] for r in res[s]])
            for s in SIDES
        }
        results[name]["check"] = check
        results[name]["load"] = str(load)
        print(f"  {name}: {results[name]['load']}", file=sys.stderr)
    return results, size


def run_infer(args, models):
    bench = os.path.join(TARGET, "release", "examples", "infer_bench")
    ort = [sys.executable, os.path.join(HERE, "infer_ort.py")]
    results = {}
    load = OtherLoad()
    for name, model in models.items():
        common = [model, str(WIDTH), str(args.infer_rows), str(BATCH), str(PASSES)]
        for threads in (1, 2):
            pin = ["taskset", "-c", "0"] if threads == 1 else []
            rates = {"chime": [], "ort": []}
            for _ in range(args.runs):
                out = subprocess.run([*pin, bench, *common], capture_output=True, text=True, check=True)
                rates["chime"].append(float(out.stdout.strip()))
                out = subprocess.run([*pin, *ort, *common, str(threads)], capture_output=True, text=True, check=True)
                rates["ort"].append(float(out.stdout.strip()))
            results[name, threads] = {k: statistics.median(v) for k, v in rates.items()}
            print(
                f"  {name} {threads} thread(s): chime {results[name, threads]['chime']:,.0f} rows/s, onnxruntime {results[name, threads]['ort']:,.0f}",
                file=sys.stderr,
            )
    results["load"] = str(load)
    return results


def versions():
    import importlib.metadata as md

    names = ["pandas", "polars", "numpy", "onnxruntime", "scikit-learn", "skl2onnx", "xgboost", "onnxmltools"]
    out = []
    for n in names:
        try:
            out.append(f"{n} {md.version(n)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows through the pipeline (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    ap.add_argument("--models", default="lr,rf,xgb", help="which models: lr,rf,xgb")
    ap.add_argument("--infer-rows", type=int, default=200_000, help="rows of each inference-alone pass (default 200,000)")
    ap.add_argument("--no-pipeline", action="store_true", help="only inference alone")
    ap.add_argument("--no-infer", action="store_true", help="only the pipeline")
    args = ap.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for n in names:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}: one of {','.join(MODELS)}")
    models = ensure_models(names)
    build(args)

    pipeline, size = None, 0
    if not args.no_pipeline:
        chime = os.path.join(TARGET, "release", "chime")
        benv = dict(os.environ, CHIME_TARGET_DIR=os.path.join(TARGET, "bench"), XDG_CACHE_HOME=os.path.join(TARGET, "bench-cache"))
        with tempfile.TemporaryDirectory() as d:
            yaml = os.path.join(d, "pipeline.yaml")
            with open(yaml, "w") as f:
                f.write(PIPELINE)
            subprocess.run([chime, "build", yaml, "-o", os.path.join(d, "bin")], env=benv, check=True, stderr=subprocess.DEVNULL)
            binary = os.path.join(d, "bin", "bench_predict")
            pipeline, size = run_pipeline(args, models, binary, d)
    infer = None if args.no_infer else run_infer(args, models)

    print()
    print(f"{versions()}; medians of {args.runs} runs")
    if pipeline:
        print()
        print(f"Pipeline: {args.rows:,} rows x {WIDTH} features ({size:.0f} MiB of CSV) -> SQLite; rows/s and peak RSS")
        print()
        print("| model | chime | pandas + onnxruntime | polars + onnxruntime | chime / pandas rows/s | chime / pandas memory | chime / polars rows/s | chime / polars memory |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in names:
            r = pipeline[n]
            cell = {s: f"{r[s][0]:,.0f} rows/s, {r[s][1]:.0f} MiB" for s in SIDES}
            print(
                f"| {n}: {MODELS[n]} | {cell['chime']} | {cell['pandas']} | {cell['polars']} "
                f"| {r['chime'][0] / r['pandas'][0]:.2f}x | {r['chime'][1] / r['pandas'][1]:.2f}x "
                f"| {r['chime'][0] / r['polars'][0]:.2f}x | {r['chime'][1] / r['polars'][1]:.2f}x |"
            )
        print()
        for n in names:
            walls = "; ".join(f"{s} " + ", ".join(f"{w:.2f}" for w in pipeline[n][s][2]) for s in SIDES)
            print(f"- {n}: wall seconds of each run: {walls}; tables: {pipeline[n]['check']}; {pipeline[n]['load']}")
    if infer:
        print()
        print(f"Inference alone: {args.infer_rows:,} random rows in batches of {BATCH}, median of {PASSES} passes; rows/s")
        print()
        print("| model | chime, 1 thread | onnxruntime, 1 thread | ratio | chime, 2 threads | onnxruntime, 2 threads | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for n in names:
            a, b = infer[n, 1], infer[n, 2]
            print(
                f"| {n} | {a['chime']:,.0f} | {a['ort']:,.0f} | {a['chime'] / a['ort']:.2f}x "
                f"| {b['chime']:,.0f} | {b['ort']:,.0f} | {b['chime'] / b['ort']:.2f}x |"
            )
        print()
        print(f"- inference alone: {infer['load']}")


if __name__ == "__main__":
    main()
