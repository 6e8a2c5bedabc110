#!/usr/bin/env python3
"""Benchmark: the scheduler's resources and fire-time computation.

- An idle scheduler (tests/e2e/idle.yaml: nothing due for years): peak RSS
  and CPU time over --idle seconds (default 60). Targets: under 15 MB and
  under 10 ms of CPU a minute.
- 100,000 fire times (a */5 schedule in Europe/Berlin): `next --count
  100000` whole-process, median of 5, minus `next --count 1` measured in the
  same run (the baseline: process start). Target: under 100 ms.

usage: python3 tests/bench/bench_scheduler.py [--idle SECONDS]
"""
import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build(chime, yaml, out, env):
    subprocess.run([chime, "build", yaml, "-o", out], env=env, check=True, stderr=subprocess.DEVNULL)


def timed(cmd, cwd):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=60)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "chime"], cwd=ROOT, check=True)
    chime = os.path.join(ROOT, "target", "release", "chime")
    env = dict(os.environ, CHIME_TARGET_DIR=os.path.join(ROOT, "target", "bench"), XDG_CACHE_HOME=os.path.join(ROOT, "target", "bench-cache"))
    with tempfile.TemporaryDirectory() as d:
        build(chime, os.path.join(ROOT, "tests", "e2e", "idle.yaml"), os.path.join(d, "bin"), env)
        proc = subprocess.Popen([os.path.join(d, "bin", "idle"), "scheduler"], cwd=d, stderr=subprocess.PIPE, text=True)
        # Wait until it sleeps (it logs the next fire time), then measure.
        for line in proc.stderr:
            if "next run at" in line:
                break
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu():
            fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        before = cpu()
        time.sleep(args.idle)
        used = cpu() - before
        hwm = next(l for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmHWM")).split()[1]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

        fives = os.path.join(d, "fives.yaml")
        with open(fives, "w") as f:
            f.write('pipeline: fives\nschedule: "*/5 * * * *"\ntimezone: Europe/Berlin\nstart_date: 2026-01-01\ntasks:\n  a: { operator: noop }\n')
        build(chime, fives, os.path.join(d, "bin"), env)
        binary = os.path.join(d, "bin", "fives")
        many = statistics.median(timed([binary, "next", "--count", "100000"], d) for _ in range(5))
        compute = statistics.median(timed([binary, "next", "--count", "100000", "--quiet"], d) for _ in range(5))
        one = statistics.median(timed([binary, "next", "--count", "1"], d) for _ in range(5))
    print(f"idle scheduler: peak RSS {int(hwm) / 1024:.1f} MiB; CPU {used * 1000:.0f} ms over {args.idle} s idle (clock ticks of 1/{ticks} s)")
    print(f"100,000 fire times computed (`next --count 100000 --quiet`): {compute * 1000:.0f} ms median whole process, {(compute - one) * 1000:.0f} ms beyond the baseline `next --count 1` ({one * 1000:.1f} ms)")
    print(f"100,000 fire times computed and printed (`next --count 100000`): {many * 1000:.0f} ms median")


if __name__ == "__main__":
    main()
