//! The ai.onnx.ml operators other than tree ensembles and SVMs, following
//! the ONNX-ML spec and, where the spec leaves room, onnxruntime's
//! kernels (the engine users compare against).

use super::{Attrs, Labels, Op, Post, tensor_in};
use crate::ml::value::{Arr, Keys, Tensor, Value, map};

pub fn build(op: &str, a: &Attrs, opset: i64) -> Result<Option<Box<dyn Op>>, String> {
    Ok(Some(match op {
        "LinearClassifier" => Box::new(LinearClassifier::new(a)?),
        "LinearRegressor" => Box::new(LinearRegressor::new(a)?),
        "Scaler" => Box::new(Scaler {
            offset: a.floats("offset"),
            scale: a.floats("scale"),
        }),
        "Normalizer" => Box::new(Normalizer {
            norm: a.string("norm", "MAX")?,
        }),
        "Imputer" => Box::new(Imputer::new(a)?),
        "Binarizer" => Box::new(Binarizer {
            threshold: a.float("threshold", 0.0),
        }),
        "ZipMap" => Box::new(ZipMap {
            keys: match Labels::from_attrs(a, "classlabels_int64s", "classlabels_strings")? {
                Labels::I64(k) => Keys::I64(k),
                Labels::Str(k) => Keys::Str(k),
            },
        }),
        "ArrayFeatureExtractor" => Box::new(ArrayFeatureExtractor),
        "FeatureVectorizer" => Box::new(FeatureVectorizer {
            dims: a.ints("inputdimensions"),
        }),
        "OneHotEncoder" => Box::new(OneHotEncoder::new(a)?),
        "LabelEncoder" => Box::new(LabelEncoder::new(a, opset)?),
        "CategoryMapper" => Box::new(CategoryMapper {
            ints: a.ints("cats_int64s"),
            strings: a.strings("cats_strings")?,
            default_int: a.int("default_int64", -1),
            default_string: a.string("default_string", "_Unused")?,
        }),
        "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble" => {
            return super::tree::build(op, a);
        }
        "SVMClassifier" | "SVMRegressor" => return super::svm::build(op, a),
        _ => return Ok(None),
    }))
}

/// The input as a [rows, features] f32 matrix (a vector is one row), as
/// the ai.onnx.ml kernels read numbers.
fn matrix<'v>(
    inputs: &[Option<&'v Value>],
    op: &str,
) -> Result<(usize, usize, std::borrow::Cow<'v, [f32]>), String> {
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
struct LinearClassifier {
    coef: Vec<f32>,
    intercepts: Vec<f32>,
    labels: Labels,
    post: Post,
}

impl LinearClassifier {
    fn new(a: &Attrs) -> Result<Self, String> {
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
            ));
        }
        Ok(s)
    }
}

impl Op for LinearClassifier {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let (rows, cols, x) = matrix(inputs, "LinearClassifier")?;
        let targets = self.intercepts.len();
        if cols * targets != self.coef.len() {
            return Err(format!(
                "LinearClassifier: {cols} features per row, but the model has {} coefficients per class",
                self.coef.len() / targets
            ));
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
                    Post::Probit => vec![super::probit(s)],
                    Post::Logistic => {
                        let p = super::logistic(s);
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
                scores.iter_mut().for_each(|s| *s = super::probit(*s));
            }
        }
        Ok(vec![
            Value::T(labels),
            Value::T(Tensor::F32(Arr::new(vec![rows, width], scores)?)),
        ])
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

#[derive(Debug)]
struct LinearRegressor {
    coef: Vec<f32>,
    intercepts: Vec<f32>,
    targets: usize,
    post: Post,
}

impl LinearRegressor {
    fn new(a: &Attrs) -> Result<Self, String> {
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
            ));
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let (rows, cols, x) = matrix(inputs, "LinearRegressor")?;
        if cols * self.targets != self.coef.len() {
            return Err(format!(
                "LinearRegressor: {cols} features per row, but the model has {} coefficients per target",
                self.coef.len() / self.targets
            ));
        }
        let mut y = gemm(&x, rows, cols, &self.coef, &self.intercepts, self.targets);
        if self.targets > 1 {
            for row in y.chunks_exact_mut(self.targets) {
                self.post.apply(row);
            }
        } else if self.post == Post::Probit {
            y.iter_mut().for_each(|s| *s = super::probit(*s));
        }
        Ok(vec![Value::T(Tensor::F32(Arr::new(
            vec![rows, self.targets],
            y,
        )?))])
    }
}

/// A per-column parameter: one value for all columns, or one each.
fn per_col(v: &[f32], j: usize, default: f32) -> f32 {
    match v.len() {
        0 => default,
        1 => v[0],
        _ => v.get(j).copied().unwrap_or(default),
    }
}

#[derive(Debug)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Op for Scaler {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Scaler")?.to_f32()?;
        let (_, cols) = x.rows_cols();
        for v in [&self.offset, &self.scale] {
            if v.len() > 1 && v.len() != cols {
                return Err(format!("Scaler: {} parameters for {cols} columns", v.len()));
            }
        }
        let mut y = x;
        for row in y.data.chunks_exact_mut(cols.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - per_col(&self.offset, j, 0.0)) * per_col(&self.scale, j, 1.0);
            }
        }
        Ok(vec![Value::T(Tensor::F32(y))])
    }
}

#[derive(Debug)]
struct Normalizer {
    norm: String,
}

impl Op for Normalizer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let mut y = tensor_in(inputs, 0, "Normalizer")?.to_f32()?;
        let (_, cols) = y.rows_cols();
        for row in y.data.chunks_exact_mut(cols.max(1)) {
            let d = match self.norm.as_str() {
                "MAX" => row.iter().copied().fold(f32::MIN, f32::max),
                "L1" => row.iter().map(|v| v.abs()).sum(),
                "L2" => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
                other => return Err(format!("Normalizer: unknown norm `{other}`")),
            };
            if d != 0.0 {
                row.iter_mut().for_each(|v| *v /= d);
            }
        }
        Ok(vec![Value::T(Tensor::F32(y))])
    }
}

#[derive(Debug)]
struct Imputer {
    floats: Vec<f32>,
    replaced_float: f32,
    ints: Vec<i64>,
    replaced_int: i64,
}

impl Imputer {
    fn new(a: &Attrs) -> Result<Self, String> {
        Ok(Imputer {
            floats: a.floats("imputed_value_floats"),
            replaced_float: a.float("replaced_value_float", 0.0),
            ints: a.ints("imputed_value_int64s"),
            replaced_int: a.int("replaced_value_int64", 0),
        })
    }
}

impl Op for Imputer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Imputer")?;
        let (_, cols) = match x {
            Tensor::F32(a) => a.rows_cols(),
            Tensor::F64(a) => a.rows_cols(),
            Tensor::I64(a) => a.rows_cols(),
            other => {
                return Err(format!(
                    "Imputer: cannot impute {} values",
                    other.type_name()
                ));
            }
        };
        let check = |n: usize| {
            if n > 1 && n != cols {
                Err(format!("Imputer: {n} imputed values for {cols} columns"))
            } else if n == 0 {
                Err("Imputer: no imputed values".to_string())
            } else {
                Ok(())
            }
        };
        Ok(vec![Value::T(match x {
            Tensor::I64(a) => {
                check(self.ints.len())?;
                let mut y = a.clone();
                for row in y.data.chunks_exact_mut(cols.max(1)) {
                    for (j, v) in row.iter_mut().enumerate() {
                        if *v == self.replaced_int {
                            *v = self.ints[if self.ints.len() == 1 { 0 } else { j }];
                        }
                    }
                }
                Tensor::I64(y)
            }
            other => {
                check(self.floats.len())?;
                let mut y = other.to_f32()?;
                let nan = self.replaced_float.is_nan();
                for row in y.data.chunks_exact_mut(cols.max(1)) {
                    for (j, v) in row.iter_mut().enumerate() {
                        if (nan && v.is_nan()) || *v == self.replaced_float {
                            *v = per_col(&self.floats, j, 0.0);
                        }
                    }
                }
                Tensor::F32(y)
            }
        })])
    }
}

#[derive(Debug)]
struct Binarizer {
    threshold: f32,
}

impl Op for Binarizer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let t = self.threshold;
        Ok(vec![Value::T(match tensor_in(inputs, 0, "Binarizer")? {
            Tensor::F32(a) => Tensor::F32(map(a, |&v| if v > t { 1.0 } else { 0.0 })),
            Tensor::F64(a) => Tensor::F64(map(a, |&v| if v > f64::from(t) { 1.0 } else { 0.0 })),
            Tensor::I64(a) => Tensor::I64(map(a, |&v| i64::from(v as f32 > t))),
            other => {
                return Err(format!(
                    "Binarizer: cannot read {} values",
                    other.type_name()
                ));
            }
        })])
    }
}

#[derive(Debug)]
struct ZipMap {
    keys: Keys,
}

impl Op for ZipMap {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "ZipMap")?.to_f32()?;
        let (rows, cols) = x.rows_cols();
        if cols != self.keys.len() {
            return Err(format!(
                "ZipMap: {cols} values per row for {} classes",
                self.keys.len()
            ));
        }
        Ok(vec![Value::Maps {
            keys: self.keys.clone(),
            values: Arr::new(vec![rows, cols], x.data)?,
        }])
    }
}

#[derive(Debug)]
struct ArrayFeatureExtractor;

impl Op for ArrayFeatureExtractor {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "ArrayFeatureExtractor")?;
        let idx = tensor_in(inputs, 1, "ArrayFeatureExtractor")?.to_i64()?;
        let shape = x.shape();
        let last = shape.last().copied().unwrap_or(1);
        let outer = if shape.len() <= 1 {
            1
        } else {
            x.len() / last.max(1)
        };
        let mut out_shape: Vec<usize> = if shape.len() <= 1 {
            vec![1]
        } else {
            shape[..shape.len() - 1].to_vec()
        };
        out_shape.push(idx.data.len());
        let mut picks = Vec::with_capacity(idx.data.len());
        for &i in &idx.data {
            let i = usize::try_from(i)
                .ok()
                .filter(|&i| i < last)
                .ok_or_else(|| format!("ArrayFeatureExtractor: index {i} is outside 0..{last}"))?;
            picks.push(i);
        }
        fn take<T: Clone>(
            a: &Arr<T>,
            outer: usize,
            last: usize,
            picks: &[usize],
            shape: Vec<usize>,
        ) -> Result<Arr<T>, String> {
            let mut data = Vec::with_capacity(outer * picks.len());
            for o in 0..outer {
                for &i in picks {
                    data.push(a.data[o * last + i].clone());
                }
            }
            Arr::new(shape, data)
        }
        Ok(vec![Value::T(match x {
            Tensor::F32(a) => Tensor::F32(take(a, outer, last, &picks, out_shape)?),
            Tensor::F64(a) => Tensor::F64(take(a, outer, last, &picks, out_shape)?),
            Tensor::I64(a) => Tensor::I64(take(a, outer, last, &picks, out_shape)?),
            Tensor::Str(a) => Tensor::Str(take(a, outer, last, &picks, out_shape)?),
            Tensor::Bool(a) => Tensor::Bool(take(a, outer, last, &picks, out_shape)?),
        })])
    }
}

#[derive(Debug)]
struct FeatureVectorizer {
    dims: Vec<i64>,
}

impl Op for FeatureVectorizer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let parts: Vec<Arr<f32>> = (0..inputs.len())
            .map(|i| tensor_in(inputs, i, "FeatureVectorizer").and_then(Tensor::to_f32))
            .collect::<Result<_, _>>()?;
        let rows = parts.first().map_or(0, |p| p.rows_cols().0);
        let widths: Vec<usize> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.dims
                    .get(i)
                    .and_then(|&d| usize::try_from(d).ok())
                    .unwrap_or(p.rows_cols().1)
            })
            .collect();
        let total: usize = widths.iter().sum();
        if total > 1 << 14 {
            return Err(format!("FeatureVectorizer: {total} values per row"));
        }
        let mut out = vec![0f32; rows * total];
        let mut at = 0;
        for (p, &w) in parts.iter().zip(&widths) {
            let (r, c) = p.rows_cols();
            if r != rows {
                return Err(format!(
                    "FeatureVectorizer: inputs have {r} and {rows} rows"
                ));
            }
            for i in 0..rows {
                for j in 0..w.min(c) {
                    out[i * total + at + j] = p.data[i * c + j];
                }
            }
            at += w;
        }
        Ok(vec![Value::T(Tensor::F32(Arr::new(
            vec![rows, total],
            out,
        )?))])
    }
}

#[derive(Debug)]
struct OneHotEncoder {
    ints: Vec<i64>,
    strings: Vec<String>,
    /// Each category's position (the first, if listed twice).
    int_at: std::collections::HashMap<i64, usize>,
    string_at: std::collections::HashMap<String, usize>,
    zeros: bool,
}

impl OneHotEncoder {
    fn new(a: &Attrs) -> Result<Self, String> {
        let ints = a.ints("cats_int64s");
        let strings = a.strings("cats_strings")?;
        let mut int_at = std::collections::HashMap::new();
        for (i, &c) in ints.iter().enumerate() {
            int_at.entry(c).or_insert(i);
        }
        let mut string_at = std::collections::HashMap::new();
        for (i, c) in strings.iter().enumerate() {
            string_at.entry(c.clone()).or_insert(i);
        }
        Ok(OneHotEncoder {
            ints,
            strings,
            int_at,
            string_at,
            zeros: a.int("zeros", 1) != 0,
        })
    }
}

impl Op for OneHotEncoder {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "OneHotEncoder")?;
        let k = self.ints.len().max(self.strings.len());
        let find = |i: usize| -> Option<usize> {
            match x {
                Tensor::Str(a) => self.string_at.get(&a.data[i]).copied(),
                Tensor::I64(a) => self.int_at.get(&a.data[i]).copied(),
                // Numbers are cast to integers (truncated), as onnxruntime
                // does: 2.5 is category 2. NaN is no category.
                Tensor::F32(a) => {
                    let v = a.data[i];
                    (!v.is_nan())
                        .then(|| self.int_at.get(&(v as i64)).copied())
                        .flatten()
                }
                Tensor::F64(a) => {
                    let v = a.data[i];
                    (!v.is_nan())
                        .then(|| self.int_at.get(&(v as i64)).copied())
                        .flatten()
                }
                Tensor::Bool(_) => None,
            }
        };
        let n = x.len();
        let mut out = vec![0f32; n * k];
        for i in 0..n {
            match find(i) {
                Some(j) => out[i * k + j] = 1.0,
                None if self.zeros => {}
                None => {
                    let value = match x {
                        Tensor::Str(a) => format!("`{}`", a.data[i]),
                        other => other.to_str().data[i].clone(),
                    };
                    let known: Vec<String> = if self.strings.is_empty() {
                        self.ints.iter().map(i64::to_string).collect()
                    } else {
                        self.strings.clone()
                    };
                    let shown = known
                        .iter()
                        .take(20)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(format!(
                        "{value} is not one of the categories the model was trained on ({shown}{}); \
                         export the encoder with handle_unknown=\"ignore\" to map unknown values to zeros",
                        if known.len() > 20 { ", ..." } else { "" }
                    ));
                }
            }
        }
        let mut shape = x.shape().to_vec();
        shape.push(k);
        Ok(vec![Value::T(Tensor::F32(Arr::new(shape, out)?))])
    }
}

/// LabelEncoder (opset 1: classes_strings; 2+: keys_* and values_*).
#[derive(Debug)]
struct LabelEncoder {
    keys: Tensor,
    values: Tensor,
    default: Tensor,
    /// Opset 1 maps both ways: int64 input `i` to `classes_strings[i]`
    /// (else this default string).
    v1_to_string: Option<(Vec<String>, String)>,
}

impl LabelEncoder {
    fn new(a: &Attrs, opset: i64) -> Result<Self, String> {
        if opset < 2 {
            let classes = a.strings("classes_strings")?;
            let n = classes.len() as i64;
            return Ok(LabelEncoder {
                keys: Tensor::Str(Arr::vector(classes.clone())),
                values: Tensor::I64(Arr::vector((0..n).collect())),
                default: Tensor::I64(Arr::scalar(a.int("default_int64", -1))),
                v1_to_string: Some((classes, a.string("default_string", "_Unused")?)),
            });
        }
        let pick = |prefix: &str| -> Result<Option<Tensor>, String> {
            if let Some(t) = a.tensor(&format!("{prefix}_tensor"))? {
                return Ok(Some(t));
            }
            let s = a.strings(&format!("{prefix}_strings"))?;
            if !s.is_empty() {
                return Ok(Some(Tensor::Str(Arr::vector(s))));
            }
            let i = a.ints(&format!("{prefix}_int64s"));
            if !i.is_empty() {
                return Ok(Some(Tensor::I64(Arr::vector(i))));
            }
            let f = a.floats(&format!("{prefix}_floats"));
            if !f.is_empty() {
                return Ok(Some(Tensor::F32(Arr::vector(f))));
            }
            Ok(None)
        };
        let keys = pick("keys")?.ok_or("LabelEncoder has no keys")?;
        let values = pick("values")?.ok_or("LabelEncoder has no values")?;
        if keys.len() != values.len() {
            return Err(format!(
                "LabelEncoder has {} keys for {} values",
                keys.len(),
                values.len()
            ));
        }
        let default = if let Some(t) = a.tensor("default_tensor")? {
            t
        } else {
            match &values {
                Tensor::Str(_) => Tensor::Str(Arr::scalar(a.string("default_string", "_Unused")?)),
                Tensor::I64(_) => Tensor::I64(Arr::scalar(a.int("default_int64", -1))),
                _ => Tensor::F32(Arr::scalar(a.float("default_float", -0.0))),
            }
        };
        Ok(LabelEncoder {
            keys,
            values,
            default,
            v1_to_string: None,
        })
    }
}

impl Op for LabelEncoder {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "LabelEncoder")?;
        if let (Some((classes, default)), Tensor::I64(a)) = (&self.v1_to_string, x) {
            return Ok(vec![Value::T(Tensor::Str(map(a, |&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| classes.get(i))
                    .unwrap_or(default)
                    .clone()
            })))]);
        }
        // Keys compared as text or as numbers, as their type is.
        let index: Vec<Option<usize>> = match (&self.keys, x) {
            (Tensor::Str(k), Tensor::Str(a)) => {
                let m: std::collections::HashMap<&str, usize> = k
                    .data
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.as_str(), i))
                    .collect();
                a.data.iter().map(|v| m.get(v.as_str()).copied()).collect()
            }
            (Tensor::I64(k), Tensor::I64(a)) => {
                let m: std::collections::HashMap<i64, usize> =
                    k.data.iter().enumerate().map(|(i, &s)| (s, i)).collect();
                a.data.iter().map(|v| m.get(v).copied()).collect()
            }
            (k, a) => {
                let kf = k.to_f64()?;
                let af = a.to_f64()?;
                af.data
                    .iter()
                    .map(|v| kf.data.iter().position(|c| c == v))
                    .collect()
            }
        };
        let shape = x.shape().to_vec();
        Ok(vec![Value::T(match (&self.values, &self.default) {
            (Tensor::Str(v), d) => {
                let d = d.to_str().data.first().cloned().unwrap_or_default();
                Tensor::Str(Arr::new(
                    shape,
                    index
                        .iter()
                        .map(|i| i.map_or_else(|| d.clone(), |i| v.data[i].clone()))
                        .collect(),
                )?)
            }
            (Tensor::I64(v), d) => {
                let d = d.to_i64()?.data.first().copied().unwrap_or(-1);
                Tensor::I64(Arr::new(
                    shape,
                    index.iter().map(|i| i.map_or(d, |i| v.data[i])).collect(),
                )?)
            }
            (v, d) => {
                let v = v.to_f32()?;
                let d = d.to_f32()?.data.first().copied().unwrap_or(0.0);
                Tensor::F32(Arr::new(
                    shape,
                    index.iter().map(|i| i.map_or(d, |i| v.data[i])).collect(),
                )?)
            }
        })])
    }
}

#[derive(Debug)]
struct CategoryMapper {
    ints: Vec<i64>,
    strings: Vec<String>,
    default_int: i64,
    default_string: String,
}

impl Op for CategoryMapper {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        // Each category's position (the first, if listed twice), looked
        // up in a map rather than by scanning the list for every value.
        Ok(vec![Value::T(
            match tensor_in(inputs, 0, "CategoryMapper")? {
                Tensor::Str(a) => {
                    let mut at = std::collections::HashMap::new();
                    for (i, c) in self.strings.iter().enumerate() {
                        at.entry(c.as_str()).or_insert(i);
                    }
                    Tensor::I64(map(a, |s| {
                        at.get(s.as_str())
                            .and_then(|&i| self.ints.get(i).copied())
                            .unwrap_or(self.default_int)
                    }))
                }
                Tensor::I64(a) => {
                    let mut at = std::collections::HashMap::new();
                    for (i, c) in self.ints.iter().enumerate() {
                        at.entry(*c).or_insert(i);
                    }
                    Tensor::Str(map(a, |v| {
                        at.get(v)
                            .and_then(|&i| self.strings.get(i).cloned())
                            .unwrap_or_else(|| self.default_string.clone())
                    }))
                }
                other => {
                    return Err(format!(
                        "CategoryMapper: cannot map {} values",
                        other.type_name()
                    ));
                }
            },
        )])
    }
}
