//! E060 model-file, E061 model-operator, E062 model-inputs: a `predict`
//! task's literal `model:` path is opened (the protobuf is parsed and, for
//! a graph chime evaluates itself, every node built from its attributes;
//! nothing is run) so that a model that cannot be deployed fails the merge, not
//! the night's run. A relative path is resolved from the pipeline file's
//! directory, where the examples run their binary. A templated path is
//! checked when the task starts, with the same messages.

use runtime::ml::bind::{Features, bind};

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::Node;

/// Model files larger than this are not opened by `chime check` (a
/// neural network's weights; the task checks them when it loads them).
const MAX_CHECKED: u64 = 256 * 1024 * 1024;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for task in &ctx.pipeline.tasks {
        if task.operator.and_then(Node::as_str) != Some("predict") {
            continue;
        }
        let Some(with) = task.with else { continue };
        let Some(model) = with.value.get("model").map(|e| &e.value) else {
            continue;
        };
        let Some(path) = model.as_str() else { continue };
        // A model in object storage is read when the task runs (E044 checks
        // its URL).
        if path.contains("{{") || path.contains("{%") || runtime::object_url::looks_like_url(path) {
            continue;
        }
        let full = ctx.dir.join(path);
        let id = task.id;
        let size = match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => {
                diags.push(
                    Diagnostic::new(
                        Code::E060,
                        model.span,
                        format!("task `{id}`: the model `{path}` is not a file"),
                    )
                    .label("not a file"),
                );
                continue;
            }
            Err(e) => {
                diags.push(
                    Diagnostic::new(
                        Code::E060,
                        model.span,
                        format!("task `{id}`: the model `{path}` cannot be read: {}", io_reason(&e)),
                    )
                    .label("no model here")
                    .note(format!("looked for {}", full.display()))
                    .help("a relative path is resolved from the pipeline file's directory, where the binary runs; commit the model or fix the path"),
                );
                continue;
            }
        };
        if size > MAX_CHECKED {
            continue;
        }
        let parsed = match std::fs::read(&full)
            .map_err(|e| io_reason(&e))
            .and_then(|b| runtime::ml::Model::read(&b).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(e) => {
                diags.push(
                    Diagnostic::new(Code::E060, model.span, format!("task `{id}`: the model `{path}`: {e}"))
                        .label("not an ONNX model")
                        .help("export the model to ONNX (docs/models.md shows how for scikit-learn, XGBoost and LightGBM)"),
                );
                continue;
            }
        };
        let mut seen = std::collections::HashSet::new();
        for m in parsed.missing() {
            if !seen.insert((m.domain.clone(), m.op.clone())) {
                continue;
            }
            diags.push(
                Diagnostic::new(
                    Code::E061,
                    model.span,
                    format!(
                        "task `{id}`: the model `{path}` uses the operator {} ({}), which chime cannot run",
                        m.op, m.domain
                    ),
                )
                .label(format!("node `{}` is {}", m.node, m.op))
                .help("docs/models.md lists the operators chime runs and the converters and options that export models within them"),
            );
        }
        // Every node's attributes, checked as the task will (an unknown
        // mode, a Scan over another axis...): cheap, nothing runs.
        if seen.is_empty()
            && parsed.uses_ml()
            && let Err(e) = runtime::ml::Graph::load(&parsed)
        {
            diags.push(
                Diagnostic::new(
                    Code::E061,
                    model.span,
                    format!("task `{id}`: the model `{path}` cannot run: {e}"),
                )
                .label("this model")
                .help("docs/models.md lists the operators chime runs and the converters and options that export models within them"),
            );
        }
        let Some(features) = with.value.get("features") else {
            continue;
        };
        let Some(features) = literal_features(&features.value) else {
            continue;
        };
        let ports = parsed.inputs();
        if ports.is_empty() {
            continue;
        }
        if let Err(e) = bind(&ports, &features) {
            let inputs: Vec<String> = ports
                .iter()
                .map(|p| {
                    let dims: Vec<String> = p
                        .dims
                        .iter()
                        .map(|d| d.map_or("N".to_string(), |d| d.to_string()))
                        .collect();
                    format!("`{}` {} [{}]", p.name, p.kind, dims.join(", "))
                })
                .collect();
            diags.push(
                Diagnostic::new(
                    Code::E062,
                    with.value
                        .get("features")
                        .map_or(model.span, |e| e.value.span),
                    format!("task `{id}`: `features` does not fit the model `{path}`: {e}"),
                )
                .label("these columns")
                .note(format!("the model's inputs: {}", inputs.join(", "))),
            );
        }
    }
}

/// `features` as written, unless it holds a template (then the task
/// checks it when it starts).
fn literal_features(node: &Node) -> Option<Features> {
    let strings = |n: &Node| -> Option<Vec<String>> {
        n.as_seq()?
            .iter()
            .map(|c| c.as_str().filter(|s| !s.contains("{{")).map(str::to_string))
            .collect()
    };
    if let Some(map) = node.as_map() {
        let mut out = Vec::new();
        for e in map {
            out.push((e.key.as_str()?.to_string(), strings(&e.value)?));
        }
        return Some(Features::Map(out));
    }
    Some(Features::List(strings(node)?))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
