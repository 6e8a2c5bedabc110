//! E021 missing-operator-param, E022 unknown-operator-param, E023
//! operator-param-type: a task's `with:` checked against its built-in
//! operator's contract (`runtime::operators`), the same table the executor
//! reads.

use super::Ctx;
use super::structure::{self, Walk};
use crate::diagnostic::Diagnostics;
use crate::syntax::{Entry, Node};

pub fn run(ctx: &Ctx<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    for task in &p.tasks {
        check(
            task.operator,
            task.with,
            &format!("task `{}`", task.id),
            diags,
        );
    }
    for (i, action) in p.on_failure.iter().enumerate() {
        check(
            action.operator,
            action.with,
            &format!("on_failure action {}", i + 1),
            diags,
        );
    }
}

fn check(operator: Option<&Node>, with: Option<&Entry>, owner: &str, diags: &mut Diagnostics) {
    let Some(op) = operator else { return };
    let Some(spec) = op.as_str().and_then(runtime::operators::builtin) else {
        return;
    };
    let context = format!("the `{}` parameters of {owner}", spec.name);
    let walk = Walk {
        codes: structure::PARAM_CODES,
        templated: true,
        context: &context,
    };
    match with {
        Some(entry) => {
            structure::check_object(&entry.value, spec.params, entry.key.span, walk, diags)
        }
        None => {
            // No `with:` at all: check an empty mapping, reported on the operator.
            let empty = Node {
                span: op.span,
                value: crate::syntax::Value::Map(Vec::new()),
            };
            structure::check_object(&empty, spec.params, op.span, walk, diags);
        }
    }
}
