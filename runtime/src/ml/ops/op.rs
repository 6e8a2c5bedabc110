//! What every operator shares: the [`Op`] trait, a node's attributes, and
//! the tensors of its constants and inputs.

use std::fmt::Debug;

use crate::ml::error::ModelError;
use crate::ml::proto::{AttributeProto, NodeProto, TensorProto};
use crate::ml::value::{Arr, Tensor, Value};

/// A node's computation.
pub trait Op: Send + Sync + Debug {
    /// Computes the node's outputs from its inputs (`None`: an optional
    /// input left out).
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError>;
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

    pub fn string(&self, name: &str, default: &str) -> Result<String, ModelError> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone()).map_err(|_| not_utf8(name)),
        }
    }

    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, ModelError> {
        self.get(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8(s.clone()).map_err(|_| not_utf8(name)))
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, ModelError> {
        match self.get(name).and_then(|a| a.t.as_ref()) {
            None => Ok(None),
            Some(t) => tensor_of(t).map(Some),
        }
    }

    /// A list of numbers given either as `name` (floats) or as
    /// `name_as_tensor` (a float or double tensor), as f64.
    pub fn floats_or_tensor(&self, name: &str) -> Result<Vec<f64>, ModelError> {
        if let Some(t) = self.tensor(&format!("{name}_as_tensor"))? {
            return Ok(t.to_f64()?.data);
        }
        Ok(self.floats(name).into_iter().map(f64::from).collect())
    }
}

fn not_utf8(name: &str) -> ModelError {
    ModelError::NotUtf8 {
        attribute: name.to_string(),
    }
}

/// A constant tensor (an initializer or an attribute), checked: its data
/// has as many values as its shape says.
pub fn tensor_of(t: &TensorProto) -> Result<Tensor, ModelError> {
    if t.data_location == 1 {
        return Err(ModelError::ExternalData {
            tensor: t.name.clone(),
        });
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| ModelError::NegativeDimension {
                tensor: t.name.clone(),
            })
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
            return Err(ModelError::ElementType {
                tensor: t.name.clone(),
                code: other,
                name: elem_type_name(other),
            });
        }
    };
    Ok(tensor)
}

pub use crate::ml::model::elem_name as elem_type_name;

/// The tensor input `i`, or an error naming the operator.
pub fn tensor_in<'v>(
    inputs: &[Option<&'v Value>],
    i: usize,
    op: &str,
) -> Result<&'v Tensor, ModelError> {
    match inputs.get(i).copied().flatten() {
        Some(Value::T(t)) => Ok(t),
        Some(Value::Maps { .. }) => Err(ModelError::MapsInput {
            op: op.to_string(),
            index: i,
        }),
        None => Err(ModelError::MissingInput {
            op: op.to_string(),
            index: i,
        }),
    }
}
