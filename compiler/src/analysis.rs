//! A pipeline file analysed once: the document parsed, lowered to a
//! [`Pipeline`], its dependency [`Graph`] resolved and its operator crates
//! read. Produced by checking (`check::analyse`) and consumed by every
//! command after it, so no step of the front end runs twice.

use std::path::Path;

use crate::ast::Pipeline;
use crate::discover::Crates;
use crate::source::{FileId, SourceFile};
use crate::syntax::Node;
use crate::syntax::yaml::{Document, Duplicate};

/// One pipeline file, analysed once: what every check sees and what the
/// commands after checking (`build`, `graph`, `check --next`) consume.
#[derive(Debug)]
pub struct Analysis<'a> {
    pub pipeline: Pipeline<'a>,
    pub source: &'a SourceFile,
    /// The directory of the pipeline file (custom operator paths are relative to it).
    pub dir: &'a Path,
    pub duplicates: &'a [Duplicate],
    pub graph: Graph,
    /// The crates under `operators:`, read from their sources, in order.
    pub custom: Vec<std::sync::Arc<crate::discover::CrateResult>>,
}

impl<'a> Analysis<'a> {
    /// Lowers `root` (the document's top mapping) and reads what it names.
    pub fn new(
        file: FileId,
        source: &'a SourceFile,
        doc: &'a Document,
        root: &'a Node,
        crates: &mut Crates,
    ) -> Analysis<'a> {
        let pipeline = Pipeline::lower(file, root);
        let graph = Graph::build(&pipeline);
        let dir = Path::new(&source.path).parent().unwrap_or(Path::new("."));
        let custom = pipeline
            .operator_crates
            .iter()
            .filter_map(|n| n.as_str())
            .map(|path| crates.read(&dir.join(path)))
            .collect();
        Analysis {
            pipeline,
            source,
            dir,
            duplicates: &doc.duplicates,
            graph,
            custom,
        }
    }
}

impl Analysis<'_> {
    /// Whether every operator crate could be read (else operator names and
    /// parameters are not checked, to avoid a cascade after E050).
    pub fn custom_ok(&self) -> bool {
        self.custom.iter().all(|c| c.is_ok())
    }

    /// Custom operators of every readable crate.
    pub fn custom_operators(&self) -> impl Iterator<Item = &crate::discover::CustomOperator> {
        self.custom
            .iter()
            .filter_map(|c| c.as_ref().as_ref().ok())
            .flat_map(|c| c.operators.iter())
    }

    /// The parameter contract of operator `name`, built-in or custom.
    pub fn operator_params(&self, name: &str) -> Option<&'static runtime::vocabulary::Object> {
        runtime::operators::builtin(name)
            .map(|o| o.params)
            .or_else(|| {
                self.custom_operators()
                    .find(|o| o.name == name)
                    .map(|o| o.params)
            })
    }
}

/// The dependency graph, by index into `pipeline.tasks`.
#[derive(Debug, Default)]
pub struct Graph {
    /// `upstream[t]`: the tasks `t` depends on that exist, in the order written.
    pub upstream: Vec<Vec<usize>>,
    /// `downstream[t]`: the tasks that depend on `t`, in file order.
    pub downstream: Vec<Vec<usize>>,
    /// Some `depends_on` names no task (cycles are then not searched).
    pub unresolved: bool,
}

impl Graph {
    pub fn build(pipeline: &Pipeline<'_>) -> Graph {
        let n = pipeline.tasks.len();
        let mut g = Graph {
            upstream: vec![Vec::new(); n],
            downstream: vec![Vec::new(); n],
            unresolved: false,
        };
        // `added[u] == t`: u is already an upstream of t (a linear scan of
        // `upstream[t]` was quadratic for a task with thousands of deps).
        let mut added = vec![usize::MAX; n];
        for (t, task) in pipeline.tasks.iter().enumerate() {
            for dep in &task.depends_on {
                match dep.as_str().and_then(|d| pipeline.task_index.get(d)) {
                    Some(&u) if added[u] != t => {
                        added[u] = t;
                        g.upstream[t].push(u);
                        g.downstream[u].push(t);
                    }
                    Some(_) => {}
                    None => g.unresolved = true,
                }
            }
        }
        g
    }
}

/// Kahn's algorithm over `upstream` (a task's index -> the tasks it
/// depends on): among ready tasks the earliest in the file goes first, so
/// the order is stable. Tasks on a cycle, or downstream of one, are left
/// out (the IR is built only for pipelines without cycles).
pub fn topological(upstream: &[Vec<usize>]) -> Vec<usize> {
    let n = upstream.len();
    let mut indegree: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut downstream = vec![Vec::new(); n];
    for (t, ups) in upstream.iter().enumerate() {
        for &u in ups {
            downstream[u].push(t);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&t| indegree[t] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(t)) = ready.pop() {
        order.push(t);
        for &d in &downstream[t] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.push(std::cmp::Reverse(d));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahn_is_stable_and_leaves_out_cycles_and_what_follows_them() {
        // 0 -> 1, 2 <-> 3 -> 4, 5 (no deps) ready after 1 by file order
        let up = vec![vec![], vec![0], vec![3], vec![2], vec![3], vec![]];
        assert_eq!(topological(&up), [0, 1, 5]);
        // Among ready tasks the earliest index first: 2 and 1 wait on 0.
        let up = vec![vec![], vec![0], vec![0], vec![]];
        assert_eq!(topological(&up), [0, 1, 2, 3]);
    }
}
