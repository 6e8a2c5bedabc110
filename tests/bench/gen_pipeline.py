#!/usr/bin/env python3
"""Writes a layered pipeline of N tasks for the benchmarks.

Layers of 100 tasks (10 for N <= 1000); each task depends on 1 to 3 random
tasks of the layer before, runs a shell command whose template reads the
logical date, a run parameter and the output of one of its upstreams.
Deterministic for a given N and --seed.

usage: gen_pipeline.py N [--seed S] [--operator noop|shell] [--chain] > pipeline.yaml
"""
import argparse
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--operator", choices=["shell", "noop", "custom"], default="shell")
    ap.add_argument("--ops", help="with --operator custom: the operators crate (examples/sentiment/ops)")
    ap.add_argument("--chain", action="store_true", help="a single chain instead of layers")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    width = 1 if args.chain else (10 if args.n <= 1000 else 100)
    out = [
        f"pipeline: layered_{args.n}",
        "description: generated benchmark pipeline",
        'schedule: "0 2 * * *"',
        "timezone: Asia/Seoul",
        "start_date: 2026-01-01",
        "params:",
        "  region: kr",
        "  limit: 100",
        "defaults:",
        "  retries: 1",
        "  retry_delay: 1s",
    ]
    if args.operator == "custom":
        out += ["operators:", f"  - path: {args.ops}"]
    out += [
        "tasks:",
    ]
    if args.chain:
        out[0] = f"pipeline: chain_{args.n}"
    prev = []
    layer = []
    for i in range(args.n):
        if len(layer) == width:
            prev, layer = layer, []
        tid = f"t{i}"
        out.append(f"  {tid}:")
        if args.operator != "custom":
            out.append(f"    operator: {args.operator}")
        deps = []
        if prev:
            # The first upstream cycles through the previous layer, so every
            # task has a dependent and the graph is one component.
            first = prev[len(layer) % len(prev)]
            others = [t for t in rng.sample(prev, min(len(prev), rng.randint(1, 3))) if t != first]
            deps = [first] + others[:2]
        if deps:
            out.append(f"    depends_on: [{', '.join(deps)}]")
        if args.operator == "custom":
            count = f"{{{{ tasks.{deps[0]}.output.ok }}}}" if deps else "1"
            out.append("    operator: check_quality")
            out.append("    with:")
            out.append("      min_count: 1")
            out.append(f'      count: "{count}"')
        if args.operator == "shell":
            # Values from params and outputs are quoted, as chime check
            # asks (W002), so the benchmark pipelines check clean.
            up = f" {{{{ tasks.{deps[0]}.output | sh_quote }}}}" if deps else ""
            out.append("    with:")
            out.append(f'      command: "echo {tid} {{{{ ds }}}} {{{{ params.region | sh_quote }}}}{up}"')
        layer.append(tid)
    print("\n".join(out))


if __name__ == "__main__":
    main()
