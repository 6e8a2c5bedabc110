//! W001 unreachable-task: a task connected to no other task, in a pipeline
//! whose graph has several components. Usually a forgotten `depends_on`;
//! a warning, since independent tasks are legal. A pipeline that is a
//! single task, or tasks all connected, gets no warning.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let g = &ctx.graph;
    let n = ctx.pipeline.tasks.len();
    // In a file with errors, a disconnected task is most often a symptom
    // (a misspelt `depends_on` key): stay quiet until the errors are fixed.
    if n < 2 || diags.has_errors_in(ctx.pipeline.file) || components(ctx) < 2 {
        return;
    }
    for (t, task) in ctx.pipeline.tasks.iter().enumerate() {
        // A task whose only edges are to itself is part of a cycle (E012), not this.
        if g.upstream[t].is_empty() && g.downstream[t].is_empty() && task.depends_on.is_empty() {
            diags.push(
                Diagnostic::new(Code::W001, task.key.span, format!("task `{}` is connected to no other task", task.id))
                    .label("no `depends_on`, and nothing depends on it")
                    .help("add a `depends_on` if it should run after another task; leave it if it is independent"),
            );
        }
    }
}

/// Weakly connected components of the dependency graph.
fn components(ctx: &Analysis<'_>) -> usize {
    let g = &ctx.graph;
    let n = ctx.pipeline.tasks.len();
    let mut seen = vec![false; n];
    let mut count = 0;
    for s in 0..n {
        if seen[s] {
            continue;
        }
        count += 1;
        seen[s] = true;
        let mut stack = vec![s];
        while let Some(t) = stack.pop() {
            for &o in g.upstream[t].iter().chain(&g.downstream[t]) {
                if !seen[o] {
                    seen[o] = true;
                    stack.push(o);
                }
            }
        }
    }
    count
}
