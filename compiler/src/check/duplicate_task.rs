//! E010 duplicate-task: a task id defined twice, and any other key repeated
//! in one mapping (YAML parsers usually keep the last one silently), and
//! two `for_each` items of a task that name the same instance
//! (`per_region[kr]` twice would be one id for two tasks).

use rustc_hash::FxHashMap as HashMap;

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::ir::{item_label, to_json};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for dup in ctx.duplicates {
        let is_task = ctx
            .pipeline
            .task(&dup.name)
            .is_some_and(|t| t.key.span == dup.first);
        let (message, help) = if is_task {
            (
                format!("duplicate task id `{}`", dup.name),
                "rename one of the two tasks; task ids are unique",
            )
        } else {
            (
                format!("duplicate key `{}`", dup.name),
                "remove one of them; only the first is used",
            )
        };
        diags.push(
            Diagnostic::new(Code::E010, dup.again, message)
                .label("defined again here")
                .secondary(dup.first, "first defined here")
                .help(help),
        );
    }
    for task in &ctx.pipeline.tasks {
        let Some(items) = task.for_each.and_then(|n| n.as_seq()) else {
            continue;
        };
        let mut first: HashMap<String, &crate::syntax::Node> = HashMap::default();
        for item in items {
            let label = item_label(&to_json(item));
            match first.get(&label) {
                None => {
                    first.insert(label, item);
                }
                Some(earlier) => diags.push(
                    Diagnostic::new(
                        Code::E010,
                        item.span,
                        format!(
                            "duplicate `for_each` item: task instance `{}[{label}]` twice",
                            task.id
                        ),
                    )
                    .label("names the same instance again")
                    .secondary(earlier.span, "first here")
                    .help("remove one of them; each item runs once, as its own task"),
                ),
            }
        }
    }
}
