//! The model's side of `predict`: runs it on each batch and builds the
//! output rows (the kept cells, then the model's values), showing the
//! progress on a terminal.

use std::io::Write;
use std::time::Instant;

use super::batch::Batch;
use super::error::PredictError;
use super::model::{Model, cell};
use crate::context::TaskContext;
use crate::rows::Cell;

/// Runs the model on batches and builds the output rows.
pub(super) struct Consumer<'a> {
    pub model: &'a Model,
    /// The `keep` columns: the first names a row in messages.
    pub keep: &'a [String],
    pub allow_nan: bool,
    pub ctx: &'a TaskContext,
    pub rows: u64,
    pub batches: u64,
    pub started: Instant,
    pub progress: Option<Instant>,
}

impl Consumer<'_> {
    /// The output rows of a batch: its kept cells, then the model's.
    pub fn consume(&mut self, batch: Batch) -> Result<Vec<Vec<Cell>>, PredictError> {
        let n = batch.kept.len();
        if self.ctx.is_cancelled() {
            return Err(PredictError::Stopped);
        }
        let Batch { cols, kept } = batch;
        let outputs = self.model.infer(cols, n).map_err(|e| PredictError::Batch {
            from: self.rows + 1,
            to: self.rows + n as u64,
            error: Box::new(e),
        })?;
        let rows_out = self.model.rows_out(n);
        self.model.check_rows(&outputs, rows_out)?;
        // A model whose values per row change with the batch (an [N, N]
        // output, say) would give rows of another width than its columns.
        let width: usize = outputs.iter().map(|o| o.per_row).sum();
        if width != self.model.columns.len() {
            return Err(PredictError::Width {
                width,
                rows: n,
                loaded: self.model.columns.len(),
            });
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
                return Err(PredictError::NanOutput {
                    row: self.row_name(self.rows + r as u64 + 1, &row),
                    column: self.model.columns[c].clone(),
                    value: row[kept_width + c].describe(),
                });
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
