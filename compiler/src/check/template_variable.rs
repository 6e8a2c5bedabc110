//! E041 undefined-template-variable: a template names a variable the run's
//! context will not have (docs/pipeline-yaml.md, "Templates"): an unknown name, a param not declared
//! under `params:`, `item` outside a `for_each` task, `tasks.X` where X is
//! not a task, or `tasks.X.<not output>`.

use runtime::vocabulary::{RUN_VARIABLES, TEMPLATE_VARIABLES};

use super::template_reference::{Reference, Scope};
use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::locate::locate;

/// MiniJinja's global functions.
const GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

/// Returns true when the reference is well-formed and names a task that
/// exists, so the upstream check can run on it.
pub fn check(ctx: &Analysis<'_>, r: &Reference<'_>, diags: &mut Diagnostics) -> bool {
    let mut parts = r.path.split('.');
    let head = parts.next().unwrap_or_default();
    let second = parts.next();
    let problem: Option<(String, Option<String>, &str)> = match head {
        _ if RUN_VARIABLES.contains(&head) || head == "env" => None,
        _ if GLOBALS.contains(&head) => None,
        "params" => match second {
            None => None,
            Some(name)
                if ctx
                    .pipeline
                    .params
                    .iter()
                    .any(|e| e.key.as_str() == Some(name)) =>
            {
                None
            }
            Some(name) => {
                let names = ctx.pipeline.params.iter().filter_map(|e| e.key.as_str());
                let help = did_you_mean(name, names)
                    .unwrap_or_else(|| format!("declare it under `params:` with a default, e.g. `params: {{ {name}: ... }}`"));
                Some((
                    format!("template uses `params.{name}`, which is not declared under `params:`"),
                    Some(help),
                    name,
                ))
            }
        },
        "item" => match r.scope {
            // The list of a dynamic `for_each` is evaluated before any item.
            Scope::Task(t)
                if ctx.pipeline.tasks[t]
                    .expand
                    .is_some_and(|e| std::ptr::eq(e, r.node)) =>
            {
                Some((
                    "`item` is not defined in the list of a `for_each`: the items come from it"
                        .into(),
                    Some(
                        "read the list from an upstream's output: {{ tasks.ID.output... }}".into(),
                    ),
                    "item",
                ))
            }
            Scope::Task(t)
                if ctx.pipeline.tasks[t].for_each.is_some()
                    || ctx.pipeline.tasks[t].expand.is_some() =>
            {
                None
            }
            _ => Some((
                "`item` is only defined in a task with `for_each`".into(),
                Some("add `for_each: [...]` to the task, or remove `{{ item }}`".into()),
                "item",
            )),
        },
        "tasks" => return check_task_ref(ctx, r, second, parts.next(), diags),
        _ => {
            let help =
                did_you_mean(head, TEMPLATE_VARIABLES.iter().copied()).unwrap_or_else(|| {
                    format!(
                        "templates can use {}, params.NAME, tasks.ID.output, env.NAME and item",
                        RUN_VARIABLES.join(", ")
                    )
                });
            Some((
                format!("template uses undefined variable `{head}`"),
                Some(help),
                head,
            ))
        }
    };
    if let Some((message, help, needle)) = problem {
        report(ctx, r, message, help, needle, diags);
    }
    false
}

fn check_task_ref(
    ctx: &Analysis<'_>,
    r: &Reference<'_>,
    id: Option<&str>,
    attr: Option<&str>,
    diags: &mut Diagnostics,
) -> bool {
    if matches!(r.scope, Scope::Connection) {
        report(ctx, r, "connections cannot read task outputs".into(), Some("connections are rendered before any task runs; move the value into the task's `with:`".into()), "tasks", diags);
        return false;
    }
    let Some(id) = id else {
        report(
            ctx,
            r,
            "`tasks` is read as `tasks.ID.output`".into(),
            Some("name the task whose output you need".into()),
            "tasks",
            diags,
        );
        return false;
    };
    if ctx.pipeline.task(id).is_none() {
        let help = did_you_mean(id, ctx.pipeline.tasks.iter().map(|t| t.id));
        report(
            ctx,
            r,
            format!("template reads `tasks.{id}`, but there is no task `{id}`"),
            help,
            id,
            diags,
        );
        return false;
    }
    match attr {
        Some("output") => true,
        None => {
            report(
                ctx,
                r,
                format!("read a task's result as `tasks.{id}.output`"),
                Some(format!("write `tasks.{id}.output`")),
                id,
                diags,
            );
            false
        }
        Some(other) => {
            report(
                ctx,
                r,
                format!("tasks have no `{other}`: only `tasks.{id}.output`"),
                Some(format!("write `tasks.{id}.output`")),
                other,
                diags,
            );
            false
        }
    }
}

fn report(
    ctx: &Analysis<'_>,
    r: &Reference<'_>,
    message: String,
    help: Option<String>,
    needle: &str,
    diags: &mut Diagnostics,
) {
    let span = find(r, needle).map_or(r.node.span, |range| locate(&ctx.source.text, r.node, range));
    diags.push(
        Diagnostic::new(Code::E041, span, message)
            .label("undefined when the task runs")
            .help_opt(help),
    );
}

/// Where `needle` first appears inside `{{ ... }}` or `{% ... %}` in the template.
pub fn find(r: &Reference<'_>, needle: &str) -> Option<std::ops::Range<usize>> {
    let text = r.node.as_str()?;
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        let close = text[open..].find('}').map_or(text.len(), |i| open + i);
        let inside = &text[open..close];
        let mut search = 0;
        while let Some(at) = inside[search..].find(needle).map(|i| search + i) {
            let before = inside[..at].chars().next_back();
            let after = inside[at + needle.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !word(before) && !word(after) {
                return Some(open + at..open + at + needle.len());
            }
            search = at + needle.len();
        }
        from = close.max(open + 1);
        if from >= text.len() {
            break;
        }
    }
    None
}
