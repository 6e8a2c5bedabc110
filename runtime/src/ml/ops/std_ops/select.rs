//! Operators that pick or move elements: Concat, Transpose, Gather and
//! Where.

use super::layout::{axis_of, broadcast, indices, split_at, strided};
use crate::ml::error::ModelError;
use crate::ml::ops::op::{Op, tensor_in};
use crate::ml::value::{Arr, Tensor, Value, map_arr, numel};

/// Concatenates arrays of one type along `axis`.
fn concat<T: Clone>(parts: &[&Arr<T>], axis: usize) -> Result<Arr<T>, ModelError> {
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
            return Err(format!("Concat of shapes {:?} and {:?}", first.shape, p.shape).into());
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
pub struct Concat {
    pub axis: i64,
}

impl Op for Concat {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

fn permute<T: Clone>(a: &Arr<T>, perm: &[usize]) -> Result<Arr<T>, ModelError> {
    let shape: Vec<usize> = perm.iter().map(|&p| a.shape[p]).collect();
    let rank = a.shape.len();
    let mut strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * a.shape[i + 1];
    }
    let pstrides: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    let mut data = Vec::with_capacity(a.data.len());
    strided(&shape, &pstrides, |flat| data.push(a.data[flat].clone()));
    Arr::new(shape, data)
}

impl Op for Transpose {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
            return Err(format!("Transpose: {perm:?} is not a permutation").into());
        }
        Ok(vec![Value::T(map_arr!(x, a => permute(a, &perm)?))])
    }
}

#[derive(Debug)]
pub struct Gather {
    pub axis: i64,
}

fn gather<T: Clone>(a: &Arr<T>, axis: usize, idx: &Arr<i64>) -> Result<Arr<T>, ModelError> {
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "Gather")?;
        let idx = tensor_in(inputs, 1, "Gather")?.to_i64()?;
        let axis = axis_of(self.axis, x.shape().len())?;
        Ok(vec![Value::T(map_arr!(x, a => gather(a, axis, &idx)?))])
    }
}

#[derive(Debug)]
pub struct Where;

impl Op for Where {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
                        ).into());
                    }
                }
            };
        }
        Ok(vec![Value::T(same_type!(F32, F64, I64, Str, Bool))])
    }
}
