//! E047 bad-condition: a task's `when:` that is not one expression in
//! `{{ }}` (`when: "{{ tasks.check.output.accuracy >= 0.9 }}"`). The
//! expression itself is checked as templates are (E040-E042).

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for task in &ctx.pipeline.tasks {
        let Some(node) = task.when else { continue };
        let Some(text) = node.as_str() else { continue };
        if runtime::vocabulary::condition_expression(text).is_some() {
            continue;
        }
        let bare = text.trim();
        let help = if !bare.is_empty() && !bare.contains("{{") && !bare.contains("{%") {
            format!("write the expression in braces: when: \"{{{{ {bare} }}}}\"")
        } else {
            "write one expression in braces, such as when: \"{{ tasks.check.output.rows > 0 }}\""
                .to_string()
        };
        diags.push(
            Diagnostic::new(
                Code::E047,
                node.span,
                format!(
                    "`when` of task `{}` is not one `{{{{ expression }}}}`",
                    task.id
                ),
            )
            .label("a condition is one expression, true or false")
            .help(help),
        );
    }
}
