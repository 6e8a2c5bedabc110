//! E048 unknown-pool: a task's `pool:` that `pools:` does not declare
//! (with the closest declared name), and a pool that no task uses is left
//! alone: another pipeline on the same state may use it.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    let max = i64::from(runtime::vocabulary::MAX_POOL_SIZE);
    for entry in &p.pools {
        let name = entry.key_text();
        if !runtime::vocabulary::is_identifier(&name) {
            diags.push(
                Diagnostic::new(Code::E048, entry.key.span, format!("pool name `{name}` is not an id"))
                    .label("a task could never name it")
                    .help("pool names are lowercase letters, digits and `_`, starting with a letter, as task ids are"),
            );
        }
        if let crate::syntax::Value::Int(size) = entry.value.value
            && size > max
        {
            diags.push(
                Diagnostic::new(
                    Code::E048,
                    entry.value.span,
                    format!(
                        "pool `{}` has {size} slots, over the limit of {max}",
                        entry.key_text()
                    ),
                )
                .label("too many slots")
                .help("a pool that large limits nothing: lower it, or remove the pool"),
            );
        }
    }
    let declared: Vec<&str> = p.pools.iter().filter_map(|e| e.key.as_str()).collect();
    for task in &p.tasks {
        let Some(node) = task.pool else { continue };
        let Some(name) = node.as_str() else { continue };
        if declared.contains(&name) {
            continue;
        }
        let help = did_you_mean(name, declared.iter().copied()).unwrap_or_else(|| {
            format!("declare it with its size at the top level: pools: {{ {name}: 4 }}")
        });
        let message = if declared.is_empty() {
            format!(
                "task `{}` uses pool `{name}`, but the pipeline declares no `pools:`",
                task.id
            )
        } else {
            format!(
                "task `{}` uses pool `{name}`, which `pools:` does not declare (it has {})",
                task.id,
                declared.join(", ")
            )
        };
        diags.push(
            Diagnostic::new(Code::E048, node.span, message)
                .label("unknown pool")
                .help(help),
        );
    }
}
