//! Finds every template (each string under `with:`, `connections:`,
//! `on_failure:` and `notify:`, and each `when:`), parses it with MiniJinja and hands what it finds to the
//! three template checks: E040 (syntax), E041 (undefined variable) and E042
//! (`tasks.X.output` of a task that is not upstream).

use minijinja::Environment;

pub use super::template_reference::{Reference, Scope};
use super::{template_syntax, template_upstream, template_variable};
use crate::analysis::Analysis;
use crate::diagnostic::Diagnostics;
use crate::syntax::{Node, Value};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // The runtime's own filters, so that the check's environment is the
    // one the binary renders with.
    for name in runtime::shell_quote::FILTER_NAMES {
        env.add_filter(*name, |v: minijinja::Value| {
            runtime::shell_quote::sh_quote(&v.to_string())
        });
    }
    let p = &ctx.pipeline;
    let mut upstream = template_upstream::Checker::new(ctx);
    let mut visit = |node: &Node, scope: Scope, diags: &mut Diagnostics| {
        let Some(text) = node.as_str() else { return };
        if !(text.contains("{{") || text.contains("{%") || text.contains("{#")) {
            return;
        }
        let template = match env.template_from_str(text) {
            Ok(t) => t,
            Err(err) => return template_syntax::report(ctx, node, &err, diags),
        };
        let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        names.sort();
        for path in &names {
            let r = Reference { path, node, scope };
            if template_variable::check(ctx, &r, diags) {
                upstream.check(&r, diags);
            }
        }
    };
    for (t, task) in p.tasks.iter().enumerate() {
        if let Some(with) = task.with {
            each_string(&with.value, &mut |n| visit(n, Scope::Task(t), diags));
        }
        for node in [task.when, task.expand, task.instance_key]
            .into_iter()
            .flatten()
        {
            visit(node, Scope::Task(t), diags);
        }
    }
    for entry in p.connections.iter().chain(&p.storage) {
        each_string(&entry.value, &mut |n| visit(n, Scope::Connection, diags));
    }
    for action in &p.on_failure {
        if let Some(with) = action.with {
            each_string(&with.value, &mut |n| visit(n, Scope::OnFailure, diags));
        }
    }
    // Notifications render as `on_failure` actions do: every task's output.
    let notifies = p
        .notify
        .iter()
        .chain(p.tasks.iter().flat_map(|t| &t.notify));
    for n in notifies {
        if let Some(channel) = n.channel {
            each_string(&channel.value, &mut |node| {
                visit(node, Scope::OnFailure, diags)
            });
        }
    }
    upstream.finish(diags);
}

/// Calls `f` on every string value in `node`, depth first, in file order.
fn each_string<'a>(node: &'a Node, f: &mut dyn FnMut(&'a Node)) {
    match &node.value {
        Value::Str { .. } => f(node),
        Value::Seq(items) => items.iter().for_each(|n| each_string(n, f)),
        Value::Map(entries) => entries.iter().for_each(|e| each_string(&e.value, f)),
        _ => {}
    }
}
