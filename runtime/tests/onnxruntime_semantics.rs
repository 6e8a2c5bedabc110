//! Where chime once differed from onnxruntime: each test is a bug found in
//! review, shown by a small model in
//! runtime/tests/models (made with onnx.helper) whose expected values are
//! onnxruntime 1.32's outputs on the same inputs.
#![cfg(feature = "predict")]

use chime::ml::value::{Arr, Tensor, Value};

fn run(name: &str, feeds: Vec<Tensor>) -> Result<Vec<Value>, String> {
    let path = format!("{}/tests/models/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let m = chime::ml::Model::read(&bytes).map_err(|e| e.to_string())?;
    let g = chime::ml::Graph::load(&m).map_err(|e| e.to_string())?;
    let out = g
        .run(feeds.into_iter().map(Value::T).collect())
        .map_err(|e| e.to_string())?;
    Ok(out.iter().map(|v| (**v).clone()).collect())
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::F32(Arr::new(shape.to_vec(), v.to_vec()).unwrap())
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::T(Tensor::F32(a)) => a.data.clone(),
        Value::T(Tensor::F64(a)) => a.data.iter().map(|&x| x as f32).collect(),
        other => panic!("not floats: {other:?}"),
    }
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, onnxruntime {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "got {got:?}, onnxruntime {want:?}"
        );
    }
}

fn no_panic(name: &str, feeds: Vec<Tensor>) {
    let r = std::panic::catch_unwind(|| run(name, feeds).map(|_| ()));
    assert!(
        r.is_ok(),
        "{name}: a hostile model panics instead of failing with an error"
    );
}

/// LinearClassifier, one intercept, classlabels_ints [3, 7],
/// post_transform LOGISTIC: onnxruntime writes [1 - p, p] with p the
/// logistic of the score; chime writes [1 - s, s] of the raw score.
#[test]
fn linear_classifier_one_intercept_ignores_logistic() {
    let out = run("t3_lin_LOGISTIC", vec![f32s(&[2, 1], &[0.2, 0.9])]).unwrap();
    close(
        &floats(&out[1]),
        &[0.524_979_2, 0.475_020_8, 0.214_164_97, 0.785_835],
    );
}

/// SVMClassifier (SVC, 2 classes, POLY, post_transform LOGISTIC):
/// onnxruntime applies the logistic before adding the second class.
#[test]
fn svm_classifier_binary_ignores_post_transform() {
    let out = run(
        "t24_svc2_logistic",
        vec![f32s(&[3, 2], &[1., 2., 2., 1., 0., 0.])],
    )
    .unwrap();
    close(
        &floats(&out[1]),
        &[
            0.993_631_5,
            0.006_368_458,
            0.993_631_5,
            0.006_368_458,
            0.450_166,
            0.549_834,
        ],
    );
}

/// TreeEnsembleRegressor, 2 targets, base_values [0.25, 0.5]: a row whose
/// leaves give target 1 no weight gets 0 from onnxruntime, 0.5 from chime.
#[test]
fn tree_regressor_target_without_weight_gets_base_value() {
    let out = run("t2_SUM", vec![f32s(&[2, 1], &[0.2, 0.9])]).unwrap();
    close(&floats(&out[0]), &[-1.75, 0.0, 6.25, 5.5]);
}

/// TreeEnsembleClassifier, binary (class_ids all 0), base_values [0.1,
/// 0.2]: onnxruntime's class-1 score is 0 (no leaf scored it), chime's 0.2.
#[test]
fn tree_classifier_binary_two_base_values_scores_unweighted_class() {
    let out = run("t1d_bin_base2", vec![f32s(&[2, 1], &[0.2, 0.9])]).unwrap();
    close(&floats(&out[1]), &[-0.2, 0.0, 0.8, 0.0]);
}

/// TreeEnsemble (ai.onnx.ml 5), n_targets 1, post_transform LOGISTIC:
/// onnxruntime applies only PROBIT to a single target (as for
/// TreeEnsembleRegressor); chime applies the logistic.
#[test]
fn tree_ensemble_v5_single_target_applies_post_transform() {
    let out = run("v5_logistic", vec![f32s(&[4, 1], &[0.2, 0.9, 3.0, 7.0])]).unwrap();
    close(&floats(&out[0]), &[11.0, 22.0, 22.0, 22.0]);
}

/// TreeEnsemble 5 with BRANCH_MEMBER nodes and tree_roots [1, 0]: the
/// membership sets belong to the member nodes in node order; chime hands
/// them out in tree order.
#[test]
fn tree_ensemble_v5_membership_sets_follow_tree_order_not_node_order() {
    let out = run(
        "v5_members_roots10",
        vec![f32s(&[4, 1], &[0.2, 0.9, 3.0, 7.0])],
    )
    .unwrap();
    close(&floats(&out[0]), &[22.0, 22.0, 21.0, 12.0]);
}

/// TreeEnsembleRegressor with float thresholds (0.5) and a double input:
/// onnxruntime compares the double; chime rounds it to f32 first, so
/// 0.50000001 goes left (<= 0.5).
#[test]
fn tree_with_float_thresholds_rounds_double_input() {
    let x = Tensor::F64(Arr::new(vec![2, 1], vec![0.500_000_01, 0.5]).unwrap());
    let out = run("t22_double_in", vec![x]).unwrap();
    close(&floats(&out[0]), &[2.0, 1.0]);
}

/// Cast float -> string: onnxruntime writes a float's shortest digits
/// (0.1, 1e+20, INF); chime widens to f64 first.
#[test]
fn cast_float_to_string_writes_f64_digits() {
    let x = f32s(
        &[8],
        &[
            0.1,
            3.0,
            1e20,
            f32::NAN,
            f32::INFINITY,
            -0.0,
            1.5e-7,
            123_456_789.0,
        ],
    );
    match &run("t5_f2s", vec![x]).unwrap()[0] {
        Value::T(Tensor::Str(a)) => assert_eq!(
            a.data,
            [
                "0.1",
                "3",
                "1e+20",
                "NaN",
                "INF",
                "-0",
                "1.5000001e-07",
                "1.2345679e+08"
            ]
        ),
        other => panic!("{other:?}"),
    }
}

/// Cast string -> int64 of "3.0": onnxruntime 3, chime 0 (silently).
#[test]
fn cast_string_to_int64_gives_zero_for_decimal_text() {
    let x = Tensor::Str(Arr::new(vec![1], vec!["3.0".to_string()]).unwrap());
    match &run("t5_s2i_float", vec![x]).unwrap()[0] {
        Value::T(Tensor::I64(a)) => assert_eq!(a.data, [3]),
        other => panic!("{other:?}"),
    }
}

/// Cast string -> float of "abc": onnxruntime fails the run; chime
/// gives NaN silently.
#[test]
fn cast_unparsable_string_to_float_is_silently_nan() {
    let x = Tensor::Str(Arr::new(vec![1], vec!["abc".to_string()]).unwrap());
    assert!(
        run("t5_s2f_bad", vec![x]).is_err(),
        "onnxruntime refuses `abc`"
    );
}

/// Max(NaN, 1) and Max(1, NaN): onnxruntime NaN, chime 1 (a NaN feature
/// then yields a finite prediction that the NaN guard cannot catch).
#[test]
fn max_min_drop_nan() {
    let a = f32s(&[2], &[f32::NAN, 1.0]);
    let b = f32s(&[2], &[1.0, f32::NAN]);
    let got = floats(&run("t6_Max", vec![a, b]).unwrap()[0]);
    assert!(
        got.iter().all(|v| v.is_nan()),
        "got {got:?}, onnxruntime [NaN, NaN]"
    );
}

/// TopK(largest) of [-0.0, 0.0, 1, 1]: onnxruntime's indices [2, 3, 0, 1]
/// (-0 == 0: a tie, lower index first); chime's [2, 3, 1, 0].
#[test]
fn topk_orders_negative_zero_below_zero() {
    let x = f32s(&[1, 4], &[-0.0, 0.0, 1.0, 1.0]);
    let k = Tensor::I64(Arr::new(vec![1], vec![4]).unwrap());
    match &run("t7_topk", vec![x, k]).unwrap()[1] {
        Value::T(Tensor::I64(a)) => assert_eq!(a.data, [2, 3, 0, 1]),
        other => panic!("{other:?}"),
    }
}

/// OneHotEncoder (cats_int64s [1, 2, 3]) on float input [2.7, 2.0, 1.9]:
/// onnxruntime truncates to int64 (2, 2, 1); chime matches only exact
/// values.
#[test]
fn one_hot_encoder_does_not_truncate_float_input() {
    let out = run("t8_ohe_float", vec![f32s(&[3, 1], &[2.7, 2.0, 1.9])]).unwrap();
    close(&floats(&out[0]), &[0., 1., 0., 0., 1., 0., 1., 0., 0.]);
}

/// ArgMax, TopK and Gather of a rank-0 tensor index `shape[axis]` of an
/// empty shape (onnxruntime refuses such models at load).
#[test]
fn argmax_topk_gather_of_a_scalar_panic() {
    no_panic("t9_argmax_scalar", vec![f32s(&[], &[1.0])]);
    no_panic(
        "t9_topk_scalar",
        vec![
            f32s(&[], &[1.0]),
            Tensor::I64(Arr::new(vec![1], vec![1]).unwrap()),
        ],
    );
    no_panic(
        "t9_gather_scalar",
        vec![
            f32s(&[], &[1.0]),
            Tensor::I64(Arr::new(vec![], vec![0]).unwrap()),
        ],
    );
}

/// Scan whose body has fewer outputs than state variables:
/// `outs[..self.states]` panics (graph.rs, Scan::run).
#[test]
fn scan_body_with_fewer_outputs_than_states_panics() {
    no_panic(
        "t10_scan",
        vec![
            f32s(&[1], &[1.0]),
            f32s(&[1], &[1.0]),
            f32s(&[2, 1], &[1.0, 2.0]),
        ],
    );
}

/// LabelEncoder (ai.onnx.ml 1) maps int64 -> string too: classes_strings
/// [a, b], default_string "?": onnxruntime ["b", "?"] for [1, 5]; chime
/// int64 [-1, -1].
#[test]
fn label_encoder_v1_int_to_string_is_not_mapped() {
    let x = Tensor::I64(Arr::new(vec![2], vec![1, 5]).unwrap());
    match &run("t11_le_v1_int2str", vec![x]).unwrap()[0] {
        Value::T(Tensor::Str(a)) => assert_eq!(a.data, ["b", "?"]),
        other => panic!("{other:?}"),
    }
}

/// skl2onnx's export of SimpleImputer(strategy="most_frequent",
/// missing_values="") + OneHotEncoder(handle_unknown="ignore") on a
/// string column (in a ColumnTransformer, then a RandomForestClassifier)
/// fills the gaps with `Where` over strings. chime's Where converts both
/// branches to f64 (std_ops.rs Where: float_pair, to_f64 of a string is
/// NaN), so every category one-hot encodes to zeros: rows "a", "" and "b"
/// all get [0.4235, 0.5765]; onnxruntime gives [0.8235, 0.1765],
/// [0.0235, 0.9765], [0.0235, 0.9765] (labels 0, 1, 1).
#[test]
fn where_on_strings_turns_categories_into_nan() {
    let x = f32s(&[4, 1], &[0.5, 0.5, 0.5, -1.0]);
    let c =
        Tensor::Str(Arr::new(vec![4, 1], ["a", "", "b", "qq"].map(String::from).to_vec()).unwrap());
    let out = run("string_imputer_rf", vec![x, c]).unwrap();
    close(
        &floats(&out[1]),
        &[
            0.823_529_4,
            0.176_470_6,
            0.023_529_41,
            0.976_470_6,
            0.023_529_41,
            0.976_470_6,
            0.888_888_9,
            0.111_111_11,
        ],
    );
}
