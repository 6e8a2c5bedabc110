//! E049 bad-for-each: a dynamic `for_each` (a string) that cannot work:
//! - not one `{{ expression }}`;
//! - an expression that reads no upstream's output (`{{ [1, 2] }}`): the
//!   list is known when the pipeline is written, so it is a literal list;
//! - `instance_key` not one `{{ expression }}`;
//! - `instance_key` or `max_instances` without a dynamic `for_each`;
//! - `max_instances` over [`MAX_INSTANCES`].
//!
//! The expressions themselves are checked as templates (E040-E042).

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::Node;
use runtime::vocabulary::condition_expression;

/// The most instances one dynamic `for_each` may make.
pub const MAX_INSTANCES: i64 = 100_000;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for task in &ctx.pipeline.tasks {
        let mut report = |node: &Node, message: String, label: &str, help: String| {
            diags.push(
                Diagnostic::new(Code::E049, node.span, message)
                    .label(label)
                    .help(help),
            );
        };
        if let Some(node) = task.expand
            && let Some(text) = node.as_str()
        {
            match condition_expression(text) {
                None => report(
                    node,
                    format!("`for_each` of task `{}` is neither a list nor one `{{{{ expression }}}}`", task.id),
                    "a list, or one expression giving a list",
                    "write a list, for_each: [a, b], or read it from an upstream's output: for_each: \"{{ tasks.list_days.output.days }}\"".into(),
                ),
                Some(expr) if !reads_an_output(expr) => report(
                    node,
                    format!("`for_each` of task `{}` reads no upstream's output", task.id),
                    "known before the run: not dynamic",
                    "write the list itself, for_each: [a, b], or read it from an upstream's output: {{ tasks.ID.output... }}".into(),
                ),
                Some(_) => {}
            }
        }
        let dynamic = task.expand.is_some();
        for (key, node) in [
            ("instance_key", task.instance_key),
            ("max_instances", task.max_instances),
        ] {
            if let Some(node) = node
                && !dynamic
            {
                report(
                    node,
                    format!(
                        "`{key}` in task `{}`, which has no dynamic `for_each`",
                        task.id
                    ),
                    "only for instances made at run time",
                    "remove it, or give the task `for_each: \"{{ tasks.ID.output... }}\"`".into(),
                );
            }
        }
        if let Some(node) = task.instance_key
            && let Some(text) = node.as_str()
            && condition_expression(text).is_none()
        {
            report(
                node,
                format!(
                    "`instance_key` of task `{}` is not one `{{{{ expression }}}}`",
                    task.id
                ),
                "one expression over `item`",
                "write, for instance, instance_key: \"{{ item.name }}\"".into(),
            );
        }
        if let Some(node) = task.max_instances
            && let crate::syntax::Value::Int(n) = node.value
            && n > MAX_INSTANCES
        {
            report(
                node,
                format!(
                    "`max_instances: {n}` in task `{}` is over the limit of {MAX_INSTANCES}",
                    task.id
                ),
                "too many",
                "fan out over fewer items, or group items into batches".into(),
            );
        }
    }
}

/// Whether `expression` reads `tasks.ID.output`: a dynamic list comes
/// from an upstream (E042 checks that it is one).
fn reads_an_output(expression: &str) -> bool {
    let env = minijinja::Environment::new();
    let Ok(e) = env.compile_expression(expression) else {
        // A syntax error is E040's.
        return true;
    };
    e.undeclared_variables(true)
        .iter()
        .any(|v| v.starts_with("tasks.") && v.split('.').nth(2) == Some("output"))
}
