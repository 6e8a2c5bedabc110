//! Linear models: LinearClassifier and LinearRegressor.

use crate::ml::error::ModelError;
use crate::ml::ops::op::{Attrs, Op, tensor_in};
use crate::ml::ops::post::{Labels, Post, first_max, logistic, probit};
use crate::ml::value::{Arr, Tensor, Value};

/// The input as a [rows, features] f32 matrix (a vector is one row), as
/// the ai.onnx.ml kernels read numbers.
fn matrix<'v>(
    inputs: &[Option<&'v Value>],
    op: &str,
) -> Result<(usize, usize, std::borrow::Cow<'v, [f32]>), ModelError> {
    let x = tensor_in(inputs, 0, op)?;
    // Floats are read where they are (a batch's features: no copy).
    if let Tensor::F32(a) = x {
        let (rows, cols) = a.rows_cols();
        return Ok((rows, cols, std::borrow::Cow::Borrowed(&a.data)));
    }
    let a = x.to_f32()?;
    let (rows, cols) = a.rows_cols();
    Ok((rows, cols, std::borrow::Cow::Owned(a.data)))
}

/// X times W (one row of `cols` weights per target), plus the intercepts.
fn gemm(x: &[f32], rows: usize, cols: usize, w: &[f32], b: &[f32], targets: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * targets];
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(targets)) {
        for (t, o) in or.iter_mut().enumerate() {
            let wr = &w[t * cols..(t + 1) * cols];
            let mut s = 0f32;
            for (xv, wv) in xr.iter().zip(wr) {
                s += xv * wv;
            }
            *o = s + b.get(t).copied().unwrap_or(0.0);
        }
    }
    out
}

#[derive(Debug)]
pub struct LinearClassifier {
    coef: Vec<f32>,
    intercepts: Vec<f32>,
    labels: Labels,
    post: Post,
}

impl LinearClassifier {
    pub fn new(a: &Attrs) -> Result<Self, ModelError> {
        let s = LinearClassifier {
            coef: a.floats("coefficients"),
            intercepts: a.floats("intercepts"),
            labels: Labels::from_attrs(a, "classlabels_ints", "classlabels_strings")?,
            post: Post::parse(&a.string("post_transform", "NONE")?)?,
        };
        if s.intercepts.is_empty()
            || s.coef.is_empty()
            || !s.coef.len().is_multiple_of(s.intercepts.len())
        {
            return Err(format!(
                "LinearClassifier has {} coefficients for {} intercepts",
                s.coef.len(),
                s.intercepts.len()
            )
            .into());
        }
        Ok(s)
    }
}

impl Op for LinearClassifier {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let (rows, cols, x) = matrix(inputs, "LinearClassifier")?;
        let targets = self.intercepts.len();
        if cols * targets != self.coef.len() {
            return Err(format!(
                "LinearClassifier: {cols} features per row, but the model has {} coefficients per class",
                self.coef.len() / targets
            ).into());
        }
        let mut scores = gemm(&x, rows, cols, &self.coef, &self.intercepts, targets);
        let labels = if targets == 1 {
            // One score: the second label when it is positive.
            let (neg, pos) = if self.labels.len() == 2 {
                (0, 1)
            } else {
                (usize::MAX, usize::MAX)
            };
            let picked: Vec<usize> = scores
                .iter()
                .map(|&s| if s > 0.0 { pos } else { neg })
                .collect();
            if self.labels.len() == 2 {
                self.labels.pick(&picked)
            } else {
                match &self.labels {
                    Labels::Str(_) => Tensor::Str(Arr::vector(
                        scores
                            .iter()
                            .map(|&s| if s > 0.0 { "1" } else { "0" }.to_string())
                            .collect(),
                    )),
                    Labels::I64(_) => Tensor::I64(Arr::vector(
                        scores.iter().map(|&s| i64::from(s > 0.0)).collect(),
                    )),
                }
            }
        } else {
            let picked: Vec<usize> = scores.chunks_exact(targets).map(first_max).collect();
            self.labels.pick(&picked)
        };
        let width;
        if targets == 1 && self.labels.len() == 2 {
            // The second class's column is added: [1 - s, s], s through
            // the logistic function first with LOGISTIC (onnxruntime 1.32;
            // the other transforms leave s as it is). PROBIT transforms
            // the one score instead.
            width = if self.post == Post::Probit { 1 } else { 2 };
            scores = scores
                .iter()
                .flat_map(|&s| match self.post {
                    Post::Probit => vec![probit(s)],
                    Post::Logistic => {
                        let p = logistic(s);
                        vec![1.0 - p, p]
                    }
                    _ => vec![1.0 - s, s],
                })
                .collect();
        } else {
            width = targets;
            if targets > 1 {
                for row in scores.chunks_exact_mut(targets) {
                    self.post.apply(row);
                }
            } else if self.post == Post::Probit {
                scores.iter_mut().for_each(|s| *s = probit(*s));
            }
        }
        Ok(vec![
            Value::T(labels),
            Value::T(Tensor::F32(Arr::new(vec![rows, width], scores)?)),
        ])
    }
}

#[derive(Debug)]
pub struct LinearRegressor {
    coef: Vec<f32>,
    intercepts: Vec<f32>,
    targets: usize,
    post: Post,
}

impl LinearRegressor {
    pub fn new(a: &Attrs) -> Result<Self, ModelError> {
        let targets = usize::try_from(a.int("targets", 1)).unwrap_or(0);
        let coef = a.floats("coefficients");
        if targets == 0
            || coef.is_empty()
            || targets > coef.len()
            || !coef.len().is_multiple_of(targets)
        {
            return Err(format!(
                "LinearRegressor has {} coefficients for {targets} targets",
                coef.len()
            )
            .into());
        }
        Ok(LinearRegressor {
            coef,
            intercepts: a.floats("intercepts"),
            targets,
            post: Post::parse(&a.string("post_transform", "NONE")?)?,
        })
    }
}

impl Op for LinearRegressor {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let (rows, cols, x) = matrix(inputs, "LinearRegressor")?;
        if cols * self.targets != self.coef.len() {
            return Err(format!(
                "LinearRegressor: {cols} features per row, but the model has {} coefficients per target",
                self.coef.len() / self.targets
            ).into());
        }
        let mut y = gemm(&x, rows, cols, &self.coef, &self.intercepts, self.targets);
        if self.targets > 1 {
            for row in y.chunks_exact_mut(self.targets) {
                self.post.apply(row);
            }
        } else if self.post == Post::Probit {
            y.iter_mut().for_each(|s| *s = probit(*s));
        }
        Ok(vec![Value::T(Tensor::F32(Arr::new(
            vec![rows, self.targets],
            y,
        )?))])
    }
}
