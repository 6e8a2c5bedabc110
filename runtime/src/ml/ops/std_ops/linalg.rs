//! Matrix products: MatMul and Gemm.

use super::layout::zip_broadcast;
use crate::ml::error::ModelError;
use crate::ml::ops::op::{Op, tensor_in};
use crate::ml::value::{Arr, Tensor, Value};

/// A numeric input as f32 or f64 (the product's type).
fn float_pair(a: &Tensor, b: &Tensor) -> Result<(Arr<f64>, Arr<f64>, bool), ModelError> {
    let double = matches!(a, Tensor::F64(_)) || matches!(b, Tensor::F64(_));
    Ok((a.to_f64()?, b.to_f64()?, double))
}

/// `a` [m, k] times `b` [k, n] in f32, with ndarray's (matrixmultiply's)
/// blocked kernels. (Without the `predict` feature, as in `chime check`,
/// which loads graphs but never runs them, a plain loop.)
fn sgemm(
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    out: &mut [f32],
) -> Result<(), ModelError> {
    #[cfg(feature = "predict")]
    {
        use ndarray::{ArrayView2, ArrayViewMut2};
        let err = |e: ndarray::ShapeError| e.to_string();
        let a = ArrayView2::from_shape((m, k), a).map_err(err)?;
        let b = ArrayView2::from_shape((k, n), b).map_err(err)?;
        let mut c = ArrayViewMut2::from_shape((m, n), out).map_err(err)?;
        ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    }
    #[cfg(not(feature = "predict"))]
    {
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
    }
    Ok(())
}

#[derive(Debug)]
pub struct MatMul;

impl Op for MatMul {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let a = tensor_in(inputs, 0, "MatMul")?;
        let b = tensor_in(inputs, 1, "MatMul")?;
        let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
        if sb.len() != 2 || sa.is_empty() {
            return Err(format!("MatMul of shapes {sa:?} and {sb:?} is not supported").into());
        }
        let k = *sa.last().unwrap_or(&0);
        if k != sb[0] {
            return Err(
                format!("MatMul of shapes {sa:?} and {sb:?}: inner dimensions differ").into(),
            );
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
        Ok(vec![Value::T(Tensor::floats(out, shape, double)?)])
    }
}

#[derive(Debug)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
            return Err(format!("Gemm: inner dimensions {k} and {kb} differ").into());
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
