#!/usr/bin/env python3
"""Inference alone in onnxruntime, the counterpart of chime's
runtime/examples/infer_bench.rs (bench_predict.py runs both): the same
random rows, batch after batch, and the median rows/s of several passes.

The rows are infer_bench's own, value for value: standard normal from
its xorshift64 generator (seed 0x9E3779B97F4A7C15) and Box-Muller in
double precision, cast to float32. xorshift is linear over GF(2), so the
generator is replayed in numpy: the first block of states step by step,
each later block from the one before through the generator's matrix
raised to the block's length (applied a byte at a time through tables).
numpy's log and cos may round differently from Rust's in the last bit of
a double, which after the cast to float32 almost never shows.

usage: infer_ort.py MODEL WIDTH ROWS BATCH PASSES THREADS
  THREADS: onnxruntime's intra_op_num_threads (inter_op is 1)
"""
import sys
import time

import numpy as np

MASK = (1 << 64) - 1
SEED = 0x9E3779B97F4A7C15


def step(s):
    s ^= (s << 13) & MASK
    s ^= s >> 7
    s ^= (s << 17) & MASK
    return s


def states(n, block=1 << 16):
    """The generator's first n states after the seed, as uint64."""
    first = np.empty(min(block, n), dtype=np.uint64)
    s = SEED
    for i in range(len(first)):
        s = step(s)
        first[i] = s
    if n <= block:
        return first
    # The image of each bit after `block` steps, then tables of the
    # images of each byte value at each byte position.
    def jump(v):
        for _ in range(block):
            v = step(v)
        return v

    bits = [jump(1 << i) for i in range(64)]
    tables = np.zeros((8, 256), dtype=np.uint64)
    for pos in range(8):
        for value in range(1, 256):
            acc = 0
            for b in range(8):
                if value >> b & 1:
                    acc ^= bits[pos * 8 + b]
            tables[pos, value] = acc
    out = np.empty(n, dtype=np.uint64)
    out[:block] = first
    cur = first
    for start in range(block, n, block):
        nxt = np.zeros_like(cur)
        for pos in range(8):
            nxt ^= tables[pos][(cur >> np.uint64(8 * pos)) & np.uint64(255)]
        cur = nxt
        end = min(start + block, n)
        out[start:end] = cur[: end - start]
    return out


def rows(n, width):
    s = states(2 * n * width)
    uni = (s >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    u = np.maximum(uni[0::2], 1e-12)
    v = uni[1::2]
    return (np.sqrt(-2.0 * np.log(u)) * np.cos(2 * np.pi * v)).astype(np.float32).reshape(n, width)


def main():
    model, width, n, batch, passes, threads = sys.argv[1], *map(int, sys.argv[2:7])
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = rows(n, width)
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        for i in range(0, n, batch):
            sess.run(None, {name: x[i : i + batch]})
        rates.append(n / (time.perf_counter() - start))
    rates.sort()
    print(f"{rates[len(rates) // 2]:.0f}")


if __name__ == "__main__":
    main()
