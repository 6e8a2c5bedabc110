//! A variable a template reads, and where the template is: what the
//! template checks (E040-E042) hand each other.

use crate::syntax::Node;

/// Where a template is, which decides what its context holds (docs/pipeline-yaml.md, "Templates").
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// In a task's `with:`: `tasks.X` for its ancestors, `item` with `for_each`.
    Task(usize),
    /// In `connections:`: no `tasks`, no `item`.
    Connection,
    /// In an `on_failure` action: every task's output, no `item`.
    OnFailure,
}

/// One template variable reference, as MiniJinja reports it: a dotted path
/// (`params.model_path`, `tasks.extract.output`).
#[derive(Debug)]
pub struct Reference<'a> {
    pub path: &'a str,
    /// The template's string node.
    pub node: &'a Node,
    pub scope: Scope,
}
