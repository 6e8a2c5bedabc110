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

mod graph;
pub mod ops;
pub mod value;

pub use graph::{Graph, Role, declared_widths, roles};

use prost::Message;

/// The operators chime evaluates for graphs that use ai.onnx.ml, as
/// (domain, operator). Graphs without ai.onnx.ml nodes run on tract.
pub const OPERATORS: &[(&str, &str)] = &[
    ("ai.onnx.ml", "ArrayFeatureExtractor"),
    ("ai.onnx.ml", "Binarizer"),
    ("ai.onnx.ml", "CategoryMapper"),
    ("ai.onnx.ml", "FeatureVectorizer"),
    ("ai.onnx.ml", "Imputer"),
    ("ai.onnx.ml", "LabelEncoder"),
    ("ai.onnx.ml", "LinearClassifier"),
    ("ai.onnx.ml", "LinearRegressor"),
    ("ai.onnx.ml", "Normalizer"),
    ("ai.onnx.ml", "OneHotEncoder"),
    ("ai.onnx.ml", "SVMClassifier"),
    ("ai.onnx.ml", "SVMRegressor"),
    ("ai.onnx.ml", "Scaler"),
    ("ai.onnx.ml", "TreeEnsemble"),
    ("ai.onnx.ml", "TreeEnsembleClassifier"),
    ("ai.onnx.ml", "TreeEnsembleRegressor"),
    ("ai.onnx.ml", "ZipMap"),
    ("", "Abs"),
    ("", "Add"),
    ("", "ArgMax"),
    ("", "ArgMin"),
    ("", "Cast"),
    ("", "Clip"),
    ("", "Concat"),
    ("", "Constant"),
    ("", "ConstantOfShape"),
    ("", "Div"),
    ("", "Equal"),
    ("", "Exp"),
    ("", "Flatten"),
    ("", "Gather"),
    ("", "Gemm"),
    ("", "Greater"),
    ("", "GreaterOrEqual"),
    ("", "Identity"),
    ("", "Less"),
    ("", "LessOrEqual"),
    ("", "Log"),
    ("", "MatMul"),
    ("", "Max"),
    ("", "Min"),
    ("", "Mul"),
    ("", "Neg"),
    ("", "Not"),
    ("", "Pow"),
    ("", "Reciprocal"),
    ("", "ReduceL2"),
    ("", "ReduceMax"),
    ("", "ReduceMean"),
    ("", "ReduceLogSumExp"),
    ("", "ReduceMin"),
    ("", "ReduceProd"),
    ("", "ReduceSum"),
    ("", "ReduceSumSquare"),
    ("", "Relu"),
    ("", "Reshape"),
    ("", "Scan"),
    ("", "Shape"),
    ("", "Sigmoid"),
    ("", "Sign"),
    ("", "Softmax"),
    ("", "Sqrt"),
    ("", "Squeeze"),
    ("", "Sub"),
    ("", "Sum"),
    ("", "Tanh"),
    ("", "TopK"),
    ("", "Transpose"),
    ("", "Unsqueeze"),
    ("", "Where"),
];

/// The standard operators tract (0.21) runs: a model without ai.onnx.ml
/// nodes must keep to them. (A unit test compares this list with tract's
/// own registry, so it follows tract's upgrades.)
pub const TRACT_OPERATORS: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "ArrayFeatureExtractor",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "AveragePool",
    "BatchNormalization",
    "BitShift",
    "BitwiseAnd",
    "BitwiseNot",
    "BitwiseOr",
    "BitwiseXor",
    "BlackmanWindow",
    "Cast",
    "CastLike",
    "CategoryMapper",
    "Ceil",
    "Celu",
    "Clip",
    "Compress",
    "Concat",
    "Constant",
    "ConstantLike",
    "ConstantOfShape",
    "Conv",
    "ConvInteger",
    "ConvTranspose",
    "Cos",
    "Cosh",
    "CumSum",
    "DFT",
    "DepthToSpace",
    "DequantizeLinear",
    "Div",
    "Dropout",
    "DynamicQuantizeLinear",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "EyeLike",
    "Flatten",
    "Floor",
    "GRU",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gemm",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "HammingWindow",
    "HannWindow",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "If",
    "InstanceNormalization",
    "IsInf",
    "IsNaN",
    "LRN",
    "LSTM",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MatMulInteger",
    "Max",
    "MaxPool",
    "Mean",
    "MelWeightMatrix",
    "Min",
    "Mod",
    "Mul",
    "Multinomial",
    "Neg",
    "NonMaxSuppression",
    "NonZero",
    "Not",
    "OneHot",
    "Or",
    "PRelu",
    "Pad",
    "ParametricSoftplus",
    "Pow",
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "RNN",
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "Round",
    "Rsqrt",
    "STFT",
    "ScaledTanh",
    "Scan",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Selu",
    "Shape",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Size",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "TopK",
    "Transpose",
    "TreeEnsembleClassifier",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

/// The domain ai.onnx.ml, however a model spells it.
pub fn is_ml(domain: &str) -> bool {
    domain == "ai.onnx.ml"
}

fn is_standard(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// Whether chime evaluates `op` of `domain` itself.
pub fn supported(domain: &str, op: &str) -> bool {
    let d = if is_standard(domain) { "" } else { domain };
    OPERATORS.iter().any(|&(dd, o)| dd == d && o == op)
}

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
    pub fn read(bytes: &[u8]) -> Result<Model, String> {
        let proto = proto::ModelProto::decode(bytes)
            .map_err(|e| format!("not an ONNX model (its protobuf does not parse: {e})"))?;
        let Some(graph) = &proto.graph else {
            return Err("not an ONNX model (it has no graph)".into());
        };
        if graph.node.is_empty() && graph.output.is_empty() {
            return Err("not an ONNX model (its graph is empty)".into());
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

#[cfg(all(test, feature = "predict"))]
mod tests {
    use super::value::{Arr, Tensor, Value};
    use super::*;

    #[test]
    fn tract_operators_is_tracts_registry() {
        let mut theirs: Vec<String> = tract_onnx::onnx().op_register.0.keys().cloned().collect();
        theirs.sort();
        let ours: Vec<String> = TRACT_OPERATORS.iter().map(|s| s.to_string()).collect();
        assert_eq!(ours, theirs, "update TRACT_OPERATORS to tract's registry");
    }

    /// A model file is untrusted input: damaged bytes give an error at
    /// read, load or run, never a panic or an unbounded allocation. Each
    /// suite model is damaged many ways (bytes overwritten, cut short),
    /// then read, loaded and run on a few rows.
    #[test]
    fn damaged_model_files_are_errors_not_panics() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models");
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut runs = 0;
        for name in [
            "logistic_regression_multiclass",
            "random_forest_classifier",
            "svc_rbf_proba",
            "kneighbors_classifier",
            "column_transformer_logistic_regression",
            "lgbm_classifier_binary",
            "mlp_classifier",
        ] {
            let good = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
            for round in 0..150 {
                let mut bytes = good.clone();
                if round % 10 == 9 {
                    bytes.truncate((next() as usize) % bytes.len());
                } else {
                    for _ in 0..1 + round % 4 {
                        let i = (next() as usize) % bytes.len();
                        bytes[i] = next() as u8;
                    }
                }
                let outcome = std::panic::catch_unwind(|| -> Result<(), String> {
                    let m = Model::read(&bytes)?;
                    let g = Graph::load(&m)?;
                    let feeds = g
                        .inputs
                        .iter()
                        .map(|p| {
                            let w = p.dims.get(1).copied().flatten().unwrap_or(1).min(64) as usize;
                            let t = match p.kind.as_str() {
                                "string" => {
                                    Tensor::Str(Arr::new(vec![3, w], vec![String::new(); 3 * w])?)
                                }
                                "int64" => Tensor::I64(Arr::new(vec![3, w], vec![0; 3 * w])?),
                                "double" => Tensor::F64(Arr::new(vec![3, w], vec![0.5; 3 * w])?),
                                _ => Tensor::F32(Arr::new(vec![3, w], vec![0.5; 3 * w])?),
                            };
                            Ok(Value::T(t))
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    g.run(feeds).map(|_| ())
                });
                assert!(outcome.is_ok(), "{name}, damage round {round}: a panic");
                runs += 1;
            }
        }
        assert_eq!(runs, 7 * 150);
    }
}
