//! The standard (ai.onnx) operators that converters put around the
//! ai.onnx.ml ones, one file per family: element-wise arithmetic and
//! comparisons with numpy broadcasting (`elementwise`), matrix products
//! (`linalg`), reductions and Softmax, ArgMax, TopK (`reduce`), shape
//! operators (`shape`) and operators that pick or move elements
//! (`select`); `layout` holds the index arithmetic they share.

use super::op::{Attrs, Op};
use crate::ml::error::ModelError;
use crate::ml::value::{Arr, Tensor};

mod elementwise;
mod layout;
mod linalg;
mod reduce;
mod select;
mod shape;

use elementwise::{Binary, Cast, Clip, Compare, Not, Unary};
use linalg::{Gemm, MatMul};
use reduce::{Arg, Reduce, Softmax, TopK};
use select::{Concat, Gather, Transpose, Where};
use shape::{Constant, ConstantOfShape, Flatten, Identity, Reshape, ShapeOf, Squeeze};

pub fn build(op: &str, a: &Attrs, opset: i64) -> Result<Option<Box<dyn Op>>, ModelError> {
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
