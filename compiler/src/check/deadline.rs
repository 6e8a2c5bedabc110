//! E046 bad-deadline: a run deadline that cannot work as written:
//! - `sla: {finish_by}` that is not a 24-hour `HH:MM`;
//! - `sla:` with neither `max_duration` nor `finish_by`;
//! - `sla:` on a pipeline without a schedule (an SLA is a scheduled run's);
//! - `sla_miss` in `notify:` without `sla:` (it would never be sent).
//!
//! Durations themselves are E003's (`timeout`, `max_duration`).

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    let scheduled = p.schedule.is_some_and(|e| e.value.as_str().is_some());
    if let Some(sla) = p.sla {
        let finish_by = sla.value.get("finish_by");
        if let Some(node) = finish_by.map(|e| &e.value)
            && let Some(text) = node.as_str()
            && runtime::deadline::parse_finish_by(text).is_none()
        {
            // `8:30` means 08:30: say so; otherwise show the form.
            let padded = format!("0{}", text.trim());
            let example = if runtime::deadline::parse_finish_by(&padded).is_some() {
                padded
            } else {
                "08:00".to_string()
            };
            diags.push(
                Diagnostic::new(
                    Code::E046,
                    node.span,
                    format!("`finish_by: {text}` is not a time of day"),
                )
                .label("here")
                .help(format!(
                    "write HH:MM on a 24-hour clock, in the pipeline's timezone: \"{example}\""
                )),
            );
        }
        if finish_by.is_none() && sla.value.get("max_duration").is_none() {
            diags.push(
                Diagnostic::new(Code::E046, sla.key.span, "`sla:` sets no deadline".to_string())
                    .label("here")
                    .help("give `max_duration` (after the fire time), `finish_by` (a local time), or both"),
            );
        }
        if !scheduled {
            diags.push(
                Diagnostic::new(
                    Code::E046,
                    sla.key.span,
                    "`sla:` on a pipeline without a schedule: only scheduled runs have an SLA"
                        .to_string(),
                )
                .label("here")
                .help("add a `schedule:`, or use `timeout:` to bound every run"),
            );
        }
    } else {
        let misses = p
            .notify
            .iter()
            .flat_map(|n| &n.on)
            .filter(|e| e.as_str() == Some("sla_miss"));
        for e in misses {
            diags.push(
                Diagnostic::new(
                    Code::E046,
                    e.span,
                    "`sla_miss` is never sent: the pipeline has no `sla:`".to_string(),
                )
                .label("here")
                .help("add `sla: {max_duration: 2h}` or `sla: {finish_by: \"08:00\"}`"),
            );
        }
    }
}
