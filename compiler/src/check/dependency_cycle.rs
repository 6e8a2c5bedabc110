//! E012 dependency-cycle: tasks that depend on each other in a ring.
//!
//! Strongly connected components come from petgraph's `kosaraju_scc`, which
//! is iterative (the recursive `tarjan_scc` overflowed the stack on a
//! 100k-task ring). Inside each component a breadth-first search from its
//! earliest task (in file order) finds the shortest ring through it, which
//! is reported as `a -> b -> c -> a`, where `a -> b` means `b` depends on
//! `a`. Not searched while any dependency is unresolved (E011).

use petgraph::graph::{DiGraph, NodeIndex};

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    if ctx.graph.unresolved {
        return;
    }
    let p = &ctx.pipeline;
    let n = p.tasks.len();
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(n, n);
    for _ in 0..n {
        g.add_node(());
    }
    for (t, ups) in ctx.graph.upstream.iter().enumerate() {
        for &u in ups {
            g.add_edge(NodeIndex::new(u), NodeIndex::new(t), ());
        }
    }
    let mut in_component = vec![usize::MAX; n];
    let mut rings: Vec<Vec<usize>> = Vec::new();
    for (c, component) in petgraph::algo::kosaraju_scc(&g).into_iter().enumerate() {
        let self_loop = component.len() == 1
            && ctx.graph.upstream[component[0].index()].contains(&component[0].index());
        if component.len() < 2 && !self_loop {
            continue;
        }
        for node in &component {
            in_component[node.index()] = c;
        }
        // Tasks are numbered in file order, so the smallest index is the earliest.
        let start = component
            .iter()
            .map(|n| n.index())
            .min()
            .unwrap_or_default();
        rings.push(shortest_ring(ctx, start, &in_component));
    }
    rings.sort();
    for ring in rings {
        report(ctx, &ring, diags);
    }
}

/// The shortest path `start -> ... -> start` along downstream edges, within
/// `start`'s component. Neighbours are visited in file order, so the
/// result is stable.
fn shortest_ring(ctx: &Analysis<'_>, start: usize, component: &[usize]) -> Vec<usize> {
    let c = component[start];
    let mut parent = vec![usize::MAX; component.len()];
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(t) = queue.pop_front() {
        for &d in &ctx.graph.downstream[t] {
            if d == start {
                // Walk the parents back to `start`, then read it forwards.
                let mut ring = vec![t];
                while *ring.last().unwrap_or(&start) != start {
                    let at = ring[ring.len() - 1];
                    ring.push(parent[at]);
                }
                ring.reverse();
                ring.push(start);
                return ring;
            }
            if component[d] == c && parent[d] == usize::MAX {
                parent[d] = t;
                queue.push_back(d);
            }
        }
    }
    vec![start, start]
}

/// Rings longer than this are shown as their start and end around `...`.
const SHOWN: usize = 12;

fn report(ctx: &Analysis<'_>, ring: &[usize], diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    let names: Vec<&str> = ring.iter().map(|&t| p.tasks[t].id).collect();
    let path = if names.len() <= SHOWN {
        names.join(" -> ")
    } else {
        let (head, tail) = (&names[..SHOWN / 2], &names[names.len() - SHOWN / 2..]);
        format!(
            "{} -> ... -> {} ({} tasks)",
            head.join(" -> "),
            tail.join(" -> "),
            names.len() - 1
        )
    };
    // The `depends_on` entry of `down` that names `up`.
    let edge = |up: usize, down: usize| {
        p.tasks[down]
            .depends_on
            .iter()
            .find(|d| d.as_str() == Some(p.tasks[up].id))
            .map(|d| d.span)
    };
    let first = edge(ring[0], ring[1]).unwrap_or(p.tasks[ring[1]].key.span);
    let mut d = Diagnostic::new(Code::E012, first, format!("dependency cycle: {path}"))
        .label(format!("`{}` depends on `{}`", names[1], names[0]));
    for w in 1..(ring.len() - 1).min(SHOWN) {
        if let Some(span) = edge(ring[w], ring[w + 1]) {
            d = d.secondary(
                span,
                format!("`{}` depends on `{}`", names[w + 1], names[w]),
            );
        }
    }
    diags.push(d.help("a pipeline is a DAG: remove one of these dependencies to break the cycle"));
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::{Code, Diagnostics};
    use crate::source::SourceFile;

    /// A 100,000-task ring: found without deep recursion, reported briefly.
    #[test]
    fn a_huge_ring_does_not_overflow_the_stack() {
        let n = 100_000;
        let mut text = String::from("pipeline: ring\ntasks:\n");
        for i in 0..n {
            let dep = (i + n - 1) % n;
            text += &format!("  t{i}: {{ operator: noop, depends_on: [t{dep}] }}\n");
        }
        let file = SourceFile::new("ring.yaml".into(), text);
        let mut diags = Diagnostics::default();
        crate::check::check_file(0, &file, &mut diags);
        let diags = diags.into_sorted();
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::E012);
        assert!(diags[0].message.len() < 200, "the message stays short");
        assert_eq!(
            diags[0].message,
            "dependency cycle: t0 -> t1 -> t2 -> t3 -> t4 -> t5 -> ... -> t99995 -> t99996 -> t99997 -> t99998 -> t99999 -> t0 (100000 tasks)"
        );
    }
}
