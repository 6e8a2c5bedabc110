//! The values that flow between nodes: dense tensors of a few element
//! types, and the sequence of maps that ZipMap makes (kept dense).

use std::sync::Arc;

use crate::ml::error::ModelError;

/// A dense, row-major array.
#[derive(Debug, Clone, PartialEq)]
pub struct Arr<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Clone> Arr<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Arr<T>, ModelError> {
        let n = numel(&shape)?;
        if n != data.len() {
            return Err(ModelError::DataLength {
                shape,
                needs: n,
                got: data.len(),
            });
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
pub fn numel(shape: &[usize]) -> Result<usize, ModelError> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| ModelError::ShapeTooLarge(shape.to_vec()))
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

/// `$body` with `$a` bound to the array inside the tensor `$t`, whatever
/// its element type: one arm per type, each compiled for its own.
macro_rules! with_arr {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::ml::value::Tensor::F32($a) => $body,
            $crate::ml::value::Tensor::F64($a) => $body,
            $crate::ml::value::Tensor::I64($a) => $body,
            $crate::ml::value::Tensor::Str($a) => $body,
            $crate::ml::value::Tensor::Bool($a) => $body,
        }
    };
}

/// [`with_arr`] for a `$body` that makes an array of the same element
/// type: the tensor of that array.
macro_rules! map_arr {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::ml::value::Tensor::F32($a) => $crate::ml::value::Tensor::F32($body),
            $crate::ml::value::Tensor::F64($a) => $crate::ml::value::Tensor::F64($body),
            $crate::ml::value::Tensor::I64($a) => $crate::ml::value::Tensor::I64($body),
            $crate::ml::value::Tensor::Str($a) => $crate::ml::value::Tensor::Str($body),
            $crate::ml::value::Tensor::Bool($a) => $crate::ml::value::Tensor::Bool($body),
        }
    };
}

pub(crate) use map_arr;

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        with_arr!(self, a => &a.shape)
    }

    pub fn len(&self) -> usize {
        with_arr!(self, a => a.data.len())
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
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Tensor, ModelError> {
        Ok(map_arr!(self, a => Arr::new(shape, a.data)?))
    }

    /// A double tensor of `data`, or (not `double`) a float one.
    pub fn floats(data: Vec<f64>, shape: Vec<usize>, double: bool) -> Result<Tensor, ModelError> {
        Ok(if double {
            Tensor::F64(Arr::new(shape, data)?)
        } else {
            Tensor::F32(Arr::new(
                shape,
                data.into_iter().map(|v| v as f32).collect(),
            )?)
        })
    }

    /// Values as f32 (numbers only), as ONNX's Cast does.
    pub fn to_f32(&self) -> Result<Arr<f32>, ModelError> {
        Ok(match self {
            Tensor::F32(a) => a.clone(),
            Tensor::F64(a) => map(a, |&v| v as f32),
            Tensor::I64(a) => map(a, |&v| v as f32),
            Tensor::Bool(a) => map(a, |&v| f32::from(u8::from(v))),
            Tensor::Str(a) => Arr {
                shape: a.shape.clone(),
                data: a
                    .data
                    .iter()
                    .map(|s| parse_float(s).map(|v| v as f32))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    pub fn to_f64(&self) -> Result<Arr<f64>, ModelError> {
        Ok(match self {
            Tensor::F32(a) => map(a, |&v| f64::from(v)),
            Tensor::F64(a) => a.clone(),
            Tensor::I64(a) => map(a, |&v| v as f64),
            Tensor::Bool(a) => map(a, |&v| f64::from(u8::from(v))),
            Tensor::Str(a) => Arr {
                shape: a.shape.clone(),
                data: a
                    .data
                    .iter()
                    .map(|s| parse_float(s))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    pub fn to_i64(&self) -> Result<Arr<i64>, ModelError> {
        Ok(match self {
            // Cast truncates toward zero; NaN becomes 0 (Rust's `as`
            // saturates where C++ is undefined).
            Tensor::F32(a) => map(a, |&v| v as i64),
            Tensor::F64(a) => map(a, |&v| v as i64),
            Tensor::I64(a) => a.clone(),
            Tensor::Bool(a) => map(a, |&v| i64::from(v)),
            Tensor::Str(a) => Arr {
                shape: a.shape.clone(),
                data: a
                    .data
                    .iter()
                    .map(|s| parse_int(s))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    pub fn to_str(&self) -> Arr<String> {
        match self {
            // onnxruntime's digits: a float's 8 significant digits, a
            // double's 17, as C's %g writes them.
            Tensor::F32(a) => map(a, |v| format_g(f64::from(*v), 8)),
            Tensor::F64(a) => map(a, |v| format_g(*v, 17)),
            Tensor::I64(a) => map(a, |v| v.to_string()),
            Tensor::Bool(a) => map(a, |v| v.to_string()),
            Tensor::Str(a) => a.clone(),
        }
    }

    pub fn to_bool(&self) -> Result<Arr<bool>, ModelError> {
        Ok(match self {
            Tensor::F32(a) => map(a, |&v| v != 0.0),
            Tensor::F64(a) => map(a, |&v| v != 0.0),
            Tensor::I64(a) => map(a, |&v| v != 0),
            Tensor::Bool(a) => a.clone(),
            Tensor::Str(_) => return Err(ModelError::StringsToBool),
        })
    }
}

/// Text to a number as C's strtod reads it (and onnxruntime's Cast): the
/// longest number at the start, after spaces; text with none is an error.
fn parse_float(s: &str) -> Result<f64, ModelError> {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let lower = t[end..].to_ascii_lowercase();
    for word in ["infinity", "inf", "nan"] {
        if lower.starts_with(word) {
            return t[..end + word.len()]
                .parse::<f64>()
                .map_err(|_| not_a_number(s, false));
        }
    }
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let whole = digits(end);
    end += whole;
    let mut frac = 0;
    if b.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        end += 1 + frac;
    }
    if whole + frac == 0 {
        return Err(not_a_number(s, false));
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut e = end + 1;
        if matches!(b.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let n = digits(e);
        if n > 0 {
            end = e + n;
        }
    }
    t[..end].parse::<f64>().map_err(|_| not_a_number(s, false))
}

fn not_a_number(s: &str, integer: bool) -> ModelError {
    ModelError::NotANumber {
        text: s.to_string(),
        integer,
    }
}

/// Text to an integer as C's strtoll reads it: the digits at the start
/// (`3.0` is 3); text with none, or out of range, is an error.
fn parse_int(s: &str) -> Result<i64, ModelError> {
    let t = s.trim_start();
    let b = t.as_bytes();
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let n = b[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return Err(not_a_number(s, true));
    }
    t[..sign + n]
        .parse::<i64>()
        .map_err(|_| ModelError::IntegerOutOfRange(s.to_string()))
}

/// `v` as C's `%.{precision}g` writes it: `0.1`, `3`, `1e+20`,
/// `1.5000001e-07`; NaN and infinities as onnxruntime spells them.
pub fn format_g(v: f64, precision: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "INF".into() } else { "-INF".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |m: &str| -> String {
        if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            m.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

pub fn map<A, B>(a: &Arr<A>, f: impl Fn(&A) -> B) -> Arr<B> {
    Arr {
        shape: a.shape.clone(),
        data: a.data.iter().map(f).collect(),
    }
}
