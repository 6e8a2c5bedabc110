#!/usr/bin/env python3
"""The Python baseline of bench_s3.py: the same job as chime's `predict`
task, from Parquet to Parquet, written the way a user would with pandas,
s3fs (through pandas' storage_options; pyarrow reads and writes the
Parquet) and onnxruntime. A local path works too (no storage_options).

Columns written, as chime writes them: `id` (kept), `label`,
`probability_0`, `probability_1`.

usage: predict_s3_python.py MODEL INPUT OUTPUT   (paths or s3:// URLs;
  the endpoint and keys from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY, AWS_REGION)
"""
import os
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd

model, src, dst = sys.argv[1:4]


def options(path):
    if not path.startswith("s3://"):
        return None
    return {
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {
            "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "region_name": os.environ.get("AWS_REGION", "us-east-1"),
        },
    }


features = [f"f{i}" for i in range(16)]
df = pd.read_parquet(src, storage_options=options(src))
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
label, proba = sess.run(None, {sess.get_inputs()[0].name: df[features].to_numpy(dtype=np.float32)})
out = pd.DataFrame({"id": df["id"], "label": label})
for c in range(proba.shape[1]):
    out[f"probability_{c}"] = proba[:, c]
out.to_parquet(dst, storage_options=options(dst), index=False)
print(len(out))
