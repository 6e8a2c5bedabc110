#!/usr/bin/env python3
"""The baseline of bench_predict.py: the same job as chime's `predict`
task, written the way a user would with pandas, onnxruntime and sqlite3:
read the CSV, run the model on every row, write the predictions to a
SQLite table.

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
label, proba = sess.run(None, {"input": df[features].to_numpy(dtype=np.float32)})
out = pd.DataFrame({"id": df["id"], "label": label, "probabilities_0": proba[:, 0], "probabilities_1": proba[:, 1]})
con = sqlite3.connect(db)
out.to_sql("scores", con, if_exists="replace", index=False)
con.commit()
print(len(out))
