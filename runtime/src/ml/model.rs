//! A model file, parsed: its inputs and outputs, and the nodes chime
//! cannot run.

use prost::Message;

use super::operators::{TRACT_OPERATORS, is_ml, is_standard, supported};
use super::proto;
use crate::ml::error::ModelError;

/// A model file, parsed (the protobuf only: nothing is evaluated).
#[derive(Debug, Clone)]
pub struct Model {
    pub proto: proto::ModelProto,
}

/// One of a graph's inputs or outputs, as the model declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: String,
    /// float, double, int64, string... or "map"/"sequence".
    pub kind: String,
    /// Dimensions; `None` for a symbolic one (the rows).
    pub dims: Vec<Option<u64>>,
}

/// A node chime cannot evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub node: String,
    pub domain: String,
    pub op: String,
}

impl Model {
    /// Parses a model file's bytes. Refuses what is not an ONNX model
    /// with a graph.
    pub fn read(bytes: &[u8]) -> Result<Model, ModelError> {
        let proto = proto::ModelProto::decode(bytes)
            .map_err(|e| ModelError::NotOnnx(format!("its protobuf does not parse: {e}")))?;
        let Some(graph) = &proto.graph else {
            return Err(ModelError::NotOnnx("it has no graph".into()));
        };
        if graph.node.is_empty() && graph.output.is_empty() {
            return Err(ModelError::NotOnnx("its graph is empty".into()));
        }
        Ok(Model { proto })
    }

    pub fn graph(&self) -> &proto::GraphProto {
        // `read` refuses a model without a graph.
        static EMPTY: std::sync::OnceLock<proto::GraphProto> = std::sync::OnceLock::new();
        self.proto
            .graph
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(proto::GraphProto::default))
    }

    /// Whether the graph uses ai.onnx.ml (then chime evaluates it itself).
    pub fn uses_ml(&self) -> bool {
        self.graph().node.iter().any(|n| is_ml(&n.domain))
    }

    /// For each input (in [`Model::inputs`]' order), whether the model
    /// handles a missing value in it: the input reaches an Imputer, or a
    /// tree ensemble whose branches send NaN one way
    /// (`nodes_missing_value_tracks_true`), or, for a string input, the
    /// Where by which skl2onnx exports a SimpleImputer of strings.
    /// `predict` passes an empty field or a NULL of such an input as NaN
    /// (or empty text); of any other, it fails the task.
    pub fn inputs_handling_missing(&self) -> Vec<bool> {
        let handles = |n: &proto::NodeProto, text: bool| -> bool {
            match (n.domain.as_str(), n.op_type.as_str()) {
                ("ai.onnx.ml", "Imputer") => true,
                (
                    "ai.onnx.ml",
                    "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble",
                ) => n
                    .attribute
                    .iter()
                    .any(|a| a.name == "nodes_missing_value_tracks_true" && a.ints.contains(&1)),
                ("" | "ai.onnx", "Where") => text,
                _ => false,
            }
        };
        self.inputs()
            .iter()
            .map(|p| {
                let text = p.kind == "string";
                self.reaches(&p.name, |n| handles(n, text))
            })
            .collect()
    }

    /// Whether a node that `found` accepts reads `name` or anything
    /// computed from it.
    fn reaches(&self, name: &str, mut found: impl FnMut(&proto::NodeProto) -> bool) -> bool {
        let g = self.graph();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut todo = vec![name];
        seen.insert(name);
        // Each value is visited once: linear in the graph's size.
        let mut readers: std::collections::HashMap<&str, Vec<&proto::NodeProto>> =
            std::collections::HashMap::new();
        for n in &g.node {
            for i in &n.input {
                readers.entry(i.as_str()).or_default().push(n);
            }
        }
        while let Some(v) = todo.pop() {
            for n in readers.get(v).into_iter().flatten() {
                if found(n) {
                    return true;
                }
                for o in &n.output {
                    if seen.insert(o.as_str()) {
                        todo.push(o.as_str());
                    }
                }
            }
        }
        false
    }

    /// For each input, a value the model knows, to probe it with: for a
    /// string input, the first category of the first OneHotEncoder,
    /// LabelEncoder or CategoryMapper it reaches (an unknown one may be an
    /// error: scikit-learn's default OneHotEncoder exports `zeros=0`).
    pub fn probe_texts(&self) -> Vec<Option<String>> {
        self.inputs()
            .iter()
            .map(|p| {
                if p.kind != "string" {
                    return None;
                }
                let mut found = None;
                self.reaches(&p.name, |n| {
                    let first = n
                        .attribute
                        .iter()
                        .find(|a| {
                            matches!(
                                a.name.as_str(),
                                "cats_strings" | "keys_strings" | "classes_strings"
                            )
                        })
                        .and_then(|a| a.strings.first());
                    match first {
                        Some(s) if found.is_none() => {
                            found = Some(String::from_utf8_lossy(s).into_owned());
                            true
                        }
                        _ => false,
                    }
                });
                found
            })
            .collect()
    }

    /// The graph's inputs that are not initializers (the ones a caller
    /// feeds).
    pub fn inputs(&self) -> Vec<Port> {
        let g = self.graph();
        let consts: std::collections::HashSet<&str> =
            g.initializer.iter().map(|t| t.name.as_str()).collect();
        g.input
            .iter()
            .filter(|v| !consts.contains(v.name.as_str()))
            .map(port)
            .collect()
    }

    pub fn outputs(&self) -> Vec<Port> {
        self.graph().output.iter().map(port).collect()
    }

    /// The nodes chime cannot run. For a graph that uses ai.onnx.ml,
    /// any operator outside [`OPERATORS`]; for the others (run by tract),
    /// any outside [`TRACT_OPERATORS`].
    pub fn missing(&self) -> Vec<Missing> {
        let mut out = Vec::new();
        missing_in(self.graph(), self.uses_ml(), &mut out, 0);
        out
    }
}

/// The nodes of `g` and of its subgraphs that chime cannot run.
fn missing_in(g: &proto::GraphProto, ml: bool, out: &mut Vec<Missing>, depth: usize) {
    for n in &g.node {
        let ok = if ml {
            supported(&n.domain, &n.op_type)
        } else {
            is_standard(&n.domain) && TRACT_OPERATORS.contains(&n.op_type.as_str())
        };
        if !ok {
            out.push(Missing {
                node: n.name.clone(),
                domain: if n.domain.is_empty() {
                    "ai.onnx".into()
                } else {
                    n.domain.clone()
                },
                op: n.op_type.clone(),
            });
        }
        if depth < 8 {
            for a in &n.attribute {
                if let Some(body) = &a.g {
                    missing_in(body, ml, out, depth + 1);
                }
            }
        }
    }
}

fn port(v: &proto::ValueInfoProto) -> Port {
    use proto::type_proto::Value as T;
    let (kind, dims) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(t)) => (
            elem_name(t.elem_type).to_string(),
            t.shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(proto::dimension::Value::DimValue(n)) if n >= 0 => Some(n as u64),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some(T::SequenceType(_)) => ("sequence".to_string(), Vec::new()),
        Some(T::MapType(_)) => ("map".to_string(), Vec::new()),
        None => ("unknown".to_string(), Vec::new()),
    };
    Port {
        name: v.name.clone(),
        kind,
        dims,
    }
}

/// ONNX's name of an element type.
pub fn elem_name(t: i32) -> &'static str {
    match t {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        _ => "unknown",
    }
}
