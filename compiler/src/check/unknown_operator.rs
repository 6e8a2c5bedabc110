//! E020 unknown-operator: a task's (or an `on_failure` action's) operator
//! is neither built in nor, when the pipeline names operator crates, one of
//! theirs.

use super::Ctx;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::Node;

pub fn run(ctx: &Ctx<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    // Custom operators are discovered from their crates' sources by the
    // custom-operator check; until then, a pipeline that names crates may
    // use operators not known here.
    if !p.operator_crates.is_empty() {
        return;
    }
    let operators = p
        .tasks
        .iter()
        .map(|t| t.operator)
        .chain(p.on_failure.iter().map(|a| a.operator));
    for op in operators.flatten() {
        check(op, diags);
    }
}

fn check(op: &Node, diags: &mut Diagnostics) {
    let Some(name) = op.as_str() else { return };
    if runtime::operators::builtin(name).is_some() {
        return;
    }
    let builtins = runtime::operators::BUILTINS.iter().map(|o| o.name);
    let list: Vec<_> = builtins.clone().collect();
    diags.push(
        Diagnostic::new(Code::E020, op.span, format!("unknown operator `{name}`"))
            .label("not a built-in operator")
            .help_opt(did_you_mean(name, builtins))
            .note(format!(
                "built-in operators: {}; custom ones come from crates listed under `operators:`",
                list.join(", ")
            )),
    );
}
