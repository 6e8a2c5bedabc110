//! E010 duplicate-task: a task id defined twice, and any other key repeated
//! in one mapping (YAML parsers usually keep the last one silently).

use super::Ctx;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Ctx<'_>, diags: &mut Diagnostics) {
    for dup in ctx.duplicates {
        let is_task = ctx
            .pipeline
            .task(&dup.name)
            .is_some_and(|t| t.key.span == dup.first);
        let (message, help) = if is_task {
            (
                format!("duplicate task id `{}`", dup.name),
                "rename one of the two tasks; task ids are unique",
            )
        } else {
            (
                format!("duplicate key `{}`", dup.name),
                "remove one of them; only the first is used",
            )
        };
        diags.push(
            Diagnostic::new(Code::E010, dup.again, message)
                .label("defined again here")
                .secondary(dup.first, "first defined here")
                .help(help),
        );
    }
}
