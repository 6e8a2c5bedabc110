//! Element-wise operators: arithmetic and comparisons with numpy
//! broadcasting, the unary functions, Not, Cast and Clip.

use super::layout::{broadcast_indices, zip_broadcast};
use crate::ml::error::ModelError;
use crate::ml::ops::op::{Op, elem_type_name, tensor_in};
use crate::ml::value::{Arr, Tensor, Value, map};

#[derive(Debug, Clone, Copy)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

/// f32 and f64, for the arithmetic both share.
trait Float:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn pow(self, y: Self) -> Self;
    fn max(self, y: Self) -> Self;
    fn min(self, y: Self) -> Self;
}

/// Float for f32 and f64. Max and Min keep NaN, as onnxruntime does
/// (Rust's `max` and `min` drop it).
macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            fn pow(self, y: $t) -> $t {
                self.powf(y)
            }
            fn max(self, y: $t) -> $t {
                if self.is_nan() || y.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::max(self, y)
                }
            }
            fn min(self, y: $t) -> $t {
                if self.is_nan() || y.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::min(self, y)
                }
            }
        }
    };
}

float!(f32);
float!(f64);

impl Binary {
    fn float<F: Float>(self, x: F, y: F) -> F {
        match self {
            Binary::Add => x + y,
            Binary::Sub => x - y,
            Binary::Mul => x * y,
            Binary::Div => x / y,
            Binary::Pow => x.pow(y),
            Binary::Max => x.max(y),
            Binary::Min => x.min(y),
        }
    }

    fn i64(self, x: i64, y: i64) -> i64 {
        match self {
            Binary::Add => x.wrapping_add(y),
            Binary::Sub => x.wrapping_sub(y),
            Binary::Mul => x.wrapping_mul(y),
            Binary::Div => x.checked_div(y).unwrap_or(0),
            Binary::Pow => x.wrapping_pow(y.clamp(0, 63) as u32),
            Binary::Max => x.max(y),
            Binary::Min => x.min(y),
        }
    }

    fn apply(self, a: &Tensor, b: &Tensor) -> Result<Tensor, ModelError> {
        Ok(match (a, b) {
            (Tensor::F32(x), Tensor::F32(y)) => {
                Tensor::F32(zip_broadcast(x, y, |p, q| self.float(p, q))?)
            }
            (Tensor::F64(x), Tensor::F64(y)) => {
                Tensor::F64(zip_broadcast(x, y, |p, q| self.float(p, q))?)
            }
            (Tensor::I64(x), Tensor::I64(y)) => {
                Tensor::I64(zip_broadcast(x, y, |p, q| self.i64(p, q))?)
            }
            (Tensor::F32(x), y) => {
                Tensor::F32(zip_broadcast(x, &y.to_f32()?, |p, q| self.float(p, q))?)
            }
            (x, y) => {
                return Err(format!(
                    "{self:?} of {} and {} tensors",
                    x.type_name(),
                    y.type_name()
                )
                .into());
            }
        })
    }
}

impl Op for Binary {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let mut acc = tensor_in(inputs, 0, "a binary operator")?.clone();
        for i in 1..inputs.len() {
            acc = self.apply(&acc, tensor_in(inputs, i, "a binary operator")?)?;
        }
        Ok(vec![Value::T(acc)])
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Compare {
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

impl Compare {
    fn test<T: PartialOrd>(self, x: T, y: T) -> bool {
        match self {
            Compare::Equal => x == y,
            Compare::Less => x < y,
            Compare::Greater => x > y,
            Compare::LessOrEqual => x <= y,
            Compare::GreaterOrEqual => x >= y,
        }
    }
}

impl Op for Compare {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let a = tensor_in(inputs, 0, "a comparison")?;
        let b = tensor_in(inputs, 1, "a comparison")?;
        let out = match (a, b) {
            (Tensor::I64(x), Tensor::I64(y)) => zip_broadcast(x, y, |p, q| self.test(p, q))?,
            (Tensor::Str(x), Tensor::Str(y)) => {
                let (shape, ix, iy) = broadcast_indices(&x.shape, &y.shape)?;
                Arr {
                    shape,
                    data: ix
                        .iter()
                        .zip(&iy)
                        .map(|(&p, &q)| self.test(&x.data[p], &y.data[q]))
                        .collect(),
                }
            }
            (Tensor::Str(_), _) | (_, Tensor::Str(_)) => {
                return Err("a comparison of strings with numbers".into());
            }
            (Tensor::F32(x), Tensor::F32(y)) => zip_broadcast(x, y, |p, q| self.test(p, q))?,
            (x, y) => zip_broadcast(&x.to_f64()?, &y.to_f64()?, |p, q| self.test(p, q))?,
        };
        Ok(vec![Value::T(Tensor::Bool(out))])
    }
}

#[derive(Debug)]
pub struct Not;

impl Op for Not {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let a = tensor_in(inputs, 0, "Not")?.to_bool()?;
        Ok(vec![Value::T(Tensor::Bool(map(&a, |v| !v)))])
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Unary {
    Abs,
    Neg,
    Relu,
    Sqrt,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Reciprocal,
    Sign,
}

/// Unary's function on one float type (`$t`, f32 or f64), named after it.
macro_rules! unary {
    ($t:ident) => {
        fn $t(self, x: $t) -> $t {
            match self {
                Unary::Abs => x.abs(),
                Unary::Neg => -x,
                Unary::Relu => x.max(0.0),
                Unary::Sqrt => x.sqrt(),
                Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                Unary::Tanh => x.tanh(),
                Unary::Exp => x.exp(),
                Unary::Log => x.ln(),
                Unary::Reciprocal => 1.0 / x,
                // -1, 0 or 1 (NaN stays NaN), as ONNX's Sign.
                Unary::Sign => {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                }
            }
        }
    };
}

impl Unary {
    unary!(f32);
    unary!(f64);
}

impl Op for Unary {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        Ok(vec![Value::T(
            match tensor_in(inputs, 0, "a unary operator")? {
                Tensor::F32(a) => Tensor::F32(map(a, |&v| self.f32(v))),
                Tensor::F64(a) => Tensor::F64(map(a, |&v| self.f64(v))),
                Tensor::I64(a) => match self {
                    Unary::Abs => Tensor::I64(map(a, |v| v.wrapping_abs())),
                    Unary::Neg => Tensor::I64(map(a, |v| v.wrapping_neg())),
                    Unary::Relu => Tensor::I64(map(a, |&v| v.max(0))),
                    Unary::Sign => Tensor::I64(map(a, |v| v.signum())),
                    other => return Err(format!("{other:?} of an int64 tensor").into()),
                },
                other => return Err(format!("{self:?} of a {} tensor", other.type_name()).into()),
            },
        )])
    }
}

#[derive(Debug)]
pub struct Cast {
    pub to: i32,
}

impl Op for Cast {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "Cast")?;
        Ok(vec![Value::T(match self.to {
            1 => Tensor::F32(x.to_f32()?),
            11 => Tensor::F64(x.to_f64()?),
            6 | 7 => Tensor::I64(x.to_i64()?),
            8 => Tensor::Str(x.to_str()),
            9 => Tensor::Bool(x.to_bool()?),
            other => {
                return Err(format!("Cast to {} is not supported", elem_type_name(other)).into());
            }
        })])
    }
}

#[derive(Debug)]
pub struct Clip {
    pub bounds: Option<(f32, f32)>,
}

impl Op for Clip {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "Clip")?;
        let bound = |i: usize, default: f64| -> Result<f64, ModelError> {
            match inputs.get(i).copied().flatten() {
                Some(Value::T(t)) => t
                    .to_f64()?
                    .data
                    .first()
                    .copied()
                    .ok_or_else(|| "Clip: an empty bound".into()),
                _ => Ok(default),
            }
        };
        let (lo, hi) = match self.bounds {
            Some((lo, hi)) => (f64::from(lo), f64::from(hi)),
            None => (bound(1, f64::NEG_INFINITY)?, bound(2, f64::INFINITY)?),
        };
        // NaN stays NaN; min then max, as onnxruntime.
        let clip = |v: f64| if v.is_nan() { v } else { v.max(lo).min(hi) };
        Ok(vec![Value::T(match x {
            Tensor::F32(a) => Tensor::F32(map(a, |&v| clip(f64::from(v)) as f32)),
            Tensor::F64(a) => Tensor::F64(map(a, |&v| clip(v))),
            Tensor::I64(a) => Tensor::I64(map(a, |&v| clip(v as f64) as i64)),
            other => return Err(format!("Clip of a {} tensor", other.type_name()).into()),
        })])
    }
}
