#!/usr/bin/env python3
"""Wall time and peak RSS of one command, measured from a small process.

Linux carries a process's peak RSS across fork (or vfork) and exec: a
command spawned by a big parent (numpy, generated data) reports at least
the parent's RSS. So `measure` runs this file as its own small Python
process (about 10 MiB), which spawns the command, waits for it and
prints the figures as JSON.

usage (by the benchmarks): measure.measure(cmd, env, cwd) -> (wall seconds, peak RSS MiB)
"""
import json
import os
import subprocess
import sys
import time


def measure(cmd, env, cwd):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *cmd], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["wall"], r["maxrss_mib"]


if __name__ == "__main__":
    start = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.stderr.write(proc.stderr.read().decode(errors="replace"))
        sys.exit(1)
    print(json.dumps({"wall": wall, "maxrss_mib": usage.ru_maxrss / 1024}))
