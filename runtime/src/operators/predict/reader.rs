//! The input side of `predict`: binds the model's features and the `keep`
//! columns to the input's columns, parses each row into the next batch,
//! and hands full batches to the model's thread.

use super::batch::{Batch, Col};
use super::error::PredictError;
use super::model::Model;
use crate::ml::bind::Kind;
use crate::rows::{Cell, RowSink, SinkError, Want};

/// Reads rows into batches and hands them over.
pub(super) struct Reader<'a> {
    pub model: &'a Model,
    /// The columns copied through.
    pub keep: &'a [String],
    /// NaN and infinite features go to the model.
    pub allow_nan: bool,
    /// Rows per batch.
    pub batch: usize,
    /// Cells of an output row (kept columns and the model's), so each row
    /// is allocated once.
    pub row_width: usize,
    /// For each model input, the positions of its columns in the source.
    pub feature_at: Vec<Vec<usize>>,
    pub keep_at: Vec<usize>,
    pub next: Batch,
    pub tx: std::sync::mpsc::SyncSender<Batch>,
}

impl Reader<'_> {
    /// Hands the rows read so far to the model's thread.
    pub fn send(&mut self) -> Result<(), PredictError> {
        if self.next.kept.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.next, Batch::new(&self.model.inputs, self.batch));
        // The model side stopped (it failed, or was cancelled): its error is
        // the one reported.
        self.tx.send(full).map_err(|_| PredictError::Stopped)
    }
}

impl RowSink for Reader<'_> {
    fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, SinkError> {
        let find = |c: &String| {
            names
                .iter()
                .position(|n| n == c)
                .ok_or_else(|| PredictError::NoColumn {
                    column: c.clone(),
                    columns: names.join(", "),
                })
        };
        self.feature_at = self
            .model
            .inputs
            .iter()
            .map(|b| b.columns.iter().map(find).collect::<Result<Vec<_>, _>>())
            .collect::<Result<_, _>>()?;
        self.keep_at = self.keep.iter().map(find).collect::<Result<_, _>>()?;
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

    fn row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), SinkError> {
        Ok(self.push_row(cells, at)?)
    }
}

impl Reader<'_> {
    /// Parses a row into the next batch (sent when full).
    fn push_row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), PredictError> {
        let nan_ok = self.allow_nan;
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
                let number = || -> Result<f64, PredictError> {
                    match cell.as_f64() {
                        Some(v) => Ok(v),
                        None if *cell == Cell::Null && missing_ok => Ok(f64::NAN),
                        None if *cell == Cell::Null => Err(PredictError::Missing {
                            at: at(),
                            column: column.clone(),
                            input: b.name.clone(),
                        }),
                        None => Err(PredictError::NotANumber {
                            at: at(),
                            column: column.clone(),
                            value: cell.describe(),
                        }),
                    }
                };
                match col {
                    Col::F32(v) => {
                        let x = number()?;
                        // Cast to the model's f32: a huge value becomes infinite.
                        if (x as f32).is_finite() || nan_ok || (x.is_nan() && missing_ok) {
                            v.push(x as f32);
                        } else {
                            let (at, column) = (at(), column.clone());
                            return Err(if x.is_finite() {
                                PredictError::TooLarge { at, column, x }
                            } else {
                                PredictError::NotFinite { at, column, x }
                            });
                        }
                    }
                    Col::F64(v) => {
                        let x = number()?;
                        if !(x.is_finite() || nan_ok || (x.is_nan() && missing_ok)) {
                            return Err(PredictError::NotFinite {
                                at: at(),
                                column: column.clone(),
                                x,
                            });
                        }
                        v.push(x);
                    }
                    Col::I64(v) => match cell {
                        Cell::Int(x) => v.push(*x),
                        other => match other.as_f64() {
                            Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => v.push(x as i64),
                            _ => {
                                return Err(PredictError::NotAnInteger {
                                    at: at(),
                                    column: column.clone(),
                                    value: other.describe(),
                                    input: b.name.clone(),
                                });
                            }
                        },
                    },
                    Col::Str(v) => v.push(match cell {
                        Cell::Null if missing_ok => String::new(),
                        Cell::Null => {
                            return Err(PredictError::MissingText {
                                at: at(),
                                column: column.clone(),
                                input: b.name.clone(),
                            });
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
