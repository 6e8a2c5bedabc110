//! `predict`: batch inference with an ONNX model.
//!
//! The model is loaded and checked once per task: `features` is bound to
//! its inputs (`ml::bind`), and it is run on a batch of zeros, which fixes
//! the output columns before any row is read. Rows are streamed from the
//! input (CSV, Parquet or a query) in batches of `batch_size`: each
//! input's columns, in order, become that model input (float, double,
//! int64 or string); the `keep` columns are copied through (from CSV as
//! the text the file has); each model output becomes one column or, when
//! it has several values per row, one column per value (`scores_0`,
//! ...), a classifier's being `label` and `probability_<class>`. Nothing
//! is visible in the output until the last batch is written (see
//! `rows::Writer`).
//!
//! What would make a wrong row fails the task instead: an output without
//! one row per input row (checked at load and on every batch), two output
//! columns with one name or a model output `ds` written to a table
//! (checked at load), a missing feature for a model that does not handle
//! missing values, a NaN or infinite feature or prediction (unless
//! `allow_nan`).
//!
//! Inference runs in pure Rust. A model that uses ai.onnx.ml operators
//! (what skl2onnx and onnxmltools export for scikit-learn, XGBoost and
//! LightGBM) is evaluated by chime's own engine (`crate::ml`); any other
//! (a neural network) by tract. The model's inputs are bound to columns
//! by `features` ([`Features`]); a classifier's outputs are named `label`
//! and `probability_<class>`, whether its probabilities are a tensor or
//! ZipMap's maps.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

use crate::ml;
use crate::ml::bind::{Bound, Features, Kind, bind};
use crate::ml::value::{Arr, Tensor};

use super::sql::{describe, ds_of, output_of};
use crate::context::{TaskContext, TaskError, TaskResult};
use crate::rows::{self, Cell, Input, Output, RowSink, Want, Writer};

const DEFAULT_BATCH: usize = 4096;

/// Output cells (rows x columns) a batch may hold.
const MAX_BATCH_CELLS: usize = 4_000_000;

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    let job = Job::from_params(&params).map_err(TaskError::failed)?;
    crate::operator::blocking(move || {
        job.run(&ctx)
            .map(|v| crate::context::Output(Some(v)))
            .map_err(Into::into)
    })
    .await
}

#[derive(Debug)]
struct Job {
    model: String,
    input: Input,
    features: Features,
    keep: Vec<String>,
    batch_size: usize,
    output: Output,
    /// NaN and infinite features go to the model, and NaN or infinite
    /// predictions are written, instead of failing the task.
    allow_nan: bool,
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Job {
    fn from_params(p: &serde_json::Value) -> Result<Job, String> {
        let model = p
            .get("model")
            .and_then(|v| v.as_str())
            .ok_or("`predict` needs `model`")?
            .to_string();
        let input = p.get("input").ok_or("`predict` needs `input`")?;
        let s = |k: &str| input.get(k).and_then(|x| x.as_str());
        let input = if let Some(csv) = s("csv") {
            Input::Csv(csv.to_string())
        } else if let Some(path) = s("parquet") {
            Input::Parquet(path.to_string())
        } else if let Some(query) = s("sql") {
            Input::Sql {
                connection: s("connection")
                    .ok_or("`input: {sql}` needs `connection`")?
                    .to_string(),
                query: query.to_string(),
                args: input
                    .get("args")
                    .and_then(|a| a.as_array())
                    .cloned()
                    .unwrap_or_default(),
            }
        } else {
            return Err("`input` needs `csv`, `parquet` or `sql`".into());
        };
        let features = Features::from_param(p.get("features"))?;
        let batch_size = p
            .get("batch_size")
            .and_then(|v| v.as_u64())
            .map_or(DEFAULT_BATCH, |n| n.max(1) as usize);
        let output = output_of(p.get("output").ok_or("`predict` needs `output`")?, None)
            .map_err(|e| e.to_string())?;
        // A template renders to a string: "true" is true.
        let allow_nan = match p.get("allow_nan") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) if s.trim() == "true" => true,
            Some(serde_json::Value::String(s)) if s.trim() == "false" => false,
            Some(other) => return Err(format!("`allow_nan: {other}`: use true or false")),
        };
        Ok(Job {
            model,
            input,
            features,
            keep: strings(p.get("keep")),
            batch_size,
            output,
            allow_nan,
        })
    }

    /// Refuses output columns that would overwrite one another, before any
    /// row is read: a model output named like a `keep` column, a name
    /// twice, or an output `ds` written to a table (where `ds` is the
    /// run's date, the partition `replace_partition` deletes).
    fn check_columns(&self, model: &Model) -> Result<(), String> {
        let path = &self.model;
        for name in &model.columns {
            if self.keep.contains(name) {
                return Err(format!(
                    "model {path}: its output `{name}` has the name of a `keep` column, and \
                     would overwrite it: leave `{name}` out of `keep` or rename the output"
                ));
            }
            if name == "ds" && matches!(self.output, Output::Table { .. }) {
                return Err(format!(
                    "model {path}: its output `ds` would be written as the table's `ds` column, \
                     which holds the run's date (`replace_partition` deletes by it): rename the \
                     output, or write it to a file"
                ));
            }
        }
        // SQLite matches column names whatever their case.
        let mut seen = std::collections::HashSet::new();
        for name in self.keep.iter().chain(&model.columns) {
            if !seen.insert(name.to_lowercase()) {
                return Err(format!(
                    "the output would have two columns `{name}` (names that differ only in \
                     case count as one; `keep`: {}; the model's outputs: {}): list each column \
                     once",
                    self.keep.join(", "),
                    model.columns.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn run(&self, ctx: &TaskContext) -> Result<serde_json::Value, String> {
        let started = Instant::now();
        let model = Model::load(&self.model, &self.features, self.batch_size)?;
        // Rows per batch, so that a batch's output cells stay bounded (a
        // classifier of 10,000 classes gets batches of 400 rows).
        let batch = self
            .batch_size
            .min((MAX_BATCH_CELLS / (self.keep.len() + model.columns.len()).max(1)).max(1));
        ctx.log(format!(
            "model {} ({}): {} in, outputs {}",
            self.model,
            model.engine_name(),
            model.describe_inputs(),
            model.columns.join(", ")
        ));
        self.check_columns(&model)?;
        let mut columns = self.keep.clone();
        columns.extend(model.columns.iter().cloned());
        let writer = Writer::open(&self.output, &ctx.pool, columns, &ds_of(ctx))
            .map_err(|e| e.to_string())?;
        let mut consumer = Consumer {
            model: &model,
            keep: &self.keep,
            allow_nan: self.allow_nan,
            ctx,
            rows: 0,
            batches: 0,
            started,
            progress: std::io::stderr().is_terminal().then(Instant::now),
        };
        // Three threads, each a stage: one reads and parses the input into
        // batches, one runs the model and builds the output rows, one
        // writes them; at most two batches wait between stages. (On 2
        // cores this keeps both busy: parsing, inference and writing each
        // take about a third of the work.)
        let writer = std::thread::scope(|scope| -> Result<Writer<'_>, String> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
            let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<Cell>>>(2);
            let reader = scope.spawn(|| -> Result<(), String> {
                let mut reader = Reader {
                    job: self,
                    row_width: self.keep.len() + model.columns.len(),
                    batch,
                    model: &model,
                    feature_at: Vec::new(),
                    keep_at: Vec::new(),
                    next: Batch::new(&model.inputs, batch),
                    tx,
                };
                rows::read(&self.input, &ctx.pool, &mut reader).map_err(|e| e.to_string())?;
                reader.send()
            });
            let written = scope.spawn(move || -> Result<Writer<'_>, String> {
                let mut writer = writer;
                for rows in out_rx.iter() {
                    // Returning drops the receiver: inference stops at its
                    // next batch, and the reader after it.
                    writer.write(&rows).map_err(|e| e.to_string())?;
                }
                Ok(writer)
            });
            let mut failed = None;
            for batch in rx.iter() {
                match consumer.consume(batch) {
                    Ok(rows) => {
                        if out_tx.send(rows).is_err() {
                            // The writer failed: its error is reported.
                            break;
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        // Dropping the receiver stops the reader at its next batch.
                        break;
                    }
                }
            }
            drop(rx);
            drop(out_tx);
            let written = written
                .join()
                .unwrap_or_else(|_| Err("the output writer panicked".into()));
            let read = reader
                .join()
                .unwrap_or_else(|_| Err("the input reader panicked".into()));
            // The first stage to fail names the cause; the stages after it
            // only saw it stop.
            match (failed, written, read) {
                (_, _, Err(e)) if e != "stopped" => Err(e),
                (Some(e), _, _) => Err(e),
                (None, Err(e), _) => Err(e),
                (None, Ok(w), Ok(())) => Ok(w),
                (None, Ok(_), Err(e)) => Err(e),
            }
        })?;
        let (rows, batches) = (consumer.rows, consumer.batches);
        if consumer.progress.is_some() {
            eprintln!();
        }
        writer.finish().map_err(|e| e.to_string())?;
        let secs = started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
        ctx.log(format!(
            "{rows} rows in {batches} batches to {} in {secs:.2}s ({rate:.0} rows/s)",
            describe(&self.output)
        ));
        Ok(serde_json::json!({
            "rows": rows,
            "batches": batches,
            "rows_per_second": rate.round(),
            "seconds": (secs * 1000.0).round() / 1000.0,
            "output": describe(&self.output),
        }))
    }
}

impl Features {
    fn from_param(v: Option<&serde_json::Value>) -> Result<Features, String> {
        match v {
            Some(serde_json::Value::Object(m)) => {
                if m.is_empty() {
                    return Err("`features` maps no model input".into());
                }
                let mut out = Vec::with_capacity(m.len());
                for (input, cols) in m {
                    let cols = strings(Some(cols));
                    if cols.is_empty() {
                        return Err(format!(
                            "`features`: the model input `{input}` gets no column"
                        ));
                    }
                    out.push((input.clone(), cols));
                }
                Ok(Features::Map(out))
            }
            other => {
                let cols = strings(other);
                if cols.is_empty() {
                    return Err("`features` lists no column".into());
                }
                Ok(Features::List(cols))
            }
        }
    }
}

/// What runs the model.
enum Engine {
    /// tract, for graphs of standard operators, with the batch size it
    /// was fixed to when it could not take any.
    Tract {
        plan: TypedRunnableModel<TypedModel>,
        fixed: Option<usize>,
    },
    /// chime's own evaluator, for graphs that use ai.onnx.ml.
    Own(ml::Graph),
}

/// A loaded model, ready for batches.
struct Model {
    engine: Engine,
    inputs: Vec<Bound>,
    /// An empty field or NULL becomes NaN: the model imputes missing
    /// values or its trees route them.
    takes_missing: Vec<bool>,
    /// The model's outputs, in order.
    outputs: Vec<String>,
    /// The output columns, in order.
    columns: Vec<String>,
}

/// An output of a batch, flattened: `per_row` values for each row.
struct Out {
    values: Tensor,
    per_row: usize,
    /// ZipMap's classes, for an output of maps.
    keys: Option<ml::value::Keys>,
}

impl Model {
    fn load(path: &str, features: &Features, batch: usize) -> Result<Model, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read the model {path}: {e}"))?;
        let parsed = ml::Model::read(&bytes).map_err(|e| format!("model {path}: {e}"))?;
        if let Some(m) = parsed.missing().first() {
            return Err(format!(
                "the model `{path}` uses the operator {} ({}), which chime cannot run (node `{}`; \
                 docs/models.md lists the operators chime runs)",
                m.op, m.domain, m.node
            ));
        }
        let ports = parsed.inputs();
        if ports.is_empty() {
            return Err(format!("model {path} has no input"));
        }
        let inputs = bind(&ports, features).map_err(|e| format!("model {path}: {e}"))?;
        let engine = if parsed.uses_ml() {
            Engine::Own(ml::Graph::load(&parsed).map_err(|e| format!("model {path}: {e}"))?)
        } else {
            if inputs.len() != 1 || inputs[0].kind != Kind::F32 {
                return Err(format!(
                    "model {path}: a model without ai.onnx.ml operators runs on tract, which \
                     `predict` feeds one float input; this one takes {}",
                    describe_bound(&inputs)
                ));
            }
            tract_engine(path, &bytes, inputs[0].columns.len(), batch)?
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
        let probe = if matches!(m.engine, Engine::Tract { fixed: Some(_), .. }) {
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
                    .map_err(|e| format!("model {path}: {e}"))?;
                outputs.into_iter().map(|o| (o.per_row, o.keys)).collect()
            }
            Err(e) => match (&m.engine, ml::declared_widths(&parsed)) {
                (Engine::Own(_), Some(shapes))
                    if e.contains("categories the model was trained on") =>
                {
                    shapes
                }
                _ => return Err(format!("model {path} fails on a batch of zeros: {e}")),
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

    fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Tract { .. } => "tract",
            Engine::Own(_) => "ai.onnx.ml",
        }
    }

    fn describe_inputs(&self) -> String {
        describe_bound(&self.inputs)
    }

    /// Runs the model on a batch of `rows` rows.
    fn infer(&self, cols: Vec<Col>, rows: usize) -> Result<Vec<Out>, String> {
        match &self.engine {
            Engine::Tract { plan, fixed } => {
                let Some(Col::F32(x)) = cols.first() else {
                    return Err("tract takes one float input".into());
                };
                let width = self.inputs[0].columns.len();
                let input = match fixed {
                    Some(b) => {
                        let mut padded = x.clone();
                        padded.resize(b * width, 0.0);
                        tract_onnx::prelude::Tensor::from_shape(&[*b, width], &padded)
                    }
                    None => tract_onnx::prelude::Tensor::from_shape(&[rows, width], x),
                }
                .map_err(|e| e.to_string())?;
                let outs = plan
                    .run(tvec!(input.into()))
                    .map_err(|e| format!("inference failed: {}", chain(&e)))?;
                let rows_out = fixed.unwrap_or(rows);
                outs.iter()
                    .map(|t| {
                        let values = from_tract(t)?;
                        Ok(Out {
                            per_row: per_row(values.len(), rows_out),
                            values,
                            keys: None,
                        })
                    })
                    .collect()
            }
            Engine::Own(g) => {
                let feeds: Vec<ml::value::Value> = cols
                    .into_iter()
                    .zip(&self.inputs)
                    .map(|(c, b)| {
                        let shape = vec![rows, b.columns.len()];
                        let t = match c {
                            Col::F32(v) => Tensor::F32(Arr::new(shape, v)?),
                            Col::F64(v) => Tensor::F64(Arr::new(shape, v)?),
                            Col::I64(v) => Tensor::I64(Arr::new(shape, v)?),
                            Col::Str(v) => Tensor::Str(Arr::new(shape, v)?),
                        };
                        Ok(ml::value::Value::T(t))
                    })
                    .collect::<Result<_, String>>()?;
                let outs = g.run(feeds).map_err(|e| format!("inference failed: {e}"))?;
                outs.iter()
                    .map(|v| match &**v {
                        ml::value::Value::T(t) => {
                            if t.shape().first() != Some(&rows) {
                                return Err(format!(
                                    "an output has shape {:?} for a batch of {rows}: `predict` needs one row of every output per input row",
                                    t.shape()
                                ));
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
    fn rows_out(&self, rows: usize) -> usize {
        match self.engine {
            Engine::Tract { fixed: Some(b), .. } => b,
            _ => rows,
        }
    }

    /// Checks that every output has `rows` rows: a model that sums over
    /// the batch, or keeps a fixed first dimension, would otherwise give
    /// values that belong to no row or to another.
    fn check_rows(&self, outputs: &[Out], rows: usize) -> Result<(), String> {
        for (name, o) in self.outputs.iter().zip(outputs) {
            if o.keys.is_some() {
                continue;
            }
            match o.values.shape().first() {
                Some(&n) if n == rows => {}
                Some(&n) => {
                    return Err(format!(
                        "the output `{name}` has {n} rows (shape {:?}) for a batch of {rows}: \
                         `predict` needs one row of every output per input row",
                        o.values.shape()
                    ));
                }
                None => {
                    return Err(format!(
                        "the output `{name}` is a single value, not one per row: `predict` needs \
                         one row of every output per input row"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn describe_bound(inputs: &[Bound]) -> String {
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

/// Loads a model of standard operators into tract: a symbolic number of
/// rows, so the last, short batch runs as it is; a model that cannot be
/// optimised that way gets a fixed batch size and short batches are
/// padded with zeros.
fn tract_engine(path: &str, bytes: &[u8], width: usize, batch: usize) -> Result<Engine, String> {
    let fail = |e: TractError| format!("model {path}: {}", chain(&e));
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| format!("cannot load the model {path}: {}", chain(&e)))?;
    let inputs = model.input_outlets().map_err(fail)?.to_vec();
    let fact = model.outlet_fact(inputs[0]).map_err(fail)?;
    let dims: Vec<GenericFactoid<TDim>> = fact.shape.dims().cloned().collect();
    if let Some(rank) = fact.shape.rank().concretize()
        && rank != 2
    {
        let shown: Vec<String> = dims.iter().map(|d| format!("{d:?}")).collect();
        return Err(format!(
            "model {path}: its input has shape [{}]; `predict` needs [rows, features]",
            shown.join(", ")
        ));
    }
    let symbolic = {
        let mut m = model.clone();
        let rows = m.symbols.sym("N");
        m.set_input_fact(0, f32::fact([rows.to_dim(), width.to_dim()]).into())
            .and_then(|()| m.into_optimized())
            .map(row_softmax)
            .and_then(|m| m.into_runnable())
    };
    Ok(match symbolic {
        Ok(plan) => Engine::Tract { plan, fixed: None },
        Err(_) => {
            model
                .set_input_fact(0, f32::fact([batch, width]).into())
                .map_err(fail)?;
            let plan = model
                .into_optimized()
                .map(row_softmax)
                .and_then(|m| m.into_runnable())
                .map_err(|e| {
                    format!(
                        "model {path} cannot run on [{batch}, {width}] inputs: {}",
                        chain(&e)
                    )
                })?;
            Engine::Tract {
                plan,
                fixed: Some(batch),
            }
        }
    })
}

/// A tract output as a tensor of chime's evaluator.
fn from_tract(t: &tract_onnx::prelude::Tensor) -> Result<Tensor, String> {
    let shape = t.shape().to_vec();
    let err = |e: TractError| e.to_string();
    Ok(match t.datum_type() {
        DatumType::F32 => Tensor::F32(Arr::new(shape, t.as_slice::<f32>().map_err(err)?.to_vec())?),
        DatumType::F64 => Tensor::F64(Arr::new(shape, t.as_slice::<f64>().map_err(err)?.to_vec())?),
        DatumType::I64 => Tensor::I64(Arr::new(shape, t.as_slice::<i64>().map_err(err)?.to_vec())?),
        DatumType::I32 => Tensor::I64(Arr::new(
            shape,
            t.as_slice::<i32>()
                .map_err(err)?
                .iter()
                .map(|&v| i64::from(v))
                .collect(),
        )?),
        DatumType::Bool => Tensor::Bool(Arr::new(
            shape,
            t.as_slice::<bool>().map_err(err)?.to_vec(),
        )?),
        DatumType::String => Tensor::Str(Arr::new(
            shape,
            t.as_slice::<String>().map_err(err)?.to_vec(),
        )?),
        other => {
            return Err(format!(
                "an output of type {other:?}, which `predict` cannot write"
            ));
        }
    })
}
/// Replaces tract's Softmax over the last axis of f32 rows with
/// [`RowSoftmax`] (same arithmetic, in the same order).
fn row_softmax(mut model: TypedModel) -> TypedModel {
    use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxExp, SoftmaxKind};
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<Softmax>() else {
            continue;
        };
        let Some(fact) = node.inputs.first().and_then(|i| model.outlet_fact(*i).ok()) else {
            continue;
        };
        let rank = fact.rank();
        let width = fact
            .shape
            .last()
            .and_then(|d| d.to_i64().ok())
            .and_then(|d| usize::try_from(d).ok());
        if let Some(width) = width
            && width > 0
            && fact.datum_type == f32::datum_type()
            && op.axes.as_slice() == [rank - 1]
            && op.kind == SoftmaxKind::Softmax(SoftmaxExp::Libc)
        {
            model.nodes[id].op = Box::new(RowSoftmax { width });
        }
    }
    model
}

/// tract's internals for [`RowSoftmax`].
mod fast_softmax {
    use tract_onnx::tract_core::internal::*;

    /// Softmax over each row's `width` values. tract's own walks the rows with
    /// ndarray and runs its vector kernels on each: for a classifier's few
    /// classes that is ~250 ns a row, most of a logistic regression's
    /// inference. Max, `exp(x - max)`, sum, times `1 / sum`: tract's steps.
    #[derive(Debug, Clone, Hash)]
    pub struct RowSoftmax {
        pub width: usize,
    }

    impl Op for RowSoftmax {
        fn name(&self) -> std::borrow::Cow<'_, str> {
            "RowSoftmax".into()
        }

        op_as_typed_op!();
    }

    impl EvalOp for RowSoftmax {
        fn is_stateless(&self) -> bool {
            true
        }

        fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
            let mut t = inputs
                .into_iter()
                .next()
                .ok_or_else(|| format_err!("RowSoftmax needs an input"))?
                .into_tensor();
            for row in t.as_slice_mut::<f32>()?.chunks_exact_mut(self.width) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let rsum = sum.recip();
                for x in row.iter_mut() {
                    *x *= rsum;
                }
            }
            Ok(tvec!(t.into_tvalue()))
        }
    }

    impl TypedOp for RowSoftmax {
        fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
            let fact = inputs
                .first()
                .ok_or_else(|| format_err!("RowSoftmax needs an input"))?;
            Ok(tvec!(fact.datum_type.fact(fact.shape.clone())))
        }

        as_op!();
    }
}
use fast_softmax::RowSoftmax;

/// Values per row of an output of `len` values.
fn per_row(len: usize, batch: usize) -> usize {
    len.checked_div(batch).map_or(1, |n| n.max(1))
}

fn chain(e: &TractError) -> String {
    format!("{e:#}")
}

/// An output's value `i` as a cell.
fn cell(t: &Tensor, i: usize) -> Cell {
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

/// One model input's values for a batch, row after row.
enum Col {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

/// Rows read, waiting for the model.
struct Batch {
    /// One column of values per model input.
    cols: Vec<Col>,
    /// The `keep` cells of each row.
    kept: Vec<Vec<Cell>>,
}

impl Batch {
    fn new(inputs: &[Bound], rows: usize) -> Batch {
        Batch {
            cols: inputs
                .iter()
                .map(|b| {
                    let n = rows * b.columns.len();
                    match b.kind {
                        Kind::F32 => Col::F32(Vec::with_capacity(n)),
                        Kind::F64 => Col::F64(Vec::with_capacity(n)),
                        Kind::I64 => Col::I64(Vec::with_capacity(n)),
                        Kind::Str => Col::Str(Vec::with_capacity(n)),
                    }
                })
                .collect(),
            kept: Vec::with_capacity(rows),
        }
    }

    /// A row to probe the model: zeros, and for text a category the model
    /// knows (`texts`, per input) or else empty text.
    fn push_probe(&mut self, inputs: &[Bound], texts: &[Option<String>]) {
        for (i, (c, b)) in self.cols.iter_mut().zip(inputs).enumerate() {
            let n = b.columns.len();
            match c {
                Col::F32(v) => v.extend(std::iter::repeat_n(0.0, n)),
                Col::F64(v) => v.extend(std::iter::repeat_n(0.0, n)),
                Col::I64(v) => v.extend(std::iter::repeat_n(0, n)),
                Col::Str(v) => {
                    let t = texts.get(i).cloned().flatten().unwrap_or_default();
                    v.extend(std::iter::repeat_n(t, n))
                }
            }
        }
        self.kept.push(Vec::new());
    }
}

/// Reads rows into batches and hands them over.
struct Reader<'a> {
    job: &'a Job,
    model: &'a Model,
    batch: usize,
    /// Cells of an output row (kept columns and the model's), so each row
    /// is allocated once.
    row_width: usize,
    /// For each model input, the positions of its columns in the source.
    feature_at: Vec<Vec<usize>>,
    keep_at: Vec<usize>,
    next: Batch,
    tx: std::sync::mpsc::SyncSender<Batch>,
}

impl Reader<'_> {
    fn send(&mut self) -> Result<(), String> {
        if self.next.kept.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.next, Batch::new(&self.model.inputs, self.batch));
        // The model side stopped (it failed, or was cancelled): its error is
        // the one reported.
        self.tx.send(full).map_err(|_| "stopped".to_string())
    }
}

/// Runs the model on batches and builds the output rows.
struct Consumer<'a> {
    model: &'a Model,
    /// The `keep` columns: the first names a row in messages.
    keep: &'a [String],
    allow_nan: bool,
    ctx: &'a TaskContext,
    rows: u64,
    batches: u64,
    started: Instant,
    progress: Option<Instant>,
}

impl Consumer<'_> {
    /// The output rows of a batch: its kept cells, then the model's.
    fn consume(&mut self, batch: Batch) -> Result<Vec<Vec<Cell>>, String> {
        let n = batch.kept.len();
        if self.ctx.is_cancelled() {
            return Err("stopped".into());
        }
        let Batch { cols, kept } = batch;
        let outputs = self.model.infer(cols, n).map_err(|e| {
            format!(
                "input rows {} to {}: {e}",
                self.rows + 1,
                self.rows + n as u64
            )
        })?;
        let rows_out = self.model.rows_out(n);
        self.model.check_rows(&outputs, rows_out)?;
        // A model whose values per row change with the batch (an [N, N]
        // output, say) would give rows of another width than its columns.
        let width: usize = outputs.iter().map(|o| o.per_row).sum();
        if width != self.model.columns.len() {
            return Err(format!(
                "the model's outputs give {width} values per row for a batch of {n}, but {} when it was loaded: `predict` needs the same values per row in every batch",
                self.model.columns.len()
            ));
        }
        let mut out = Vec::with_capacity(n);
        let kept_width = self.keep.len();
        for (r, kept) in kept.into_iter().enumerate() {
            let mut row = kept;
            for o in &outputs {
                let k = o.per_row;
                row.extend((0..k).map(|j| cell(&o.values, r * k + j)));
            }
            if !self.allow_nan
                && let Some(c) = row[kept_width..]
                    .iter()
                    .position(|c| matches!(c, Cell::Float(f) if !f.is_finite()))
            {
                return Err(format!(
                    "{}: the model's output `{}` is {}; refused (set `allow_nan: true` to \
                     write NaN and infinite predictions)",
                    self.row_name(self.rows + r as u64 + 1, &row),
                    self.model.columns[c],
                    row[kept_width + c].describe()
                ));
            }
            out.push(row);
        }
        self.rows += n as u64;
        self.batches += 1;
        if let Some(last) = self.progress.as_mut()
            && last.elapsed().as_millis() >= 250
        {
            *last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64();
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r{}: {} rows, {:.0} rows/s   ",
                self.ctx.task_id,
                self.rows,
                self.rows as f64 / secs.max(1e-9)
            );
            let _ = err.flush();
        }
        Ok(out)
    }

    /// Input row `n` (1-based), with its first `keep` column's value.
    fn row_name(&self, n: u64, row: &[Cell]) -> String {
        match (self.keep.first(), row.first()) {
            (Some(key), Some(v)) => format!("input row {n} (`{key}` = {})", v.describe()),
            _ => format!("input row {n}"),
        }
    }
}

impl RowSink for Reader<'_> {
    fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, rows::SinkError> {
        let find = |c: &String| {
            names.iter().position(|n| n == c).ok_or_else(|| {
                format!(
                    "the input has no column `{c}` (its columns: {})",
                    names.join(", ")
                )
            })
        };
        self.feature_at = self
            .model
            .inputs
            .iter()
            .map(|b| b.columns.iter().map(find).collect::<Result<Vec<_>, _>>())
            .collect::<Result<_, _>>()?;
        self.keep_at = self.job.keep.iter().map(find).collect::<Result<_, _>>()?;
        let mut wants = vec![Want::Skip; names.len()];
        for &i in &self.keep_at {
            wants[i] = Want::Any;
        }
        for (b, at) in self.model.inputs.iter().zip(&self.feature_at) {
            for &i in at {
                if b.kind != Kind::Str {
                    wants[i] = Want::Number;
                } else if wants[i] == Want::Skip {
                    wants[i] = Want::Any;
                }
            }
        }
        Ok(wants)
    }

    fn row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), rows::SinkError> {
        Ok(self.push_row(cells, at)?)
    }
}

impl Reader<'_> {
    fn push_row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), String> {
        let nan_ok = self.job.allow_nan;
        for (((b, positions), col), &handles) in self
            .model
            .inputs
            .iter()
            .zip(&self.feature_at)
            .zip(&mut self.next.cols)
            .zip(&self.model.takes_missing)
        {
            // A missing value reaches the model only where it handles one.
            let missing_ok = nan_ok || handles;
            for (k, &i) in positions.iter().enumerate() {
                let cell = &cells[i];
                let column = &b.columns[k];
                let number = || -> Result<f64, String> {
                    match cell.as_f64() {
                        Some(v) => Ok(v),
                        None if *cell == Cell::Null && missing_ok => Ok(f64::NAN),
                        None if *cell == Cell::Null => Err(format!(
                            "{}, column `{column}`: no value (the model does not impute or \
                             route missing values of its input `{}`; fill the gap upstream, \
                             or set `allow_nan: true` to pass NaN)",
                            at(),
                            b.name
                        )),
                        None => Err(format!(
                            "{}, column `{column}`: {} is not a number",
                            at(),
                            cell.describe()
                        )),
                    }
                };
                match col {
                    Col::F32(v) => {
                        let x = number()?;
                        // Cast to the model's f32: a huge value becomes infinite.
                        if (x as f32).is_finite() || nan_ok || (x.is_nan() && missing_ok) {
                            v.push(x as f32);
                        } else {
                            let why = if x.is_finite() {
                                format!("{x:e} is too large for the model's 32-bit floats")
                            } else {
                                format!("{x} is not a finite number")
                            };
                            return Err(format!(
                                "{}, column `{column}`: {why} (set `allow_nan: true` to pass NaN \
                                 and infinities to the model)",
                                at()
                            ));
                        }
                    }
                    Col::F64(v) => {
                        let x = number()?;
                        if !(x.is_finite() || nan_ok || (x.is_nan() && missing_ok)) {
                            return Err(format!(
                                "{}, column `{column}`: {x} is not a finite number (set \
                                 `allow_nan: true` to pass NaN and infinities to the model)",
                                at()
                            ));
                        }
                        v.push(x);
                    }
                    Col::I64(v) => match cell {
                        Cell::Int(x) => v.push(*x),
                        other => match other.as_f64() {
                            Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => v.push(x as i64),
                            _ => {
                                return Err(format!(
                                    "{}, column `{column}`: {} is not an integer (the model's \
                                     input `{}` takes int64)",
                                    at(),
                                    other.describe(),
                                    b.name
                                ));
                            }
                        },
                    },
                    Col::Str(v) => v.push(match cell {
                        Cell::Null if missing_ok => String::new(),
                        Cell::Null => {
                            return Err(format!(
                                "{}, column `{column}`: no value (the model's input `{}` takes \
                                 text and does not impute missing values; fill the gap \
                                 upstream)",
                                at(),
                                b.name
                            ));
                        }
                        Cell::Text(t) => t.clone(),
                        Cell::Int(x) => x.to_string(),
                        // As Python writes a float (`3.0`), the text a
                        // category trained from pandas has.
                        Cell::Float(x) if x.fract() == 0.0 && x.abs() < 1e16 => format!("{x:.1}"),
                        Cell::Float(x) => x.to_string(),
                    }),
                }
            }
        }
        let mut row = Vec::with_capacity(self.row_width);
        row.extend(self.keep_at.iter().map(|&i| cells[i].clone()));
        self.next.kept.push(row);
        if self.next.kept.len() == self.batch {
            self.send()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(extra: serde_json::Value) -> Result<Job, String> {
        let mut p = serde_json::json!({
            "model": "m.onnx",
            "input": { "csv": "in.csv" },
            "features": ["x"],
            "output": "out.csv",
        });
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(extra.clone());
        }
        Job::from_params(&p)
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
        let err = job(serde_json::json!({ "allow_nan": "yes" })).unwrap_err();
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
        let model = Model::load(path, &features, 16).unwrap();
        assert_eq!(model.columns, ["label", "probability_0", "probability_1"]);
        let cols = |c: &str| {
            vec![
                Col::F32(vec![1.0, 4.0]),
                Col::Str(vec!["a".into(), c.into()]),
            ]
        };
        let out = model.infer(cols("c"), 2).unwrap();
        assert_eq!(out.len(), 2);
        let err = model.infer(cols("zzz"), 2).err().unwrap();
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
        let model = Model::load(path, &features, 16).unwrap();
        let names: Vec<&str> = model.inputs.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["x", "c"]);
        assert_eq!(model.takes_missing, [false, true]);
        let suite = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/models/pipeline_imputer_scaler_logistic_regression.onnx"
        );
        let cols: Vec<String> = (0..30).map(|i| format!("f{i}")).collect();
        let model = Model::load(suite, &Features::List(cols), 16).unwrap();
        assert_eq!(model.takes_missing, [true]);
        let plain = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/models/random_forest_regressor.onnx"
        );
        let cols: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        let model = Model::load(plain, &Features::List(cols), 16).unwrap();
        assert_eq!(model.takes_missing, [false]);
    }

    /// Every model of tests/models (exported by their standard
    /// converters) through `predict`'s model layer: the columns and every
    /// value equal onnxruntime's (labels exactly, scores within 1e-5).
    #[test]
    fn suite_models_match_onnxruntime() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
        let suite: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("suite.json")).unwrap())
                .unwrap();
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
    ) -> Result<(), String> {
        let features = Features::from_param(Some(features))?;
        let model = Model::load(
            dir.join(format!("{name}.onnx")).to_str().unwrap(),
            &features,
            64,
        )?;
        let (header, rows) = read_csv(&dir.join(format!("{name}.input.csv")));
        let (want_cols, want) = read_csv(&dir.join(format!("{name}.expected.csv")));
        if model.columns != want_cols[1..] {
            return Err(format!(
                "columns {:?}, onnxruntime's {:?}",
                model.columns,
                &want_cols[1..]
            ));
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
                        ));
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
            Err(diffs.join("; "))
        }
    }
}
