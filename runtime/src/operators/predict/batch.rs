//! A batch of rows read for the model: one column of values per model
//! input, and the `keep` cells of each row.

use crate::ml::bind::{Bound, Kind};
use crate::rows::Cell;

/// One model input's values for a batch, row after row.
pub(super) enum Col {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

/// Rows read, waiting for the model.
pub(super) struct Batch {
    /// One column of values per model input.
    pub cols: Vec<Col>,
    /// The `keep` cells of each row.
    pub kept: Vec<Vec<Cell>>,
}

impl Batch {
    pub fn new(inputs: &[Bound], rows: usize) -> Batch {
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
    pub fn push_probe(&mut self, inputs: &[Bound], texts: &[Option<String>]) {
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
