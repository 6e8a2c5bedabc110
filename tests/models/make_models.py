#!/usr/bin/env python3
"""The model suite: trains the classic tabular models and exports them to
ONNX with their standard converters and default options, the way a user
following the converters' documentation would (skl2onnx for scikit-learn,
onnxmltools for XGBoost and LightGBM). chime's `predict` must give the
same outputs as onnxruntime on every one of them.

Run it (only to change the suite; the generated files are committed):

    python3 -m venv v && v/bin/pip install -r tests/models/requirements.txt \
        && v/bin/python tests/models/make_models.py

For each model NAME it writes, next to this script:

  NAME.onnx          the exported model (kept small: a few trees, shallow)
  NAME.input.csv     `id` (1..n) then the feature columns the model reads,
                     named as the user names them; an empty field is a
                     missing value (only in models that impute, or whose
                     trees route missing values: HistGradientBoosting)
  NAME.expected.csv  `id` then onnxruntime's outputs on those rows, floats
                     written with repr() of the float32/float64 value

and one `suite.json` listing every model (then make_op_models.py adds its
hand-built operator models, op_*): library, estimator, converter,
options, `features` (a list of columns for a single [N, K] input, or
{onnx_input: [columns]} for one input per column group), the element
type of each input, the expected columns, the ONNX ops ("domain:OpType",
domain "" for ai.onnx) and opsets. A converter path that fails is
recorded in SKIPPED.md, with its error.

Output columns follow chime's naming: a classifier's predicted class is
`label` (whatever the ONNX output is called: `label`, `output_label`) and
its probabilities (or scores) are one column per class,
`probability_<class>` in the model's class order, whether the ONNX output
is an [N, C] tensor (zipmap=False) or ZipMap's list of maps (the
default). Any other output keeps its ONNX name: one column when it has
one value per row, else `<name>_0`, `<name>_1`, ...

Everything is deterministic: fixed seeds, scikit-learn's built-in data
sets (iris, breast_cancer, diabetes) or synthetic data; no downloads.
Features are rounded to a few decimals so that the CSV text is short and
parses to exactly the float32 value the model was run on.
"""
import csv
import json
import os
import sys
import traceback
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from sklearn.base import is_classifier
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_iris,
                              make_classification, make_regression)
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (AdaBoostClassifier, ExtraTreesClassifier,
                              GradientBoostingClassifier,
                              GradientBoostingRegressor,
                              HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (LinearRegression, LogisticRegression, Ridge,
                                  SGDClassifier)
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB
from sklearn.preprocessing import (Binarizer, Normalizer, OneHotEncoder,
                                   PolynomialFeatures, StandardScaler)
from sklearn.svm import SVC, SVR, LinearSVC, OneClassSVM
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from skl2onnx import to_onnx

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_ONNX_BYTES = 300_000
SUITE = []
SKIPPED = []

ELEM = {  # ONNX element type -> (suite.json name, numpy dtype)
    onnx.TensorProto.FLOAT: ("float", np.float32),
    onnx.TensorProto.DOUBLE: ("double", np.float64),
    onnx.TensorProto.INT64: ("int64", np.int64),
    onnx.TensorProto.STRING: ("string", object),
}


# ---------------------------------------------------------------- data sets

def rows(n_total, n, seed):
    """n row indices out of n_total, chosen with a fixed seed, in order."""
    return np.sort(np.random.RandomState(seed).choice(n_total, n, replace=False))


def frame(X, columns, decimals):
    return pd.DataFrame(np.round(np.asarray(X, dtype=np.float64), decimals),
                        columns=columns)


def iris():
    d = load_iris()
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return frame(d.data, cols, 1), d.target, list(d.target_names)


def breast_cancer():
    d = load_breast_cancer()
    return frame(d.data, [f"f{i}" for i in range(30)], 4), d.target


def diabetes():
    d = load_diabetes(scaled=False)
    return frame(d.data, list(d.feature_names), 4), d.target


def synth_classification():
    X, y = make_classification(n_samples=400, n_features=8, n_informative=5,
                               random_state=7)
    return frame(X, [f"f{i}" for i in range(8)], 3), y


def synth_regression():
    X, y = make_regression(n_samples=400, n_features=6, n_informative=4,
                           noise=5.0, random_state=11)
    return frame(X, [f"f{i}" for i in range(6)], 3), np.round(y, 3)


def with_missing(df, fraction, seed, columns=None):
    """A copy of df with a fraction of its fields (in `columns`) set to NaN."""
    df = df.copy()
    rng = np.random.RandomState(seed)
    for c in columns or df.columns:
        df.loc[rng.rand(len(df)) < fraction, c] = np.nan
    return df


def customers(n=300, seed=3):
    """A small customer table: numbers with gaps, an integer, two string
    categories; the target is a string class ("low", "mid", "high")."""
    rng = np.random.RandomState(seed)
    age = np.round(rng.uniform(18, 80, n), 0)
    income = np.round(rng.lognormal(10.5, 0.5, n), 2)
    visits = rng.poisson(4, n).astype(np.int64)
    city = rng.choice(["paris", "lyon", "nantes", "lille"], n)
    plan = rng.choice(["free", "basic", "pro"], n, p=[0.5, 0.3, 0.2])
    score = (0.02 * age + income / 30000 + 0.3 * visits
             + (plan == "pro") * 1.5 + (city == "paris") * 0.5
             + rng.normal(0, 0.5, n))
    y = np.where(score < 3.2, "low", np.where(score < 4.2, "mid", "high"))
    df = pd.DataFrame({"age": age, "income": income, "visits": visits,
                       "city": city, "plan": plan})
    df = with_missing(df, 0.1, seed + 1, ["age", "income"])
    return df, y


# ---------------------------------------------------------------- ONNX facts

def graph_ops(graph, found):
    for node in graph.node:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        found.add(f"{domain}:{node.op_type}")
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                graph_ops(attr.g, found)
            for g in attr.graphs:
                graph_ops(g, found)
    return found


def model_inputs(onx):
    inits = {i.name for i in onx.graph.initializer}
    return [i for i in onx.graph.input if i.name not in inits]


# ---------------------------------------------------------------- writing

def fmt_input(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if np.isnan(v):
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


def export(name, onx, df, *, library, estimator, converter, options,
           features, classes=None):
    """Writes NAME.onnx, NAME.input.csv (rows of df) and NAME.expected.csv
    (onnxruntime's outputs on the CSV's rows, read back as a user's program
    would read them), and records the model in suite.json."""
    # Byte-for-byte reproducible files: the converters name the graph with
    # a random uuid and list opsets in set order.
    onx.graph.name = name
    opsets = sorted(onx.opset_import, key=lambda o: o.domain)
    del onx.opset_import[:]
    onx.opset_import.extend(opsets)
    data = onx.SerializeToString()
    if len(data) > MAX_ONNX_BYTES:
        raise RuntimeError(f"{name}.onnx is {len(data)} bytes, keep it small")
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

    # Read the CSV back (strings stay strings, empty numbers are NaN) and
    # feed each ONNX input its columns in the input's element type.
    # (pandas 3 gives text columns the "str" dtype, not object: test for
    # numbers, or an empty text field would come back as "nan".)
    back = pd.read_csv(path_in, keep_default_na=False, na_values={
        c: [""] for c in columns
        if pd.api.types.is_numeric_dtype(df[c])})
    inputs = {}
    feeds = {}
    for inp in model_inputs(onx):
        elem = inp.type.tensor_type.elem_type
        tname, dtype = ELEM[elem]
        cols = features[inp.name] if isinstance(features, dict) else features
        values = back[cols].to_numpy()
        if dtype is object:
            values = values.astype(str).astype(object)
        else:
            values = values.astype(dtype)
        inputs[inp.name] = tname
        feeds[inp.name] = values

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    results = sess.run(None, feeds)
    n = len(df)
    out = {}
    for o, r in zip(sess.get_outputs(), results):
        if classes is not None and o.name in ("label", "output_label"):
            out["label"] = [fmt_label(v) for v in np.asarray(r).ravel()]
        elif classes is not None and o.name in ("probabilities",
                                                "output_probability"):
            if isinstance(r, list):  # ZipMap: one {class: p} per row
                keys = list(r[0].keys())
                assert [str(k) for k in keys] == [str(c) for c in classes], (
                    name, keys, classes)
                matrix = [[d[k] for k in keys] for d in r]
            else:
                matrix = np.asarray(r)
                if matrix.shape != (n, len(classes)):
                    # Binary LinearSVC / SGDClassifier(hinge): [N, 1], the
                    # positive class's score; not one column per class, so
                    # named by the general rule.
                    assert matrix.shape == (n, 1), (name, matrix.shape)
                    out[o.name] = [fmt_float(v) for v in matrix[:, 0]]
                    continue
            for j, c in enumerate(classes):
                out[f"probability_{c}"] = [fmt_float(row[j]) for row in matrix]
        else:
            arr = np.asarray(r)
            assert arr.shape[0] == n, (name, o.name, arr.shape)
            arr = arr.reshape(n, -1)
            fmt = fmt_label if arr.dtype.kind in "iuSO" else fmt_float
            if arr.shape[1] == 1:
                out[o.name] = [fmt(v) for v in arr[:, 0]]
            else:
                for j in range(arr.shape[1]):
                    out[f"{o.name}_{j}"] = [fmt(v) for v in arr[:, j]]
    with open(os.path.join(HERE, f"{name}.expected.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id"] + list(out))
        for i in range(n):
            w.writerow([i + 1] + [out[c][i] for c in out])

    SUITE.append({
        "name": name,
        "library": library,
        "estimator": estimator,
        "converter": converter,
        "options": options,
        "features": features,
        "inputs": inputs,
        "outputs": list(out),
        "ops": sorted(graph_ops(onx.graph, set())),
        "opset": {("" if o.domain == "ai.onnx" else o.domain): o.version
                  for o in onx.opset_import},
        "ir_version": onx.ir_version,
        "bytes": len(data),
        "rows": n,
    })
    print(f"{name:40s} {len(data):7d} B  {n:4d} rows  "
          f"{' '.join(SUITE[-1]['ops'])}", flush=True)
    return out


def compare(name, est, X, out):
    """Prints how far onnxruntime's predictions (the expected file) are
    from the library's own predict(): a converter's float32 arithmetic can
    move a prediction slightly, or flip a label near a threshold. For
    information only: chime must match onnxruntime."""
    if not hasattr(est, "predict"):
        return
    pred = est.predict(X)
    if "label" in out and "variable" not in out and not isinstance(
            est, KMeans):
        got = np.array(out["label"])
        diff = int(np.sum(got != np.array([fmt_label(v) for v in pred])))
        print(f"{'':40s} labels differing from {type(est).__name__}."
              f"predict: {diff}")
    elif "variable" in out:
        got = np.array(out["variable"], dtype=np.float64)
        err = np.max(np.abs(got - pred.ravel()) / np.maximum(
            1.0, np.abs(pred.ravel())))
        print(f"{'':40s} max relative difference from "
              f"{type(est).__name__}.predict: {err:.2e}")


def short_error(e):
    """The error and its causes, without the converters' long dumps of
    node attributes."""
    lines = []
    while e is not None:
        text = str(e)
        if len(text) > 400:
            text = text[:300] + " ... " + text[-80:]
        lines.append(f"{type(e).__name__}: {text}")
        e = e.__cause__ or e.__context__
    return "\n  caused by ".join(lines)


def attempt(name, build):
    """Runs one model's build; a failure is recorded in SKIPPED.md."""
    try:
        build()
    except Exception as e:  # noqa: BLE001 - recorded, not hidden
        for suffix in (".onnx", ".input.csv", ".expected.csv"):
            p = os.path.join(HERE, name + suffix)
            if os.path.exists(p):
                os.remove(p)
        msg = short_error(e)
        SKIPPED.append((name, msg))
        print(f"{name:40s} SKIPPED: {msg.splitlines()[0][:200]}", flush=True)


# ---------------------------------------------------------------- scikit-learn

def skl(name, est, X, y, test, *, zipmap=None, classes=None, extra=None):
    """Fits est on (X, y), exports it with skl2onnx.to_onnx on float32
    features (the documented way) and writes the rows `test` of X."""
    def build():
        est.fit(X.to_numpy(np.float32), y)
        opts = {} if zipmap is None else {"zipmap": zipmap}
        opts.update(extra or {})
        onx = to_onnx(est, X.to_numpy(np.float32)[:1],
                      options=opts or None)
        cls = classes
        if cls is None and hasattr(est, "classes_"):
            cls = [c.item() if hasattr(c, "item") else c for c in est.classes_]
        out = export(name, onx, X.iloc[test], library="sklearn",
               estimator=(type(est).__name__ if not isinstance(est, Pipeline)
                          else "Pipeline(" + ", ".join(
                              type(s).__name__ for _, s in est.steps) + ")"),
               converter="skl2onnx.to_onnx", options=opts,
               features=list(X.columns),
               classes=cls if is_classifier(est) else None)
        compare(name, est, X.iloc[test].to_numpy(np.float32), out)
    attempt(name, build)


def sklearn_models():
    Xi, yi, iris_names = iris()
    ti = rows(len(Xi), 120, 1)
    Xb, yb = breast_cancer()
    tb = rows(len(Xb), 120, 2)
    Xd, yd = diabetes()
    td = rows(len(Xd), 120, 3)
    Xc, yc = synth_classification()
    tc = rows(len(Xc), 120, 4)
    Xr, yr = synth_regression()
    tr = rows(len(Xr), 120, 5)

    # Linear models.
    skl("linear_regression", LinearRegression(), Xd, yd, td)
    skl("ridge", Ridge(alpha=1.0), Xd, yd, td)
    skl("logistic_regression_binary",
        LogisticRegression(max_iter=5000, random_state=0), Xb, yb, tb)
    skl("logistic_regression_binary_nozipmap",
        LogisticRegression(max_iter=5000, random_state=0), Xb, yb, tb,
        zipmap=False)
    skl("logistic_regression_multiclass",
        LogisticRegression(max_iter=1000, random_state=0), Xi, yi, ti)
    skl("logistic_regression_multiclass_nozipmap",
        LogisticRegression(max_iter=1000, random_state=0), Xi, yi, ti,
        zipmap=False)
    skl("sgd_classifier", SGDClassifier(random_state=0), Xi, yi, ti)
    skl("linear_svc", LinearSVC(random_state=0), Xc, yc, tc)
    skl("linear_svc_multiclass", LinearSVC(random_state=0), Xi, yi, ti)

    # Kernel SVMs.
    skl("svc_rbf_proba", SVC(probability=True, random_state=0), Xi, yi, ti)
    skl("svc_rbf", SVC(random_state=0), Xi, yi, ti)
    skl("svc_rbf_binary", SVC(random_state=0), Xc, yc, tc)
    skl("svr", SVR(C=10.0), Xr, yr, tr)

    # Neighbours.
    skl("kneighbors_classifier", KNeighborsClassifier(n_neighbors=5),
        Xi, yi, ti)
    skl("kneighbors_regressor", KNeighborsRegressor(n_neighbors=5),
        Xr, yr, tr)

    # Trees and ensembles.
    skl("decision_tree_classifier",
        DecisionTreeClassifier(max_depth=5, random_state=0), Xi, yi, ti)
    names = np.array(iris_names)[yi]
    skl("decision_tree_classifier_string_labels_nozipmap",
        DecisionTreeClassifier(max_depth=5, random_state=0), Xi, names, ti,
        zipmap=False)
    skl("logistic_regression_string_labels",
        LogisticRegression(max_iter=1000, random_state=0), Xi, names, ti)
    skl("logistic_regression_binary_string_labels",
        LogisticRegression(max_iter=5000, random_state=0), Xb,
        np.where(yb == 1, "yes", "no"), tb)
    skl("random_forest_classifier_labels_minus1_plus1_nozipmap",
        RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0),
        Xb, 2 * yb - 1, tb, zipmap=False)
    skl("decision_tree_regressor",
        DecisionTreeRegressor(max_depth=6, random_state=0), Xd, yd, td)
    skl("random_forest_classifier",
        RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0),
        Xb, yb, tb)
    skl("random_forest_regressor",
        RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0),
        Xd, yd, td)
    skl("gradient_boosting_classifier_binary",
        GradientBoostingClassifier(n_estimators=20, max_depth=3,
                                   random_state=0), Xb, yb, tb)
    skl("gradient_boosting_classifier_multiclass",
        GradientBoostingClassifier(n_estimators=20, max_depth=3,
                                   random_state=0), Xi, yi, ti)
    skl("gradient_boosting_regressor",
        GradientBoostingRegressor(n_estimators=20, max_depth=3,
                                  random_state=0), Xd, yd, td)
    skl("hist_gradient_boosting_classifier",
        HistGradientBoostingClassifier(max_iter=15, max_depth=4,
                                       random_state=0), Xi, yi, ti)
    skl("hist_gradient_boosting_classifier_binary",
        HistGradientBoostingClassifier(max_iter=20, max_depth=4,
                                       random_state=0), Xb, yb, tb)
    # HistGradientBoosting routes missing values itself: trained and fed
    # with NaNs (empty CSV fields) to exercise the trees' missing tracks.
    Xdm = with_missing(Xd, 0.08, 21)
    skl("hist_gradient_boosting_regressor_missing",
        HistGradientBoostingRegressor(max_iter=20, max_depth=4,
                                      random_state=0), Xdm, yd, td)

    # Neural networks.
    skl("mlp_classifier",
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000,
                      random_state=0), Xi, yi, ti)
    skl("mlp_regressor",
        MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=2000,
                     random_state=0), Xr, yr, tr)

    # Clustering.
    skl("kmeans", KMeans(n_clusters=3, n_init=10, random_state=0), Xi, yi, ti)

    # Pipelines.
    skl("pipeline_scaler_logistic_regression",
        Pipeline([("scaler", StandardScaler()),
                  ("clf", LogisticRegression(random_state=0))]), Xb, yb, tb)
    Xbm = with_missing(Xb, 0.05, 22)
    skl("pipeline_imputer_scaler_logistic_regression",
        Pipeline([("imputer", SimpleImputer(strategy="mean")),
                  ("scaler", StandardScaler()),
                  ("clf", LogisticRegression(random_state=0))]),
        Xbm, yb, tb)
    skl("pipeline_imputer_random_forest_regressor",
        Pipeline([("imputer", SimpleImputer(strategy="median")),
                  ("reg", RandomForestRegressor(n_estimators=10, max_depth=5,
                                                random_state=0))]),
        with_missing(Xd, 0.08, 23), yd, td)
    skl("pipeline_normalizer_binarizer_logistic_regression",
        Pipeline([("norm", Normalizer()),
                  ("bin", Binarizer(threshold=0.25)),
                  ("clf", LogisticRegression(random_state=0))]),
        Xc, yc, tc)

    # More estimators users export: naive Bayes, AdaBoost, calibrated
    # classifiers, extra trees, polynomial features, a one-class SVM.
    skl("gaussian_nb", GaussianNB(), Xi, yi, ti)
    skl("bernoulli_nb", BernoulliNB(binarize=5.0), Xi, yi, ti)
    skl("multinomial_nb", MultinomialNB(), Xi, yi, ti)
    skl("adaboost_classifier",
        AdaBoostClassifier(n_estimators=10, random_state=0), Xi, yi, ti)
    skl("calibrated_linear_svc_isotonic",
        CalibratedClassifierCV(LinearSVC(random_state=0), method="isotonic",
                               cv=3), Xi, yi, ti)
    skl("calibrated_linear_svc_sigmoid",
        CalibratedClassifierCV(LinearSVC(random_state=0), method="sigmoid",
                               cv=3), Xi, yi, ti)
    skl("extra_trees_classifier",
        ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=0),
        Xi, yi, ti)
    skl("pipeline_polynomial_linear_regression",
        Pipeline([("poly", PolynomialFeatures(2)),
                  ("reg", LinearRegression())]), Xd, yd, td)
    skl("one_class_svm", OneClassSVM(gamma="scale", nu=0.1), Xi, yi, ti)

    column_transformer_model("column_transformer_logistic_regression", True)
    column_transformer_string_imputer_model(
        "column_transformer_string_imputer_random_forest")
    column_transformer_model(
        "column_transformer_logistic_regression_nozipmap", True, False)
    column_transformer_model(
        "column_transformer_float64_logistic_regression", False)
    column_transformer_model(
        "column_transformer_float64_logistic_regression_nozipmap", False,
        False)


def column_transformer_model(name, float32, zipmap=None):
    """A DataFrame pipeline: numbers imputed and scaled, string categories
    one-hot encoded, string class labels. Exported as the skl2onnx docs
    show: to_onnx with the DataFrame itself, which makes one input per
    column, typed from the column's dtype: float64 columns (pandas'
    default) become double inputs unless cast to float32 first."""
    def build():
        table, y = customers()
        df = table
        if float32:
            df = df.astype({"age": np.float32, "income": np.float32})
        pre = ColumnTransformer([
            ("num", Pipeline([("imputer", SimpleImputer(strategy="median")),
                              ("scaler", StandardScaler())]),
             ["age", "income"]),
            ("count", StandardScaler(), ["visits"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ])
        pipe = Pipeline([("pre", pre),
                         ("clf", LogisticRegression(max_iter=1000,
                                                    random_state=0))])
        pipe.fit(df, y)
        opts = {} if zipmap is None else {"zipmap": zipmap}
        onx = to_onnx(pipe, df[:1], options=opts or None)
        test = rows(len(df), 150, 6)
        out = export(name, onx, table.iloc[test],
               library="sklearn",
               estimator="Pipeline(ColumnTransformer(Pipeline(SimpleImputer, "
                         "StandardScaler), StandardScaler, OneHotEncoder), "
                         "LogisticRegression)",
               converter="skl2onnx.to_onnx", options=opts,
               features={c: [c] for c in df.columns},
               classes=list(pipe.classes_))
        compare(name, pipe, df.iloc[test], out)
    attempt(name, build)


def column_transformer_string_imputer_model(name):
    """A string column with gaps, imputed with its most frequent value
    (SimpleImputer(missing_values="") exports a Where over strings),
    one-hot encoded (handle_unknown="ignore"), then a random forest."""
    def build():
        table, y = customers(seed=5)
        df = table.astype({"age": np.float32, "income": np.float32})
        rng = np.random.RandomState(7)
        df["city"] = np.where(rng.uniform(size=len(df)) < 0.1, "", df["city"])
        pre = ColumnTransformer([
            ("num", SimpleImputer(strategy="median"), ["age", "income"]),
            ("cat", Pipeline([
                ("imputer", SimpleImputer(strategy="most_frequent",
                                          missing_values="")),
                ("onehot", OneHotEncoder(handle_unknown="ignore"))]),
             ["city"]),
        ])
        pipe = Pipeline([("pre", pre),
                         ("clf", RandomForestClassifier(
                             n_estimators=10, max_depth=5, random_state=0))])
        pipe.fit(df[["age", "income", "city"]], y)
        df = df[["age", "income", "city"]]
        onx = to_onnx(pipe, df[:1])
        test = rows(len(df), 150, 8)
        out = export(name, onx, df.iloc[test], library="sklearn",
               estimator="Pipeline(ColumnTransformer(SimpleImputer, "
                         "Pipeline(SimpleImputer(most_frequent), "
                         "OneHotEncoder)), RandomForestClassifier)",
               converter="skl2onnx.to_onnx", options={},
               features={c: [c] for c in df.columns},
               classes=list(pipe.classes_))
        compare(name, pipe, df.iloc[test], out)
    attempt(name, build)


# ---------------------------------------------------------------- XGBoost, LightGBM

def mltools(name, library, est, X, y, test, classifier, fit_frame=False,
            options=None):
    """Fits est on numpy float32 features (or, fit_frame, on the float32
    DataFrame with its column names) and exports it with onnxmltools'
    convert_xgboost / convert_lightgbm, initial_types as their docs show."""
    def build():
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
        if fit_frame:
            est.fit(X.astype(np.float32), y)
        else:
            est.fit(X.to_numpy(np.float32), y)
        types = [("input", FloatTensorType([None, X.shape[1]]))]
        if library == "xgboost":
            onx = onnxmltools.convert_xgboost(est, initial_types=types)
            conv = "onnxmltools.convert_xgboost"
        else:
            onx = onnxmltools.convert_lightgbm(est, initial_types=types,
                                               **(options or {}))
            conv = "onnxmltools.convert_lightgbm"
        out = export(name, onx, X.iloc[test], library=library,
               estimator=type(est).__name__, converter=conv,
               options=options or {},
               features=list(X.columns),
               classes=([c.item() for c in est.classes_] if classifier
                        else None))
        compare(name, est, X.iloc[test].to_numpy(np.float32), out)
    attempt(name, build)


def boosting_models():
    import lightgbm
    import xgboost
    Xi, yi, _ = iris()
    ti = rows(len(Xi), 120, 1)
    Xb, yb = breast_cancer()
    tb = rows(len(Xb), 120, 2)
    Xd, yd = diabetes()
    td = rows(len(Xd), 120, 3)

    xgb = dict(n_estimators=20, max_depth=4, random_state=0, n_jobs=1)
    mltools("xgb_classifier_binary", "xgboost",
            xgboost.XGBClassifier(**xgb), Xb, yb, tb, True)
    mltools("xgb_classifier_multiclass", "xgboost",
            xgboost.XGBClassifier(**xgb), Xi, yi, ti, True)
    mltools("xgb_regressor", "xgboost",
            xgboost.XGBRegressor(**xgb), Xd, yd, td, False)

    # Fitted on a DataFrame, the booster keeps the column names, which
    # convert_xgboost refuses (it wants f0, f1, ...): fit on an array.
    mltools("xgb_regressor_fitted_on_dataframe", "xgboost",
            xgboost.XGBRegressor(**xgb), Xd, yd, td, False, fit_frame=True)
    # Trained and fed with missing values (empty CSV fields): XGBoost's
    # default direction for a missing value, exported as missing tracks.
    mltools("xgb_regressor_missing", "xgboost",
            xgboost.XGBRegressor(**xgb), with_missing(Xd, 0.08, 24), yd, td,
            False)

    lgb = dict(n_estimators=20, max_depth=4, num_leaves=15, random_state=0,
               n_jobs=1, verbose=-1)
    mltools("lgbm_classifier_binary", "lightgbm",
            lightgbm.LGBMClassifier(**lgb), Xb, yb, tb, True)
    mltools("lgbm_classifier_multiclass", "lightgbm",
            lightgbm.LGBMClassifier(**lgb), Xi, yi, ti, True)
    mltools("lgbm_classifier_multiclass_nozipmap", "lightgbm",
            lightgbm.LGBMClassifier(**lgb), Xi, yi, ti, True,
            options={"zipmap": False})
    mltools("lgbm_regressor", "lightgbm",
            lightgbm.LGBMRegressor(**lgb), Xd, yd, td, False)
    mltools("lgbm_regressor_missing", "lightgbm",
            lightgbm.LGBMRegressor(**lgb), with_missing(Xd, 0.08, 25), yd, td,
            False)


# ---------------------------------------------------------------- main

FLOAT64_NOTE = (
    "to_onnx given a DataFrame whose number columns are float64 (pandas' "
    "default) makes double inputs and converts the whole pipeline in "
    "double; onnxruntime refuses the result (ZipMap takes float "
    "probabilities only; ai.onnx.ml's Imputer is float/int64 only). Cast "
    "the float columns to float32 before to_onnx, as the "
    "column_transformer_logistic_regression models do.")
SKIP_NOTES = {
    "xgb_regressor_fitted_on_dataframe": (
        "An XGBoost model fitted on a pandas DataFrame keeps its column "
        "names as feature names, and onnxmltools.convert_xgboost only reads "
        "names f0, f1, ...: fit on `df.to_numpy(np.float32)` (the suite's "
        "xgb_* models), or rename the columns f0..fK before fitting."),
    "column_transformer_float64_logistic_regression": FLOAT64_NOTE,
    "column_transformer_float64_logistic_regression_nozipmap": FLOAT64_NOTE,
}


def main():
    sklearn_models()
    boosting_models()

    # One input as Parquet too, where a missing value is a null
    # (compiler/tests/models.rs reads it through predict).
    import polars as pl
    name = "hist_gradient_boosting_regressor_missing"
    pl.read_csv(os.path.join(HERE, f"{name}.input.csv")).write_parquet(
        os.path.join(HERE, f"{name}.input.parquet"), compression="snappy")

    with open(os.path.join(HERE, "suite.json"), "w") as f:
        json.dump(SUITE, f, indent=1)
        f.write("\n")
    path = os.path.join(HERE, "SKIPPED.md")
    if SKIPPED:
        with open(path, "w") as f:
            f.write("# Models the suite could not export\n\n"
                    "Written by make_models.py: the converter failed, or "
                    "onnxruntime refused the model it wrote, with these "
                    "library versions (see requirements.txt).\n")
            for name, msg in SKIPPED:
                f.write(f"\n## {name}\n\n```\n{msg}\n```\n")
                if name in SKIP_NOTES:
                    f.write(f"\n{SKIP_NOTES[name]}\n")
    elif os.path.exists(path):
        os.remove(path)

    # The hand-built operator models (op_*), after these in suite.json.
    import make_op_models
    make_op_models.main()

    counts = {}
    for m in SUITE:
        for op in m["ops"]:
            counts[op] = counts.get(op, 0) + 1
    print(f"\n{len(SUITE)} models, {len(SKIPPED)} skipped; ops (models using):")
    for op, c in sorted(counts.items()):
        print(f"  {c:3d}  {op}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
