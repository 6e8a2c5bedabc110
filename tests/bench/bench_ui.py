#!/usr/bin/env python3
"""Benchmark: the status page's costs (issue 16).

- The grid of 100 runs x 1,000 tasks: `GET /?runs=100` against `ui`, whole
  request over loopback (state reads, HTML, transfer), median of --runs.
  Target: under 100 ms. Baseline, same run: the same rows read straight
  from the state file by Python's sqlite3 (the runs, then each run's task
  instances): what any page of this grid must at least read.
- The idle scheduler with the page on (`scheduler --ui`), over that state,
  after it ran the latest interval: RSS when it sleeps, and its peak after
  serving that grid 10 times. Target: under 20 MB idle.
- The compile cost for a pipeline without `ui:`: nothing (its emitted
  Cargo.toml has no `ui` feature; compiler/tests/golden.rs checks it).

The pipeline is tests/bench/gen_pipeline.py's 1,000 noop tasks with
`ui: {}`, built as users build it; the 100 runs come from a backfill.

usage: python3 tests/bench/bench_ui.py [--runs 21]
"""
import argparse
import http.client
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        sys.exit(f"GET {path}: {resp.status}")
    return body


def start_page(cmd, cwd):
    """Starts a command that serves the page on port 0; its port."""
    proc = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    m = re.search(r"http://[^:]+:(\d+)/", line)
    if not m:
        sys.exit(f"the page did not say where it listens: {line}")
    return proc, int(m.group(1))


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def raw_reads(state):
    db = sqlite3.connect(state)
    runs = db.execute("SELECT id, run_id, state FROM runs ORDER BY logical_date DESC, run_id DESC LIMIT 100").fetchall()
    cells = 0
    for run in runs:
        cells += len(db.execute("SELECT task_id, state, try_number, output FROM task_instances WHERE run = ?", (run[0],)).fetchall())
    db.close()
    return cells


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    env = dict(os.environ, CHIME_TARGET_DIR=os.path.join(ROOT, "target", "bench"), XDG_CACHE_HOME=os.path.join(ROOT, "target", "bench-cache"))
    with tempfile.TemporaryDirectory() as d:
        yaml = subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), "1000", "--operator", "noop"], check=True, capture_output=True, text=True).stdout
        yaml = yaml.replace("description: generated benchmark pipeline\n", "description: generated benchmark pipeline\nui: {}\n", 1)
        path = os.path.join(d, "pipeline.yaml")
        with open(path, "w") as f:
            f.write(yaml)
        subprocess.run([chime, "build", path, "-o", os.path.join(d, "bin")], env=env, check=True, stderr=subprocess.DEVNULL)
        binary = os.path.join(d, "bin", "layered_1000")
        start = time.perf_counter()
        subprocess.run([binary, "backfill", "--from", "2026-01-01", "--to", "2026-04-10"], cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"setup: 100 runs x 1,000 noop tasks by backfill in {time.perf_counter() - start:.1f} s")
        state = os.path.join(d, "layered_1000.state.db")

        page, port = start_page([binary, "ui", "127.0.0.1:0"], d)
        body = get(port, "/?runs=100")
        cells = body.count(b"<td class=")
        runs_shown = body.count(b'<th class="run ')
        if cells != 100_000 or runs_shown != 100:
            sys.exit(f"the grid shows {runs_shown} runs and {cells} cells, not 100 and 100,000")
        get(port, "/?runs=100")
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            get(port, "/?runs=100")
            times.append(time.perf_counter() - t)
        page.send_signal(signal.SIGTERM)
        page.wait(timeout=30)
        base = []
        for _ in range(args.runs):
            t = time.perf_counter()
            n = raw_reads(state)
            base.append(time.perf_counter() - t)
        assert n == 100_000, n
        grid, reads = statistics.median(times), statistics.median(base)
        print(f"grid of 100 runs x 1,000 tasks (GET /?runs=100, {len(body) / 1e6:.1f} MB of HTML): {grid * 1000:.1f} ms median of {args.runs}; "
              f"the same rows read by Python's sqlite3: {reads * 1000:.1f} ms, so {grid / reads:.2f}x")

        sched, port = start_page([binary, "scheduler", "--ui", "127.0.0.1:0"], d)
        # Wait until it sleeps (it logs the next fire time), then measure.
        for line in sched.stderr:
            if "next run at" in line:
                break
        time.sleep(1)
        idle = status_kib(sched.pid, "VmRSS")
        for _ in range(10):
            get(port, "/?runs=100")
        peak = status_kib(sched.pid, "VmHWM")
        after = status_kib(sched.pid, "VmRSS")
        sched.send_signal(signal.SIGTERM)
        sched.wait(timeout=60)
        print(f"scheduler --ui, idle after its run: RSS {idle / 1024:.1f} MiB; after serving that grid 10 times: peak {peak / 1024:.1f} MiB, now {after / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
