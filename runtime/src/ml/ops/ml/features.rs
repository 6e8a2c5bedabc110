//! Operators that prepare features: Scaler, Normalizer, Imputer,
//! Binarizer, ArrayFeatureExtractor, FeatureVectorizer, and ZipMap, which
//! turns scores into maps.

use crate::ml::error::ModelError;
use crate::ml::ops::op::{Attrs, Op, tensor_in};
use crate::ml::value::{Arr, Keys, Tensor, Value, map, map_arr};

/// A per-column parameter: one value for all columns, or one each.
fn per_col(v: &[f32], j: usize, default: f32) -> f32 {
    match v.len() {
        0 => default,
        1 => v[0],
        _ => v.get(j).copied().unwrap_or(default),
    }
}

#[derive(Debug)]
pub struct Scaler {
    pub offset: Vec<f32>,
    pub scale: Vec<f32>,
}

impl Op for Scaler {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "Scaler")?.to_f32()?;
        let (_, cols) = x.rows_cols();
        for v in [&self.offset, &self.scale] {
            if v.len() > 1 && v.len() != cols {
                return Err(format!("Scaler: {} parameters for {cols} columns", v.len()).into());
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
pub struct Normalizer {
    pub norm: String,
}

impl Op for Normalizer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let mut y = tensor_in(inputs, 0, "Normalizer")?.to_f32()?;
        let (_, cols) = y.rows_cols();
        for row in y.data.chunks_exact_mut(cols.max(1)) {
            let d = match self.norm.as_str() {
                "MAX" => row.iter().copied().fold(f32::MIN, f32::max),
                "L1" => row.iter().map(|v| v.abs()).sum(),
                "L2" => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
                other => return Err(format!("Normalizer: unknown norm `{other}`").into()),
            };
            if d != 0.0 {
                row.iter_mut().for_each(|v| *v /= d);
            }
        }
        Ok(vec![Value::T(Tensor::F32(y))])
    }
}

#[derive(Debug)]
pub struct Imputer {
    floats: Vec<f32>,
    replaced_float: f32,
    ints: Vec<i64>,
    replaced_int: i64,
}

impl Imputer {
    pub fn new(a: &Attrs) -> Result<Self, ModelError> {
        Ok(Imputer {
            floats: a.floats("imputed_value_floats"),
            replaced_float: a.float("replaced_value_float", 0.0),
            ints: a.ints("imputed_value_int64s"),
            replaced_int: a.int("replaced_value_int64", 0),
        })
    }
}

impl Op for Imputer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "Imputer")?;
        let (_, cols) = match x {
            Tensor::F32(a) => a.rows_cols(),
            Tensor::F64(a) => a.rows_cols(),
            Tensor::I64(a) => a.rows_cols(),
            other => {
                return Err(format!("Imputer: cannot impute {} values", other.type_name()).into());
            }
        };
        let check = |n: usize| {
            if n > 1 && n != cols {
                Err(ModelError::from(format!(
                    "Imputer: {n} imputed values for {cols} columns"
                )))
            } else if n == 0 {
                Err(ModelError::from("Imputer: no imputed values"))
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
pub struct Binarizer {
    pub threshold: f32,
}

impl Op for Binarizer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let t = self.threshold;
        Ok(vec![Value::T(match tensor_in(inputs, 0, "Binarizer")? {
            Tensor::F32(a) => Tensor::F32(map(a, |&v| if v > t { 1.0 } else { 0.0 })),
            Tensor::F64(a) => Tensor::F64(map(a, |&v| if v > f64::from(t) { 1.0 } else { 0.0 })),
            Tensor::I64(a) => Tensor::I64(map(a, |&v| i64::from(v as f32 > t))),
            other => {
                return Err(format!("Binarizer: cannot read {} values", other.type_name()).into());
            }
        })])
    }
}

#[derive(Debug)]
pub struct ZipMap {
    pub keys: Keys,
}

impl Op for ZipMap {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "ZipMap")?.to_f32()?;
        let (rows, cols) = x.rows_cols();
        if cols != self.keys.len() {
            return Err(format!(
                "ZipMap: {cols} values per row for {} classes",
                self.keys.len()
            )
            .into());
        }
        Ok(vec![Value::Maps {
            keys: self.keys.clone(),
            values: Arr::new(vec![rows, cols], x.data)?,
        }])
    }
}

#[derive(Debug)]
pub struct ArrayFeatureExtractor;

impl Op for ArrayFeatureExtractor {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
        ) -> Result<Arr<T>, ModelError> {
            let mut data = Vec::with_capacity(outer * picks.len());
            for o in 0..outer {
                for &i in picks {
                    data.push(a.data[o * last + i].clone());
                }
            }
            Arr::new(shape, data)
        }
        Ok(vec![Value::T(
            map_arr!(x, a => take(a, outer, last, &picks, out_shape)?),
        )])
    }
}

#[derive(Debug)]
pub struct FeatureVectorizer {
    pub dims: Vec<i64>,
}

impl Op for FeatureVectorizer {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
            return Err(format!("FeatureVectorizer: {total} values per row").into());
        }
        let mut out = vec![0f32; rows * total];
        let mut at = 0;
        for (p, &w) in parts.iter().zip(&widths) {
            let (r, c) = p.rows_cols();
            if r != rows {
                return Err(format!("FeatureVectorizer: inputs have {r} and {rows} rows").into());
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
