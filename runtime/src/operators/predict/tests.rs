//! predict's unit tests: parameters, loading models, and every model of
//! tests/models against onnxruntime's outputs.

use super::batch::{Batch, Col};
use super::model::{Model, cell};
use super::params::PredictTask;
use crate::ml::bind::Features;
use crate::rows::Cell;

fn job(extra: serde_json::Value) -> Result<PredictTask, super::error::PredictError> {
    let mut p = serde_json::json!({
        "model": "m.onnx",
        "input": { "csv": "in.csv" },
        "features": ["x"],
        "output": "out.csv",
    });
    if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(extra.clone());
    }
    PredictTask::from_params(&p)
}

#[test]
fn allow_nan_is_off_unless_asked_for() {
    assert!(!job(serde_json::json!({})).unwrap().allow_nan);
    assert!(
        job(serde_json::json!({ "allow_nan": true }))
            .unwrap()
            .allow_nan
    );
    // A template renders to a string.
    assert!(
        job(serde_json::json!({ "allow_nan": "true" }))
            .unwrap()
            .allow_nan
    );
    assert!(
        !job(serde_json::json!({ "allow_nan": "false" }))
            .unwrap()
            .allow_nan
    );
    let err = job(serde_json::json!({ "allow_nan": "yes" }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("use true or false"), "{err}");
}

/// scikit-learn's default OneHotEncoder (handle_unknown="error")
/// exports `zeros=0`: the model refuses the probe's empty strings, so
/// its columns come from the shapes it declares; known categories
/// predict, an unknown one fails naming the value.
#[test]
fn a_strict_one_hot_encoder_loads_and_names_an_unknown_category() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/onehot_strict.onnx"
    );
    let features = Features::List(vec!["x".into(), "c".into()]);
    let model = Model::load(path, &features, 16, &Default::default()).unwrap();
    assert_eq!(model.columns, ["label", "probability_0", "probability_1"]);
    let cols = |c: &str| {
        vec![
            Col::F32(vec![1.0, 4.0]),
            Col::Str(vec!["a".into(), c.into()]),
        ]
    };
    let out = model.infer(cols("c"), 2).unwrap();
    assert_eq!(out.len(), 2);
    let err = model.infer(cols("zzz"), 2).err().unwrap().to_string();
    assert!(
        err.contains("`zzz` is not one of the categories the model was trained on (a, b, c)"),
        "{err}"
    );
}

/// Missing values are allowed per input, where the model handles
/// them: in a ColumnTransformer whose string column `c` has a
/// SimpleImputer (exported as a Where) and whose number column `x` only
/// a scaler before a random forest, a gap in `c` is imputed, a gap in
/// `x` fails the task.
#[test]
fn missing_values_are_allowed_only_for_the_inputs_that_handle_them() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/models/string_imputer_rf.onnx"
    );
    let features = Features::List(vec!["x".into(), "c".into()]);
    let model = Model::load(path, &features, 16, &Default::default()).unwrap();
    let names: Vec<&str> = model.inputs.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["x", "c"]);
    assert_eq!(model.takes_missing, [false, true]);
    let suite = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/models/pipeline_imputer_scaler_logistic_regression.onnx"
    );
    let cols: Vec<String> = (0..30).map(|i| format!("f{i}")).collect();
    let model = Model::load(suite, &Features::List(cols), 16, &Default::default()).unwrap();
    assert_eq!(model.takes_missing, [true]);
    let plain = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/models/random_forest_regressor.onnx"
    );
    let cols: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let model = Model::load(plain, &Features::List(cols), 16, &Default::default()).unwrap();
    assert_eq!(model.takes_missing, [false]);
}

/// Every model of tests/models (exported by their standard
/// converters) through `predict`'s model layer: the columns and every
/// value equal onnxruntime's (labels exactly, scores within 1e-5).
#[test]
fn suite_models_match_onnxruntime() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
    let suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("suite.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    for m in suite.as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        if let Err(e) = check_model(&dir, name, &m["features"]) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} models differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn check_model(
    dir: &std::path::Path,
    name: &str,
    features: &serde_json::Value,
) -> Result<(), Box<dyn std::error::Error>> {
    let features = super::params::features(Some(features))?;
    let model = Model::load(
        dir.join(format!("{name}.onnx")).to_str().unwrap(),
        &features,
        64,
        &Default::default(),
    )?;
    let (header, rows) = read_csv(&dir.join(format!("{name}.input.csv")));
    let (want_cols, want) = read_csv(&dir.join(format!("{name}.expected.csv")));
    if model.columns != want_cols[1..] {
        return Err(format!(
            "columns {:?}, onnxruntime's {:?}",
            model.columns,
            &want_cols[1..]
        )
        .into());
    }
    let mut batch = Batch::new(&model.inputs, rows.len());
    for row in &rows {
        for (b, col) in model.inputs.iter().zip(&mut batch.cols) {
            for c in &b.columns {
                let v = &row[header
                    .iter()
                    .position(|h| h == c)
                    .ok_or(format!("no column {c}"))?];
                match col {
                    Col::F32(x) => x.push(if v.is_empty() {
                        f32::NAN
                    } else {
                        v.parse().unwrap()
                    }),
                    Col::F64(x) => x.push(if v.is_empty() {
                        f64::NAN
                    } else {
                        v.parse().unwrap()
                    }),
                    Col::I64(x) => x.push(v.parse().unwrap()),
                    Col::Str(x) => x.push(v.clone()),
                }
            }
        }
    }
    let copy = |c: &Col| match c {
        Col::F32(v) => Col::F32(v.clone()),
        Col::F64(v) => Col::F64(v.clone()),
        Col::I64(v) => Col::I64(v.clone()),
        Col::Str(v) => Col::Str(v.clone()),
    };
    let outs = model.infer(batch.cols.iter().map(copy).collect(), rows.len())?;
    // The same rows eight times in one batch (large enough for tree
    // ensembles to split it over threads) give the same values.
    let big: Vec<Col> = batch
        .cols
        .iter()
        .map(|c| match c {
            Col::F32(v) => Col::F32(v.repeat(8)),
            Col::F64(v) => Col::F64(v.repeat(8)),
            Col::I64(v) => Col::I64(v.repeat(8)),
            Col::Str(v) => Col::Str((0..8).flat_map(|_| v.iter().cloned()).collect()),
        })
        .collect();
    let outs8 = model.infer(big, rows.len() * 8)?;
    for (o, o8) in outs.iter().zip(&outs8) {
        let n = o.values.len();
        for copy in 0..8 {
            for i in 0..n {
                let (a, b) = (cell(&o.values, i), cell(&o8.values, copy * n + i));
                if a != b
                    && !(matches!((&a, &b), (Cell::Float(x), Cell::Float(y)) if x.is_nan() && y.is_nan()))
                {
                    return Err(format!(
                        "value {i} differs in a batch of 8 copies: {a:?} vs {b:?}"
                    )
                    .into());
                }
            }
        }
    }
    let mut diffs = Vec::new();
    for (r, want_row) in want.iter().enumerate() {
        let mut got = Vec::new();
        for o in &outs {
            got.extend((0..o.per_row).map(|j| cell(&o.values, r * o.per_row + j)));
        }
        for (c, (g, w)) in got.iter().zip(&want_row[1..]).enumerate() {
            let ok = match (g, w.parse::<f64>()) {
                (Cell::Float(g), Ok(w)) => (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                (Cell::Int(g), Ok(w)) => *g as f64 == w,
                (Cell::Text(g), _) => g == w,
                _ => false,
            };
            if !ok && diffs.len() < 4 {
                diffs.push(format!(
                    "row {} `{}`: {} vs onnxruntime {w}",
                    r + 1,
                    want_cols[c + 1],
                    g.describe()
                ));
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; ").into())
    }
}
