//! Operators that make or reshape a tensor without moving its values:
//! Identity, Constant, Reshape, Flatten, Squeeze and Unsqueeze, Shape and
//! ConstantOfShape.

use super::layout::axis_of;
use crate::ml::error::ModelError;
use crate::ml::ops::op::{Op, tensor_in};
use crate::ml::value::{Arr, Tensor, Value, map_arr, numel};

#[derive(Debug)]
pub struct Identity;

impl Op for Identity {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
pub struct Constant(pub Tensor);

impl Op for Constant {
    fn run(&self, _: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        Ok(vec![Value::T(self.0.clone())])
    }
}

#[derive(Debug)]
pub struct Reshape {
    pub allowzero: bool,
}

impl Op for Reshape {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
                _ => return Err(format!("Reshape to {want:?}").into()),
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
                return Err(format!("Reshape of {old:?} to {want:?}").into());
            }
            shape[i] = x.len() / known;
        }
        Ok(vec![Value::T(x.clone().reshaped(shape)?)])
    }
}

#[derive(Debug)]
pub struct Flatten {
    pub axis: i64,
}

impl Op for Flatten {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
pub struct Squeeze {
    pub un: bool,
    pub axes: Option<Vec<i64>>,
}

impl Op for Squeeze {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
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
pub struct ShapeOf;

impl Op for ShapeOf {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let x = tensor_in(inputs, 0, "Shape")?;
        Ok(vec![Value::T(Tensor::I64(Arr::vector(
            x.shape().iter().map(|&d| d as i64).collect(),
        )))])
    }
}

/// ConstantOfShape: a tensor of the shape its input gives, filled with
/// `value` (one element). The shape comes from the data, so its size is
/// bounded.
#[derive(Debug)]
pub struct ConstantOfShape(pub Tensor);

const MAX_CONSTANT: usize = 1 << 26;

impl Op for ConstantOfShape {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let dims = tensor_in(inputs, 0, "ConstantOfShape")?.to_i64()?.data;
        let shape: Vec<usize> = dims
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| format!("ConstantOfShape: a dimension of {d}"))
            })
            .collect::<Result<_, _>>()?;
        let n = numel(&shape)?;
        if n > MAX_CONSTANT {
            return Err(format!("ConstantOfShape: {n} values (at most {MAX_CONSTANT})").into());
        }
        fn fill<T: Clone>(a: &Arr<T>, shape: Vec<usize>, n: usize) -> Result<Arr<T>, ModelError> {
            let v = a
                .data
                .first()
                .cloned()
                .ok_or("ConstantOfShape: `value` is empty")?;
            Arr::new(shape, vec![v; n])
        }
        Ok(vec![Value::T(map_arr!(&self.0, a => fill(a, shape, n)?))])
    }
}
