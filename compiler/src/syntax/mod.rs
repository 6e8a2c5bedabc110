//! From text to a tree where every node keeps its position.

pub mod locate;
pub mod yaml;

pub use yaml::{Entry, Node, Value};
