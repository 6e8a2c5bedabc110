//! The model: loaded and probed once (which fixes the output columns),
//! then run on batches by the engine that suits it.

use super::batch::{Batch, Col};
use super::error::PredictError;
use super::tract::Tract;
use crate::ml;
use crate::ml::bind::{Bound, Features, Kind, bind};
use crate::ml::value::{Arr, Tensor};
use crate::rows::Cell;

/// What runs the model.
enum Engine {
    /// tract, for graphs of standard operators.
    Tract(Tract),
    /// chime's own evaluator, for graphs that use ai.onnx.ml.
    Own(ml::Graph),
}

/// A loaded model, ready for batches.
pub(super) struct Model {
    engine: Engine,
    pub inputs: Vec<Bound>,
    /// An empty field or NULL becomes NaN: the model imputes missing
    /// values or its trees route them.
    pub takes_missing: Vec<bool>,
    /// The model's outputs, in order.
    outputs: Vec<String>,
    /// The output columns, in order.
    pub columns: Vec<String>,
}

/// An output of a batch, flattened: `per_row` values for each row.
pub(super) struct Out {
    pub values: Tensor,
    pub per_row: usize,
    /// ZipMap's classes, for an output of maps.
    keys: Option<ml::value::Keys>,
}

/// The largest model file read from object storage (a model is read
/// whole, as from a local file).
#[cfg(feature = "s3")]
const MAX_MODEL_BYTES: u64 = 4 << 30;

/// The model file's bytes, from a local path or an object.
fn read_model(path: &str, pool: &crate::conn::Pool) -> Result<Vec<u8>, PredictError> {
    let read_error = |source| PredictError::ReadModel {
        path: path.to_string(),
        source,
    };
    match crate::object_url::parse_object(path) {
        None => std::fs::read(path).map_err(read_error),
        #[cfg(feature = "s3")]
        Some(url) => url
            .map_err(crate::storage::StorageError::from)
            .and_then(|url| pool.storage().read_all(&url, MAX_MODEL_BYTES))
            .map_err(|e| read_error(std::io::Error::other(e.to_string()))),
        #[cfg(not(feature = "s3"))]
        Some(_) => {
            let _ = pool;
            Err(read_error(std::io::Error::other(
                crate::rows::NoStorage(path.to_string()).to_string(),
            )))
        }
    }
}

impl Model {
    pub fn load(
        path: &str,
        features: &Features,
        batch: usize,
        pool: &crate::conn::Pool,
    ) -> Result<Model, PredictError> {
        let bytes = read_model(path, pool)?;
        let parsed = ml::Model::read(&bytes).map_err(|e| PredictError::model(path, e))?;
        if let Some(m) = parsed.missing().first() {
            return Err(PredictError::Unsupported {
                path: path.to_string(),
                op: m.op.to_string(),
                domain: m.domain.to_string(),
                node: m.node.to_string(),
            });
        }
        let ports = parsed.inputs();
        if ports.is_empty() {
            return Err(PredictError::NoInput(path.to_string()));
        }
        let inputs = bind(&ports, features).map_err(|e| PredictError::model(path, e))?;
        let engine = if parsed.uses_ml() {
            Engine::Own(ml::Graph::load(&parsed).map_err(|e| PredictError::model(path, e))?)
        } else {
            if inputs.len() != 1 || inputs[0].kind != Kind::F32 {
                return Err(PredictError::TractInputs {
                    path: path.to_string(),
                    inputs: describe_bound(&inputs),
                });
            }
            Engine::Tract(Tract::load(path, &bytes, inputs[0].columns.len(), batch)?)
        };
        let roles = if matches!(engine, Engine::Own(_)) {
            ml::roles(&parsed)
        } else {
            vec![ml::Role::Other; parsed.outputs().len()]
        };
        let mut m = Model {
            engine,
            inputs,
            takes_missing: parsed.inputs_handling_missing(),
            outputs: parsed.outputs().into_iter().map(|p| p.name).collect(),
            columns: Vec::new(),
        };
        // Two rows of zeros (a fixed batch: one, padded): fixes the output
        // columns, proves the model runs and that each output has a row per
        // input row, before any row is read.
        let probe = if matches!(&m.engine, Engine::Tract(t) if t.fixed.is_some()) {
            1
        } else {
            2
        };
        let texts = parsed.probe_texts();
        let mut b = Batch::new(&m.inputs, probe);
        for _ in 0..probe {
            b.push_probe(&m.inputs, &texts);
        }
        // A model may refuse zeros (a OneHotEncoder that fails on an
        // unknown category, as scikit-learn's default exports): its
        // columns then come from the shapes the graph declares.
        let shapes: Vec<(usize, Option<ml::value::Keys>)> = match m.infer(b.cols, probe) {
            Ok(outputs) => {
                let rows_out = m.rows_out(probe);
                m.check_rows(&outputs, rows_out)
                    .map_err(|e| PredictError::Rows {
                        path: path.to_string(),
                        error: Box::new(e),
                    })?;
                outputs.into_iter().map(|o| (o.per_row, o.keys)).collect()
            }
            Err(e) => match (&m.engine, ml::declared_widths(&parsed)) {
                (Engine::Own(_), Some(shapes))
                    if e.to_string()
                        .contains("categories the model was trained on") =>
                {
                    shapes
                }
                _ => {
                    return Err(PredictError::Zeros {
                        path: path.to_string(),
                        error: Box::new(e),
                    });
                }
            },
        };
        let mut columns = Vec::new();
        for ((name, (k, keys)), role) in m.outputs.iter().zip(&shapes).zip(&roles) {
            let k = *k;
            match (role, keys) {
                (_, Some(keys)) => {
                    columns.extend((0..keys.len()).map(|j| format!("probability_{}", keys.name(j))))
                }
                (ml::Role::Label, _) if k == 1 => columns.push("label".into()),
                (ml::Role::Scores(classes), _) if classes.len() == k => {
                    columns.extend(classes.iter().map(|c| format!("probability_{c}")))
                }
                _ if k == 1 => columns.push(name.clone()),
                _ => columns.extend((0..k).map(|j| format!("{name}_{j}"))),
            }
        }
        m.columns = columns;
        Ok(m)
    }

    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Tract(_) => "tract",
            Engine::Own(_) => "ai.onnx.ml",
        }
    }

    pub fn describe_inputs(&self) -> String {
        describe_bound(&self.inputs)
    }

    /// Runs the model on a batch of `rows` rows.
    pub fn infer(&self, cols: Vec<Col>, rows: usize) -> Result<Vec<Out>, PredictError> {
        match &self.engine {
            Engine::Tract(tract) => {
                let Some(Col::F32(x)) = cols.first() else {
                    return Err(PredictError::TractInput);
                };
                let outs = tract.run(x, rows, self.inputs[0].columns.len())?;
                let rows_out = tract.fixed.unwrap_or(rows);
                Ok(outs
                    .into_iter()
                    .map(|values| Out {
                        per_row: per_row(values.len(), rows_out),
                        values,
                        keys: None,
                    })
                    .collect())
            }
            Engine::Own(g) => {
                let feeds: Vec<ml::value::Value> = cols
                    .into_iter()
                    .zip(&self.inputs)
                    .map(|(c, b)| {
                        let shape = vec![rows, b.columns.len()];
                        let t = match c {
                            Col::F32(v) => Arr::new(shape, v).map(Tensor::F32),
                            Col::F64(v) => Arr::new(shape, v).map(Tensor::F64),
                            Col::I64(v) => Arr::new(shape, v).map(Tensor::I64),
                            Col::Str(v) => Arr::new(shape, v).map(Tensor::Str),
                        };
                        Ok(ml::value::Value::T(t.map_err(PredictError::ml)?))
                    })
                    .collect::<Result<_, PredictError>>()?;
                let outs = g
                    .run(feeds)
                    .map_err(|e| PredictError::Inference(e.into()))?;
                outs.iter()
                    .map(|v| match &**v {
                        ml::value::Value::T(t) => {
                            if t.shape().first() != Some(&rows) {
                                return Err(PredictError::OutputShape {
                                    shape: t.shape().to_vec(),
                                    rows,
                                });
                            }
                            Ok(Out {
                                per_row: per_row(t.len(), rows),
                                values: t.clone(),
                                keys: None,
                            })
                        }
                        ml::value::Value::Maps { keys, values } => Ok(Out {
                            per_row: keys.len().max(1),
                            values: Tensor::F32(values.clone()),
                            keys: Some(keys.clone()),
                        }),
                    })
                    .collect()
            }
        }
    }

    /// Rows in the outputs of a call with `rows` input rows.
    pub fn rows_out(&self, rows: usize) -> usize {
        match &self.engine {
            Engine::Tract(Tract { fixed: Some(b), .. }) => *b,
            _ => rows,
        }
    }

    /// Checks that every output has `rows` rows: a model that sums over
    /// the batch, or keeps a fixed first dimension, would otherwise give
    /// values that belong to no row or to another.
    pub fn check_rows(&self, outputs: &[Out], rows: usize) -> Result<(), PredictError> {
        for (name, o) in self.outputs.iter().zip(outputs) {
            if o.keys.is_some() {
                continue;
            }
            match o.values.shape().first() {
                Some(&n) if n == rows => {}
                Some(&n) => {
                    return Err(PredictError::OutputRows {
                        name: name.clone(),
                        n,
                        shape: o.values.shape().to_vec(),
                        rows,
                    });
                }
                None => {
                    return Err(PredictError::OutputScalar(name.clone()));
                }
            }
        }
        Ok(())
    }
}

/// The model's inputs: name, width and type of each.
pub(super) fn describe_bound(inputs: &[Bound]) -> String {
    inputs
        .iter()
        .map(|b| {
            let kind = match b.kind {
                Kind::F32 => "float",
                Kind::F64 => "double",
                Kind::I64 => "int64",
                Kind::Str => "string",
            };
            format!("{} ({} {kind})", b.name, b.columns.len())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Values per row of an output of `len` values.
fn per_row(len: usize, batch: usize) -> usize {
    len.checked_div(batch).map_or(1, |n| n.max(1))
}

/// An output's value `i` as a cell.
pub(super) fn cell(t: &Tensor, i: usize) -> Cell {
    match t {
        Tensor::F32(a) => a
            .data
            .get(i)
            .map_or(Cell::Null, |&v| Cell::Float(f64::from(v))),
        Tensor::F64(a) => a.data.get(i).map_or(Cell::Null, |&v| Cell::Float(v)),
        Tensor::I64(a) => a.data.get(i).map_or(Cell::Null, |&v| Cell::Int(v)),
        Tensor::Bool(a) => a
            .data
            .get(i)
            .map_or(Cell::Null, |&v| Cell::Int(i64::from(v))),
        Tensor::Str(a) => a.data.get(i).map_or(Cell::Null, |v| Cell::Text(v.clone())),
    }
}
