//! Tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor
//! (ai.onnx.ml 1-3) and TreeEnsemble (ai.onnx.ml 5).
//!
//! The trees are compiled once into one flat array of nodes, each tree
//! laid out depth-first with its false branch first, so a walk mostly
//! moves forward in memory. A batch is evaluated 128 rows at a time, tree
//! by tree: a tree's nodes stay in cache while every row of the block
//! walks it. Scores are summed in the threshold type (f32, or f64 for
//! models that give double thresholds), in tree order, as onnxruntime
//! does, so the sums agree to the last bits.
//!
//! `ensemble` compiles the nodes, `walk` runs rows through them; `classic`
//! is TreeEnsembleClassifier and TreeEnsembleRegressor, `v5` TreeEnsemble.

use super::op::{Attrs, Op};
use crate::ml::error::ModelError;
use crate::ml::value::Tensor;

mod classic;
mod ensemble;
mod v5;
mod walk;

use classic::Trees;
use v5::v5;

pub fn build(op: &str, a: &Attrs) -> Result<Option<Box<dyn Op>>, ModelError> {
    if op == "TreeEnsemble" {
        return v5(a).map(Some);
    }
    // Double thresholds (`nodes_values_as_tensor` of doubles) make the
    // whole ensemble f64, as onnxruntime does.
    let double = matches!(a.tensor("nodes_values_as_tensor")?, Some(Tensor::F64(_)));
    let classifier = op == "TreeEnsembleClassifier";
    Ok(Some(if double {
        Box::new(Trees::<f64>::new(a, classifier)?)
    } else {
        Box::new(Trees::<f32>::new(a, classifier)?)
    }))
}

#[cfg(test)]
mod tests;
