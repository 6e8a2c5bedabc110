#!/usr/bin/env python3
"""Wall time and peak RSS of one command, measured from a small process.

Linux carries a process's peak RSS across fork (or vfork) and exec: a
command spawned by a big parent (numpy, generated data) reports at least
the parent's RSS. So `measure` runs this file as its own small Python
process (about 10 MiB), which spawns the command, waits for it and
prints the figures as JSON.

usage (by the benchmarks):
  measure.run(cmd, env=None, cwd=None) -> (wall seconds, peak RSS MiB, exit code)
  measure.measure(cmd, env, cwd) -> (wall seconds, peak RSS MiB), exits if the command failed
"""
import json
import os
import subprocess
import sys
import time


def run(cmd, env=None, cwd=None):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *cmd], env=env, cwd=cwd, capture_output=True, text=True)
    try:
        r = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        sys.exit(f"measuring {cmd[0]} failed: {out.stderr}")
    if r["code"] != 0:
        sys.stderr.write(out.stderr)
    return r["wall"], r["maxrss_mib"], r["code"]


def measure(cmd, env, cwd):
    wall, rss, code = run(cmd, env, cwd)
    if code != 0:
        sys.exit(f"{cmd[0]} failed (exit {code})")
    return wall, rss


if __name__ == "__main__":
    start = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    # communicate() reaped the child; its peak is the largest child's.
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write(err.decode(errors="replace"))
    print(json.dumps({"wall": wall, "maxrss_mib": usage.ru_maxrss / 1024, "code": proc.returncode}))
