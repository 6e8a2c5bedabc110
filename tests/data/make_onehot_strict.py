#!/usr/bin/env python3
"""Writes onehot_strict.onnx: a ColumnTransformer pipeline (a float column
`x` passed through, a string column `c` one-hot encoded with scikit-learn's
default handle_unknown="error") and a LogisticRegression, exported by
skl2onnx from a DataFrame (inputs `x` float and `c` string; zipmap=False).
Its OneHotEncoder has zeros=0: an unknown category fails the model, as in
onnxruntime. The file is committed; run this only to change it
(pip install -r tests/models/requirements.txt).
"""
import os

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

HERE = os.path.dirname(os.path.abspath(__file__))
df = pd.DataFrame({"x": np.array([1, 2, 3, 4, 5, 6], dtype=np.float32), "c": ["a", "b", "a", "c", "b", "a"]})
y = [0, 1, 0, 1, 1, 0]
pre = ColumnTransformer([("num", "passthrough", ["x"]), ("cat", OneHotEncoder(), ["c"])])
pipe = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(df, y)
onx = to_onnx(pipe, df[:1], options={"zipmap": False})
onx.graph.name = "onehot_strict"
with open(os.path.join(HERE, "onehot_strict.onnx"), "wb") as f:
    f.write(onx.SerializeToString())
