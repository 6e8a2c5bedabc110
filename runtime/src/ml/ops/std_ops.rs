//! The standard (ai.onnx) operators that converters put around the
//! ai.onnx.ml ones: arithmetic with numpy broadcasting, matrix products,
//! reductions, shape operators, Cast, Softmax, ArgMax, TopK.

use super::{Attrs, Op, tensor_in};
use crate::ml::value::{Arr, Tensor, Value, map, numel};

pub fn build(op: &str, a: &Attrs, opset: i64) -> Result<Option<Box<dyn Op>>, String> {
    use Binary as B;
    use Unary as U;
    Ok(Some(match op {
        "Identity" => Box::new(Identity),
        "Add" => Box::new(B::Add),
        "Sub" => Box::new(B::Sub),
        "Mul" => Box::new(B::Mul),
        "Div" => Box::new(B::Div),
        "Pow" => Box::new(B::Pow),
        "Max" => Box::new(B::Max),
        "Min" => Box::new(B::Min),
        "Sum" => Box::new(B::Add),
        "Equal" => Box::new(Compare::Equal),
        "Less" => Box::new(Compare::Less),
        "Greater" => Box::new(Compare::Greater),
        "LessOrEqual" => Box::new(Compare::LessOrEqual),
        "GreaterOrEqual" => Box::new(Compare::GreaterOrEqual),
        "Abs" => Box::new(U::Abs),
        "Neg" => Box::new(U::Neg),
        "Relu" => Box::new(U::Relu),
        "Sqrt" => Box::new(U::Sqrt),
        "Sigmoid" => Box::new(U::Sigmoid),
        "Tanh" => Box::new(U::Tanh),
        "Exp" => Box::new(U::Exp),
        "Log" => Box::new(U::Log),
        "Reciprocal" => Box::new(U::Reciprocal),
        "Sign" => Box::new(U::Sign),
        "Not" => Box::new(Not),
        "Cast" => Box::new(Cast {
            to: a.int("to", 1) as i32,
        }),
        "MatMul" => Box::new(MatMul),
        "Gemm" => Box::new(Gemm {
            alpha: a.float("alpha", 1.0),
            beta: a.float("beta", 1.0),
            trans_a: a.int("transA", 0) != 0,
            trans_b: a.int("transB", 0) != 0,
        }),
        "Softmax" => Box::new(Softmax {
            axis: a.int("axis", if opset >= 13 { -1 } else { 1 }),
            flatten: opset < 13,
        }),
        "ArgMax" | "ArgMin" => Box::new(Arg {
            max: op == "ArgMax",
            axis: a.int("axis", 0),
            keepdims: a.int("keepdims", 1) != 0,
            last: a.int("select_last_index", 0) != 0,
        }),
        "ReduceSum" | "ReduceSumSquare" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceL2"
        | "ReduceProd" | "ReduceLogSumExp" => Box::new(Reduce {
            kind: op.to_string(),
            axes: a.has("axes").then(|| a.ints("axes")),
            keepdims: a.int("keepdims", 1) != 0,
            noop_empty: a.int("noop_with_empty_axes", 0) != 0,
        }),
        "Concat" => Box::new(Concat {
            axis: a.int("axis", 0),
        }),
        "Reshape" => Box::new(Reshape {
            allowzero: a.int("allowzero", 0) != 0,
        }),
        "Flatten" => Box::new(Flatten {
            axis: a.int("axis", 1),
        }),
        "Transpose" => Box::new(Transpose {
            perm: a.has("perm").then(|| a.ints("perm")),
        }),
        "Squeeze" | "Unsqueeze" => Box::new(Squeeze {
            un: op == "Unsqueeze",
            axes: a.has("axes").then(|| a.ints("axes")),
        }),
        "Shape" => Box::new(ShapeOf),
        "Constant" => Box::new(Constant(
            a.tensor("value")?
                .ok_or("Constant: only `value` constants are read")?,
        )),
        "TopK" => Box::new(TopK {
            axis: a.int("axis", -1),
            largest: a.int("largest", 1) != 0,
            k: (opset < 10).then(|| a.int("k", 1)),
        }),
        "Gather" => Box::new(Gather {
            axis: a.int("axis", 0),
        }),
        "Where" => Box::new(Where),
        "Clip" => Box::new(Clip {
            // Before opset 11 the bounds are attributes.
            bounds: (opset < 11).then(|| (a.float("min", f32::MIN), a.float("max", f32::MAX))),
        }),
        "ConstantOfShape" => Box::new(ConstantOfShape(
            a.tensor("value")?
                .unwrap_or(Tensor::F32(Arr::vector(vec![0.0]))),
        )),
        _ => return Ok(None),
    }))
}

fn axis_of(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(format!("axis {axis} is outside a tensor of rank {rank}"));
    }
    Ok(a as usize)
}

#[derive(Debug)]
struct Identity;

impl Op for Identity {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        Ok(vec![
            inputs
                .first()
                .copied()
                .flatten()
                .ok_or("Identity: no input")?
                .clone(),
        ])
    }
}

#[derive(Debug)]
struct Constant(Tensor);

impl Op for Constant {
    fn run(&self, _: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        Ok(vec![Value::T(self.0.clone())])
    }
}

/// The shape both operands broadcast to (numpy's rules).
fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// A broadcast: the result's shape, and for each of its elements the flat
/// index into each operand.
type Broadcast = (Vec<usize>, Vec<usize>, Vec<usize>);

/// How two operands broadcast.
fn broadcast_indices(a: &[usize], b: &[usize]) -> Result<Broadcast, String> {
    let shape = broadcast(a, b)?;
    numel(&shape)?;
    let (ia, ib) = (indices(a, &shape), indices(b, &shape));
    Ok((shape, ia, ib))
}

/// For each element of `out`, the flat index into an operand of `shape`.
fn indices(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let rank = out.len();
    let off = rank - shape.len();
    let mut strides = vec![0usize; rank];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        strides[i + off] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; rank];
    let mut flat = 0usize;
    for _ in 0..n {
        idx.push(flat);
        for d in (0..rank).rev() {
            counter[d] += 1;
            flat += strides[d];
            if counter[d] < out[d] {
                break;
            }
            flat -= strides[d] * counter[d];
            counter[d] = 0;
        }
    }
    idx
}

fn zip_broadcast<A: Copy, B: Copy, C>(
    a: &Arr<A>,
    b: &Arr<B>,
    f: impl Fn(A, B) -> C,
) -> Result<Arr<C>, String> {
    if a.shape == b.shape {
        return Ok(Arr {
            shape: a.shape.clone(),
            data: a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect(),
        });
    }
    let shape = broadcast(&a.shape, &b.shape)?;
    numel(&shape)?;
    if b.data.len() == 1 {
        let y = b.data[0];
        return Ok(Arr {
            data: a.data.iter().map(|&x| f(x, y)).collect(),
            shape,
        });
    }
    let (ia, ib) = (indices(&a.shape, &shape), indices(&b.shape, &shape));
    Ok(Arr {
        data: ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| f(a.data[i], b.data[j]))
            .collect(),
        shape,
    })
}

#[derive(Debug, Clone, Copy)]
enum Binary {
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

    fn apply(self, a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
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
                ));
            }
        })
    }
}

impl Op for Binary {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let mut acc = tensor_in(inputs, 0, "a binary operator")?.clone();
        for i in 1..inputs.len() {
            acc = self.apply(&acc, tensor_in(inputs, i, "a binary operator")?)?;
        }
        Ok(vec![Value::T(acc)])
    }
}

#[derive(Debug, Clone, Copy)]
enum Compare {
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
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
struct Not;

impl Op for Not {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let a = tensor_in(inputs, 0, "Not")?.to_bool()?;
        Ok(vec![Value::T(Tensor::Bool(map(&a, |v| !v)))])
    }
}

#[derive(Debug, Clone, Copy)]
enum Unary {
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

impl Unary {
    fn f64(self, x: f64) -> f64 {
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
            Unary::Sign => sign(x),
        }
    }

    fn f32(self, x: f32) -> f32 {
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
            Unary::Sign => sign(f64::from(x)) as f32,
        }
    }
}

/// -1, 0 or 1 (NaN stays NaN), as ONNX's Sign.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

impl Op for Unary {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        Ok(vec![Value::T(
            match tensor_in(inputs, 0, "a unary operator")? {
                Tensor::F32(a) => Tensor::F32(map(a, |&v| self.f32(v))),
                Tensor::F64(a) => Tensor::F64(map(a, |&v| self.f64(v))),
                Tensor::I64(a) => match self {
                    Unary::Abs => Tensor::I64(map(a, |v| v.wrapping_abs())),
                    Unary::Neg => Tensor::I64(map(a, |v| v.wrapping_neg())),
                    Unary::Relu => Tensor::I64(map(a, |&v| v.max(0))),
                    Unary::Sign => Tensor::I64(map(a, |v| v.signum())),
                    other => return Err(format!("{other:?} of an int64 tensor")),
                },
                other => return Err(format!("{self:?} of a {} tensor", other.type_name())),
            },
        )])
    }
}

#[derive(Debug)]
struct Cast {
    to: i32,
}

impl Op for Cast {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Cast")?;
        Ok(vec![Value::T(match self.to {
            1 => Tensor::F32(x.to_f32()?),
            11 => Tensor::F64(x.to_f64()?),
            6 | 7 => Tensor::I64(x.to_i64()?),
            8 => Tensor::Str(x.to_str()),
            9 => Tensor::Bool(x.to_bool()?),
            other => {
                return Err(format!(
                    "Cast to {} is not supported",
                    super::elem_type_name(other)
                ));
            }
        })])
    }
}

/// A numeric input as f32 or f64 (the product's type).
fn float_pair(a: &Tensor, b: &Tensor) -> Result<(Arr<f64>, Arr<f64>, bool), String> {
    let double = matches!(a, Tensor::F64(_)) || matches!(b, Tensor::F64(_));
    Ok((a.to_f64()?, b.to_f64()?, double))
}

fn out_float(data: Vec<f64>, shape: Vec<usize>, double: bool) -> Result<Tensor, String> {
    Ok(if double {
        Tensor::F64(Arr::new(shape, data)?)
    } else {
        Tensor::F32(Arr::new(
            shape,
            data.into_iter().map(|v| v as f32).collect(),
        )?)
    })
}

/// `a` [m, k] times `b` [k, n] in f32, with ndarray's (matrixmultiply's)
/// blocked kernels. (Without the `predict` feature, as in `chime check`,
/// which loads graphs but never runs them, a plain loop.)
#[cfg(feature = "predict")]
fn sgemm(
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    out: &mut [f32],
) -> Result<(), String> {
    use ndarray::{ArrayView2, ArrayViewMut2};
    let err = |e: ndarray::ShapeError| e.to_string();
    let a = ArrayView2::from_shape((m, k), a).map_err(err)?;
    let b = ArrayView2::from_shape((k, n), b).map_err(err)?;
    let mut c = ArrayViewMut2::from_shape((m, n), out).map_err(err)?;
    ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    Ok(())
}

#[cfg(not(feature = "predict"))]
fn sgemm(
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    out: &mut [f32],
) -> Result<(), String> {
    if a.len() != m * k || b.len() != k * n || out.len() != m * n {
        return Err("a matrix product of mismatched shapes".into());
    }
    for i in 0..m {
        for p in 0..k {
            let v = a[i * k + p];
            for j in 0..n {
                out[i * n + j] += v * b[p * n + j];
            }
        }
    }
    Ok(())
}

#[derive(Debug)]
struct MatMul;

impl Op for MatMul {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let a = tensor_in(inputs, 0, "MatMul")?;
        let b = tensor_in(inputs, 1, "MatMul")?;
        let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
        if sb.len() != 2 || sa.is_empty() {
            return Err(format!(
                "MatMul of shapes {sa:?} and {sb:?} is not supported"
            ));
        }
        let k = *sa.last().unwrap_or(&0);
        if k != sb[0] {
            return Err(format!(
                "MatMul of shapes {sa:?} and {sb:?}: inner dimensions differ"
            ));
        }
        let n = sb[1];
        let m = a.len() / k.max(1);
        let mut shape = sa[..sa.len() - 1].to_vec();
        shape.push(n);
        if let (Tensor::F32(x), Tensor::F32(y)) = (a, b) {
            let mut out = vec![0f32; m * n];
            sgemm(&x.data, &y.data, m, k, n, &mut out)?;
            return Ok(vec![Value::T(Tensor::F32(Arr::new(shape, out)?))]);
        }
        let (x, y, double) = float_pair(a, b)?;
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for p in 0..k {
                let v = x.data[i * k + p];
                for j in 0..n {
                    out[i * n + j] += v * y.data[p * n + j];
                }
            }
        }
        Ok(vec![Value::T(out_float(out, shape, double)?)])
    }
}

#[derive(Debug)]
struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn transpose2(a: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = a[i * c + j];
        }
    }
    t
}

impl Op for Gemm {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let a = tensor_in(inputs, 0, "Gemm")?.to_f32()?;
        let b = tensor_in(inputs, 1, "Gemm")?.to_f32()?;
        if a.shape.len() != 2 || b.shape.len() != 2 {
            return Err("Gemm needs two matrices".into());
        }
        let (mut m, mut k) = (a.shape[0], a.shape[1]);
        let ad = if self.trans_a {
            std::mem::swap(&mut m, &mut k);
            transpose2(&a.data, a.shape[0], a.shape[1])
        } else {
            a.data
        };
        let (mut kb, mut n) = (b.shape[0], b.shape[1]);
        let bd = if self.trans_b {
            std::mem::swap(&mut kb, &mut n);
            transpose2(&b.data, b.shape[0], b.shape[1])
        } else {
            b.data
        };
        if k != kb {
            return Err(format!("Gemm: inner dimensions {k} and {kb} differ"));
        }
        let mut out = vec![0f32; m * n];
        sgemm(&ad, &bd, m, k, n, &mut out)?;
        if self.alpha != 1.0 {
            out.iter_mut().for_each(|v| *v *= self.alpha);
        }
        let mut y = Arr::new(vec![m, n], out)?;
        if let Some(Some(Value::T(c))) = inputs.get(2) {
            let c = c.to_f32()?;
            let beta = self.beta;
            y = zip_broadcast(&y, &c, |p, q| p + beta * q)?;
            if y.shape != [m, n] {
                return Err("Gemm: C does not broadcast to the product".into());
            }
        }
        Ok(vec![Value::T(Tensor::F32(y))])
    }
}

#[derive(Debug)]
struct Softmax {
    axis: i64,
    /// Before opset 13: the input is seen as 2-D, flattened at `axis`.
    flatten: bool,
}

impl Op for Softmax {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Softmax")?;
        let shape = x.shape().to_vec();
        let axis = axis_of(self.axis, shape.len())?;
        let inner: usize = if self.flatten {
            shape[axis..].iter().product()
        } else {
            if axis + 1 != shape.len() {
                return Err("Softmax over an axis other than the last is not supported".into());
            }
            shape[axis]
        };
        let mut a = x.to_f32()?;
        for row in a.data.chunks_exact_mut(inner.max(1)) {
            super::softmax(row);
        }
        Ok(vec![Value::T(Tensor::F32(a))])
    }
}

/// (outer, axis length, inner) of a tensor split at `axis`.
fn split_at(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape.get(axis).copied().unwrap_or(1),
        shape.get(axis + 1..).map_or(1, |s| s.iter().product()),
    )
}

#[derive(Debug)]
struct Arg {
    max: bool,
    axis: i64,
    keepdims: bool,
    last: bool,
}

impl Op for Arg {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "ArgMax")?.to_f64()?;
        let axis = axis_of(self.axis, x.shape.len())?;
        let (outer, len, inner) = split_at(&x.shape, axis);
        if len == 0 {
            return Err("ArgMax/ArgMin over an empty axis".into());
        }
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let mut best = 0usize;
                for j in 1..len {
                    let v = x.data[(o * len + j) * inner + i];
                    let b = x.data[(o * len + best) * inner + i];
                    let better = if self.max {
                        v > b || (self.last && v == b)
                    } else {
                        v < b || (self.last && v == b)
                    };
                    if better {
                        best = j;
                    }
                }
                out.push(best as i64);
            }
        }
        let mut shape = x.shape.clone();
        if self.keepdims {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Ok(vec![Value::T(Tensor::I64(Arr::new(shape, out)?))])
    }
}

#[derive(Debug)]
struct Reduce {
    kind: String,
    axes: Option<Vec<i64>>,
    keepdims: bool,
    noop_empty: bool,
}

impl Op for Reduce {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let t = tensor_in(inputs, 0, &self.kind)?;
        let double = matches!(t, Tensor::F64(_));
        let x = t.to_f64()?;
        let rank = x.shape.len();
        let axes: Vec<i64> = match (&self.axes, inputs.get(1).copied().flatten()) {
            (_, Some(Value::T(a))) => a.to_i64()?.data,
            (Some(a), _) => a.clone(),
            (None, _) => Vec::new(),
        };
        if axes.is_empty() && self.noop_empty {
            return Ok(vec![Value::T(t.clone())]);
        }
        let mut reduce = vec![axes.is_empty(); rank];
        for &a in &axes {
            reduce[axis_of(a, rank)?] = true;
        }
        let out_shape_keep: Vec<usize> = x
            .shape
            .iter()
            .zip(&reduce)
            .map(|(&d, &r)| if r { 1 } else { d })
            .collect();
        let n_out = numel(&out_shape_keep)?;
        let idx = indices(&out_shape_keep, &x.shape);
        let count = (x.data.len() / n_out.max(1)) as f64;
        let init = match self.kind.as_str() {
            "ReduceMax" | "ReduceLogSumExp" => f64::NEG_INFINITY,
            "ReduceMin" => f64::INFINITY,
            "ReduceProd" => 1.0,
            _ => 0.0,
        };
        let mut acc = vec![init; n_out];
        for (v, &o) in x.data.iter().zip(&idx) {
            acc[o] = match self.kind.as_str() {
                "ReduceSumSquare" | "ReduceL2" => acc[o] + v * v,
                // The max first: log-sum-exp is taken relative to it.
                "ReduceMax" | "ReduceLogSumExp" => acc[o].max(*v),
                "ReduceMin" => acc[o].min(*v),
                "ReduceProd" => acc[o] * v,
                _ => acc[o] + v,
            };
        }
        if self.kind == "ReduceLogSumExp" {
            let max = acc;
            let mut sum = vec![0f64; n_out];
            for (v, &o) in x.data.iter().zip(&idx) {
                sum[o] += if max[o].is_finite() {
                    (v - max[o]).exp()
                } else {
                    v.exp()
                };
            }
            acc = sum
                .iter()
                .zip(&max)
                .map(|(s, m)| if m.is_finite() { s.ln() + m } else { s.ln() })
                .collect();
        }
        match self.kind.as_str() {
            "ReduceMean" => acc.iter_mut().for_each(|v| *v /= count),
            "ReduceL2" => acc.iter_mut().for_each(|v| *v = v.sqrt()),
            _ => {}
        }
        let shape: Vec<usize> = if self.keepdims {
            out_shape_keep
        } else {
            x.shape
                .iter()
                .zip(&reduce)
                .filter(|(_, r)| !**r)
                .map(|(&d, _)| d)
                .collect()
        };
        Ok(vec![Value::T(match t {
            Tensor::I64(_) => Tensor::I64(Arr::new(
                shape,
                acc.into_iter().map(|v| v as i64).collect(),
            )?),
            _ => out_float(acc, shape, double)?,
        })])
    }
}

/// Concatenates arrays of one type along `axis`.
fn concat<T: Clone>(parts: &[&Arr<T>], axis: usize) -> Result<Arr<T>, String> {
    let first = parts.first().ok_or("Concat of nothing")?;
    let mut shape = first.shape.clone();
    if axis >= shape.len() {
        return Err("Concat: axis past the rank".into());
    }
    let (outer, _, inner) = split_at(&first.shape, axis);
    let mut total = 0;
    for p in parts {
        if p.shape.len() != shape.len()
            || p.shape
                .iter()
                .zip(&shape)
                .enumerate()
                .any(|(i, (a, b))| i != axis && a != b)
        {
            return Err(format!(
                "Concat of shapes {:?} and {:?}",
                first.shape, p.shape
            ));
        }
        total += p.shape[axis];
    }
    shape[axis] = total;
    let mut data = Vec::with_capacity(outer * total * inner);
    for o in 0..outer {
        for p in parts {
            let chunk = p.shape[axis] * inner;
            data.extend_from_slice(&p.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Arr::new(shape, data)
}

#[derive(Debug)]
struct Concat {
    axis: i64,
}

impl Op for Concat {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let ts: Vec<&Tensor> = (0..inputs.len())
            .map(|i| tensor_in(inputs, i, "Concat"))
            .collect::<Result<_, _>>()?;
        let rank = ts.first().map_or(0, |t| t.shape().len());
        let axis = axis_of(self.axis, rank)?;
        macro_rules! all {
            ($v:ident) => {{
                let parts: Option<Vec<_>> = ts
                    .iter()
                    .map(|t| if let Tensor::$v(a) = t { Some(a) } else { None })
                    .collect();
                parts.map(|p| concat(&p, axis).map(Tensor::$v))
            }};
        }
        let out = all!(F32)
            .or_else(|| all!(F64))
            .or_else(|| all!(I64))
            .or_else(|| all!(Str))
            .or_else(|| all!(Bool));
        match out {
            Some(t) => Ok(vec![Value::T(t?)]),
            None => {
                // Mixed numbers: as f32.
                let fs: Vec<Arr<f32>> = ts.iter().map(|t| t.to_f32()).collect::<Result<_, _>>()?;
                let refs: Vec<&Arr<f32>> = fs.iter().collect();
                Ok(vec![Value::T(Tensor::F32(concat(&refs, axis)?))])
            }
        }
    }
}

#[derive(Debug)]
struct Reshape {
    allowzero: bool,
}

impl Op for Reshape {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Reshape")?;
        let want = tensor_in(inputs, 1, "Reshape")?.to_i64()?.data;
        let old = x.shape();
        let mut shape = Vec::with_capacity(want.len());
        let mut infer = None;
        for (i, &d) in want.iter().enumerate() {
            match d {
                -1 if infer.is_none() => {
                    infer = Some(i);
                    shape.push(1);
                }
                0 if !self.allowzero => {
                    shape.push(*old.get(i).ok_or("Reshape: 0 past the input's rank")?)
                }
                d if d >= 0 => shape.push(d as usize),
                _ => return Err(format!("Reshape to {want:?}")),
            }
        }
        if let Some(i) = infer {
            let known: usize = shape
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, d)| *d)
                .product();
            if known == 0 || x.len() % known != 0 {
                return Err(format!("Reshape of {old:?} to {want:?}"));
            }
            shape[i] = x.len() / known;
        }
        Ok(vec![Value::T(x.clone().reshaped(shape)?)])
    }
}

#[derive(Debug)]
struct Flatten {
    axis: i64,
}

impl Op for Flatten {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Flatten")?;
        let shape = x.shape();
        let r = shape.len() as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        }
        .clamp(0, r) as usize;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis..].iter().product();
        Ok(vec![Value::T(x.clone().reshaped(vec![outer, inner])?)])
    }
}

#[derive(Debug)]
struct Transpose {
    perm: Option<Vec<i64>>,
}

fn permute<T: Clone>(a: &Arr<T>, perm: &[usize]) -> Result<Arr<T>, String> {
    let shape: Vec<usize> = perm.iter().map(|&p| a.shape[p]).collect();
    let rank = a.shape.len();
    let mut strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * a.shape[i + 1];
    }
    let pstrides: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    let n = a.data.len();
    let mut data = Vec::with_capacity(n);
    let mut counter = vec![0usize; rank];
    let mut flat = 0usize;
    for _ in 0..n {
        data.push(a.data[flat].clone());
        for d in (0..rank).rev() {
            counter[d] += 1;
            flat += pstrides[d];
            if counter[d] < shape[d] {
                break;
            }
            flat -= pstrides[d] * counter[d];
            counter[d] = 0;
        }
    }
    Arr::new(shape, data)
}

impl Op for Transpose {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Transpose")?;
        let rank = x.shape().len();
        let perm: Vec<usize> = match &self.perm {
            Some(p) => p
                .iter()
                .map(|&v| axis_of(v, rank))
                .collect::<Result<_, _>>()?,
            None => (0..rank).rev().collect(),
        };
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != (0..rank).collect::<Vec<_>>() {
            return Err(format!("Transpose: {perm:?} is not a permutation"));
        }
        Ok(vec![Value::T(match x {
            Tensor::F32(a) => Tensor::F32(permute(a, &perm)?),
            Tensor::F64(a) => Tensor::F64(permute(a, &perm)?),
            Tensor::I64(a) => Tensor::I64(permute(a, &perm)?),
            Tensor::Str(a) => Tensor::Str(permute(a, &perm)?),
            Tensor::Bool(a) => Tensor::Bool(permute(a, &perm)?),
        })])
    }
}

#[derive(Debug)]
struct Squeeze {
    un: bool,
    axes: Option<Vec<i64>>,
}

impl Op for Squeeze {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Squeeze")?;
        let axes: Vec<i64> = match (inputs.get(1).copied().flatten(), &self.axes) {
            (Some(Value::T(a)), _) => a.to_i64()?.data,
            (_, Some(a)) => a.clone(),
            _ => Vec::new(),
        };
        let mut shape = x.shape().to_vec();
        if self.un {
            let rank = shape.len() + axes.len();
            let mut ax: Vec<usize> = axes
                .iter()
                .map(|&a| axis_of(a, rank))
                .collect::<Result<_, _>>()?;
            ax.sort_unstable();
            for a in ax {
                if a > shape.len() {
                    return Err("Unsqueeze: axis past the rank".into());
                }
                shape.insert(a, 1);
            }
        } else if axes.is_empty() {
            shape.retain(|&d| d != 1);
        } else {
            let rank = shape.len();
            let ax: Vec<usize> = axes
                .iter()
                .map(|&a| axis_of(a, rank))
                .collect::<Result<_, _>>()?;
            shape = shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect();
        }
        Ok(vec![Value::T(x.clone().reshaped(shape)?)])
    }
}

#[derive(Debug)]
struct ShapeOf;

impl Op for ShapeOf {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Shape")?;
        Ok(vec![Value::T(Tensor::I64(Arr::vector(
            x.shape().iter().map(|&d| d as i64).collect(),
        )))])
    }
}

#[derive(Debug)]
struct TopK {
    axis: i64,
    largest: bool,
    k: Option<i64>,
}

impl Op for TopK {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let t = tensor_in(inputs, 0, "TopK")?;
        let x = t.to_f64()?;
        let k = match self.k {
            Some(k) => k,
            None => *tensor_in(inputs, 1, "TopK")?
                .to_i64()?
                .data
                .first()
                .ok_or("TopK: no k")?,
        };
        let axis = axis_of(self.axis, x.shape.len())?;
        let (outer, len, inner) = split_at(&x.shape, axis);
        let k = usize::try_from(k)
            .ok()
            .filter(|&k| k <= len)
            .ok_or("TopK: k is larger than the axis")?;
        let mut values = vec![0f64; outer * k * inner];
        let mut idx = vec![0i64; outer * k * inner];
        let mut order: Vec<usize> = Vec::with_capacity(len);
        for o in 0..outer {
            for i in 0..inner {
                order.clear();
                order.extend(0..len);
                let at = |j: usize| x.data[(o * len + j) * inner + i];
                // Ties keep the lower index first, as onnxruntime does.
                if self.largest {
                    order.sort_by(|&p, &q| cmp(at(q), at(p)).then(p.cmp(&q)));
                } else {
                    order.sort_by(|&p, &q| cmp(at(p), at(q)).then(p.cmp(&q)));
                }
                for (r, &j) in order.iter().take(k).enumerate() {
                    values[(o * k + r) * inner + i] = at(j);
                    idx[(o * k + r) * inner + i] = j as i64;
                }
            }
        }
        let mut shape = x.shape.clone();
        shape[axis] = k;
        let values = match t {
            Tensor::F64(_) => Tensor::F64(Arr::new(shape.clone(), values)?),
            Tensor::I64(_) => Tensor::I64(Arr::new(
                shape.clone(),
                values.into_iter().map(|v| v as i64).collect(),
            )?),
            _ => Tensor::F32(Arr::new(
                shape.clone(),
                values.into_iter().map(|v| v as f32).collect(),
            )?),
        };
        Ok(vec![
            Value::T(values),
            Value::T(Tensor::I64(Arr::new(shape, idx)?)),
        ])
    }
}

/// Numbers in order, -0 equal to 0 (a tie), NaN after everything.
fn cmp(a: f64, b: f64) -> std::cmp::Ordering {
    a.partial_cmp(&b)
        .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}

#[derive(Debug)]
struct Gather {
    axis: i64,
}

fn gather<T: Clone>(a: &Arr<T>, axis: usize, idx: &Arr<i64>) -> Result<Arr<T>, String> {
    let (outer, len, inner) = split_at(&a.shape, axis);
    let mut data = Vec::with_capacity(outer * idx.data.len() * inner);
    for o in 0..outer {
        for &j in &idx.data {
            let j = if j < 0 { j + len as i64 } else { j };
            let j = usize::try_from(j)
                .ok()
                .filter(|&j| j < len)
                .ok_or("Gather: index out of range")?;
            data.extend_from_slice(&a.data[(o * len + j) * inner..(o * len + j + 1) * inner]);
        }
    }
    let mut shape = a.shape[..axis].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&a.shape[axis + 1..]);
    Arr::new(shape, data)
}

impl Op for Gather {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Gather")?;
        let idx = tensor_in(inputs, 1, "Gather")?.to_i64()?;
        let axis = axis_of(self.axis, x.shape().len())?;
        Ok(vec![Value::T(match x {
            Tensor::F32(a) => Tensor::F32(gather(a, axis, &idx)?),
            Tensor::F64(a) => Tensor::F64(gather(a, axis, &idx)?),
            Tensor::I64(a) => Tensor::I64(gather(a, axis, &idx)?),
            Tensor::Str(a) => Tensor::Str(gather(a, axis, &idx)?),
            Tensor::Bool(a) => Tensor::Bool(gather(a, axis, &idx)?),
        })])
    }
}

#[derive(Debug)]
struct Where;

impl Op for Where {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let c = tensor_in(inputs, 0, "Where")?.to_bool()?;
        let x = tensor_in(inputs, 1, "Where")?;
        let y = tensor_in(inputs, 2, "Where")?;
        let shape = broadcast(&broadcast(&c.shape, x.shape())?, y.shape())?;
        numel(&shape)?;
        let ic = indices(&c.shape, &shape);
        let (ix, iy) = (indices(x.shape(), &shape), indices(y.shape(), &shape));
        // Picks from two arrays of one type (strings too: skl2onnx's
        // SimpleImputer on a string column is a Where over strings).
        fn pick<T: Clone>(
            c: &[bool],
            ic: &[usize],
            x: &[T],
            ix: &[usize],
            y: &[T],
            iy: &[usize],
        ) -> Vec<T> {
            (0..ic.len())
                .map(|i| {
                    if c[ic[i]] {
                        x[ix[i]].clone()
                    } else {
                        y[iy[i]].clone()
                    }
                })
                .collect()
        }
        // The two branches must have one type; each type picks alike.
        macro_rules! same_type {
            ($($v:ident),*) => {
                match (x, y) {
                    $((Tensor::$v(a), Tensor::$v(b)) => Tensor::$v(Arr::new(
                        shape,
                        pick(&c.data, &ic, &a.data, &ix, &b.data, &iy),
                    )?),)*
                    (a, b) => {
                        return Err(format!(
                            "Where of {} and {} tensors (the two must have one type)",
                            a.type_name(),
                            b.type_name()
                        ));
                    }
                }
            };
        }
        Ok(vec![Value::T(same_type!(F32, F64, I64, Str, Bool))])
    }
}

#[derive(Debug)]
struct Clip {
    bounds: Option<(f32, f32)>,
}

impl Op for Clip {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let x = tensor_in(inputs, 0, "Clip")?;
        let bound = |i: usize, default: f64| -> Result<f64, String> {
            match inputs.get(i).copied().flatten() {
                Some(Value::T(t)) => t
                    .to_f64()?
                    .data
                    .first()
                    .copied()
                    .ok_or_else(|| "Clip: an empty bound".to_string()),
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
            other => return Err(format!("Clip of a {} tensor", other.type_name())),
        })])
    }
}

/// ConstantOfShape: a tensor of the shape its input gives, filled with
/// `value` (one element). The shape comes from the data, so its size is
/// bounded.
#[derive(Debug)]
struct ConstantOfShape(Tensor);

const MAX_CONSTANT: usize = 1 << 26;

impl Op for ConstantOfShape {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
        let dims = tensor_in(inputs, 0, "ConstantOfShape")?.to_i64()?.data;
        let shape: Vec<usize> = dims
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| format!("ConstantOfShape: a dimension of {d}"))
            })
            .collect::<Result<_, _>>()?;
        let n = numel(&shape)?;
        if n > MAX_CONSTANT {
            return Err(format!(
                "ConstantOfShape: {n} values (at most {MAX_CONSTANT})"
            ));
        }
        fn fill<T: Clone>(a: &Arr<T>, shape: Vec<usize>, n: usize) -> Result<Arr<T>, String> {
            let v = a
                .data
                .first()
                .cloned()
                .ok_or("ConstantOfShape: `value` is empty")?;
            Arr::new(shape, vec![v; n])
        }
        Ok(vec![Value::T(match &self.0 {
            Tensor::F32(a) => Tensor::F32(fill(a, shape, n)?),
            Tensor::F64(a) => Tensor::F64(fill(a, shape, n)?),
            Tensor::I64(a) => Tensor::I64(fill(a, shape, n)?),
            Tensor::Str(a) => Tensor::Str(fill(a, shape, n)?),
            Tensor::Bool(a) => Tensor::Bool(fill(a, shape, n)?),
        })])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty axis (a hostile model's [3, 0] tensor) is an error, not an
    /// index past the data.
    #[test]
    fn argmax_over_an_empty_axis_is_an_error() {
        let x = Value::T(Tensor::F32(Arr::new(vec![3, 0], Vec::new()).unwrap()));
        let op = Arg {
            max: true,
            axis: 1,
            keepdims: false,
            last: false,
        };
        assert!(op.run(&[Some(&x)]).is_err());
    }
}
