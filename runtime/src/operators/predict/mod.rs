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

mod batch;
mod consumer;
mod error;
mod model;
mod params;
mod reader;
#[cfg(test)]
mod tests;
mod tract;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use batch::Batch;
use consumer::Consumer;
pub use error::PredictError;
use model::Model;
use params::PredictTask;
use reader::Reader;

use super::sql::{describe, ds_of};
use crate::context::{TaskContext, TaskError, TaskResult};
use crate::rows::{self, Cell, Writer};

/// Output cells (rows x columns) a batch may hold.
const MAX_BATCH_CELLS: usize = 4_000_000;

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    let job = PredictTask::from_params(&params).map_err(|e| TaskError::failed(e.to_string()))?;
    crate::operator::blocking_json(move || job.run(&ctx)).await
}

impl PredictTask {
    /// Runs the task: the model loaded, the rows read, predicted and
    /// written in three threads.
    fn run(&self, ctx: &TaskContext) -> Result<serde_json::Value, PredictError> {
        let started = Instant::now();
        let model = Model::load(&self.model, &self.features, self.batch_size, &ctx.pool)?;
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
        self.check_columns(&model.columns)?;
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
        let writer = std::thread::scope(|scope| -> Result<Writer<'_>, PredictError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
            let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<Cell>>>(2);
            let reader = scope.spawn(|| -> Result<(), PredictError> {
                let mut reader = Reader {
                    keep: &self.keep,
                    allow_nan: self.allow_nan,
                    row_width: self.keep.len() + model.columns.len(),
                    batch,
                    model: &model,
                    feature_at: Vec::new(),
                    keep_at: Vec::new(),
                    next: Batch::new(&model.inputs, batch),
                    tx,
                };
                rows::read(&self.input, &ctx.pool, &mut reader).map_err(PredictError::of_read)?;
                reader.send()
            });
            let written = scope.spawn(move || -> Result<Writer<'_>, PredictError> {
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
            let written = written.join().unwrap_or(Err(PredictError::WriterPanicked));
            let read = reader.join().unwrap_or(Err(PredictError::ReaderPanicked));
            // The first stage to fail names the cause; the stages after it
            // only saw it stop.
            match (failed, written, read) {
                (_, _, Err(e)) if !matches!(e, PredictError::Stopped) => Err(e),
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
