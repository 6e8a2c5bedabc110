//! E003 wrong-type: a value of the wrong type or malformed (a duration
//! without a unit, a bad id, a negative count, a `for_each` that is not a
//! literal list). Under `with:` the same check is E023.

use runtime::vocabulary::Ty;

use super::walk::Walk;
use crate::analysis::Analysis;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::{Node, Value};

pub fn report(node: &Node, ty: &Ty, name: &str, walk: Walk<'_>, diags: &mut Diagnostics) {
    let expected = ty.describe();
    let found = match node.scalar_text() {
        Some(text) if text.len() <= 40 && !text.contains('\n') => {
            format!("{} `{text}`", node.kind_name())
        }
        _ => node.kind_name().to_string(),
    };
    let mut d = Diagnostic::new(
        walk.codes.wrong_type,
        node.span,
        format!(
            "invalid `{name}` in {}: expected {expected}, found {found}",
            walk.context
        ),
    )
    .label(match ty {
        // The message lists them; the label need not again.
        Ty::Enum(values) if values.len() > 6 => {
            format!("not one of the {} accepted values", values.len())
        }
        _ => format!("expected {expected}"),
    });
    d = d.help_opt(help(node, ty, name));
    diags.push(d);
}

fn help(node: &Node, ty: &Ty, name: &str) -> Option<String> {
    let ty = match ty {
        Ty::Nullable(inner) => inner,
        // A scalar where a list or a mapping goes: the list's help.
        Ty::Either(a, b) if matches!(a, Ty::List(_)) => a,
        Ty::Either(a, b) if matches!(b, Ty::List(_)) => b,
        other => other,
    };
    match (ty, &node.value) {
        (Ty::Duration, Value::Int(n)) => Some(format!("a duration needs a unit: `{n}s`, `{n}m`, ...")),
        (Ty::Duration, _) => Some("write durations as a number and a unit: 500ms, 30s, 10m, 2h, 1d, or 1h30m".into()),
        (Ty::Identifier, Value::Str { text, .. }) => {
            let fixed: String = text
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let fixed = if fixed.starts_with(|c: char| c.is_ascii_lowercase()) { fixed } else { format!("t_{fixed}") };
            Some(format!(
                "ids are lowercase letters, digits and `_`, start with a letter, at most 63 characters: `{}`",
                fixed.chars().take(63).collect::<String>()
            ))
        }
        (Ty::Enum(values), Value::Str { text, .. }) => did_you_mean(text, values.iter().copied()),
        // `when: true`: a condition is an expression in braces (E047).
        (Ty::String, Value::Bool(_)) if name == "when" => {
            node.scalar_text().map(|t| format!("write a condition as an expression: \"{{{{ {t} }}}}\""))
        }
        (Ty::String, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
            node.scalar_text().map(|t| format!("quote it to make it a string: \"{t}\""))
        }
        (Ty::List(_), Value::Str { text, .. }) if !text.contains("{{") => Some(format!("write a list: [{text}]")),
        (Ty::List(_), Value::Str { .. }) => Some("list parameters are literal lists, known at compile time; a template cannot produce one".into()),
        (Ty::Integer { .. }, Value::Str { text, .. }) if text.parse::<i64>().is_ok() => Some(format!("remove the quotes: {text}")),
        _ => None,
    }
}

/// A mapping key that is not a string (`1: x`, `[a]: b`).
pub fn report_key(key: &Node, walk: Walk<'_>, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::new(
            walk.codes.wrong_type,
            key.span,
            format!(
                "keys in {} must be strings, found {}",
                walk.context,
                key.kind_name()
            ),
        )
        .label("not a string key"),
    );
}

/// Two keys of an exactly-one-of group are both set.
pub fn report_conflict(
    second: &crate::syntax::Entry,
    group: &[&str],
    walk: Walk<'_>,
    diags: &mut Diagnostics,
) {
    let names: Vec<_> = group.iter().map(|n| format!("`{n}`")).collect();
    diags.push(
        Diagnostic::new(
            walk.codes.wrong_type,
            second.key.span,
            format!(
                "only one of {} may be set in {}",
                names.join(", "),
                walk.context
            ),
        )
        .label("set here as well")
        .help(format!("keep exactly one of {}", names.join(", "))),
    );
}

/// Task ids (the keys of `tasks:`) must be identifiers; they name log
/// folders, CLI arguments and template variables.
pub fn task_ids(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for task in &ctx.pipeline.tasks {
        if !runtime::vocabulary::is_identifier(task.id) {
            let walk = Walk {
                codes: super::walk::PIPELINE_CODES,
                templated: false,
                context: "`tasks`",
            };
            let mut d = Diagnostic::new(
                walk.codes.wrong_type,
                task.key.span,
                format!("invalid task id `{}`", task.id),
            )
            .label("not an identifier");
            d = d.help_opt(help(task.key, &Ty::Identifier, "task id"));
            diags.push(d);
        }
    }
}

/// A `for_each` item whose label cannot be a task instance id: the id
/// names a log directory (`logs/RUN/per_region[kr]/`), so `../x` would
/// write outside `logs/`.
pub fn for_each_items(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for task in &ctx.pipeline.tasks {
        let Some(items) = task.for_each.and_then(|n| n.as_seq()) else {
            continue;
        };
        for item in items {
            let label = crate::ir::item_label(&crate::ir::to_json(item));
            if let Some(why) = crate::ir::unsafe_item_label(&label) {
                let shown: String = label
                    .chars()
                    .take(40)
                    .flat_map(char::escape_default)
                    .collect();
                diags.push(
                    Diagnostic::new(
                        super::walk::PIPELINE_CODES.wrong_type,
                        item.span,
                        format!("`for_each` item `{shown}` cannot name a task instance: {why}"),
                    )
                    .label("not usable as an instance id")
                    .note(format!("each item runs as task `{}[ITEM]`, whose logs are in a directory of that name", task.id))
                    .help("use short names without `/`, `\\`, `..` or control characters (`kr`), and build paths in the template: `data/{{ item }}.csv`"),
                );
            }
        }
    }
}
