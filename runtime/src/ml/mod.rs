//! ONNX models as the standard converters export them (skl2onnx,
//! onnxmltools): reading a model file, and (feature `predict`) evaluating
//! graphs that use the ai.onnx.ml operators.
//!
//! tract, chime's engine for neural networks, implements the standard
//! operators but almost none of ai.onnx.ml. A graph with an ai.onnx.ml
//! node is therefore evaluated here instead, whole: the ai.onnx.ml
//! operators and the standard operators converters put around them, each
//! run on the whole batch. [`OPERATORS`] lists them; `chime check` reads a
//! model with [`Model::read`] and names any node outside the list.

pub mod bind;
pub mod proto;

mod error;
mod graph;
mod model;
mod operators;
pub mod ops;
pub mod value;

pub use error::{ModelError, TreeError};
pub use graph::{Graph, Role, declared_widths, roles};
pub use model::{Missing, Model, Port, elem_name};
pub use operators::{OPERATORS, TRACT_OPERATORS, is_ml, supported};

#[cfg(all(test, feature = "predict"))]
mod tests;
