//! E021 missing-operator-param, E022 unknown-operator-param, E023
//! operator-param-type: a task's `with:` checked against its operator's
//! contract: a built-in's (`runtime::operators`, the table the executor
//! reads) or a custom operator's, learned from its crate's sources.

use super::structure::{self, Walk};
use crate::analysis::Analysis;
use crate::diagnostic::Diagnostics;
use crate::syntax::{Entry, Node};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    for task in &p.tasks {
        check(
            ctx,
            task.operator,
            task.with,
            &format!("task `{}`", task.id),
            diags,
        );
    }
    for (i, action) in p.on_failure.iter().enumerate() {
        check(
            ctx,
            action.operator,
            action.with,
            &format!("on_failure action {}", i + 1),
            diags,
        );
    }
}

fn check(
    ctx: &Analysis<'_>,
    operator: Option<&Node>,
    with: Option<&Entry>,
    owner: &str,
    diags: &mut Diagnostics,
) {
    let Some(op) = operator else { return };
    let Some(name) = op.as_str() else { return };
    let Some(params) = ctx.operator_params(name) else {
        return;
    };
    let context = format!("the `{name}` parameters of {owner}");
    let walk = Walk {
        codes: structure::PARAM_CODES,
        templated: true,
        context: &context,
    };
    match with {
        Some(entry) => structure::check_object(&entry.value, params, entry.key.span, walk, diags),
        None => {
            // No `with:` at all: check an empty mapping, reported on the operator.
            let empty = Node {
                span: op.span,
                value: crate::syntax::Value::Map(Vec::new()),
            };
            structure::check_object(&empty, params, op.span, walk, diags);
        }
    }
}
