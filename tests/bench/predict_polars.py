#!/usr/bin/env python3
"""The second baseline of bench_predict.py: the job of predict_python.py
with polars in place of pandas, as a user writes it: polars reads the CSV,
onnxruntime runs the model on every row, sqlite3 writes the table
(polars' own `write_database` needs SQLAlchemy, which goes through
pandas, or an ADBC driver; with sqlite3 alone a user inserts the rows).

Same columns as predict_python.py: `id`, `label`, `probability_<class>`.

usage: predict_polars.py MODEL INPUT_CSV SQLITE_DB
"""
import sqlite3
import sys

import onnxruntime as ort
import polars as pl

model, csv_path, db = sys.argv[1:4]
features = [f"f{i}" for i in range(16)]
df = pl.read_csv(csv_path)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = df.select(pl.col(features).cast(pl.Float32)).to_numpy()
label, proba = sess.run(None, {sess.get_inputs()[0].name: x})
if isinstance(proba, list):  # ZipMap
    classes = list(proba[0])
    proba = pl.DataFrame({f"probability_{c}": [p[c] for p in proba] for c in classes})
else:
    proba = pl.DataFrame(proba, schema=[f"probability_{c}" for c in range(proba.shape[1])])
out = pl.concat([pl.DataFrame({"id": df["id"], "label": label}), proba], how="horizontal")
con = sqlite3.connect(db)
con.execute("DROP TABLE IF EXISTS scores")
types = {pl.Int64: "INTEGER", pl.Int32: "INTEGER", pl.Float32: "REAL", pl.Float64: "REAL"}
cols = ", ".join(f'"{name}" {types.get(dtype, "TEXT")}' for name, dtype in out.schema.items())
con.execute(f"CREATE TABLE scores ({cols})")
con.executemany(f"INSERT INTO scores VALUES ({', '.join('?' * out.width)})", out.iter_rows())
con.commit()
print(out.height)
