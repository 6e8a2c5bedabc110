//! tract, for models of standard operators (neural networks): loaded
//! for any number of rows where it can be, else for a fixed batch that
//! short batches are padded to.

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

use super::error::PredictError;
use crate::ml::value::{Arr, Tensor};

/// A model loaded into tract, with the batch size it was fixed to when it
/// could not take any.
pub(super) struct Tract {
    plan: TypedRunnableModel<TypedModel>,
    pub fixed: Option<usize>,
}

impl Tract {
    /// Loads a model of standard operators into tract: a symbolic number
    /// of rows, so the last, short batch runs as it is; a model that
    /// cannot be optimised that way gets a fixed batch size and short
    /// batches are padded with zeros.
    pub fn load(
        path: &str,
        bytes: &[u8],
        width: usize,
        batch: usize,
    ) -> Result<Tract, PredictError> {
        let fail = |error| PredictError::Tract {
            path: path.to_string(),
            error,
        };
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|error| PredictError::TractLoad {
                path: path.to_string(),
                error,
            })?;
        let inputs = model.input_outlets().map_err(fail)?.to_vec();
        let fact = model.outlet_fact(inputs[0]).map_err(fail)?;
        let dims: Vec<GenericFactoid<TDim>> = fact.shape.dims().cloned().collect();
        if let Some(rank) = fact.shape.rank().concretize()
            && rank != 2
        {
            let shown: Vec<String> = dims.iter().map(|d| format!("{d:?}")).collect();
            return Err(PredictError::Rank {
                path: path.to_string(),
                shape: shown.join(", "),
            });
        }
        let symbolic = {
            let mut m = model.clone();
            let rows = m.symbols.sym("N");
            m.set_input_fact(0, f32::fact([rows.to_dim(), width.to_dim()]).into())
                .and_then(|()| m.into_optimized())
                .map(row_softmax)
                .and_then(|m| m.into_runnable())
        };
        Ok(match symbolic {
            Ok(plan) => Tract { plan, fixed: None },
            Err(_) => {
                model
                    .set_input_fact(0, f32::fact([batch, width]).into())
                    .map_err(fail)?;
                let plan = model
                    .into_optimized()
                    .map(row_softmax)
                    .and_then(|m| m.into_runnable())
                    .map_err(|error| PredictError::FixedBatch {
                        path: path.to_string(),
                        batch,
                        width,
                        error,
                    })?;
                Tract {
                    plan,
                    fixed: Some(batch),
                }
            }
        })
    }

    /// Runs the model on `rows` rows of `width` floats (`x`, row after
    /// row; padded to the fixed batch, if the model has one).
    pub fn run(&self, x: &[f32], rows: usize, width: usize) -> Result<Vec<Tensor>, PredictError> {
        let input = match self.fixed {
            Some(b) => {
                let mut padded = x.to_vec();
                padded.resize(b * width, 0.0);
                tract_onnx::prelude::Tensor::from_shape(&[b, width], &padded)
            }
            None => tract_onnx::prelude::Tensor::from_shape(&[rows, width], x),
        }
        .map_err(PredictError::TractValue)?;
        let outs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(PredictError::TractRun)?;
        outs.iter().map(|t| from_tract(t)).collect()
    }
}

/// A tract output as a tensor of chime's evaluator.
fn from_tract(t: &tract_onnx::prelude::Tensor) -> Result<Tensor, PredictError> {
    let shape = t.shape().to_vec();
    let err = PredictError::TractValue;
    Ok(match t.datum_type() {
        DatumType::F32 => Tensor::F32(
            Arr::new(shape, t.as_slice::<f32>().map_err(err)?.to_vec())
                .map_err(PredictError::ml)?,
        ),
        DatumType::F64 => Tensor::F64(
            Arr::new(shape, t.as_slice::<f64>().map_err(err)?.to_vec())
                .map_err(PredictError::ml)?,
        ),
        DatumType::I64 => Tensor::I64(
            Arr::new(shape, t.as_slice::<i64>().map_err(err)?.to_vec())
                .map_err(PredictError::ml)?,
        ),
        DatumType::I32 => Tensor::I64(
            Arr::new(
                shape,
                t.as_slice::<i32>()
                    .map_err(err)?
                    .iter()
                    .map(|&v| i64::from(v))
                    .collect(),
            )
            .map_err(PredictError::ml)?,
        ),
        DatumType::Bool => Tensor::Bool(
            Arr::new(shape, t.as_slice::<bool>().map_err(err)?.to_vec())
                .map_err(PredictError::ml)?,
        ),
        DatumType::String => Tensor::Str(
            Arr::new(shape, t.as_slice::<String>().map_err(err)?.to_vec())
                .map_err(PredictError::ml)?,
        ),
        other => return Err(PredictError::OutputType(format!("{other:?}"))),
    })
}

/// Replaces tract's Softmax over the last axis of f32 rows with
/// [`RowSoftmax`] (same arithmetic, in the same order).
fn row_softmax(mut model: TypedModel) -> TypedModel {
    use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxExp, SoftmaxKind};
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<Softmax>() else {
            continue;
        };
        let Some(fact) = node.inputs.first().and_then(|i| model.outlet_fact(*i).ok()) else {
            continue;
        };
        let rank = fact.rank();
        let width = fact
            .shape
            .last()
            .and_then(|d| d.to_i64().ok())
            .and_then(|d| usize::try_from(d).ok());
        if let Some(width) = width
            && width > 0
            && fact.datum_type == f32::datum_type()
            && op.axes.as_slice() == [rank - 1]
            && op.kind == SoftmaxKind::Softmax(SoftmaxExp::Libc)
        {
            model.nodes[id].op = Box::new(RowSoftmax { width });
        }
    }
    model
}

/// tract's internals for [`RowSoftmax`].
mod fast_softmax {
    use tract_onnx::tract_core::internal::*;

    /// Softmax over each row's `width` values. tract's own walks the rows with
    /// ndarray and runs its vector kernels on each: for a classifier's few
    /// classes that is ~250 ns a row, most of a logistic regression's
    /// inference. Max, `exp(x - max)`, sum, times `1 / sum`: tract's steps.
    #[derive(Debug, Clone, Hash)]
    pub struct RowSoftmax {
        pub width: usize,
    }

    impl Op for RowSoftmax {
        fn name(&self) -> std::borrow::Cow<'_, str> {
            "RowSoftmax".into()
        }

        op_as_typed_op!();
    }

    impl EvalOp for RowSoftmax {
        fn is_stateless(&self) -> bool {
            true
        }

        fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
            let mut t = inputs
                .into_iter()
                .next()
                .ok_or_else(|| format_err!("RowSoftmax needs an input"))?
                .into_tensor();
            for row in t.as_slice_mut::<f32>()?.chunks_exact_mut(self.width) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let rsum = sum.recip();
                for x in row.iter_mut() {
                    *x *= rsum;
                }
            }
            Ok(tvec!(t.into_tvalue()))
        }
    }

    impl TypedOp for RowSoftmax {
        fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
            let fact = inputs
                .first()
                .ok_or_else(|| format_err!("RowSoftmax needs an input"))?;
            Ok(tvec!(fact.datum_type.fact(fact.shape.clone())))
        }

        as_op!();
    }
}
use fast_softmax::RowSoftmax;
