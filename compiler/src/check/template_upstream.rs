//! E042 template-reads-non-upstream: `tasks.X.output` in a task's template
//! where X is not an ancestor of the task. At run time X may not have run
//! yet (or ever), so it is an error, not a warning.
//!
//! References are collected while the templates are walked and answered
//! together at the end, in near-linear time: a reference to a direct
//! upstream (the common case) is accepted at once, one to a task that
//! comes later in topological order is refused at once, and the rest are
//! answered by propagating "is an ancestor" bits for the referenced tasks
//! down the graph once, in topological order, a chunk of
//! [`CHUNK`] referenced tasks at a time (memory: tasks x CHUNK bits). A
//! search from every referencing task up its ancestors was quadratic: a
//! 40,000-task chain whose tasks read the first one took 41 s (debug).
//! Tasks on or after a dependency cycle (E012) are not checked.

use rustc_hash::FxHashMap as HashMap;

use super::template_reference::{Reference, Scope};
use super::template_variable::find;
use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Span;
use crate::syntax::locate::locate;

/// Referenced tasks whose ancestor bits are propagated in one pass.
const CHUNK: usize = 1024;

/// A `tasks.X.output` in task T's template that the graph must confirm.
struct Query {
    task: usize,
    target: usize,
    /// Where `X` is written in the template.
    span: Span,
}

/// Collects the references of a file, then answers them in [`Checker::finish`].
pub struct Checker<'c, 'a> {
    ctx: &'c Analysis<'a>,
    queries: Vec<Query>,
}

impl<'c, 'a> Checker<'c, 'a> {
    pub fn new(ctx: &'c Analysis<'a>) -> Self {
        Checker {
            ctx,
            queries: Vec::new(),
        }
    }

    pub fn check(&mut self, r: &Reference<'_>, diags: &mut Diagnostics) {
        let Scope::Task(t) = r.scope else { return };
        let Some(id) = r.path.split('.').nth(1) else {
            return;
        };
        let Some(&x) = self.ctx.pipeline.task_index.get(id) else {
            return;
        };
        if x != t && self.ctx.graph.upstream[t].contains(&x) {
            return;
        }
        let span = find(r, id).map_or(r.node.span, |range| {
            locate(&self.ctx.source.text, r.node, range)
        });
        let query = Query {
            task: t,
            target: x,
            span,
        };
        if x == t {
            self.report(&query, diags);
        } else {
            self.queries.push(query);
        }
    }

    /// Answers every collected reference; reports those not upstream.
    pub fn finish(self, diags: &mut Diagnostics) {
        if self.queries.is_empty() {
            return;
        }
        let g = &self.ctx.graph;
        let n = g.upstream.len();
        let order = crate::analysis::topological(&g.upstream);
        const UNORDERED: usize = usize::MAX;
        let mut position = vec![UNORDERED; n];
        for (i, &t) in order.iter().enumerate() {
            position[t] = i;
        }
        // Which queries need the propagation; the others are decided here.
        let mut pending: Vec<&Query> = Vec::new();
        let mut not_upstream: Vec<&Query> = Vec::new();
        for q in &self.queries {
            if position[q.task] == UNORDERED {
                continue; // on or after a cycle: E012's
            }
            // Ancestors come first in topological order; a task outside
            // the order is on or after a cycle, so not an ancestor either.
            if position[q.target] == UNORDERED || position[q.target] > position[q.task] {
                not_upstream.push(q);
            } else {
                pending.push(q);
            }
        }
        let mut targets: Vec<usize> = pending.iter().map(|q| q.target).collect();
        targets.sort_unstable();
        targets.dedup();
        let mut bits: Vec<u64> = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::default();
        for chunk in targets.chunks(CHUNK) {
            let words = chunk.len().div_ceil(64);
            index.clear();
            index.extend(chunk.iter().enumerate().map(|(i, &x)| (x, i)));
            bits.clear();
            bits.resize(n * words, 0);
            for &t in &order {
                for &u in &g.upstream[t] {
                    for w in 0..words {
                        bits[t * words + w] |= bits[u * words + w];
                    }
                    if let Some(&i) = index.get(&u) {
                        bits[t * words + i / 64] |= 1 << (i % 64);
                    }
                }
            }
            for q in &pending {
                if let Some(&i) = index.get(&q.target)
                    && bits[q.task * words + i / 64] & (1 << (i % 64)) == 0
                {
                    not_upstream.push(q);
                }
            }
        }
        for q in not_upstream {
            self.report(q, diags);
        }
    }

    fn report(&self, q: &Query, diags: &mut Diagnostics) {
        let p = &self.ctx.pipeline;
        let task = &p.tasks[q.task];
        let id = p.tasks[q.target].id;
        let (message, help) = if q.task == q.target {
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
            Diagnostic::new(Code::E042, q.span, message)
                .label("may not have run when this task starts")
                .help(help),
        );
    }
}
