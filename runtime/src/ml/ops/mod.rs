//! The operators chime evaluates itself, one file per family: the
//! ai.onnx.ml operators the converters emit (`ml`, `tree`, `svm`) and the
//! standard operators that appear beside them in converted models (`std`).
//! Each is built once from its node's attributes (checked then), and run
//! on whole batches.

mod ml;
mod op;
mod post;
mod std_ops;
mod svm;
mod tree;

pub use op::{Attrs, Op, elem_type_name, tensor_in, tensor_of};
pub use post::{Labels, Post, first_max, logistic, probit, softmax, softmax_zero};

use crate::ml::error::ModelError;
use crate::ml::proto::NodeProto;

/// Builds the operator for `node`; `opset` is the version of its domain
/// the model imports. An operator chime does not have is `Ok(None)`.
pub fn build(node: &NodeProto, opset: i64) -> Result<Option<Box<dyn Op>>, ModelError> {
    let a = Attrs(node);
    match node.domain.as_str() {
        "ai.onnx.ml" => match node.op_type.as_str() {
            op @ ("TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble") => {
                tree::build(op, &a)
            }
            op @ ("SVMClassifier" | "SVMRegressor") => svm::build(op, &a),
            op => ml::build(op, &a, opset),
        },
        "" | "ai.onnx" => std_ops::build(&node.op_type, &a, opset),
        _ => Ok(None),
    }
}
