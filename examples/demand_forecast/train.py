#!/usr/bin/env python3
"""Makes the demand-forecast example's data and model.

- data/sales.db: SQLite, table `sales(day, store_id, product_id, units)`,
  90 days from 2026-01-01 for 4 stores x 12 products (synthetic: a base
  level per store and product, a weekly pattern, noise).
- model/demand.onnx: a scikit-learn HistGradientBoostingRegressor that
  predicts the next day's units from [lag_1, avg_7, dow] (the day's units,
  the mean of the last 7 days, the weekday of the day predicted), exported
  the standard way by skl2onnx (a TreeEnsembleRegressor) with its output
  named `units`.

The files are committed, so the example runs without Python; run this
again (pip install -r tests/models/requirements.txt) only to change them.
"""
import datetime as dt
import os
import sqlite3

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingRegressor

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
days = [dt.date(2026, 1, 1) + dt.timedelta(d) for d in range(90)]
weekly = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.3])  # Monday..Sunday
rows = []
for store in range(1, 5):
    for product in range(1, 13):
        base = rng.uniform(5, 40)
        for d in days:
            units = max(0.0, base * weekly[d.weekday()] + rng.normal(0, base * 0.1))
            rows.append((d.isoformat(), store, product, round(units, 1)))

os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
db = os.path.join(HERE, "data", "sales.db")
if os.path.exists(db):
    os.remove(db)
con = sqlite3.connect(db)
con.execute("CREATE TABLE sales (day TEXT NOT NULL, store_id INTEGER NOT NULL, product_id INTEGER NOT NULL, units REAL NOT NULL)")
con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", rows)
con.execute("CREATE INDEX sales_day ON sales(day)")
con.commit()

# Training set: the same features the pipeline's SQL computes.
X, y = [], []
series = {}
for day, store, product, units in rows:
    series.setdefault((store, product), []).append(units)
for (store, product), u in series.items():
    for i in range(6, len(u) - 1):
        target_dow = (days[i + 1].isoweekday()) % 7  # SQLite's %w: Sunday = 0
        X.append([u[i], float(np.mean(u[i - 6 : i + 1])), float(target_dow)])
        y.append(u[i + 1])
X = np.array(X, dtype=np.float32)
y = np.array(y, dtype=np.float32)
model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(X, y)
print(f"trained on {len(X)} rows; R^2 {model.score(X, y):.3f}")
onx = to_onnx(
    model,
    initial_types=[("features", FloatTensorType([None, 3]))],
    final_types=[("units", FloatTensorType([None, 1]))],
    target_opset={"": 17, "ai.onnx.ml": 3},
)
os.makedirs(os.path.join(HERE, "model"), exist_ok=True)
with open(os.path.join(HERE, "model", "demand.onnx"), "wb") as f:
    f.write(onx.SerializeToString())
print("wrote data/sales.db and model/demand.onnx")
