//! Encoders of categories: OneHotEncoder, LabelEncoder and
//! CategoryMapper.

use crate::ml::error::ModelError;
use crate::ml::ops::op::{Attrs, Op, tensor_in};
use crate::ml::value::{Arr, Tensor, Value, map};

#[derive(Debug)]
pub struct OneHotEncoder {
    ints: Vec<i64>,
    strings: Vec<String>,
    /// Each category's position (the first, if listed twice).
    int_at: std::collections::HashMap<i64, usize>,
    string_at: std::collections::HashMap<String, usize>,
    zeros: bool,
}

impl OneHotEncoder {
    pub fn new(a: &Attrs) -> Result<Self, ModelError> {
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
                    return Err(ModelError::UnknownCategory { value, known });
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
pub struct LabelEncoder {
    keys: Tensor,
    values: Tensor,
    default: Tensor,
    /// Opset 1 maps both ways: int64 input `i` to `classes_strings[i]`
    /// (else this default string).
    v1_to_string: Option<(Vec<String>, String)>,
}

impl LabelEncoder {
    pub fn new(a: &Attrs, opset: i64) -> Result<Self, ModelError> {
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
        let pick = |prefix: &str| -> Result<Option<Tensor>, ModelError> {
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
            )
            .into());
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
pub struct CategoryMapper {
    pub ints: Vec<i64>,
    pub strings: Vec<String>,
    pub default_int: i64,
    pub default_string: String,
}

impl Op for CategoryMapper {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
                    return Err(
                        format!("CategoryMapper: cannot map {} values", other.type_name()).into(),
                    );
                }
            },
        )])
    }
}
