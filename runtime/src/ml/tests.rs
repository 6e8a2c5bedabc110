use super::value::{Arr, Tensor, Value};
use super::*;

#[test]
fn tract_operators_is_tracts_registry() {
    let mut theirs: Vec<String> = tract_onnx::onnx().op_register.0.keys().cloned().collect();
    theirs.sort();
    let ours: Vec<String> = TRACT_OPERATORS.iter().map(|s| s.to_string()).collect();
    assert_eq!(ours, theirs, "update TRACT_OPERATORS to tract's registry");
}

/// A model file is untrusted input: damaged bytes give an error at
/// read, load or run, never a panic or an unbounded allocation. Each
/// suite model is damaged many ways (bytes overwritten, cut short),
/// then read, loaded and run on a few rows.
#[test]
fn damaged_model_files_are_errors_not_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut runs = 0;
    for name in [
        "logistic_regression_multiclass",
        "random_forest_classifier",
        "svc_rbf_proba",
        "kneighbors_classifier",
        "column_transformer_logistic_regression",
        "lgbm_classifier_binary",
        "mlp_classifier",
    ] {
        let good = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        for round in 0..150 {
            let mut bytes = good.clone();
            if round % 10 == 9 {
                bytes.truncate((next() as usize) % bytes.len());
            } else {
                for _ in 0..1 + round % 4 {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            let outcome = std::panic::catch_unwind(|| -> Result<(), ModelError> {
                let m = Model::read(&bytes)?;
                let g = Graph::load(&m)?;
                let feeds = g
                    .inputs
                    .iter()
                    .map(|p| {
                        let w = p.dims.get(1).copied().flatten().unwrap_or(1).min(64) as usize;
                        let t = match p.kind.as_str() {
                            "string" => {
                                Tensor::Str(Arr::new(vec![3, w], vec![String::new(); 3 * w])?)
                            }
                            "int64" => Tensor::I64(Arr::new(vec![3, w], vec![0; 3 * w])?),
                            "double" => Tensor::F64(Arr::new(vec![3, w], vec![0.5; 3 * w])?),
                            _ => Tensor::F32(Arr::new(vec![3, w], vec![0.5; 3 * w])?),
                        };
                        Ok(Value::T(t))
                    })
                    .collect::<Result<Vec<_>, ModelError>>()?;
                g.run(feeds).map(|_| ())
            });
            assert!(outcome.is_ok(), "{name}, damage round {round}: a panic");
            runs += 1;
        }
    }
    assert_eq!(runs, 7 * 150);
}
