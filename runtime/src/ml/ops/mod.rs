//! The operators chime evaluates itself, one file per family: the
//! ai.onnx.ml operators the converters emit (`ml`, `tree`, `svm`) and the
//! standard operators that appear beside them in converted models (`std`).
//! Each is built once from its node's attributes (checked then), and run
//! on whole batches.

use std::fmt::Debug;

use super::proto::{AttributeProto, NodeProto, TensorProto};
use super::value::{Arr, Tensor, Value};

mod ml;
mod std_ops;
mod svm;
mod tree;

/// A node's computation.
pub trait Op: Send + Sync + Debug {
    /// Computes the node's outputs from its inputs (`None`: an optional
    /// input left out).
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String>;
}

/// Builds the operator for `node`; `opset` is the version of its domain
/// the model imports. An operator chime does not have is `Ok(None)`.
pub fn build(node: &NodeProto, opset: i64) -> Result<Option<Box<dyn Op>>, String> {
    let a = Attrs(node);
    match node.domain.as_str() {
        "ai.onnx.ml" => ml::build(&node.op_type, &a, opset),
        "" | "ai.onnx" => std_ops::build(&node.op_type, &a, opset),
        _ => Ok(None),
    }
}

/// A node's attributes, read by name.
pub struct Attrs<'a>(pub &'a NodeProto);

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| format!("the attribute `{name}` is not UTF-8")),
        }
    }

    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        self.get(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| {
                        String::from_utf8(s.clone())
                            .map_err(|_| format!("the attribute `{name}` is not UTF-8"))
                    })
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, String> {
        match self.get(name).and_then(|a| a.t.as_ref()) {
            None => Ok(None),
            Some(t) => tensor_of(t).map(Some),
        }
    }

    /// A list of numbers given either as `name` (floats) or as
    /// `name_as_tensor` (a float or double tensor), as f64.
    pub fn floats_or_tensor(&self, name: &str) -> Result<Vec<f64>, String> {
        if let Some(t) = self.tensor(&format!("{name}_as_tensor"))? {
            return Ok(t.to_f64()?.data);
        }
        Ok(self.floats(name).into_iter().map(f64::from).collect())
    }
}

/// A constant tensor (an initializer or an attribute), checked: its data
/// has as many values as its shape says.
pub fn tensor_of(t: &TensorProto) -> Result<Tensor, String> {
    if t.data_location == 1 {
        return Err(format!(
            "the tensor `{}` is stored in another file (external data): save the model as one file",
            t.name
        ));
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| format!("the tensor `{}` has a negative dimension", t.name))
        })
        .collect::<Result<_, _>>()?;
    fn raw<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().unwrap_or([0; N])))
            .collect()
    }
    let raw_data = !t.raw_data.is_empty();
    let tensor = match t.data_type {
        1 => Tensor::F32(Arr::new(
            shape,
            if raw_data {
                raw(&t.raw_data, f32::from_le_bytes)
            } else {
                t.float_data.clone()
            },
        )?),
        11 => Tensor::F64(Arr::new(
            shape,
            if raw_data {
                raw(&t.raw_data, f64::from_le_bytes)
            } else {
                t.double_data.clone()
            },
        )?),
        7 => Tensor::I64(Arr::new(
            shape,
            if raw_data {
                raw(&t.raw_data, i64::from_le_bytes)
            } else {
                t.int64_data.clone()
            },
        )?),
        6 => Tensor::I64(Arr::new(
            shape,
            if raw_data {
                raw(&t.raw_data, |b| i64::from(i32::from_le_bytes(b)))
            } else {
                t.int32_data.iter().map(|&v| i64::from(v)).collect()
            },
        )?),
        9 => Tensor::Bool(Arr::new(
            shape,
            if raw_data {
                t.raw_data.iter().map(|&b| b != 0).collect()
            } else {
                t.int32_data.iter().map(|&v| v != 0).collect()
            },
        )?),
        // Small integers (TreeEnsemble's uint8 node modes, int8, int16,
        // uint16, uint32) are read as int64.
        2 | 3 | 4 | 5 | 12 => {
            let data: Vec<i64> = if raw_data {
                match t.data_type {
                    2 => t.raw_data.iter().map(|&b| i64::from(b)).collect(),
                    3 => t.raw_data.iter().map(|&b| i64::from(b as i8)).collect(),
                    4 => raw(&t.raw_data, |b: [u8; 2]| i64::from(u16::from_le_bytes(b))),
                    5 => raw(&t.raw_data, |b: [u8; 2]| i64::from(i16::from_le_bytes(b))),
                    _ => raw(&t.raw_data, |b: [u8; 4]| i64::from(u32::from_le_bytes(b))),
                }
            } else {
                t.int32_data.iter().map(|&v| i64::from(v)).collect()
            };
            Tensor::I64(Arr::new(shape, data)?)
        }
        8 => Tensor::Str(Arr::new(
            shape,
            t.string_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        )?),
        other => {
            return Err(format!(
                "the tensor `{}` has element type {} ({}), which chime does not read",
                t.name,
                other,
                elem_type_name(other)
            ));
        }
    };
    Ok(tensor)
}

pub use crate::ml::elem_name as elem_type_name;

/// The tensor input `i`, or an error naming the operator.
pub fn tensor_in<'v>(
    inputs: &[Option<&'v Value>],
    i: usize,
    op: &str,
) -> Result<&'v Tensor, String> {
    match inputs.get(i).copied().flatten() {
        Some(Value::T(t)) => Ok(t),
        Some(Value::Maps { .. }) => Err(format!(
            "{op}: input {i} is a sequence of maps, not a tensor"
        )),
        None => Err(format!("{op}: input {i} is missing")),
    }
}

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
    pub fn parse(s: &str) -> Result<Post, String> {
        Ok(match s {
            "NONE" | "" => Post::None,
            "LOGISTIC" => Post::Logistic,
            "SOFTMAX" => Post::Softmax,
            "SOFTMAX_ZERO" => Post::SoftmaxZero,
            "PROBIT" => Post::Probit,
            other => return Err(format!("unknown post_transform `{other}`")),
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
    pub fn from_attrs(a: &Attrs, ints: &str, strings: &str) -> Result<Labels, String> {
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
