//! E030 invalid-schedule: the cron expression, each field against its
//! range, with the caret on the bad field (see `cron.rs`).

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::locate::locate;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let Some(entry) = ctx.pipeline.schedule else {
        return;
    };
    let Some(text) = entry.value.as_str() else {
        return;
    };
    if let Err(problem) = crate::cron::parse(text) {
        let span = locate(&ctx.source.text, &entry.value, problem.range);
        diags.push(
            Diagnostic::new(
                Code::E030,
                span,
                format!("invalid schedule: {}", problem.message),
            )
            .label("here")
            .help_opt(problem.help),
        );
    }
}
