#!/usr/bin/env python3
"""Writes the small ONNX models the `predict` tests use to check what chime
refuses or survives (compiler/tests/batch.rs). Each is a graph of one or
two standard operators, written with onnx.helper; the files are committed,
run this only to change them (pip install onnx).

- hostile_output.onnx: [N, 2] in, one output [N, 1] (the sum of the two
  features) whose name tries to break out of a quoted SQL identifier.
- batch_total.onnx: [N, 2] in, the column sums [1, 2] out: an output whose
  first dimension is not the number of rows.
- sqrt.onnx: [N, 1] in, `root` [N, 1] out: NaN for a negative feature.
- ds_output.onnx: [N, 1] in, the input as an output named `ds`.
- hardmax.onnx: [N, 2] in, an ai.onnx.ml Scaler then a standard Hardmax,
  an operator chime does not run in graphs that use ai.onnx.ml (`chime
  check` names it: E061).
- bad_post_transform.onnx: [N, 2] in, a LinearClassifier whose
  post_transform is not one ONNX defines: every operator is one chime
  runs, but the node cannot be built (`chime check`: E061).
"""
import os

import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = 'a" INTEGER); DROP TABLE victim; COMMIT; --'


def save(name, nodes, width, outputs, initializer=()):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in outputs],
        initializer=list(initializer),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="chime tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name + ".onnx"))


save(
    "hostile_output",
    [helper.make_node("MatMul", ["input", "ones"], [HOSTILE])],
    2,
    [(HOSTILE, [None, 1])],
    [numpy_helper.from_array(np.ones((2, 1), dtype=np.float32), "ones")],
)
save(
    "batch_total",
    [helper.make_node("ReduceSum", ["input", "axes"], ["total"], keepdims=1)],
    2,
    [("total", [1, 2])],
    [numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")],
)
save("sqrt", [helper.make_node("Sqrt", ["input"], ["root"])], 1, [("root", [None, 1])])
save("ds_output", [helper.make_node("Identity", ["input"], ["ds"])], 1, [("ds", [None, 1])])

# A graph with ai.onnx.ml (so chime evaluates it) and an operator outside
# chime's list.
graph = helper.make_graph(
    [
        helper.make_node("Scaler", ["input"], ["scaled"], domain="ai.onnx.ml", offset=[0.0], scale=[2.0]),
        helper.make_node("Hardmax", ["scaled"], ["onehot"], name="pick_max"),
    ],
    "hardmax",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])],
    [helper.make_tensor_value_info("onehot", TensorProto.FLOAT, [None, 2])],
)
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)],
    producer_name="chime-tests",
)
model.ir_version = 8
onnx.save(model, os.path.join(HERE, "hardmax.onnx"))

graph = helper.make_graph(
    [
        helper.make_node(
            "LinearClassifier", ["input"], ["label", "scores"], domain="ai.onnx.ml",
            name="classify", coefficients=[1.0, -1.0, 0.5, 0.5], intercepts=[0.0, 0.1],
            classlabels_ints=[0, 1], post_transform="SIGMOIDAL",
        ),
    ],
    "bad_post_transform",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])],
    [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2]),
    ],
)
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)],
    producer_name="chime-tests",
)
model.ir_version = 8
onnx.save(model, os.path.join(HERE, "bad_post_transform.onnx"))
