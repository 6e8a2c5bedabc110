//! What can go wrong reading, loading or running a model: [`ModelError`].
//! Its texts are the ones `chime check` (E060, E061) and `predict` show,
//! and tests pin them, so each variant's wording is fixed here.

use std::fmt;

mod tree;

pub use tree::TreeError;

/// A model chime cannot read, load or run, or a batch it cannot run on.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// The bytes are not an ONNX model with a graph; why, in words.
    NotOnnx(String),
    /// A text attribute that is not UTF-8.
    NotUtf8 { attribute: String },
    /// A constant tensor kept in another file.
    ExternalData { tensor: String },
    /// A constant tensor with a negative dimension.
    NegativeDimension { tensor: String },
    /// A constant tensor of an element type chime does not read (ONNX's
    /// code and name of it).
    ElementType {
        tensor: String,
        code: i32,
        name: &'static str,
    },
    /// An attribute whose value chime does not know (`what`: the
    /// attribute, as the text names it).
    Unknown { what: &'static str, value: String },
    /// An operator's input left out.
    MissingInput { op: String, index: usize },
    /// A sequence of maps where an operator reads a tensor.
    MapsInput { op: String, index: usize },
    /// A tensor whose data does not fill its shape.
    DataLength {
        shape: Vec<usize>,
        needs: usize,
        got: usize,
    },
    /// A shape whose number of elements overflows.
    ShapeTooLarge(Vec<usize>),
    /// Text cast to a number (`integer`: to an integer) that is none.
    NotANumber { text: String, integer: bool },
    /// Text cast to an integer out of int64's range.
    IntegerOutOfRange(String),
    /// Strings cast to bool.
    StringsToBool,
    /// An axis outside a tensor's rank.
    Axis { axis: i64, rank: usize },
    /// Two shapes that do not broadcast.
    Broadcast { a: Vec<usize>, b: Vec<usize> },
    /// A category a OneHotEncoder (exported with `zeros=0`) was not
    /// trained on: the value as shown, and the categories it knows.
    UnknownCategory { value: String, known: Vec<String> },
    /// Subgraphs nested deeper than chime follows.
    TooDeep,
    /// A node reading a value that nothing gives.
    Unresolved {
        node: String,
        op: String,
        value: String,
    },
    /// A node of an operator chime does not evaluate.
    Unsupported {
        node: String,
        op: String,
        domain: String,
    },
    /// A graph output that no node gives.
    NoProducer { output: String },
    /// Inputs fed to a graph, against the number it takes.
    InputCount { takes: usize, given: usize },
    /// A graph output that the run did not compute.
    NotComputed { output: String },
    /// An initializer that cannot be read.
    Initializer {
        name: String,
        source: Box<ModelError>,
    },
    /// A node that cannot be built or run.
    Node {
        name: String,
        op: String,
        source: Box<ModelError>,
    },
    /// Scan's body that cannot be built.
    ScanBody(Box<ModelError>),
    /// A tree ensemble's.
    Tree(TreeError),
    /// What one operator finds wrong with its attributes or inputs, in
    /// its own words (each wording used once).
    Op(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ModelError as E;
        match self {
            E::NotOnnx(why) => write!(f, "not an ONNX model ({why})"),
            E::NotUtf8 { attribute } => write!(f, "the attribute `{attribute}` is not UTF-8"),
            E::ExternalData { tensor } => write!(
                f,
                "the tensor `{tensor}` is stored in another file (external data): save the model as one file"
            ),
            E::NegativeDimension { tensor } => {
                write!(f, "the tensor `{tensor}` has a negative dimension")
            }
            E::ElementType { tensor, code, name } => write!(
                f,
                "the tensor `{tensor}` has element type {code} ({name}), which chime does not read"
            ),
            E::Unknown { what, value } => write!(f, "unknown {what} `{value}`"),
            E::MissingInput { op, index } => write!(f, "{op}: input {index} is missing"),
            E::MapsInput { op, index } => {
                write!(f, "{op}: input {index} is a sequence of maps, not a tensor")
            }
            E::DataLength { shape, needs, got } => write!(
                f,
                "a tensor of shape {shape:?} needs {needs} values, not {got}"
            ),
            E::ShapeTooLarge(shape) => write!(f, "the shape {shape:?} is too large"),
            E::NotANumber {
                text,
                integer: false,
            } => write!(f, "cannot cast `{text}` to a number"),
            E::NotANumber {
                text,
                integer: true,
            } => write!(f, "cannot cast `{text}` to an integer"),
            E::IntegerOutOfRange(text) => {
                write!(f, "cannot cast `{text}` to an integer: out of range")
            }
            E::StringsToBool => write!(f, "cannot cast strings to bool"),
            E::Axis { axis, rank } => {
                write!(f, "axis {axis} is outside a tensor of rank {rank}")
            }
            E::Broadcast { a, b } => write!(f, "shapes {a:?} and {b:?} do not broadcast"),
            E::UnknownCategory { value, known } => {
                let shown = known
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(
                    f,
                    "{value} is not one of the categories the model was trained on ({shown}{}); \
                     export the encoder with handle_unknown=\"ignore\" to map unknown values to zeros",
                    if known.len() > 20 { ", ..." } else { "" }
                )
            }
            E::TooDeep => write!(f, "subgraphs are nested more than 8 deep"),
            E::Unresolved { node, op, value } => write!(
                f,
                "node `{node}` ({op}) reads `{value}`, which no node, input or initializer gives (or the graph has a cycle)"
            ),
            E::Unsupported { node, op, domain } => write!(
                f,
                "node `{node}` uses the operator {op} of {domain}, which chime cannot run"
            ),
            E::NoProducer { output } => {
                write!(f, "the graph's output `{output}` is given by no node")
            }
            E::InputCount { takes, given } => {
                write!(f, "the model takes {takes} inputs, given {given}")
            }
            E::NotComputed { output } => write!(f, "the output `{output}` was not computed"),
            E::Initializer { name, source } => write!(f, "initializer `{name}`: {source}"),
            E::Node { name, op, source } => write!(f, "node `{name}` ({op}): {source}"),
            E::ScanBody(source) => write!(f, "Scan's body: {source}"),
            E::Tree(e) => e.fmt(f),
            E::Op(text) => f.write_str(text),
        }
    }
}

impl ModelError {
    /// An attribute's value chime does not know.
    pub fn unknown(what: &'static str, value: &str) -> ModelError {
        ModelError::Unknown {
            what,
            value: value.to_string(),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Initializer { source, .. }
            | ModelError::Node { source, .. }
            | ModelError::ScanBody(source) => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<TreeError> for ModelError {
    fn from(e: TreeError) -> ModelError {
        ModelError::Tree(e)
    }
}

/// An operator's own wording (see [`ModelError::Op`]).
impl From<String> for ModelError {
    fn from(text: String) -> ModelError {
        ModelError::Op(text)
    }
}

impl From<&str> for ModelError {
    fn from(text: &str) -> ModelError {
        ModelError::Op(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wrappers read as the texts they replaced: each adds its prefix
    /// to the error it explains, which stays reachable as source().
    #[test]
    fn wrapped_errors_read_as_before() {
        let inner = ModelError::ElementType {
            tensor: "w".into(),
            code: 10,
            name: "float16",
        };
        let e = ModelError::ScanBody(Box::new(ModelError::Initializer {
            name: "w".into(),
            source: Box::new(inner.clone()),
        }));
        assert_eq!(
            e.to_string(),
            "Scan's body: initializer `w`: the tensor `w` has element type 10 (float16), which chime does not read"
        );
        let e = ModelError::Node {
            name: "n1".into(),
            op: "TreeEnsemble".into(),
            source: Box::new(
                TreeError::Unknown {
                    what: "post_transform",
                    value: 9,
                }
                .into(),
            ),
        };
        assert_eq!(
            e.to_string(),
            "node `n1` (TreeEnsemble): TreeEnsemble: unknown post_transform 9"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
