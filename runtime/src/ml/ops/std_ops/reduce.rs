//! Operators along an axis: Softmax, ArgMax and ArgMin, the Reduce
//! family and TopK.

use super::layout::{axis_of, indices, split_at};
use crate::ml::error::ModelError;
use crate::ml::ops::op::{Op, tensor_in};
use crate::ml::ops::post::softmax;
use crate::ml::value::{Arr, Tensor, Value, numel};

#[derive(Debug)]
pub struct Softmax {
    pub axis: i64,
    /// Before opset 13: the input is seen as 2-D, flattened at `axis`.
    pub flatten: bool,
}

impl Op for Softmax {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
            softmax(row);
        }
        Ok(vec![Value::T(Tensor::F32(a))])
    }
}

#[derive(Debug)]
pub struct Arg {
    pub max: bool,
    pub axis: i64,
    pub keepdims: bool,
    pub last: bool,
}

impl Op for Arg {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
pub struct Reduce {
    pub kind: String,
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub noop_empty: bool,
}

impl Op for Reduce {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
            _ => Tensor::floats(acc, shape, double)?,
        })])
    }
}

#[derive(Debug)]
pub struct TopK {
    pub axis: i64,
    pub largest: bool,
    pub k: Option<i64>,
}

impl Op for TopK {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
