#!/usr/bin/env python3
"""The operator suite: small graphs built by hand with onnx.helper, one
ai.onnx.ml operator (or a few) each, for the operators and variants the
converters' models (make_models.py) do not exercise: post-transforms,
base values, aggregate functions, comparison modes, missing-value tracks,
integer and string labels, default values for unknown keys. chime's
engine must give onnxruntime's outputs on every one of them.

Run it (only to change the suite; the generated files are committed):

    python3 tests/models/make_op_models.py

(with onnx, onnxruntime, numpy and pandas as pinned in requirements.txt;
make_models.py runs it at its end). For each model op_<operator>_<variant>
it writes, next to this script, NAME.onnx, NAME.input.csv and
NAME.expected.csv, in the format make_models.py writes (docs/models.md),
and it replaces the op_* entries of suite.json with its own, after the
converters' models, leaving those untouched. A variant onnxruntime
refuses is listed in REFUSED below, with onnxruntime's error, and not
written.

Inputs hold edge values: zeros, negatives, values exactly on thresholds
and, where the operator handles missing values (Imputer, trees with
missing-value tracks), empty fields (NaN). Everything is deterministic:
fixed seeds, numbers rounded to two decimals (exact enough that the CSV
text parses to the float32 value onnxruntime was run on).
"""
import csv
import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
ML = "ai.onnx.ml"
NAN = float("nan")
MODELS = []
REFUSED = []

TYPES = {  # suite.json name -> (ONNX element type, numpy dtype)
    "float": (TensorProto.FLOAT, np.float32),
    "double": (TensorProto.DOUBLE, np.float64),
    "int64": (TensorProto.INT64, np.int64),
    "string": (TensorProto.STRING, object),
}


# ---------------------------------------------------------------- writing

def fmt_input(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if math.isnan(v):
        return ""
    return repr(float(v))


def fmt_float(v):
    return repr(float(v))


def fmt_label(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode()
    if isinstance(v, str):
        return v
    return str(int(v))


def tensor_type(elem, shape):
    return helper.make_tensor_type_proto(elem, shape)


def zipmap_type(key_elem):
    return helper.make_sequence_type_proto(helper.make_map_type_proto(
        key_elem, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))


def make_graph(name, nodes, inputs, outputs, ml_opset, inits=()):
    """A model of `nodes`; inputs: [(name, type, width)] ([N, width]);
    outputs: [(name, TypeProto)]."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_value_info(n, tensor_type(TYPES[t][0], [None, w]))
         for n, t, w in inputs],
        [helper.make_value_info(n, tp) for n, tp in outputs],
        initializer=list(inits))
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid(ML, ml_opset)]
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name="chime make_op_models.py")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def graph_ops(graph):
    return sorted({f"{'' if n.domain in ('', 'ai.onnx') else n.domain}:"
                   f"{n.op_type}" for n in graph.node})


def export(name, model, df, inputs, *, classes=None, note=""):
    """Writes NAME.onnx, NAME.input.csv (the rows of df) and
    NAME.expected.csv (onnxruntime's outputs on the CSV's rows, read back
    as make_models.py reads them), and records the model in suite.json.
    inputs: [(input name, type, [columns])]."""
    data = model.SerializeToString()
    try:
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - recorded, not hidden
        REFUSED.append((name, str(e).splitlines()[0][:300]))
        print(f"{name:44s} REFUSED by onnxruntime: {REFUSED[-1][1]}")
        for suffix in (".onnx", ".input.csv", ".expected.csv"):
            p = os.path.join(HERE, name + suffix)
            if os.path.exists(p):
                os.remove(p)
        return
    with open(os.path.join(HERE, f"{name}.onnx"), "wb") as f:
        f.write(data)
    df = df.reset_index(drop=True)
    columns = list(df.columns)
    path_in = os.path.join(HERE, f"{name}.input.csv")
    with open(path_in, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id"] + columns)
        for i, row in enumerate(df.itertuples(index=False), start=1):
            w.writerow([i] + [fmt_input(v) for v in row])
    back = pd.read_csv(path_in, keep_default_na=False, na_values={
        c: [""] for c in columns if df[c].dtype != object})
    feeds = {}
    for inp, t, cols in inputs:
        values = back[cols].to_numpy()
        dtype = TYPES[t][1]
        feeds[inp] = (values.astype(str).astype(object) if dtype is object
                      else values.astype(dtype))
    try:
        results = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001 - recorded, not hidden
        REFUSED.append((name, "run: " + str(e).splitlines()[0][:300]))
        print(f"{name:44s} REFUSED by onnxruntime: {REFUSED[-1][1]}")
        os.remove(os.path.join(HERE, f"{name}.onnx"))
        os.remove(path_in)
        return
    n = len(df)
    out = {}
    for o, r in zip(sess.get_outputs(), results):
        if isinstance(r, list):  # ZipMap: one {key: p} per row
            # Columns in the model's class order (chime's rule), not the
            # map's sorted order.
            keys = list(r[0].keys()) if classes is None else classes
            assert sorted(keys) == sorted(r[0].keys()), (name, keys)
            for k in keys:
                out[f"probability_{k}"] = [fmt_float(d[k]) for d in r]
            continue
        arr = np.asarray(r)
        assert arr.shape[0] == n, (name, o.name, arr.shape)
        arr = arr.reshape(n, -1)
        if classes is not None and o.name == "label":
            out["label"] = [fmt_label(v) for v in arr[:, 0]]
            continue
        if (classes is not None and o.name == "probabilities"
                and arr.shape[1] == len(classes)):
            for j, c in enumerate(classes):
                out[f"probability_{c}"] = [fmt_float(v) for v in arr[:, j]]
            continue
        fmt = fmt_label if arr.dtype.kind in "iuSO" else fmt_float
        if arr.shape[1] == 1:
            out[o.name] = [fmt(v) for v in arr[:, 0]]
        else:
            for j in range(arr.shape[1]):
                out[f"{o.name}_{j}"] = [fmt(v) for v in arr[:, j]]
    for c, vals in out.items():
        # The suite compares numbers within 1e-5: a NaN or an infinity
        # compares with nothing.
        assert all(v not in ("nan", "inf", "-inf") for v in vals), (name, c)
        assert all("," not in v and '"' not in v for v in vals), (name, c)
    with open(os.path.join(HERE, f"{name}.expected.csv"), "w",
              newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id"] + list(out))
        for i in range(n):
            w.writerow([i + 1] + [out[c][i] for c in out])
    single = len(inputs) == 1
    MODELS.append({
        "name": name,
        "library": "onnx.helper",
        "estimator": note or " + ".join(
            op.split(":")[1] for op in graph_ops(model.graph)),
        "converter": "hand-built",
        "options": {},
        "features": (inputs[0][2] if single
                     else {inp: cols for inp, _, cols in inputs}),
        "inputs": {inp: t for inp, t, _ in inputs},
        "outputs": list(out),
        "ops": graph_ops(model.graph),
        "opset": {("" if o.domain == "ai.onnx" else o.domain): o.version
                  for o in model.opset_import},
        "ir_version": model.ir_version,
        "bytes": len(data),
        "rows": n,
    })
    print(f"{name:44s} {len(data):6d} B  {n:3d} rows  "
          f"{' '.join(list(out)[:6])}{' ...' if len(out) > 6 else ''}",
          flush=True)


# ---------------------------------------------------------------- data

def numbers(seed, n, k, low=-3.0, high=3.0, edges=()):
    """n random rows of k numbers (two decimals), then the `edges` rows."""
    rng = np.random.RandomState(seed)
    x = np.round(rng.uniform(low, high, (n, k)), 2)
    rows = [list(r) for r in x] + [list(map(float, e)) for e in edges]
    return pd.DataFrame(rows, columns=[f"x{j}" for j in range(k)])


def float_model(name, node, k, outputs, ml_opset=1, df=None, classes=None,
                seed=0, edges=(), low=-3.0, high=3.0, itype="float",
                inits=()):
    """A single node on one [N, k] input X."""
    if df is None:
        df = numbers(seed, 30, k, low, high, edges)
    model = make_graph(name, [node], [("X", itype, k)], outputs, ml_opset,
                       inits)
    export(name, model, df, [("X", itype, list(df.columns))],
           classes=classes)


def f_out(name, width):
    return (name, tensor_type(TensorProto.FLOAT, [None, width]))


def hot_out(columns, categories):
    """OneHotEncoder's output: [N, columns, categories]."""
    return ("variable", tensor_type(TensorProto.FLOAT,
                                    [None, columns, categories]))


def classifier_outputs(labels, width):
    elem = TensorProto.STRING if isinstance(labels[0], str) else TensorProto.INT64
    return [("label", tensor_type(elem, [None])),
            ("probabilities", tensor_type(TensorProto.FLOAT, [None, width]))]


def labels_attr(labels, ints="classlabels_ints"):
    if isinstance(labels[0], str):
        return {"classlabels_strings": labels}
    return {ints: labels}


# ---------------------------------------------------------------- linear

ZERO3 = [[0, 0, 0]]


def linear_models():
    coef = [0.5, -1.0, 0.25,
            -0.75, 0.5, 1.0,
            0.25, 0.25, -0.5]
    intercepts = [0.0, 0.5, 0.5]  # a zero row ties the last two classes
    edges = [[0, 0, 0], [1, 1, 1], [-1, -1, -1], [2, -2, 0]]
    for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]:
        for labels, tag in [([10, 20, 30], ""), (["ant", "bee", "cat"],
                                                 "_strings")]:
            if tag and post not in ("SOFTMAX", "NONE"):
                continue
            node = helper.make_node(
                "LinearClassifier", ["X"], ["label", "probabilities"],
                domain=ML, coefficients=coef, intercepts=intercepts,
                post_transform=post, **labels_attr(labels))
            float_model(f"op_linear_classifier_{post.lower()}{tag}", node, 3,
                        classifier_outputs(labels, 3), classes=labels,
                        seed=1, edges=edges)
    # PROBIT: scores kept inside (0, 1), where probit is finite.
    node = helper.make_node(
        "LinearClassifier", ["X"], ["label", "probabilities"], domain=ML,
        coefficients=[0.1, -0.05, 0.05, -0.1, 0.1, 0.05, 0.05, 0.05, -0.1],
        intercepts=[0.5, 0.4, 0.6], post_transform="PROBIT",
        classlabels_ints=[0, 1, 2])
    float_model("op_linear_classifier_probit", node, 3,
                classifier_outputs([0, 1, 2], 3), classes=[0, 1, 2], seed=2,
                low=-1.5, high=1.5, edges=[[0, 0, 0], [1, 1, 1]])

    # One row of coefficients, two labels: the score is the second
    # class's, the first class's column is added. (Not with PROBIT:
    # onnxruntime 1.32 transforms the N scores in place in its [N, 2]
    # output and leaves the other N values unwritten.)
    bin_edges = [[0, 0, 0], [2, 0, 0], [-2, 0, 0], [0, 1, -1]]
    for post, labels, tag in [
            ("NONE", [0, 1], "none"),
            ("LOGISTIC", [0, 1], "logistic"),
            ("LOGISTIC", ["no", "yes"], "logistic_strings"),
            ("NONE", ["no", "yes"], "none_strings"),
            ("SOFTMAX", [-1, 1], "softmax")]:
        c = [0.2, -0.1, 0.1] if post == "PROBIT" else [1.0, -0.5, 0.5]
        b = [0.5] if post == "PROBIT" else [0.0]
        node = helper.make_node(
            "LinearClassifier", ["X"], ["label", "probabilities"], domain=ML,
            coefficients=c, intercepts=b, post_transform=post,
            **labels_attr(labels))
        float_model(f"op_linear_classifier_binary_{tag}", node, 3,
                    classifier_outputs(labels, 2), classes=labels, seed=3,
                    low=-1.2 if post == "PROBIT" else -3,
                    high=1.2 if post == "PROBIT" else 3,
                    edges=bin_edges if post != "PROBIT" else [[0, 0, 0]])

    node = helper.make_node(
        "LinearRegressor", ["X"], ["variable"], domain=ML, targets=2,
        coefficients=[0.5, -1.0, 2.0, 0.25, 0.0, -0.5, 1.5, 1.0],
        intercepts=[1.0, -2.0])
    float_model("op_linear_regressor_targets2", node, 4, [f_out("variable", 2)],
                seed=4, edges=[[0, 0, 0, 0], [1, -1, 1, -1]])
    node = helper.make_node(
        "LinearRegressor", ["X"], ["variable"], domain=ML,
        coefficients=[0.5, -1.0, 2.0])
    float_model("op_linear_regressor_no_intercept", node, 3,
                [f_out("variable", 1)], seed=5, edges=ZERO3)
    node = helper.make_node(
        "LinearRegressor", ["X"], ["variable"], domain=ML, targets=3,
        coefficients=[0.5, -1.0, 0.2, 0.3, 0.1, -0.4], intercepts=[0.0, 1.0, -1.0],
        post_transform="SOFTMAX")
    float_model("op_linear_regressor_targets3_softmax", node, 2,
                [f_out("variable", 3)], seed=6, edges=[[0, 0]])


# ---------------------------------------------------------------- preprocessing

def preprocessing_models():
    node = helper.make_node("Scaler", ["X"], ["variable"], domain=ML,
                            offset=[1.5], scale=[2.0])
    float_model("op_scaler_one_value", node, 3, [f_out("variable", 3)],
                seed=7, edges=[[1.5, 0, -1.5]])
    node = helper.make_node("Scaler", ["X"], ["variable"], domain=ML,
                            offset=[1.0, -2.0, 0.0], scale=[0.5, 3.0, -1.0])
    float_model("op_scaler_per_column", node, 3, [f_out("variable", 3)],
                seed=8, edges=[[1, -2, 0]])

    norm_edges = [[0, 0, 0], [-1, -2, -3], [3, -4, 0], [-5, 0, 5], [2, 2, 2]]
    for norm in ["MAX", "L1", "L2"]:
        node = helper.make_node("Normalizer", ["X"], ["variable"], domain=ML,
                                norm=norm)
        float_model(f"op_normalizer_{norm.lower()}", node, 3,
                    [f_out("variable", 3)], seed=9, edges=norm_edges)

    # Imputer: NaN (empty fields) replaced by one value per column.
    df = numbers(10, 30, 3, edges=[[NAN, NAN, NAN], [0, NAN, -1]])
    df.loc[[2, 5, 11, 17], "x0"] = NAN
    df.loc[[3, 5, 20], "x2"] = NAN
    node = helper.make_node("Imputer", ["X"], ["variable"], domain=ML,
                            imputed_value_floats=[1.5, -2.0, 0.0],
                            replaced_value_float=NAN)
    float_model("op_imputer_nan", node, 3, [f_out("variable", 3)], df=df)
    node = helper.make_node("Imputer", ["X"], ["variable"], domain=ML,
                            imputed_value_floats=[9.5],
                            replaced_value_float=NAN)
    float_model("op_imputer_nan_one_value", node, 3, [f_out("variable", 3)],
                df=df)
    # A number replaced: -1 (no NaN in these rows: a NaN that is not
    # replaced stays NaN, which the suite's comparison cannot check).
    df = numbers(11, 30, 3, edges=[[-1, -1, -1], [-1, 0, 1], [1, -1.01, -0.99]])
    df.loc[[1, 4, 9], "x1"] = -1.0
    node = helper.make_node("Imputer", ["X"], ["variable"], domain=ML,
                            imputed_value_floats=[0.5, 7.0, -3.0],
                            replaced_value_float=-1.0)
    float_model("op_imputer_value", node, 3, [f_out("variable", 3)], df=df)
    # int64 features, -1 replaced.
    rng = np.random.RandomState(12)
    ints = pd.DataFrame(rng.randint(-2, 5, (30, 2)), columns=["n0", "n1"])
    node = helper.make_node("Imputer", ["X"], ["variable"], domain=ML,
                            imputed_value_int64s=[100, 200],
                            replaced_value_int64=-1)
    model = make_graph("op_imputer_int64", [node], [("X", "int64", 2)],
                       [("variable", tensor_type(TensorProto.INT64,
                                                 [None, 2]))], 1)
    export("op_imputer_int64", model, ints, [("X", "int64", ["n0", "n1"])])

    node = helper.make_node("Binarizer", ["X"], ["variable"], domain=ML,
                            threshold=0.5)
    float_model("op_binarizer", node, 3, [f_out("variable", 3)], seed=13,
                low=-1, high=2, edges=[[0.5, 0, -0.5], [0.51, 0.49, 1]])
    node = helper.make_node("Binarizer", ["X"], ["variable"], domain=ML)
    float_model("op_binarizer_default_threshold", node, 3,
                [f_out("variable", 3)], seed=14, edges=[[0, -0.0, 0.01]])


# ---------------------------------------------------------------- encoders

def encoder_models():
    rng = np.random.RandomState(15)
    # OneHotEncoder, int64 categories, two columns; 9 is unknown.
    ints = pd.DataFrame(rng.choice([1, 3, 5, 9], (30, 2)), columns=["c0", "c1"])
    node = helper.make_node("OneHotEncoder", ["X"], ["variable"], domain=ML,
                            cats_int64s=[5, 1, 3], zeros=1)
    model = make_graph("op_one_hot_encoder_int64", [node],
                       [("X", "int64", 2)], [hot_out(2, 3)], 1)
    export("op_one_hot_encoder_int64", model, ints,
           [("X", "int64", ["c0", "c1"])])
    # String categories, one column; "rome" is unknown.
    cities = pd.DataFrame({"city": rng.choice(
        ["paris", "lyon", "nantes", "rome"], 30)})
    node = helper.make_node("OneHotEncoder", ["X"], ["variable"], domain=ML,
                            cats_strings=["lyon", "nantes", "paris"], zeros=1)
    model = make_graph("op_one_hot_encoder_string", [node],
                       [("X", "string", 1)], [hot_out(1, 3)], 1)
    export("op_one_hot_encoder_string", model, cities,
           [("X", "string", ["city"])])
    # zeros=0: every value must be a category. (int64 with 0 among the
    # categories: chime probes a model with a row of zeros, or empty
    # strings, when it loads it, and a zeros=0 encoder refuses a value
    # that is not a category.)
    known = pd.DataFrame({"c": rng.choice([0, 1, 3, 5], 30)})
    node = helper.make_node("OneHotEncoder", ["X"], ["variable"], domain=ML,
                            cats_int64s=[5, 0, 3, 1], zeros=0)
    model = make_graph("op_one_hot_encoder_int64_zeros0", [node],
                       [("X", "int64", 1)], [hot_out(1, 4)], 1)
    export("op_one_hot_encoder_int64_zeros0", model, known,
           [("X", "int64", ["c"])])
    # Float features with integer categories.
    fl = pd.DataFrame({"v": rng.choice([0.0, 1.0, 2.0, 2.5, -1.0], 30)})
    node = helper.make_node("OneHotEncoder", ["X"], ["variable"], domain=ML,
                            cats_int64s=[0, 1, 2, -1], zeros=1)
    model = make_graph("op_one_hot_encoder_float", [node],
                       [("X", "float", 1)], [hot_out(1, 4)], 1)
    export("op_one_hot_encoder_float", model, fl, [("X", "float", ["v"])])

    def encoder(name, opset, in_t, out_t, df, col, **attrs):
        node = helper.make_node("LabelEncoder", ["X"], ["variable"],
                                domain=ML, **attrs)
        model = make_graph(name, [node], [("X", in_t, 1)],
                           [("variable", tensor_type(TYPES[out_t][0],
                                                     [None, 1]))], opset)
        export(name, model, df, [("X", in_t, [col])])

    words = pd.DataFrame({"word": rng.choice(
        ["alpha", "beta", "gamma", "delta", "omega"], 30)})
    nums = pd.DataFrame({"n": rng.choice([-3, 0, 1, 2, 7, 42], 30)})
    reals = pd.DataFrame({"r": rng.choice([-1.5, 0.0, 0.25, 1.0, 3.75, 9.0],
                                          30)})
    encoder("op_label_encoder_string_int64", 2, "string", "int64", words,
            "word", keys_strings=["alpha", "beta", "gamma", "delta"],
            values_int64s=[10, 20, 30, -40], default_int64=-7)
    encoder("op_label_encoder_string_int64_default", 2, "string", "int64",
            words, "word", keys_strings=["alpha", "beta"],
            values_int64s=[1, 2])
    encoder("op_label_encoder_int64_string", 2, "int64", "string", nums, "n",
            keys_int64s=[-3, 0, 1, 2], values_strings=["minus", "zero",
                                                       "one", "two"],
            default_string="other")
    encoder("op_label_encoder_int64_string_default", 2, "int64", "string",
            nums, "n", keys_int64s=[0, 1], values_strings=["zero", "one"])
    encoder("op_label_encoder_float_float", 2, "float", "float", reals, "r",
            keys_floats=[-1.5, 0.0, 0.25, 1.0], values_floats=[1, 2, 3, 4.5],
            default_float=-9.0)
    encoder("op_label_encoder_string_string", 2, "string", "string", words,
            "word", keys_strings=["alpha", "beta", "gamma"],
            values_strings=["a", "b", "g"], default_string="unknown")
    encoder("op_label_encoder_float_string", 2, "float", "string", reals,
            "r", keys_floats=[0.0, 1.0, 9.0],
            values_strings=["zero", "one", "nine"], default_string="none")
    encoder("op_label_encoder_int64_float", 2, "int64", "float", nums,
            "n", keys_int64s=[0, 1, 42], values_floats=[0.5, 1.5, 42.5],
            default_float=-1.0)
    # ai.onnx.ml 4: keys, values and default as tensors.
    encoder("op_label_encoder_v4_int64_double", 4, "int64", "double", nums,
            "n",
            keys_tensor=helper.make_tensor("keys", TensorProto.INT64, [3],
                                           [0, 2, 7]),
            values_tensor=helper.make_tensor("values", TensorProto.DOUBLE,
                                             [3], [0.125, 2.5, -7.75]),
            default_tensor=helper.make_tensor("default", TensorProto.DOUBLE,
                                              [1], [99.0]))
    encoder("op_label_encoder_v4_string_int64", 4, "string", "int64", words,
            "word",
            keys_tensor=helper.make_tensor("keys", TensorProto.STRING, [2],
                                           [b"beta", b"omega"]),
            values_tensor=helper.make_tensor("values", TensorProto.INT64,
                                             [2], [5, 6]),
            default_tensor=helper.make_tensor("default", TensorProto.INT64,
                                              [1], [-1]))
    encoder("op_label_encoder_v4_double_string", 4, "double", "string",
            reals, "r",
            keys_tensor=helper.make_tensor("keys", TensorProto.DOUBLE, [2],
                                           [0.25, 3.75]),
            values_tensor=helper.make_tensor("values", TensorProto.STRING,
                                             [2], [b"quarter", b"big"]),
            default_tensor=helper.make_tensor("default", TensorProto.STRING,
                                              [1], [b"other"]))
    encoder("op_label_encoder_v4_string_string_attrs", 4, "string", "string",
            words, "word", keys_strings=["alpha", "omega"],
            values_strings=["first", "last"], default_string="middle")

    node = helper.make_node("CategoryMapper", ["X"], ["variable"], domain=ML,
                            cats_strings=["alpha", "beta", "gamma"],
                            cats_int64s=[1, 2, 3], default_int64=-5)
    model = make_graph("op_category_mapper_string_int64", [node],
                       [("X", "string", 1)],
                       [("variable", tensor_type(TensorProto.INT64,
                                                 [None, 1]))], 1)
    export("op_category_mapper_string_int64", model, words,
           [("X", "string", ["word"])])
    node = helper.make_node("CategoryMapper", ["X"], ["variable"], domain=ML,
                            cats_strings=["minus", "zero", "two"],
                            cats_int64s=[-3, 0, 2], default_string="other")
    model = make_graph("op_category_mapper_int64_string", [node],
                       [("X", "int64", 1)],
                       [("variable", tensor_type(TensorProto.STRING,
                                                 [None, 1]))], 1)
    export("op_category_mapper_int64_string", model, nums,
           [("X", "int64", ["n"])])
    node = helper.make_node("CategoryMapper", ["X"], ["variable"], domain=ML,
                            cats_strings=["minus", "zero"],
                            cats_int64s=[-3, 0])
    model = make_graph("op_category_mapper_int64_string_default", [node],
                       [("X", "int64", 1)],
                       [("variable", tensor_type(TensorProto.STRING,
                                                 [None, 1]))], 1)
    export("op_category_mapper_int64_string_default", model, nums,
           [("X", "int64", ["n"])])


# ---------------------------------------------------------------- plumbing

def plumbing_models():
    rng = np.random.RandomState(16)
    df = numbers(17, 30, 3)
    df["n"] = rng.randint(-5, 6, 30)
    # FeatureVectorizer: its inputs share one type.
    df["n2"] = rng.randint(-9, 10, 30)
    for tag, t, a, b in [("", "float", ["x0", "x1"], ["x2"]),
                         ("_double", "double", ["x0"], ["x1", "x2"]),
                         ("_int64", "int64", ["n"], ["n2"])]:
        name = f"op_feature_vectorizer{tag}"
        node = helper.make_node("FeatureVectorizer", ["A", "B"],
                                ["variable"], domain=ML,
                                inputdimensions=[len(a), len(b)])
        model = make_graph(name, [node], [("A", t, len(a)), ("B", t, len(b))],
                           [f_out("variable", len(a) + len(b))], 1)
        export(name, model, df, [("A", t, a), ("B", t, b)])

    idx = helper.make_tensor("idx", TensorProto.INT64, [3], [4, 0, 4])
    node = helper.make_node("ArrayFeatureExtractor", ["X", "idx"],
                            ["variable"], domain=ML)
    float_model("op_array_feature_extractor", node, 5, [f_out("variable", 3)],
                seed=18, inits=[idx])
    idx = helper.make_tensor("idx", TensorProto.INT64, [1], [1])
    node = helper.make_node("ArrayFeatureExtractor", ["X", "idx"],
                            ["variable"], domain=ML)
    words = pd.DataFrame({
        "w0": rng.choice(["red", "green", "blue"], 30),
        "w1": rng.choice(["cat", "dog", "owl"], 30)})
    model = make_graph("op_array_feature_extractor_string", [node],
                       [("X", "string", 2)],
                       [("variable", tensor_type(TensorProto.STRING,
                                                 [None, 1]))], 1, [idx])
    export("op_array_feature_extractor_string", model, words,
           [("X", "string", ["w0", "w1"])])

    node = helper.make_node("ZipMap", ["X"], ["probabilities"], domain=ML,
                            classlabels_int64s=[7, -1, 3])
    float_model("op_zipmap_int64", node, 3,
                [("probabilities", zipmap_type(TensorProto.INT64))], seed=19,
                low=0, high=1, edges=ZERO3, classes=[7, -1, 3])
    node = helper.make_node("ZipMap", ["X"], ["probabilities"], domain=ML,
                            classlabels_strings=["zulu", "alpha", "mike"])
    float_model("op_zipmap_string", node, 3,
                [("probabilities", zipmap_type(TensorProto.STRING))], seed=20,
                low=0, high=1, edges=ZERO3, classes=["zulu", "alpha", "mike"])


# ---------------------------------------------------------------- trees

def N(feature, mode, value, yes, no, missing=0):
    return ("node", feature, mode, value, yes, no, missing)


def L(*weights):
    """A leaf: one weight per target (None: no weight for that target)."""
    return ("leaf", weights)


def flatten(trees):
    """Trees (nested N/L) into the attributes of TreeEnsembleRegressor /
    Classifier: nodes numbered depth-first within each tree."""
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids",
                         "nodes_modes", "nodes_values", "nodes_truenodeids",
                         "nodes_falsenodeids",
                         "nodes_missing_value_tracks_true"]}
    leaves = []  # (tree, node, target, weight)
    for t, tree in enumerate(trees):
        counter = [0]

        def walk(n):
            i = counter[0]
            counter[0] += 1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            pos = len(a["nodes_modes"])
            if n[0] == "leaf":
                a["nodes_featureids"].append(0)
                a["nodes_modes"].append("LEAF")
                a["nodes_values"].append(0.0)
                a["nodes_truenodeids"].append(0)
                a["nodes_falsenodeids"].append(0)
                a["nodes_missing_value_tracks_true"].append(0)
                for target, w in enumerate(n[1]):
                    if w is not None:
                        leaves.append((t, i, target, w))
                return i
            _, f, mode, v, yes, no, missing = n
            a["nodes_featureids"].append(f)
            a["nodes_modes"].append(mode)
            a["nodes_values"].append(v)
            a["nodes_truenodeids"].append(0)
            a["nodes_falsenodeids"].append(0)
            a["nodes_missing_value_tracks_true"].append(missing)
            a["nodes_truenodeids"][pos] = walk(yes)
            a["nodes_falsenodeids"][pos] = walk(no)
            return i
        walk(tree)
    return a, leaves


def tree_regressor(name, trees, n_targets=1, df=None, seed=21, edges=(),
                   k=3, opset=1, low=-3.0, high=3.0, **attrs):
    a, leaves = flatten(trees)
    a.update(n_targets=n_targets,
             target_treeids=[x[0] for x in leaves],
             target_nodeids=[x[1] for x in leaves],
             target_ids=[x[2] for x in leaves],
             target_weights=[x[3] for x in leaves])
    if not any(a["nodes_missing_value_tracks_true"]):
        del a["nodes_missing_value_tracks_true"]
    a.update(attrs)
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"],
                            domain=ML, **a)
    float_model(name, node, k, [f_out("variable", n_targets)], ml_opset=opset,
                df=df, seed=seed, edges=edges, low=low, high=high)


def tree_classifier(name, trees, labels, df=None, seed=22, edges=(), k=3,
                    ids=None, **attrs):
    a, leaves = flatten(trees)
    a.update(class_treeids=[x[0] for x in leaves],
             class_nodeids=[x[1] for x in leaves],
             class_ids=[x[2] if ids is None else ids for x in leaves],
             class_weights=[x[3] for x in leaves])
    if not any(a["nodes_missing_value_tracks_true"]):
        del a["nodes_missing_value_tracks_true"]
    a.update(labels_attr(labels, "classlabels_int64s"))
    a.update(attrs)
    node = helper.make_node("TreeEnsembleClassifier", ["X"],
                            ["label", "probabilities"], domain=ML, **a)
    float_model(name, node, k, classifier_outputs(labels, len(labels)),
                df=df, seed=seed, edges=edges, classes=labels)


# Rows on the thresholds the trees below use (0.5, -1.0, 1.25, 2.0).
TREE_EDGES = [[0.5, -1.0, 1.25], [0.5, 0.5, 0.5], [-1.0, 1.25, 2.0],
              [2.0, 2.0, -1.0], [0, 0, 0], [1.25, -1.0, 0.5]]


def tree_models():
    t1 = N(0, "BRANCH_LEQ", 0.5,
           N(1, "BRANCH_LEQ", -1.0, L(1.0), L(2.5)),
           N(2, "BRANCH_LEQ", 1.25, L(-1.5), L(4.0)))
    t2 = N(1, "BRANCH_LEQ", 0.5, L(0.25), N(0, "BRANCH_LEQ", 2.0, L(-3.0),
                                            L(0.75)))
    t3 = N(2, "BRANCH_LEQ", -1.0, L(5.0), L(-0.5))
    for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
        tree_regressor(f"op_tree_regressor_{agg.lower()}", [t1, t2, t3],
                       edges=TREE_EDGES, aggregate_function=agg)
    tree_regressor("op_tree_regressor_base_values", [t1, t2, t3],
                   edges=TREE_EDGES, base_values=[10.5])
    tree_regressor("op_tree_regressor_average_base_values", [t1, t2, t3],
                   edges=TREE_EDGES, base_values=[-2.0],
                   aggregate_function="AVERAGE")
    tree_regressor("op_tree_regressor_logistic", [t1, t2],
                   edges=TREE_EDGES, post_transform="LOGISTIC")
    # Two targets; some leaves give a weight to one target only.
    m1 = N(0, "BRANCH_LEQ", 0.5,
           N(1, "BRANCH_LEQ", -1.0, L(1.0, -1.0), L(2.0, None)),
           L(None, 3.0))
    m2 = N(2, "BRANCH_LEQ", 1.25, L(0.5, 0.5), L(-2.0, None))
    for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
        tree_regressor(f"op_tree_regressor_targets2_{agg.lower()}", [m1, m2],
                       n_targets=2, edges=TREE_EDGES,
                       aggregate_function=agg, base_values=[0.5, -0.25])
    tree_regressor("op_tree_regressor_targets2_softmax", [m1, m2],
                   n_targets=2, edges=TREE_EDGES, post_transform="SOFTMAX")
    # Every comparison mode, thresholds hit exactly.
    modes = N(0, "BRANCH_LT", 0.5,
              N(1, "BRANCH_GTE", -1.0,
                N(2, "BRANCH_EQ", 1.25, L(1.0), L(2.0)),
                N(2, "BRANCH_NEQ", 2.0, L(3.0), L(4.0))),
              N(1, "BRANCH_GT", 0.5,
                N(0, "BRANCH_EQ", 2.0, L(5.0), L(6.0)),
                N(2, "BRANCH_LEQ", 0.5, L(7.0), L(8.0))))
    tree_regressor("op_tree_regressor_modes", [modes], edges=TREE_EDGES + [
        [0.49, -1.01, 1.25], [0.49, -1.0, 1.25], [0.49, -1.0, 1.26],
        [0.49, -1.5, 2.0], [0.5, 0.5, 0.5], [0.5, 0.51, 0.5],
        [2.0, 0.51, 0.0]], seed=23, low=-2, high=3)
    # Missing values: some nodes send NaN to their true branch.
    miss = N(0, "BRANCH_LEQ", 0.5,
             N(1, "BRANCH_LT", -1.0, L(1.0), L(2.0), missing=1),
             N(2, "BRANCH_GTE", 1.25, L(3.0), L(4.0), missing=0),
             missing=1)
    miss2 = N(2, "BRANCH_LEQ", 0.0, L(-0.5), L(0.5), missing=0)
    df = numbers(24, 30, 3, edges=TREE_EDGES + [[NAN, NAN, NAN],
                                                [NAN, 0, 1.25],
                                                [1, NAN, NAN], [0, NAN, 2]])
    df.loc[[1, 7, 13], "x0"] = NAN
    df.loc[[2, 7, 20], "x1"] = NAN
    df.loc[[4, 9, 13, 21], "x2"] = NAN
    tree_regressor("op_tree_regressor_missing", [miss, miss2], df=df)
    # Double thresholds (ai.onnx.ml 3, nodes_values_as_tensor).
    a, leaves = flatten([t1, t2])
    a["nodes_values_as_tensor"] = helper.make_tensor(
        "v", TensorProto.DOUBLE, [len(a["nodes_values"])], a["nodes_values"])
    del a["nodes_values"]
    del a["nodes_missing_value_tracks_true"]
    a["target_weights_as_tensor"] = helper.make_tensor(
        "w", TensorProto.DOUBLE, [len(leaves)], [x[3] for x in leaves])
    a.update(n_targets=1, target_treeids=[x[0] for x in leaves],
             target_nodeids=[x[1] for x in leaves],
             target_ids=[x[2] for x in leaves],
             base_values_as_tensor=helper.make_tensor(
                 "b", TensorProto.DOUBLE, [1], [0.1]))
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"],
                            domain=ML, **a)
    model = make_graph("op_tree_regressor_double", [node],
                       [("X", "double", 3)],
                       [f_out("variable", 1)], 3)
    df = numbers(25, 30, 3, edges=TREE_EDGES)
    export("op_tree_regressor_double", model, df,
           [("X", "double", list(df.columns))])

    # Classifiers.
    c1 = N(0, "BRANCH_LEQ", 0.5,
           N(1, "BRANCH_LEQ", -1.0, L(0.5, 0.25, 0.25), L(0.1, 0.8, 0.1)),
           N(2, "BRANCH_LEQ", 1.25, L(0.2, 0.2, 0.6), L(None, 1.0, None)))
    c2 = N(2, "BRANCH_LT", 0.5, L(0.3, 0.3, 0.4), L(0.9, 0.05, 0.05))
    tree_classifier("op_tree_classifier_multiclass", [c1, c2], [3, 5, 7],
                    edges=TREE_EDGES)
    tree_classifier("op_tree_classifier_multiclass_base_values", [c1, c2],
                    [3, 5, 7], edges=TREE_EDGES,
                    base_values=[0.1, -0.2, 0.3])
    tree_classifier("op_tree_classifier_multiclass_softmax", [c1, c2],
                    [3, 5, 7], edges=TREE_EDGES, post_transform="SOFTMAX",
                    base_values=[0.5, 0.0, -0.5])
    tree_classifier("op_tree_classifier_multiclass_logistic",
                    [c1, c2], [0, 1, 2], edges=TREE_EDGES,
                    post_transform="LOGISTIC")
    tree_classifier("op_tree_classifier_strings", [c1, c2],
                    ["low", "mid", "high"], edges=TREE_EDGES,
                    post_transform="SOFTMAX")
    # Binary, one class id (the second class's score), weights in [0, 1]:
    # the label is the second class above 0.5.
    b1 = N(0, "BRANCH_LEQ", 0.5, N(1, "BRANCH_LEQ", -1.0, L(0.5), L(0.25)),
           L(0.75))
    b2 = N(2, "BRANCH_LEQ", 1.25, L(0.0), L(1.0))
    tree_classifier("op_tree_classifier_binary_none", [b1], [0, 1], ids=1,
                    edges=TREE_EDGES)
    tree_classifier("op_tree_classifier_binary_none_two_trees", [b1, b2],
                    [0, 1], ids=1, edges=TREE_EDGES)
    # Binary with margins (signed weights), as boosting exports them.
    g1 = N(0, "BRANCH_LEQ", 0.5, N(1, "BRANCH_LEQ", -1.0, L(-1.5), L(0.5)),
           L(1.25))
    g2 = N(2, "BRANCH_LT", 1.25, L(-0.5), L(0.0))
    for post in ["LOGISTIC", "NONE"]:
        tree_classifier(f"op_tree_classifier_binary_{post.lower()}_margin",
                        [g1, g2], [0, 1], ids=1, edges=TREE_EDGES,
                        post_transform=post)
        tree_classifier(f"op_tree_classifier_binary_{post.lower()}_base",
                        [g1, g2], [0, 1], ids=1, edges=TREE_EDGES,
                        post_transform=post, base_values=[0.25])
    tree_classifier("op_tree_classifier_binary_logistic_class0", [g1, g2],
                    [0, 1], ids=0, edges=TREE_EDGES,
                    post_transform="LOGISTIC")
    tree_classifier("op_tree_classifier_binary_logistic_strings", [g1, g2],
                    ["neg", "pos"], ids=1, edges=TREE_EDGES,
                    post_transform="LOGISTIC")
    tree_classifier("op_tree_classifier_binary_labels_minus1_plus1",
                    [b1, b2], [-1, 1], ids=1, edges=TREE_EDGES)
    # Binary with both classes weighted (as a random forest exports it).
    w1 = N(0, "BRANCH_LEQ", 0.5, L(0.75, 0.25), L(0.25, 0.75))
    w2 = N(1, "BRANCH_LEQ", 0.5, L(0.5, 0.5), L(0.0, 1.0))
    tree_classifier("op_tree_classifier_binary_two_ids", [w1, w2],
                    ["no", "yes"], edges=TREE_EDGES)
    # Missing values.
    miss = N(0, "BRANCH_LEQ", 0.5, L(0.8, 0.1, 0.1),
             N(1, "BRANCH_LT", 0.0, L(0.1, 0.8, 0.1), L(0.1, 0.1, 0.8),
               missing=1), missing=0)
    df = numbers(26, 30, 3, edges=TREE_EDGES + [[NAN, NAN, NAN],
                                                [1, NAN, 0]])
    df.loc[[1, 7, 13], "x0"] = NAN
    df.loc[[2, 7, 20], "x1"] = NAN
    tree_classifier("op_tree_classifier_missing", [miss], [0, 1, 2], df=df)

    v5_models()


# TreeEnsemble (ai.onnx.ml 5): modes as numbers.
V5_MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3,
            "BRANCH_EQ": 4, "BRANCH_NEQ": 5, "BRANCH_MEMBER": 6}


def flatten_v5(trees, order=None):
    """Trees (nested N/L; a BRANCH_MEMBER node's value is its set) into
    TreeEnsemble's attributes. order: the position of each tree's nodes in
    the node list (default: tree after tree)."""
    nodes = []  # dicts, per tree depth-first
    leaves = []  # (target, weight)
    roots = []
    for t, tree in enumerate(trees):
        def walk(n):
            if n[0] == "leaf":
                first = len(leaves)
                ws = [(j, w) for j, w in enumerate(n[1]) if w is not None]
                assert len(ws) == 1, "a TreeEnsemble leaf has one target"
                leaves.append(ws[0])
                return first, 1
            _, f, mode, v, yes, no, missing = n
            me = {"tree": t, "f": f, "mode": V5_MODES[mode], "v": v,
                  "missing": missing}
            nodes.append(me)
            i = len(nodes) - 1
            me["yes"] = walk(yes)
            me["no"] = walk(no)
            return i, 0
        roots.append(walk(tree)[0])
    perm = list(range(len(nodes)))
    if order is not None:
        perm = order(nodes)  # perm[new] = old
    new_of = {old: new for new, old in enumerate(perm)}
    fix = (lambda ref: (new_of[ref[0]] if ref[1] == 0 else ref[0], ref[1]))
    ns = [nodes[o] for o in perm]
    members = []
    splits = []
    for n in ns:
        if n["mode"] == 6:
            members.extend(n["v"] + [NAN])
            splits.append(0.0)
        else:
            splits.append(n["v"])
    return {
        "tree_roots": [new_of[r] for r in roots],
        "nodes_featureids": [n["f"] for n in ns],
        "nodes_modes": helper.make_tensor("modes", TensorProto.UINT8,
                                          [len(ns)], [n["mode"] for n in ns]),
        "splits": splits,
        "nodes_truenodeids": [fix(n["yes"])[0] for n in ns],
        "nodes_trueleafs": [fix(n["yes"])[1] for n in ns],
        "nodes_falsenodeids": [fix(n["no"])[0] for n in ns],
        "nodes_falseleafs": [fix(n["no"])[1] for n in ns],
        "missing": [n["missing"] for n in ns],
        "members": members,
        "leaf_targetids": [x[0] for x in leaves],
        "leaf_weights": [x[1] for x in leaves],
    }


def tree_v5(name, trees, n_targets=1, double=False, df=None, seed=27,
            edges=(), order=None, **attrs):
    f = flatten_v5(trees, order)
    elem = TensorProto.DOUBLE if double else TensorProto.FLOAT
    a = {k: f[k] for k in ["tree_roots", "nodes_featureids", "nodes_modes",
                           "nodes_truenodeids", "nodes_trueleafs",
                           "nodes_falsenodeids", "nodes_falseleafs",
                           "leaf_targetids"]}
    a["nodes_splits"] = helper.make_tensor("splits", elem, [len(f["splits"])],
                                           f["splits"])
    a["leaf_weights"] = helper.make_tensor("w", elem,
                                           [len(f["leaf_weights"])],
                                           f["leaf_weights"])
    if f["members"]:
        a["membership_values"] = helper.make_tensor(
            "m", elem, [len(f["members"])], f["members"])
    if any(f["missing"]):
        a["nodes_missing_value_tracks_true"] = f["missing"]
    a["n_targets"] = n_targets
    a.update(attrs)
    node = helper.make_node("TreeEnsemble", ["X"], ["variable"], domain=ML,
                            **a)
    t = "double" if double else "float"
    float_model(name, node, 3,
                [("variable", tensor_type(elem, [None, n_targets]))],
                ml_opset=5, df=df, seed=seed, edges=edges, itype=t)


def v5_models():
    # Every mode; MEMBER with sets {0, 2, 5} and {-1, 3} (onnxruntime
    # takes integer members only: a set holding 0.5 is refused).
    t1 = N(0, "BRANCH_MEMBER", [0.0, 2.0, 5.0],
           N(1, "BRANCH_LT", 0.5, L(1.0), N(2, "BRANCH_GTE", 1.25, L(2.0),
                                            L(3.0))),
           N(1, "BRANCH_MEMBER", [-1.0, 3.0],
             N(2, "BRANCH_EQ", 2.0, L(4.0), L(5.0)),
             N(0, "BRANCH_GT", 0.5, N(2, "BRANCH_NEQ", -1.0, L(6.0), L(7.0)),
               L(8.0))))
    t2 = N(2, "BRANCH_LEQ", 0.5, L(0.5), N(0, "BRANCH_MEMBER", [1.0, 3.0],
                                           L(-1.0), L(-2.0)))
    rng = np.random.RandomState(28)
    ints = rng.choice([-1.0, 0.0, 0.5, 1.0, 1.25, 2.0, 3.0, 5.0, 2.5], (40, 3))
    df = pd.DataFrame(ints, columns=["x0", "x1", "x2"])
    for agg, code in [("sum", 1), ("average", 0), ("min", 2), ("max", 3)]:
        tree_v5(f"op_tree_ensemble_v5_{agg}", [t1, t2], df=df,
                aggregate_function=code)
    # One target: onnxruntime transforms it with PROBIT only.
    for post, code in [("softmax", 1), ("logistic", 2), ("probit", 4)]:
        if post == "probit":
            # Scores inside (0, 1), where probit is finite.
            p1 = N(0, "BRANCH_MEMBER", [0.0, 2.0], L(0.25), L(0.75))
            tree_v5(f"op_tree_ensemble_v5_{post}", [p1], df=df,
                    post_transform=code)
        else:
            tree_v5(f"op_tree_ensemble_v5_{post}", [t1, t2], df=df,
                    post_transform=code)
    # Two targets. Not post_transform 1 (SOFTMAX in the spec) nor 2
    # (LOGISTIC): onnxruntime 1.32 reads 1 as LOGISTIC and 2 as SOFTMAX.
    u1 = N(0, "BRANCH_LEQ", 0.5, N(1, "BRANCH_MEMBER", [0.0, 1.0], L(1.0),
                                   L(None, 2.0)), L(None, -1.0))
    u2 = N(2, "BRANCH_GT", 1.25, L(0.5), L(None, 0.0))
    for post, code in [("none", 0), ("softmax_zero", 3)]:
        tree_v5(f"op_tree_ensemble_v5_targets2_{post}", [u1, u2],
                n_targets=2, df=df, post_transform=code)
    tree_v5("op_tree_ensemble_v5_targets2_max", [u1, u2], n_targets=2,
            df=df, aggregate_function=3)
    # Double splits and inputs.
    tree_v5("op_tree_ensemble_v5_double", [t1, t2], double=True, df=df)
    # The second tree's nodes listed first: membership sets belong to the
    # MEMBER nodes in the order of the node list.
    tree_v5("op_tree_ensemble_v5_member_order", [t1, t2], df=df,
            order=lambda ns: sorted(range(len(ns)),
                                    key=lambda i: (-ns[i]["tree"], i)))
    # Missing values.
    m1 = N(0, "BRANCH_LEQ", 0.5,
           N(1, "BRANCH_MEMBER", [0.0, 1.0], L(1.0), L(2.0), missing=1),
           N(2, "BRANCH_GT", 1.25, L(3.0), L(4.0), missing=0), missing=1)
    m2 = N(1, "BRANCH_MEMBER", [2.0], L(10.0), L(20.0), missing=0)
    dm = df.copy()
    dm.loc[[1, 5, 9, 30], "x0"] = NAN
    dm.loc[[2, 5, 11, 31], "x1"] = NAN
    dm.loc[[3, 9, 11, 30], "x2"] = NAN
    tree_v5("op_tree_ensemble_v5_missing", [m1, m2], df=dm)


# ---------------------------------------------------------------- SVMs

def svm_models():
    sv = [0.5, -1.0, 1.0,
          -0.5, 0.25, 0.0,
          1.0, 1.0, -1.0,
          0.0, -0.5, 0.5,
          -1.0, 0.5, 0.25]
    vpc = [2, 2, 1]
    # dual coefficients: (classes - 1) rows of one value per vector.
    coef = [0.5, -0.25, 0.75, -1.0, 0.3,
            -0.4, 0.6, 0.2, 0.5, -0.7]
    rho = [0.1, -0.2, 0.05]
    prob_a = [-1.5, -2.0, -0.75]
    prob_b = [0.1, -0.2, 0.05]
    kernels = [("linear", "LINEAR", [0.0, 0.0, 0.0]),
               ("poly", "POLY", [0.5, 1.0, 3.0]),
               ("sigmoid", "SIGMOID", [0.3, -0.2, 0.0]),
               ("rbf", "RBF", [0.4, 0.0, 0.0])]
    for tag, kernel, params in kernels:
        for proba in (False, True):
            if tag == "rbf" and not proba:
                continue  # the converters' suite has it (svc_rbf)
            extra = {"prob_a": prob_a, "prob_b": prob_b} if proba else {}
            labels = [4, 5, 6]
            node = helper.make_node(
                "SVMClassifier", ["X"], ["label", "probabilities"],
                domain=ML, kernel_type=kernel, kernel_params=params,
                support_vectors=sv, vectors_per_class=vpc, coefficients=coef,
                rho=rho, classlabels_ints=labels, **extra)
            name = f"op_svm_classifier_{tag}{'_proba' if proba else ''}"
            float_model(name, node, 3, classifier_outputs(labels, 3),
                        classes=labels, seed=29, low=-2, high=2,
                        edges=ZERO3)
    # Two classes, string labels.
    for tag, kernel, params in kernels[:3]:
        for proba in (False, True):
            extra = ({"prob_a": [-1.25], "prob_b": [0.2]} if proba else {})
            labels = ["no", "yes"]
            node = helper.make_node(
                "SVMClassifier", ["X"], ["label", "probabilities"],
                domain=ML, kernel_type=kernel, kernel_params=params,
                support_vectors=sv[:9], vectors_per_class=[2, 1],
                coefficients=[0.5, -0.25, -0.6], rho=[0.15],
                classlabels_strings=labels, **extra)
            name = (f"op_svm_classifier_binary_{tag}"
                    f"{'_proba' if proba else ''}")
            float_model(name, node, 3, classifier_outputs(labels, 2),
                        classes=labels, seed=30, low=-2, high=2,
                        edges=ZERO3)
    # Linear mode (no support vectors): one row of coefficients per class.
    node = helper.make_node(
        "SVMClassifier", ["X"], ["label", "probabilities"], domain=ML,
        kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0],
        coefficients=[0.5, -1.0, 0.25, -0.5, 0.5, 1.0,
                                            0.2, 0.1, -0.3],
        rho=[0.1, -0.1, 0.0], classlabels_ints=[0, 1, 2])
    float_model("op_svm_classifier_linear_mode", node, 3,
                classifier_outputs([0, 1, 2], 3), classes=[0, 1, 2], seed=31,
                edges=ZERO3)

    for tag, kernel, params in kernels[:3]:
        node = helper.make_node(
            "SVMRegressor", ["X"], ["variable"], domain=ML, kernel_type=kernel,
            kernel_params=params, support_vectors=sv, n_supports=5,
            coefficients=[0.5, -0.25, 0.75, -1.0, 0.3], rho=[0.2])
        float_model(f"op_svm_regressor_{tag}", node, 3,
                    [f_out("variable", 1)], seed=32, low=-2, high=2,
                    edges=ZERO3)
    node = helper.make_node(
        "SVMRegressor", ["X"], ["variable"], domain=ML, kernel_type="LINEAR",
        kernel_params=[0.0, 0.0, 0.0], coefficients=[0.5, -1.0, 2.0], rho=[0.5], n_supports=0)
    float_model("op_svm_regressor_linear_mode", node, 3,
                [f_out("variable", 1)], seed=33, edges=ZERO3)
    for tag, kernel, params in [kernels[3], kernels[0]]:
        node = helper.make_node(
            "SVMRegressor", ["X"], ["variable"], domain=ML,
            kernel_type=kernel, kernel_params=params, support_vectors=sv,
            n_supports=5, coefficients=[0.2, 0.2, 0.2, 0.2, 0.2],
            rho=[-0.5], one_class=1)
        float_model(f"op_svm_regressor_one_class_{tag}", node, 3,
                    [f_out("variable", 1)], seed=34, low=-2, high=2,
                    edges=ZERO3)


# ---------------------------------------------------------------- input types

def input_type_models():
    """Operators that take numbers of any type, fed int64 or double.
    (onnxruntime 1.32 has no int64 or double Binarizer, LinearRegressor or
    SVMRegressor, and no int64 TreeEnsembleRegressor.)"""
    rng = np.random.RandomState(35)
    ints = pd.DataFrame(rng.randint(-4, 5, (30, 3)), columns=["n0", "n1", "n2"])
    cases = [
        ("scaler", helper.make_node("Scaler", ["X"], ["variable"], domain=ML,
                                    offset=[1.0, -2.0, 0.5],
                                    scale=[0.5, 3.0, -1.0]), 3),
        ("normalizer_l2", helper.make_node("Normalizer", ["X"], ["variable"],
                                           domain=ML, norm="L2"), 3),
    ]
    for t in ["int64", "double"]:
        for tag, node, width in cases:
            if t == "double":
                df = numbers(36, 30, 3, edges=ZERO3)
                cols = list(df.columns)
            else:
                df, cols = ints, ["n0", "n1", "n2"]
            name = f"op_{tag}_{t}"
            model = make_graph(name, [node], [("X", t, 3)],
                               [f_out("variable", width)], 1)
            export(name, model, df, [("X", t, cols)])
    node = helper.make_node(
        "LinearClassifier", ["X"], ["label", "probabilities"], domain=ML,
        coefficients=[0.5, -1.0, 0.25, -0.75, 0.5, 1.0],
        intercepts=[0.0, 0.5], post_transform="SOFTMAX",
        classlabels_strings=["left", "right"])
    model = make_graph("op_linear_classifier_int64", [node],
                       [("X", "int64", 3)],
                       classifier_outputs(["left", "right"], 2), 1)
    export("op_linear_classifier_int64", model, ints,
           [("X", "int64", ["n0", "n1", "n2"])], classes=["left", "right"])


# ---------------------------------------------------------------- main

def main():
    linear_models()
    preprocessing_models()
    encoder_models()
    plumbing_models()
    tree_models()
    svm_models()
    input_type_models()

    path = os.path.join(HERE, "suite.json")
    with open(path) as f:
        suite = [m for m in json.load(f) if not m["name"].startswith("op_")]
    with open(path, "w") as f:
        json.dump(suite + MODELS, f, indent=1)
        f.write("\n")
    print(f"\n{len(MODELS)} operator models, {len(REFUSED)} refused by "
          "onnxruntime:")
    for name, msg in REFUSED:
        print(f"  {name}: {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
