#!/usr/bin/env python3
"""Benchmark: PostgreSQL state against SQLite state (issue 14).

- per-task overhead of `task` as an orchestrator calls it: one process per
  call (`task start --engine --attempt 1`, each call a new run: a date of
  its own), on PostgreSQL state over loopback and on a SQLite file. The
  task is a noop, so the figure is process start, connecting, claiming
  and the state's round trips. Baseline, same run: the binary's `graph`
  (process start alone).
- a whole run of 1,000 noop tasks (layered, as bench_run.py) on each.

It starts its own PostgreSQL (initdb + pg_ctl on a free loopback port,
fsync off as in the tests; as root, the server runs as `postgres`).

usage: python3 tests/bench/bench_state.py [--runs N]
"""
import argparse
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile

import measure  # noqa: E402  (tests/bench/measure.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def pg_bin():
    for d in [os.path.dirname(shutil.which("initdb") or "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if d and os.path.isfile(os.path.join(d, "pg_ctl")):
            return d
    sys.exit("PostgreSQL's server binaries are needed: apt-get install postgresql")


def as_pg(cmd):
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_postgres(d):
    b = pg_bin()
    data = os.path.join(d, "pg")
    os.makedirs(data)
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(as_pg([f"{b}/initdb", "-D", data, "-U", "chime", "--auth=trust", "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(as_pg([f"{b}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(d, "pg.log"), "-w", "start"]), check=True, stdout=subprocess.DEVNULL)
    return b, data, f"postgres://chime@127.0.0.1:{port}/postgres"


def build(chime, yaml_text, d, env):
    path = os.path.join(d, "p.yaml")
    open(path, "w").write(yaml_text)
    out = os.path.join(d, "bin")
    subprocess.run([chime, "build", path, "-o", out, "--postgres-state"], env=env, check=True, stderr=subprocess.DEVNULL)
    name = yaml_text.split("\n", 1)[0].split(":")[1].strip()
    return os.path.join(out, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    env = dict(os.environ, CHIME_TARGET_DIR=os.path.join(ROOT, "target", "bench"), XDG_CACHE_HOME=os.path.join(ROOT, "target", "bench-cache"))
    env.pop("CHIME_STATE", None)
    with tempfile.TemporaryDirectory() as d:
        b, data, url = start_postgres(d)
        try:
            one = build(chime, "pipeline: state_bench\ntasks:\n  start:\n    operator: noop\n", d, env)
            gen = subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), "1000", "--operator", "noop"], capture_output=True, text=True, check=True).stdout
            wide = build(chime, gen, d, env)
            base = statistics.median(measure.measure([one, "graph"], env, d)[0] for _ in range(args.runs))
            rows = []
            for label, state in [("PostgreSQL", url), ("SQLite", os.path.join(d, "state.db"))]:
                calls = []
                for i in range(args.runs):
                    day = f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}"
                    calls.append(measure.measure([one, "--state", state, "task", "start", "--date", day, "--engine", "--attempt", "1"], env, d)[0])
                runs = []
                for i in range(max(3, args.runs // 4)):
                    day = f"2027-01-{1 + i:02d}"
                    state_i = state if state == url else os.path.join(d, f"wide-{i}.db")
                    runs.append(measure.measure([wide, "--state", state_i, "run", "--quiet", "--date", day], env, d))
                rows.append((label, statistics.median(calls), statistics.median(r[0] for r in runs), max(r[1] for r in runs)))
        finally:
            subprocess.run(as_pg([f"{b}/pg_ctl", "-D", data, "-m", "fast", "stop"]), stdout=subprocess.DEVNULL)
    print(f"baseline: the binary's `graph` (process start): {base * 1000:.1f} ms (median of {args.runs})")
    print()
    print("| state | `task` call (median) | over `graph` | 1,000-task run (median) | peak memory |")
    print("|---|---:|---:|---:|---:|")
    for label, call, run, rss in rows:
        print(f"| {label} | {call * 1000:.1f} ms | {(call - base) * 1000:.1f} ms | {run * 1000:.0f} ms | {rss:.0f} MiB |")
    pg, lite = rows[0], rows[1]
    print()
    print(f"PostgreSQL / SQLite: `task` call {pg[1] / lite[1]:.2f}x, 1,000-task run {pg[2] / lite[2]:.2f}x")


if __name__ == "__main__":
    main()
