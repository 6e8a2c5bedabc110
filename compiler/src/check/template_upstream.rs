//! E042 template-reads-non-upstream: `tasks.X.output` in a task's template
//! where X is not an ancestor of the task. At run time X may not have run
//! yet (or ever), so it is an error, not a warning.

use super::Ctx;
use super::template::{Reference, Scope};
use super::template_variable::find;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::locate::locate;

/// Reuses one scratch buffer across every ancestor search of a file.
pub struct Checker<'c, 'a> {
    ctx: &'c Ctx<'a>,
    scratch: Vec<u32>,
    stamp: u32,
}

impl<'c, 'a> Checker<'c, 'a> {
    pub fn new(ctx: &'c Ctx<'a>) -> Self {
        Checker {
            ctx,
            scratch: Vec::new(),
            stamp: 0,
        }
    }

    pub fn check(&mut self, r: &Reference<'_>, diags: &mut Diagnostics) {
        let Scope::Task(t) = r.scope else { return };
        let Some(id) = r.path.split('.').nth(1) else {
            return;
        };
        let p = &self.ctx.pipeline;
        let Some(&x) = p.task_index.get(id) else {
            return;
        };
        self.stamp += 1;
        if x != t
            && self
                .ctx
                .graph
                .is_ancestor(x, t, &mut self.scratch, self.stamp)
        {
            return;
        }
        let task = &p.tasks[t];
        let span = find(r, id).map_or(r.node.span, |range| {
            locate(&self.ctx.source.text, r.node, range)
        });
        let (message, help) = if x == t {
            (
                format!("task `{}` reads its own output", task.id),
                "a task's output exists only once it has finished".to_string(),
            )
        } else {
            (
                format!(
                    "task `{}` reads `tasks.{id}.output`, but `{id}` is not upstream of it",
                    task.id
                ),
                format!(
                    "add `{id}` to `depends_on` of `{}` (directly or through another task)",
                    task.id
                ),
            )
        };
        diags.push(
            Diagnostic::new(Code::E042, span, message)
                .label("may not have run when this task starts")
                .help(help),
        );
    }
}
