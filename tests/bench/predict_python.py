#!/usr/bin/env python3
"""The baseline of bench_predict.py: the same job as chime's `predict`
task, written the way a user would with pandas, onnxruntime and sqlite3:
read the CSV, run the model on every row, write the predictions to a
SQLite table (replacing it).

Columns written, as chime writes them: `id` (kept), `label`, and one
`probability_<class>` per class. The class is the probability's column
index: the benchmark's models have classes 0 and 1, which is what those
indices are. A model exported with ZipMap (a list of {class: probability}
per row) gets its columns from the maps' keys.

usage: predict_python.py MODEL INPUT_CSV SQLITE_DB
"""
import sqlite3
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd

model, csv_path, db = sys.argv[1:4]
features = [f"f{i}" for i in range(16)]
df = pd.read_csv(csv_path)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
label, proba = sess.run(None, {sess.get_inputs()[0].name: df[features].to_numpy(dtype=np.float32)})
if isinstance(proba, list):  # ZipMap
    proba = pd.DataFrame(proba).add_prefix("probability_")
else:
    proba = pd.DataFrame(proba, columns=[f"probability_{c}" for c in range(proba.shape[1])])
out = pd.concat([pd.DataFrame({"id": df["id"], "label": label}), proba], axis=1)
con = sqlite3.connect(db)
out.to_sql("scores", con, if_exists="replace", index=False)
con.commit()
print(len(out))
