//! E020 unknown-operator: a task's (or an `on_failure` action's) operator
//! is neither built in nor defined by a crate under `operators:`.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::Node;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    // A crate that could not be read (E050) may hold the operator: no
    // guess about names until it can.
    if !ctx.custom_ok() {
        return;
    }
    let p = &ctx.pipeline;
    let operators = p
        .tasks
        .iter()
        .map(|t| t.operator)
        .chain(p.on_failure.iter().map(|a| a.operator));
    for op in operators.flatten() {
        check(ctx, op, diags);
    }
}

fn check(ctx: &Analysis<'_>, op: &Node, diags: &mut Diagnostics) {
    let Some(name) = op.as_str() else { return };
    if ctx.operator_params(name).is_some() {
        return;
    }
    let builtins: Vec<&str> = runtime::operators::BUILTINS
        .iter()
        .map(|o| o.name)
        .collect();
    let custom: Vec<&str> = ctx.custom_operators().map(|o| o.name.as_str()).collect();
    let note = if ctx.custom.is_empty() {
        format!(
            "built-in operators: {}; custom ones come from crates listed under `operators:`",
            builtins.join(", ")
        )
    } else {
        format!(
            "built-in operators: {}; from `operators:` crates: {}",
            builtins.join(", "),
            custom.join(", ")
        )
    };
    diags.push(
        Diagnostic::new(Code::E020, op.span, format!("unknown operator `{name}`"))
            .label(if ctx.custom.is_empty() {
                "not a built-in operator"
            } else {
                "neither built in nor in the operator crates"
            })
            .help_opt(did_you_mean(
                name,
                builtins.iter().copied().chain(custom.iter().copied()),
            ))
            .note(note),
    );
}
