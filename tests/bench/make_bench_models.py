#!/usr/bin/env python3
"""The three models of bench_predict.py (issue 12), trained on seeded
synthetic data and exported with the standard converters:

  lr.onnx   scikit-learn LogisticRegression, skl2onnx
  rf.onnx   scikit-learn RandomForestClassifier, 100 trees, max_depth 10, skl2onnx
  xgb.onnx  XGBClassifier, 200 trees (XGBoost's default depth, 6), onnxmltools

Data: 20,000 rows of 16 standard-normal float32 features f0..f15 (the
distribution bench_predict.py feeds them), a binary target from a linear
score plus a few interactions and noise, so that the trees grow to their
depth.

Converter options are the defaults, but for `zipmap=False` on the two
skl2onnx classifiers: with the default ZipMap, onnxruntime returns a Python
list of one dict per row, which the Python baseline would have to turn into
columns (slow, and not what users are told to do); with `zipmap=False` it
returns a [N, 2] probability array. chime writes the same columns either
way. XGBoost's converter gives a probability tensor by default.

usage: make_bench_models.py OUT_DIR [lr,rf,xgb]
needs: the venv of tests/bench/requirements.txt
"""
import os
import sys

import numpy as np

MODELS = ("lr", "rf", "xgb")
FEATURES = 16


def data(rows=20_000, seed=16):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    w = rng.normal(size=FEATURES)
    score = x @ w + 1.5 * x[:, 0] * x[:, 1] - np.abs(x[:, 2]) + np.sin(2 * x[:, 3])
    y = (score + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    return x, y


def export(name, x, y):
    if name in ("lr", "rf"):
        from skl2onnx import to_onnx

        if name == "lr":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(max_iter=1000).fit(x, y)
        else:
            from sklearn.ensemble import RandomForestClassifier

            model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=-1).fit(x, y)
        return to_onnx(model, x[:1], options={"zipmap": False})
    if name == "xgb":
        import xgboost
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        model = xgboost.XGBClassifier(n_estimators=200, random_state=0, n_jobs=2).fit(x, y)
        return convert_xgboost(model, initial_types=[("input", FloatTensorType([None, FEATURES]))])
    raise SystemExit(f"unknown model {name!r} (one of {', '.join(MODELS)})")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else MODELS
    os.makedirs(out, exist_ok=True)
    x, y = data()
    for name in names:
        onx = export(name, x, y)
        path = os.path.join(out, f"{name}.onnx")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(onx.SerializeToString())
        os.replace(tmp, path)
        print(f"{path}: {os.path.getsize(path) / 2**20:.1f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
