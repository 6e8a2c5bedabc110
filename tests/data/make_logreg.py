#!/usr/bin/env python3
"""Trains the logistic regression used by the `predict` tests and benchmark
and writes it as ONNX: logreg16.onnx (16 float features in, `label` int64
and `probabilities` float [N, 2] out).

scikit-learn trains it; the ONNX graph is written with onnx.helper from
the fitted coefficients, using standard operators only (MatMul, Add,
Softmax, ArgMax): the tests keep one model that runs on tract, chime's
engine for graphs without ai.onnx.ml operators (skl2onnx's export, a
LinearClassifier, runs on chime's own; see tests/models). The
script checks the ONNX model against scikit-learn's predict_proba with
onnxruntime. The file is committed; run this only to change it
(pip install scikit-learn onnx onnxruntime).
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(16)
X = rng.normal(size=(5000, 16)).astype(np.float32)
w = rng.normal(size=16)
y = (X @ w + rng.normal(scale=0.5, size=5000) > 0).astype(np.int64)
clf = LogisticRegression().fit(X, y)

# Binary logistic regression as a 2-class softmax: logits [0, z].
coef = np.stack([np.zeros(16), clf.coef_[0]], axis=1).astype(np.float32)  # [16, 2]
bias = np.array([0.0, clf.intercept_[0]], dtype=np.float32)
graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["input", "coef"], ["z"]),
        helper.make_node("Add", ["z", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ],
    "logreg16",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 16])],
    [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
    ],
    initializer=[numpy_helper.from_array(coef, "coef"), numpy_helper.from_array(bias, "bias")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="chime tests")
model.ir_version = 8
onnx.checker.check_model(model)
path = os.path.join(HERE, "logreg16.onnx")
onnx.save(model, path)

sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
label, proba = sess.run(None, {"input": X[:100]})
assert np.allclose(proba, clf.predict_proba(X[:100]), atol=1e-5)
assert (label == clf.predict(X[:100])).all()
print(f"wrote {path}; accuracy {clf.score(X, y):.3f}; matches scikit-learn")

# A sample input and what onnxruntime predicts for it: the tests compare
# chime's predictions with these.
sample = rng.normal(size=(200, 16)).astype(np.float32)
with open(os.path.join(HERE, "logreg16_sample.csv"), "w") as f:
    f.write("id,name," + ",".join(f"f{i}" for i in range(16)) + "\n")
    for i, row in enumerate(sample):
        f.write(f"{i},row {i}," + ",".join(f"{v:.6f}" for v in row) + "\n")
sample = np.loadtxt(os.path.join(HERE, "logreg16_sample.csv"), delimiter=",", skiprows=1, usecols=range(2, 18), dtype=np.float32)
label, proba = sess.run(None, {"input": sample})
with open(os.path.join(HERE, "logreg16_expected.csv"), "w") as f:
    f.write("id,label,probability_1\n")
    for i in range(len(sample)):
        f.write(f"{i},{label[i]},{proba[i, 1]:.7f}\n")
print("wrote logreg16_sample.csv and logreg16_expected.csv")
