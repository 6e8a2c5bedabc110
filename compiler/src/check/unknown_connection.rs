//! E043 unknown-connection: a built-in operator's `connection:` names a
//! connection that `connections:` does not define.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::Node;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    let defined: Vec<&str> = p
        .connections
        .iter()
        .filter_map(|e| e.key.as_str())
        .collect();
    let with_of = p
        .tasks
        .iter()
        .map(|t| (format!("task `{}`", t.id), t.operator, t.with))
        .chain(
            p.on_failure
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("on_failure action {}", i + 1), a.operator, a.with)),
        );
    for (owner, operator, with) in with_of {
        let (Some(op), Some(with)) = (operator.and_then(Node::as_str), with) else {
            continue;
        };
        // Built-in operators whose parameters name connections, at the top
        // of `with:` or inside its `input:`/`output:` mappings.
        if !runtime::operators::builtin(op).is_some_and(|o| o.names_connections) {
            continue;
        }
        let mut names = Vec::new();
        names.extend(with.value.get("connection").map(|e| &e.value));
        for key in ["input", "output"] {
            if let Some(inner) = with.value.get(key) {
                names.extend(inner.value.get("connection").map(|e| &e.value));
            }
        }
        for node in names {
            let Some(name) = node.as_str() else { continue };
            if name.contains("{{") || defined.contains(&name) {
                continue;
            }
            let help = did_you_mean(name, defined.iter().copied()).or_else(|| {
                Some(if defined.is_empty() {
                    format!("define it under `connections:` (for example `{name}: sqlite://data/{name}.db`)")
                } else {
                    format!("the connections are: {}", defined.join(", "))
                })
            });
            diags.push(
                Diagnostic::new(
                    Code::E043,
                    node.span,
                    format!(
                        "{owner} uses the connection `{name}`, which `connections:` does not define"
                    ),
                )
                .label("no such connection")
                .help_opt(help),
            );
        }
    }
}
