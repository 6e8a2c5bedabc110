//! E011 unknown-dependency: `depends_on` names a task that does not exist.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    for task in &p.tasks {
        for dep in &task.depends_on {
            let Some(name) = dep.as_str() else { continue };
            if p.task_index.contains_key(name) {
                continue;
            }
            let help = did_you_mean(
                name,
                p.tasks.iter().map(|t| t.id).filter(|id| *id != task.id),
            );
            diags.push(
                Diagnostic::new(
                    Code::E011,
                    dep.span,
                    format!(
                        "task `{}` depends on `{name}`, which is not a task",
                        task.id
                    ),
                )
                .label("no task has this id")
                .help_opt(help),
            );
        }
    }
}
