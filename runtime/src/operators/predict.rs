//! `predict`: batch inference with an ONNX model.
//!
//! The model is loaded and checked once per task: one input of rank 2
//! whose width is the number of `features`; it is then run on a batch of
//! zeros, which fixes the output columns before any row is read. Rows are
//! streamed from the input (CSV or a query) in batches of `batch_size`:
//! the `features` columns, in order, become the model's input; the `keep`
//! columns are copied through (from CSV as the text the file has); each
//! model output becomes one column (`label`) or, when it has several
//! values per row, one column per value (`probabilities_0`,
//! `probabilities_1`, ...). Nothing is visible in the output until the
//! last batch is written (see `rows::Writer`).
//!
//! What would make a wrong row fails the task instead: an output without
//! one row per input row (checked at load and on every batch), two output
//! columns with one name or a model output `ds` written to a table
//! (checked at load), a NaN or infinite feature or prediction (unless
//! `allow_nan`).
//!
//! Inference runs in pure Rust (tract). tract implements the standard ONNX
//! operators and ai.onnx.ml's TreeEnsembleClassifier, but not
//! LinearClassifier, LinearRegressor or TreeEnsembleRegressor: export
//! linear models with standard operators (MatMul, Add, Sigmoid/Softmax),
//! as `examples/demand_forecast/train.py` does.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

use super::sql::{describe, ds_of, output_of};
use crate::context::{TaskContext, TaskError, TaskResult};
use crate::rows::{self, Cell, Input, Output, RowSink, Want, Writer};

const DEFAULT_BATCH: usize = 4096;

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    let job = Job::from_params(&params).map_err(TaskError::failed)?;
    crate::__private::blocking(move || {
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
    features: Vec<String>,
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
        let features = strings(p.get("features"));
        if features.is_empty() {
            return Err("`features` lists no column".into());
        }
        let batch_size = p
            .get("batch_size")
            .and_then(|v| v.as_u64())
            .map_or(DEFAULT_BATCH, |n| n.max(1) as usize);
        let output = output_of(p.get("output").ok_or("`predict` needs `output`")?, None)?;
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
        let mut seen = std::collections::HashSet::new();
        for name in self.keep.iter().chain(&model.columns) {
            if !seen.insert(name) {
                return Err(format!(
                    "the output would have two columns `{name}` (`keep`: {}; the model's \
                     outputs: {}): list each column once",
                    self.keep.join(", "),
                    model.columns.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn run(&self, ctx: &TaskContext) -> Result<serde_json::Value, String> {
        let started = Instant::now();
        let model = Model::load(&self.model, self.features.len(), self.batch_size)?;
        ctx.log(format!(
            "model {}: {} features in, outputs {}",
            self.model,
            self.features.len(),
            model.columns.join(", ")
        ));
        self.check_columns(&model)?;
        let mut columns = self.keep.clone();
        columns.extend(model.columns.iter().cloned());
        let writer = Writer::open(&self.output, &ctx.pool, columns, &ds_of(ctx))?;
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
                    batch: self.batch_size,
                    feature_at: Vec::new(),
                    keep_at: Vec::new(),
                    next: Batch::with_capacity(self.batch_size, self.features.len()),
                    tx,
                };
                rows::read(&self.input, &ctx.pool, &mut reader)?;
                reader.send()
            });
            let written = scope.spawn(move || -> Result<Writer<'_>, String> {
                let mut writer = writer;
                for rows in out_rx.iter() {
                    // Returning drops the receiver: inference stops at its
                    // next batch, and the reader after it.
                    writer.write(&rows)?;
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
        writer.finish()?;
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

/// A loaded model, ready for batches of a fixed size.
struct Model {
    plan: TypedRunnableModel<TypedModel>,
    /// The batch size the model was fixed to, when it could not take any.
    fixed: Option<usize>,
    width: usize,
    /// The model's outputs, in order.
    outputs: Vec<String>,
    /// The output columns: an output's name, or `name_0`, `name_1`... when
    /// it has several values per row.
    columns: Vec<String>,
}

impl Model {
    fn load(path: &str, width: usize, batch: usize) -> Result<Model, String> {
        let fail = |e: TractError| format!("model {path}: {}", chain(&e));
        let mut model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| format!("cannot load the model {path}: {}", chain(&e)))?;
        let inputs = model.input_outlets().map_err(fail)?.to_vec();
        if inputs.len() != 1 {
            return Err(format!(
                "model {path} has {} inputs; `predict` feeds one (the features of each row)",
                inputs.len()
            ));
        }
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
        if let Some(w) = dims
            .get(1)
            .and_then(|d| d.concretize())
            .and_then(|d| d.to_i64().ok())
            .map(|d| d as usize)
            && w != width
        {
            return Err(format!(
                "model {path} takes {w} features per row, but `features` lists {width}"
            ));
        }
        let names: Vec<String> = model
            .output_outlets()
            .map_err(fail)?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map_or_else(|| model.node(o.node).name.clone(), str::to_string)
            })
            .collect();
        // A symbolic number of rows, so the last, short batch runs as it is;
        // a model that cannot be optimised that way gets a fixed batch size
        // and short batches are padded with zeros.
        let fixed = {
            let mut m = model.clone();
            let rows = m.symbols.sym("N");
            m.set_input_fact(0, f32::fact([rows.to_dim(), width.to_dim()]).into())
                .and_then(|()| m.into_optimized())
                .map(row_softmax)
                .and_then(|m| m.into_runnable())
                .map(|plan| (plan, None))
        };
        let (plan, fixed) = match fixed {
            Ok(ok) => ok,
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
                (plan, Some(batch))
            }
        };
        let mut m = Model {
            plan,
            fixed,
            width,
            outputs: names,
            columns: Vec::new(),
        };
        // Two rows of zeros (a fixed batch: one, padded): fixes the output
        // columns, proves the model runs and that each output has a row per
        // input row, before any row is read.
        let probe = if m.fixed.is_some() { 1 } else { 2 };
        let outputs = m.infer(&vec![0.0; probe * width])?;
        let rows_out = m.rows_out(probe);
        m.check_rows(&outputs, rows_out)
            .map_err(|e| format!("model {path}: {e}"))?;
        let mut columns = Vec::new();
        for (name, t) in m.outputs.iter().zip(&outputs) {
            match per_row(t, rows_out) {
                1 => columns.push(name.clone()),
                k => columns.extend((0..k).map(|j| format!("{name}_{j}"))),
            }
        }
        m.columns = columns;
        Ok(m)
    }

    /// Runs the model on the rows of `x` (`width` values each); the
    /// outputs have as many rows as the model's batch ([`Model::rows_out`]).
    fn infer(&self, x: &[f32]) -> Result<TVec<TValue>, String> {
        let rows = x.len() / self.width;
        let input = match self.fixed {
            Some(b) => {
                let mut padded = x.to_vec();
                padded.resize(b * self.width, 0.0);
                Tensor::from_shape(&[b, self.width], &padded)
            }
            None => Tensor::from_shape(&[rows, self.width], x),
        }
        .map_err(|e| e.to_string())?;
        self.plan
            .run(tvec!(input.into()))
            .map_err(|e| format!("inference failed: {}", chain(&e)))
    }

    /// Rows in the outputs of a call with `rows` input rows.
    fn rows_out(&self, rows: usize) -> usize {
        self.fixed.unwrap_or(rows)
    }

    /// Checks that every output has `rows` rows (its first dimension): a
    /// model that sums over the batch, or keeps a fixed first dimension,
    /// would otherwise give values that belong to no row or to another.
    fn check_rows(&self, outputs: &[TValue], rows: usize) -> Result<(), String> {
        for (name, t) in self.outputs.iter().zip(outputs) {
            match t.shape().first() {
                Some(&n) if n == rows => {}
                Some(&n) => {
                    return Err(format!(
                        "the output `{name}` has {n} rows (shape {:?}) for a batch of {rows}: \
                         `predict` needs one row of every output per input row",
                        t.shape()
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

/// Values per row of an output tensor.
fn per_row(t: &Tensor, batch: usize) -> usize {
    t.len().checked_div(batch).map_or(1, |n| n.max(1))
}

fn chain(e: &TractError) -> String {
    format!("{e:#}")
}

/// Reads an output tensor's value `i` (of `len`) as a cell.
fn cell(t: &Tensor, i: usize) -> Cell {
    let flat = |t: &Tensor| -> Option<Cell> {
        Some(match t.datum_type() {
            DatumType::F32 => Cell::Float(f64::from(*t.as_slice::<f32>().ok()?.get(i)?)),
            DatumType::F64 => Cell::Float(*t.as_slice::<f64>().ok()?.get(i)?),
            DatumType::I64 => Cell::Int(*t.as_slice::<i64>().ok()?.get(i)?),
            DatumType::I32 => Cell::Int(i64::from(*t.as_slice::<i32>().ok()?.get(i)?)),
            DatumType::Bool => Cell::Int(i64::from(*t.as_slice::<bool>().ok()?.get(i)?)),
            DatumType::String => Cell::Text(t.as_slice::<String>().ok()?.get(i)?.clone()),
            _ => return None,
        })
    };
    flat(t).unwrap_or(Cell::Null)
}

/// Rows read, waiting for the model.
struct Batch {
    /// `width` features per row.
    x: Vec<f32>,
    /// The `keep` cells of each row.
    kept: Vec<Vec<Cell>>,
}

impl Batch {
    fn with_capacity(rows: usize, width: usize) -> Batch {
        Batch {
            x: Vec::with_capacity(rows * width),
            kept: Vec::with_capacity(rows),
        }
    }
}

/// Reads rows into batches and hands them over.
struct Reader<'a> {
    job: &'a Job,
    batch: usize,
    /// Cells of an output row (kept columns and the model's), so each row
    /// is allocated once.
    row_width: usize,
    feature_at: Vec<usize>,
    keep_at: Vec<usize>,
    next: Batch,
    tx: std::sync::mpsc::SyncSender<Batch>,
}

impl Reader<'_> {
    fn send(&mut self) -> Result<(), String> {
        if self.next.kept.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(
            &mut self.next,
            Batch::with_capacity(self.batch, self.job.features.len()),
        );
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
        let outputs = self.model.infer(&batch.x)?;
        let rows_out = self.model.rows_out(n);
        self.model.check_rows(&outputs, rows_out)?;
        // A model whose values per row change with the batch (an [N, N]
        // output, say) would give rows of another width than its columns.
        let width: usize = outputs.iter().map(|t| per_row(t, rows_out)).sum();
        if width != self.model.columns.len() {
            return Err(format!(
                "the model's outputs give {width} values per row for a batch of {n}, but {} when it was loaded: `predict` needs the same values per row in every batch",
                self.model.columns.len()
            ));
        }
        let mut out = Vec::with_capacity(n);
        let kept_width = self.keep.len();
        for (r, kept) in batch.kept.into_iter().enumerate() {
            let mut row = kept;
            for t in &outputs {
                let k = per_row(t, rows_out);
                row.extend((0..k).map(|j| cell(t, r * k + j)));
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
}

impl Consumer<'_> {
    /// Input row `n` (1-based), with its first `keep` column's value.
    fn row_name(&self, n: u64, row: &[Cell]) -> String {
        match (self.keep.first(), row.first()) {
            (Some(key), Some(v)) => format!("input row {n} (`{key}` = {})", v.describe()),
            _ => format!("input row {n}"),
        }
    }
}

impl RowSink for Reader<'_> {
    fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, String> {
        let find = |c: &String| {
            names.iter().position(|n| n == c).ok_or_else(|| {
                format!(
                    "the input has no column `{c}` (its columns: {})",
                    names.join(", ")
                )
            })
        };
        self.feature_at = self
            .job
            .features
            .iter()
            .map(find)
            .collect::<Result<_, _>>()?;
        self.keep_at = self.job.keep.iter().map(find).collect::<Result<_, _>>()?;
        let mut wants = vec![Want::Skip; names.len()];
        for &i in &self.keep_at {
            wants[i] = Want::Any;
        }
        for &i in &self.feature_at {
            wants[i] = Want::Number;
        }
        Ok(wants)
    }

    fn row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), String> {
        for (k, &i) in self.feature_at.iter().enumerate() {
            match cells[i].as_f64() {
                // Cast to the model's f32: a huge value becomes infinite.
                Some(v) if (v as f32).is_finite() || self.job.allow_nan => {
                    self.next.x.push(v as f32)
                }
                Some(v) => {
                    let why = if v.is_finite() {
                        format!("{v:e} is too large for the model's 32-bit floats")
                    } else {
                        format!("{v} is not a finite number")
                    };
                    return Err(format!(
                        "{}, column `{}`: {why} (set `allow_nan: true` to pass NaN and \
                         infinities to the model)",
                        at(),
                        self.job.features[k]
                    ));
                }
                None => {
                    return Err(format!(
                        "{}, column `{}`: no value (a feature must be a number)",
                        at(),
                        self.job.features[k]
                    ));
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
}
