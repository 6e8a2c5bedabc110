//! The index arithmetic the standard operators share: axes, numpy
//! broadcasting, a tensor split at an axis.

use crate::ml::error::ModelError;
use crate::ml::value::{Arr, numel};

pub fn axis_of(axis: i64, rank: usize) -> Result<usize, ModelError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(ModelError::Axis { axis, rank });
    }
    Ok(a as usize)
}

/// The shape both operands broadcast to (numpy's rules).
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ModelError> {
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
            _ => {
                return Err(ModelError::Broadcast {
                    a: a.to_vec(),
                    b: b.to_vec(),
                });
            }
        };
    }
    Ok(out)
}

/// A broadcast: the result's shape, and for each of its elements the flat
/// index into each operand.
type Broadcast = (Vec<usize>, Vec<usize>, Vec<usize>);

/// How two operands broadcast.
pub fn broadcast_indices(a: &[usize], b: &[usize]) -> Result<Broadcast, ModelError> {
    let shape = broadcast(a, b)?;
    numel(&shape)?;
    let (ia, ib) = (indices(a, &shape), indices(b, &shape));
    Ok((shape, ia, ib))
}

/// For each element of `out`, the flat index into an operand of `shape`.
pub fn indices(shape: &[usize], out: &[usize]) -> Vec<usize> {
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
    strided(out, &strides, |flat| idx.push(flat));
    idx
}

/// Visits every element of a tensor of shape `out` in row-major order,
/// calling `f` with the flat index `strides` give it (numbers of elements,
/// one per axis of `out`).
pub fn strided(out: &[usize], strides: &[usize], mut f: impl FnMut(usize)) {
    let n: usize = out.iter().product();
    let rank = out.len();
    let mut counter = vec![0usize; rank];
    let mut flat = 0usize;
    for _ in 0..n {
        f(flat);
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
}

pub fn zip_broadcast<A: Copy, B: Copy, C>(
    a: &Arr<A>,
    b: &Arr<B>,
    f: impl Fn(A, B) -> C,
) -> Result<Arr<C>, ModelError> {
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

/// (outer, axis length, inner) of a tensor split at `axis`.
pub fn split_at(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape.get(axis).copied().unwrap_or(1),
        shape.get(axis + 1..).map_or(1, |s| s.iter().product()),
    )
}
