//! The values that flow between nodes: dense tensors of a few element
//! types, and the sequence of maps that ZipMap makes (kept dense).

use std::sync::Arc;

/// A dense, row-major array.
#[derive(Debug, Clone, PartialEq)]
pub struct Arr<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Clone> Arr<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Arr<T>, String> {
        let n = numel(&shape)?;
        if n != data.len() {
            return Err(format!(
                "a tensor of shape {shape:?} needs {n} values, not {}",
                data.len()
            ));
        }
        Ok(Arr { shape, data })
    }

    pub fn scalar(v: T) -> Arr<T> {
        Arr {
            shape: Vec::new(),
            data: vec![v],
        }
    }

    pub fn vector(data: Vec<T>) -> Arr<T> {
        Arr {
            shape: vec![data.len()],
            data,
        }
    }

    /// Rows and values per row, seen as a matrix (a vector is one row).
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (1, *n),
            [first, ..] => (*first, self.data.len().checked_div(*first).unwrap_or(0)),
        }
    }
}

/// Elements in a tensor of `shape`, refusing a shape whose product
/// overflows (a hostile model).
pub fn numel(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("the shape {shape:?} is too large"))
}

/// A tensor of one of the element types converters use.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32(Arr<f32>),
    F64(Arr<f64>),
    I64(Arr<i64>),
    Str(Arr<String>),
    Bool(Arr<bool>),
}

/// The keys of ZipMap's maps: the classes.
#[derive(Debug, Clone, PartialEq)]
pub enum Keys {
    I64(Vec<i64>),
    Str(Vec<String>),
}

impl Keys {
    pub fn len(&self) -> usize {
        match self {
            Keys::I64(k) => k.len(),
            Keys::Str(k) => k.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn name(&self, i: usize) -> String {
        match self {
            Keys::I64(k) => k[i].to_string(),
            Keys::Str(k) => k[i].clone(),
        }
    }
}

/// What a node reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    T(Tensor),
    /// ZipMap's output: one map per row, class -> probability, kept as the
    /// [rows, classes] matrix it was made from.
    Maps {
        keys: Keys,
        values: Arr<f32>,
    },
}

pub type Shared = Arc<Value>;

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => &a.shape,
            Tensor::F64(a) => &a.shape,
            Tensor::I64(a) => &a.shape,
            Tensor::Str(a) => &a.shape,
            Tensor::Bool(a) => &a.shape,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Tensor::F32(a) => a.data.len(),
            Tensor::F64(a) => a.data.len(),
            Tensor::I64(a) => a.data.len(),
            Tensor::Str(a) => a.data.len(),
            Tensor::Bool(a) => a.data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Tensor::F32(_) => "float",
            Tensor::F64(_) => "double",
            Tensor::I64(_) => "int64",
            Tensor::Str(_) => "string",
            Tensor::Bool(_) => "bool",
        }
    }

    /// The same values under another shape.
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Tensor, String> {
        fn re<T: Clone>(a: Arr<T>, shape: Vec<usize>) -> Result<Arr<T>, String> {
            Arr::new(shape, a.data)
        }
        Ok(match self {
            Tensor::F32(a) => Tensor::F32(re(a, shape)?),
            Tensor::F64(a) => Tensor::F64(re(a, shape)?),
            Tensor::I64(a) => Tensor::I64(re(a, shape)?),
            Tensor::Str(a) => Tensor::Str(re(a, shape)?),
            Tensor::Bool(a) => Tensor::Bool(re(a, shape)?),
        })
    }

    /// Values as f32 (numbers only), as ONNX's Cast does.
    pub fn to_f32(&self) -> Result<Arr<f32>, String> {
        Ok(match self {
            Tensor::F32(a) => a.clone(),
            Tensor::F64(a) => map(a, |&v| v as f32),
            Tensor::I64(a) => map(a, |&v| v as f32),
            Tensor::Bool(a) => map(a, |&v| f32::from(u8::from(v))),
            Tensor::Str(a) => Arr {
                shape: a.shape.clone(),
                data: a.data.iter().map(|s| parse_float(s) as f32).collect(),
            },
        })
    }

    pub fn to_f64(&self) -> Result<Arr<f64>, String> {
        Ok(match self {
            Tensor::F32(a) => map(a, |&v| f64::from(v)),
            Tensor::F64(a) => a.clone(),
            Tensor::I64(a) => map(a, |&v| v as f64),
            Tensor::Bool(a) => map(a, |&v| f64::from(u8::from(v))),
            Tensor::Str(a) => map(a, |s| parse_float(s)),
        })
    }

    pub fn to_i64(&self) -> Result<Arr<i64>, String> {
        Ok(match self {
            // Cast truncates toward zero; NaN becomes 0 (Rust's `as`
            // saturates where C++ is undefined).
            Tensor::F32(a) => map(a, |&v| v as i64),
            Tensor::F64(a) => map(a, |&v| v as i64),
            Tensor::I64(a) => a.clone(),
            Tensor::Bool(a) => map(a, |&v| i64::from(v)),
            Tensor::Str(a) => map(a, |s| s.trim().parse::<i64>().unwrap_or(0)),
        })
    }

    pub fn to_str(&self) -> Arr<String> {
        match self {
            Tensor::F32(a) => map(a, |v| float_text(f64::from(*v))),
            Tensor::F64(a) => map(a, |v| float_text(*v)),
            Tensor::I64(a) => map(a, |v| v.to_string()),
            Tensor::Bool(a) => map(a, |v| v.to_string()),
            Tensor::Str(a) => a.clone(),
        }
    }

    pub fn to_bool(&self) -> Result<Arr<bool>, String> {
        Ok(match self {
            Tensor::F32(a) => map(a, |&v| v != 0.0),
            Tensor::F64(a) => map(a, |&v| v != 0.0),
            Tensor::I64(a) => map(a, |&v| v != 0),
            Tensor::Bool(a) => a.clone(),
            Tensor::Str(_) => return Err("cannot cast strings to bool".into()),
        })
    }
}

fn parse_float(s: &str) -> f64 {
    s.trim().parse::<f64>().unwrap_or(f64::NAN)
}

fn float_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

pub fn map<A, B>(a: &Arr<A>, f: impl Fn(&A) -> B) -> Arr<B> {
    Arr {
        shape: a.shape.clone(),
        data: a.data.iter().map(f).collect(),
    }
}
