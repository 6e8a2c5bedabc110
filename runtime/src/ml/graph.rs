//! A model's graph, ready to run: nodes in topological order, each value
//! in a numbered slot, constants loaded once, every value dropped after
//! its last reader.

use std::collections::HashMap;
use std::sync::Arc;

use super::model::{Model, Port};
use super::ops::{self, Op};
use super::value::{Shared, Value};
use crate::ml::error::ModelError;

#[derive(Debug)]
struct Step {
    name: String,
    op_type: String,
    op: Box<dyn Op>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    /// Slots read for the last time by this step.
    frees: Vec<usize>,
}

/// `e`, from the node `name` of operator `op`.
fn in_node(name: &str, op: &str, e: ModelError) -> ModelError {
    ModelError::Node {
        name: name.to_string(),
        op: op.to_string(),
        source: Box::new(e),
    }
}

/// A graph chime evaluates itself (see the module's documentation).
#[derive(Debug)]
pub struct Graph {
    /// The inputs a caller feeds, in order.
    pub inputs: Vec<Port>,
    /// The graph's outputs, in order.
    pub outputs: Vec<Port>,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
    consts: Vec<(usize, Shared)>,
    steps: Vec<Step>,
    slots: usize,
}

impl Graph {
    /// Builds every node's operator (checking its attributes) and orders
    /// the nodes. Fails naming the first node chime cannot run.
    pub fn load(model: &Model) -> Result<Graph, ModelError> {
        let opsets: HashMap<String, i64> = model
            .proto
            .opset_import
            .iter()
            .map(|o| {
                let d = if o.domain == "ai.onnx" {
                    ""
                } else {
                    o.domain.as_str()
                };
                (d.to_string(), o.version)
            })
            .collect();
        Graph::of(model.graph(), &opsets, model.inputs(), model.outputs(), 0)
    }

    /// Builds a graph (the model's, or a subgraph such as Scan's body),
    /// fed `inputs`.
    fn of(
        g: &super::proto::GraphProto,
        opsets: &HashMap<String, i64>,
        inputs: Vec<Port>,
        outputs: Vec<Port>,
        depth: usize,
    ) -> Result<Graph, ModelError> {
        if depth > 8 {
            return Err(ModelError::TooDeep);
        }
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let slot = |name: &str, slot_of: &mut HashMap<String, usize>| -> usize {
            let n = slot_of.len();
            *slot_of.entry(name.to_string()).or_insert(n)
        };
        let mut consts = Vec::new();
        for t in &g.initializer {
            let v = ops::tensor_of(t).map_err(|e| ModelError::Initializer {
                name: t.name.clone(),
                source: Box::new(e),
            })?;
            consts.push((slot(&t.name, &mut slot_of), Arc::new(Value::T(v))));
        }
        let input_slots: Vec<usize> = inputs.iter().map(|p| slot(&p.name, &mut slot_of)).collect();
        // Kahn's order: a node is ready when every value it reads is, each
        // node and value handled once.
        let mut ready: std::collections::HashSet<&str> =
            g.initializer.iter().map(|t| t.name.as_str()).collect();
        ready.extend(inputs.iter().map(|p| p.name.as_str()));
        ready.insert("");
        let mut waiting: Vec<usize> = g
            .node
            .iter()
            .map(|n| {
                n.input
                    .iter()
                    .filter(|x| !ready.contains(x.as_str()))
                    .count()
            })
            .collect();
        let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in g.node.iter().enumerate() {
            for x in &n.input {
                if !ready.contains(x.as_str()) {
                    readers.entry(x.as_str()).or_default().push(i);
                }
            }
        }
        let mut queue: std::collections::VecDeque<usize> =
            (0..g.node.len()).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::with_capacity(g.node.len());
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for o in &g.node[i].output {
                if !ready.insert(o.as_str()) {
                    continue;
                }
                for &r in readers.get(o.as_str()).into_iter().flatten() {
                    waiting[r] -= 1;
                    if waiting[r] == 0 {
                        queue.push_back(r);
                    }
                }
            }
        }
        if order.len() < g.node.len() {
            let stuck = (0..g.node.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
            let n = &g.node[stuck];
            let missing = n
                .input
                .iter()
                .find(|x| !ready.contains(x.as_str()))
                .cloned()
                .unwrap_or_default();
            return Err(ModelError::Unresolved {
                node: n.name.clone(),
                op: n.op_type.clone(),
                value: missing,
            });
        }
        let mut steps = Vec::with_capacity(order.len());
        for i in order {
            let n = &g.node[i];
            let domain = if n.domain == "ai.onnx" {
                ""
            } else {
                n.domain.as_str()
            };
            let opset = opsets.get(domain).copied().unwrap_or(1);
            let op = if domain.is_empty() && n.op_type == "Scan" {
                Scan::build(n, opsets, depth).map(|s| Some(Box::new(s) as Box<dyn Op>))
            } else {
                ops::build(n, opset)
            };
            let op = op
                .map_err(|e| in_node(&n.name, &n.op_type, e))?
                .ok_or_else(|| ModelError::Unsupported {
                    node: n.name.clone(),
                    op: n.op_type.clone(),
                    domain: if domain.is_empty() { "ai.onnx" } else { domain }.to_string(),
                })?;
            let inputs = n
                .input
                .iter()
                .map(|x| (!x.is_empty()).then(|| slot(x, &mut slot_of)))
                .collect();
            let outputs = n
                .output
                .iter()
                .map(|x| (!x.is_empty()).then(|| slot(x, &mut slot_of)))
                .collect();
            steps.push(Step {
                name: n.name.clone(),
                op_type: n.op_type.clone(),
                op,
                inputs,
                outputs,
                frees: Vec::new(),
            });
        }
        let mut output_slots = Vec::with_capacity(outputs.len());
        for p in &outputs {
            output_slots.push(*slot_of.get(&p.name).ok_or_else(|| ModelError::NoProducer {
                output: p.name.clone(),
            })?);
        }
        // Drop each computed value after its last reader (never constants
        // or outputs).
        let keep: std::collections::HashSet<usize> = consts
            .iter()
            .map(|(s, _)| *s)
            .chain(output_slots.iter().copied())
            .collect();
        let mut last: HashMap<usize, usize> = HashMap::new();
        for (k, s) in steps.iter().enumerate() {
            for &x in s.inputs.iter().flatten() {
                last.insert(x, k);
            }
        }
        for (x, k) in last {
            if !keep.contains(&x) {
                steps[k].frees.push(x);
            }
        }
        Ok(Graph {
            inputs,
            outputs,
            input_slots,
            output_slots,
            consts,
            steps,
            slots: slot_of.len(),
        })
    }

    /// Runs the graph on one value per input (in [`Graph::inputs`]'
    /// order) and returns the outputs in order.
    pub fn run(&self, feeds: Vec<Value>) -> Result<Vec<Shared>, ModelError> {
        if feeds.len() != self.input_slots.len() {
            return Err(ModelError::InputCount {
                takes: self.input_slots.len(),
                given: feeds.len(),
            });
        }
        let mut env: Vec<Option<Shared>> = vec![None; self.slots];
        for (s, v) in &self.consts {
            env[*s] = Some(v.clone());
        }
        for (&s, v) in self.input_slots.iter().zip(feeds) {
            env[s] = Some(Arc::new(v));
        }
        for step in &self.steps {
            let args: Vec<Option<&Value>> = step
                .inputs
                .iter()
                .map(|s| s.and_then(|s| env[s].as_deref()))
                .collect();
            let out = step
                .op
                .run(&args)
                .map_err(|e| in_node(&step.name, &step.op_type, e))?;
            for s in &step.frees {
                env[*s] = None;
            }
            for (s, v) in step.outputs.iter().zip(out) {
                if let Some(s) = s {
                    env[*s] = Some(Arc::new(v));
                }
            }
        }
        self.output_slots
            .iter()
            .zip(&self.outputs)
            .map(|(&s, p)| {
                env[s].clone().ok_or_else(|| ModelError::NotComputed {
                    output: p.name.clone(),
                })
            })
            .collect()
    }
}

/// What a graph output is, for naming its columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A classifier's predicted class.
    Label,
    /// A classifier's per-class scores, classes in order.
    Scores(Vec<String>),
    Other,
}

/// The operators that pass a value through without changing what it is
/// (its rows and columns keep their meaning).
const PASS_THROUGH: &[&str] = &[
    "Identity",
    "Cast",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Normalizer",
];

/// What each of the model's outputs is: a classifier's label or its
/// probabilities, traced back through pass-through operators to the
/// classifier node (LinearClassifier, TreeEnsembleClassifier,
/// SVMClassifier) or, for graphs made of standard operators (MLP, SGD),
/// to the ArrayFeatureExtractor that picks the label from the classes.
pub fn roles(model: &Model) -> Vec<Role> {
    let g = model.graph();
    let producer: HashMap<&str, (usize, usize)> = g
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            n.output
                .iter()
                .enumerate()
                .map(move |(k, o)| (o.as_str(), (i, k)))
        })
        .collect();
    let consts: HashMap<&str, &super::proto::TensorProto> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let classes_of = |n: &super::proto::NodeProto| -> Vec<String> {
        let a = ops::Attrs(n);
        let (ints, strings) = match n.op_type.as_str() {
            "TreeEnsembleClassifier" => ("classlabels_int64s", "classlabels_strings"),
            _ => ("classlabels_ints", "classlabels_strings"),
        };
        match ops::Labels::from_attrs(&a, ints, strings) {
            Ok(ops::Labels::Str(v)) => v,
            Ok(ops::Labels::I64(v)) => v.iter().map(i64::to_string).collect(),
            Err(_) => Vec::new(),
        }
    };
    let mut out: Vec<Role> = Vec::new();
    let mut classes: Option<Vec<String>> = None;
    for o in &g.output {
        let role = match trace(g, &producer, &o.name) {
            Some((i, k)) => {
                let n = &g.node[i];
                match (n.op_type.as_str(), k) {
                    ("LinearClassifier" | "TreeEnsembleClassifier" | "SVMClassifier", 0) => {
                        classes = Some(classes_of(n));
                        Role::Label
                    }
                    ("LinearClassifier" | "TreeEnsembleClassifier" | "SVMClassifier", 1) => {
                        let c = classes_of(n);
                        classes = Some(c.clone());
                        Role::Scores(c)
                    }
                    ("ArrayFeatureExtractor", 0) => {
                        // The label picked from a constant list of classes.
                        match n.input.first().and_then(|c| consts.get(c.as_str())) {
                            Some(t) if t.dims.len() <= 1 => {
                                if let Ok(t) = ops::tensor_of(t) {
                                    classes = Some(t.to_str().data);
                                }
                                Role::Label
                            }
                            _ => Role::Other,
                        }
                    }
                    _ => Role::Other,
                }
            }
            None => Role::Other,
        };
        out.push(role);
    }
    // Standard-operator classifiers: the other float output with one
    // column per class holds the probabilities.
    if let Some(classes) = classes
        && out.iter().filter(|r| **r == Role::Label).count() == 1
    {
        for (r, o) in out.iter_mut().zip(&g.output) {
            if *r == Role::Other
                && let Some(super::proto::type_proto::Value::TensorType(t)) =
                    o.r#type.as_ref().and_then(|t| t.value.as_ref())
                && t.elem_type == 1
            {
                let dims = t.shape.as_ref().map(|s| s.dim.len()).unwrap_or(0);
                if dims == 2 {
                    *r = Role::Scores(classes.clone());
                }
            }
        }
    }
    out
}

/// Follows `name` back through pass-through operators to the node (and
/// its output) that gives it its meaning.
fn trace(
    g: &super::proto::GraphProto,
    producer: &HashMap<&str, (usize, usize)>,
    name: &str,
) -> Option<(usize, usize)> {
    let mut name = name.to_string();
    for _ in 0..64 {
        let &(i, k) = producer.get(name.as_str())?;
        let n = &g.node[i];
        if PASS_THROUGH.contains(&n.op_type.as_str()) && k == 0 {
            name = n.input.first()?.clone();
            continue;
        }
        return Some((i, k));
    }
    None
}

/// Scan (ai.onnx 9+): runs its body once per slice of the scan inputs
/// along their first axis, carrying state values from one iteration to
/// the next, and stacks each iteration's scan outputs along a new first
/// axis. (skl2onnx's k-nearest-neighbours compute their distances so.)
#[derive(Debug)]
struct Scan {
    body: Graph,
    states: usize,
    scans: usize,
}

impl Scan {
    fn build(
        n: &super::proto::NodeProto,
        opsets: &HashMap<String, i64>,
        depth: usize,
    ) -> Result<Scan, ModelError> {
        let a = ops::Attrs(n);
        let scans = usize::try_from(a.int("num_scan_inputs", 0)).unwrap_or(0);
        for name in [
            "scan_input_axes",
            "scan_output_axes",
            "scan_input_directions",
            "scan_output_directions",
        ] {
            if a.ints(name).iter().any(|&v| v != 0) {
                return Err(format!("Scan with `{name}` other than 0 is not supported").into());
            }
        }
        let body = n
            .attribute
            .iter()
            .find(|x| x.name == "body")
            .and_then(|x| x.g.as_deref())
            .ok_or("Scan has no body")?;
        let states = body
            .input
            .len()
            .checked_sub(scans)
            .ok_or("Scan's body has fewer inputs than num_scan_inputs")?;
        let model = Model {
            proto: super::proto::ModelProto {
                graph: Some(body.clone()),
                ..Default::default()
            },
        };
        let body = Graph::of(body, opsets, model.inputs(), model.outputs(), depth + 1)
            .map_err(|e| ModelError::ScanBody(Box::new(e)))?;
        if body.outputs.len() < states {
            return Err(format!(
                "Scan's body gives {} outputs for {states} state variables",
                body.outputs.len()
            )
            .into());
        }
        Ok(Scan {
            body,
            states,
            scans,
        })
    }
}

/// Slice `t` of a tensor along its first axis.
fn slice0(t: &super::value::Tensor, i: usize) -> Result<super::value::Tensor, ModelError> {
    use super::value::{Arr, map_arr};
    fn take<T: Clone>(a: &Arr<T>, i: usize) -> Result<Arr<T>, ModelError> {
        let inner: usize = a.shape[1..].iter().product();
        Arr::new(
            a.shape[1..].to_vec(),
            a.data[i * inner..(i + 1) * inner].to_vec(),
        )
    }
    Ok(map_arr!(t, a => take(a, i)?))
}

/// Stacks same-shaped tensors along a new first axis.
fn stack(parts: &[super::value::Tensor]) -> Result<super::value::Tensor, ModelError> {
    use super::value::{Arr, Tensor};
    let first = parts.first().ok_or("Scan ran no iteration")?;
    let mut shape = vec![parts.len()];
    shape.extend_from_slice(first.shape());
    macro_rules! cat {
        ($v:ident) => {{
            let mut data = Vec::with_capacity(parts.len() * first.len());
            for p in parts {
                match p {
                    Tensor::$v(a) if a.shape == first.shape() => data.extend_from_slice(&a.data),
                    _ => {
                        return Err(
                            "Scan's iterations give outputs of different shapes or types".into(),
                        );
                    }
                }
            }
            Tensor::$v(Arr::new(shape, data)?)
        }};
    }
    Ok(match first {
        Tensor::F32(_) => cat!(F32),
        Tensor::F64(_) => cat!(F64),
        Tensor::I64(_) => cat!(I64),
        Tensor::Str(_) => cat!(Str),
        Tensor::Bool(_) => cat!(Bool),
    })
}

impl Op for Scan {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let mut states: Vec<Value> = (0..self.states)
            .map(|i| ops::tensor_in(inputs, i, "Scan").map(|t| Value::T(t.clone())))
            .collect::<Result<_, _>>()?;
        let scans: Vec<&super::value::Tensor> = (0..self.scans)
            .map(|i| ops::tensor_in(inputs, self.states + i, "Scan"))
            .collect::<Result<_, _>>()?;
        let steps = scans
            .first()
            .and_then(|t| t.shape().first().copied())
            .unwrap_or(0);
        if scans.iter().any(|t| t.shape().first() != Some(&steps)) {
            return Err("Scan's inputs differ in length".into());
        }
        let n_out = self.body.outputs.len().saturating_sub(self.states);
        let mut collected: Vec<Vec<super::value::Tensor>> = vec![Vec::with_capacity(steps); n_out];
        for i in 0..steps {
            let mut feeds = states.clone();
            for t in &scans {
                feeds.push(Value::T(slice0(t, i)?));
            }
            let outs = self.body.run(feeds)?;
            states = outs[..self.states].iter().map(|v| (**v).clone()).collect();
            for (k, v) in outs[self.states..].iter().enumerate() {
                match &**v {
                    Value::T(t) => collected[k].push(t.clone()),
                    Value::Maps { .. } => return Err("Scan's body gives maps".into()),
                }
            }
        }
        let mut out = states;
        for c in collected {
            out.push(Value::T(stack(&c)?));
        }
        Ok(out)
    }
}

/// Each output's values per row (and ZipMap's classes), as the graph
/// declares them, when every one is known: a rank-1 output has one value
/// per row, a rank-2 output as many as its second dimension; ZipMap's
/// maps have one per class.
pub fn declared_widths(model: &Model) -> Option<Vec<(usize, Option<super::value::Keys>)>> {
    let g = model.graph();
    let outputs = model.outputs();
    let mut out = Vec::with_capacity(outputs.len());
    for p in &outputs {
        let zipmap = g
            .node
            .iter()
            .find(|n| n.op_type == "ZipMap" && n.output.first() == Some(&p.name));
        if let Some(n) = zipmap {
            let keys = match ops::Labels::from_attrs(
                &ops::Attrs(n),
                "classlabels_int64s",
                "classlabels_strings",
            )
            .ok()?
            {
                ops::Labels::I64(k) => super::value::Keys::I64(k),
                ops::Labels::Str(k) => super::value::Keys::Str(k),
            };
            out.push((keys.len(), Some(keys)));
            continue;
        }
        let width = match p.dims.as_slice() {
            [_] => 1,
            [_, Some(w)] => usize::try_from(*w).ok()?,
            _ => return None,
        };
        out.push((width, None));
    }
    Some(out)
}
