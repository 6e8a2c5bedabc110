//! What the ai.onnx.ml classifiers and regressors share: their
//! post-transforms and class labels.

use super::op::Attrs;
use crate::ml::error::ModelError;
use crate::ml::value::{Arr, Tensor};

/// The post-transforms of the ai.onnx.ml classifiers and regressors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl Post {
    pub fn parse(s: &str) -> Result<Post, ModelError> {
        Ok(match s {
            "NONE" | "" => Post::None,
            "LOGISTIC" => Post::Logistic,
            "SOFTMAX" => Post::Softmax,
            "SOFTMAX_ZERO" => Post::SoftmaxZero,
            "PROBIT" => Post::Probit,
            other => return Err(ModelError::unknown("post_transform", other)),
        })
    }

    /// Applies the transform to one row's scores, as onnxruntime does
    /// (in f32).
    pub fn apply(self, row: &mut [f32]) {
        match self {
            Post::None => {}
            Post::Logistic => row.iter_mut().for_each(|v| *v = logistic(*v)),
            Post::Probit => row.iter_mut().for_each(|v| *v = probit(*v)),
            Post::Softmax => softmax(row),
            Post::SoftmaxZero => softmax_zero(row),
        }
    }
}

/// 1 / (1 + e^-x), computed on |x| so it cannot overflow.
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// sqrt(2) * erfinv(2p - 1), with the approximation of erfinv the
/// ai.onnx.ml reference uses.
pub fn probit(p: f32) -> f32 {
    let x = 2.0 * p - 1.0;
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let y = (1.0 - x) * (1.0 + x);
    let log = y.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    std::f32::consts::SQRT_2 * sgn * v3.sqrt()
}

pub fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Softmax that leaves zeros at zero.
pub fn softmax_zero(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::MIN, f32::max);
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        if *v > 0.000_000_1 || *v < -0.000_000_1 {
            *v = (*v - max).exp();
            sum += *v;
        } else {
            *v *= exp_neg_max;
        }
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Class labels of a classifier: integers or strings.
#[derive(Debug, Clone)]
pub enum Labels {
    I64(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    pub fn from_attrs(a: &Attrs, ints: &str, strings: &str) -> Result<Labels, ModelError> {
        let s = a.strings(strings)?;
        if !s.is_empty() {
            return Ok(Labels::Str(s));
        }
        Ok(Labels::I64(a.ints(ints)))
    }

    pub fn len(&self) -> usize {
        match self {
            Labels::I64(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label tensor of `picked` class indices ([rows]).
    pub fn pick(&self, picked: &[usize]) -> Tensor {
        match self {
            Labels::I64(v) => Tensor::I64(Arr::vector(
                picked
                    .iter()
                    .map(|&i| v.get(i).copied().unwrap_or(0))
                    .collect(),
            )),
            Labels::Str(v) => Tensor::Str(Arr::vector(
                picked
                    .iter()
                    .map(|&i| v.get(i).cloned().unwrap_or_default())
                    .collect(),
            )),
        }
    }
}

/// The index of the first largest value.
pub fn first_max(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = j;
        }
    }
    best
}
