//! `chime check --next N`: the next fire times of a pipeline's schedule and
//! the data interval each run covers (Airflow's semantics: a run covers
//! `[previous fire, this fire)`, its logical date is the interval's start,
//! and it starts when the interval ends).

use chrono::{DateTime, Utc};

use crate::diagnostic::Diagnostics;
use crate::source::SourceFile;

/// Text listing the next `n` runs of the pipeline in `source`, or why there are none.
pub fn describe(source: &SourceFile, n: usize, now: DateTime<Utc>) -> String {
    let mut scratch = Diagnostics::default();
    let Some(root) = crate::syntax::yaml::parse(0, &source.text, &mut scratch).root else {
        return String::new();
    };
    let p = crate::ast::Pipeline::lower(0, &root);
    let name = p.name.and_then(|n| n.as_str()).unwrap_or("pipeline");
    let Some(schedule) = p.schedule.and_then(|e| e.value.as_str()) else {
        return format!(
            "{}: `{name}` has no schedule; it runs only when asked\n",
            source.path
        );
    };
    let tz: chrono_tz::Tz = match p
        .timezone
        .and_then(|e| e.value.as_str())
        .map(str::parse)
        .unwrap_or(Ok(chrono_tz::UTC))
    {
        Ok(tz) => tz,
        Err(_) => return String::new(),
    };
    let Ok(cron) = crate::cron::parse(schedule) else {
        return String::new();
    };
    let date = |e: Option<&crate::syntax::Entry>| {
        e.and_then(|e| e.value.as_str())
            .and_then(|t| crate::check::dates::parse_date(t, tz))
    };
    let start = date(p.start_date);
    let end = date(p.end_date);
    let mut out = format!(
        "{}: next runs of `{name}` (schedule `{schedule}`, time zone {tz})\n",
        source.path
    );
    let from = start.map_or(now, |s| s.max(now)).with_timezone(&tz);
    let mut shown = 0;
    for fire in cron.iter_after(from).take(n.saturating_mul(4).max(n) + 4) {
        if shown == n {
            break;
        }
        let Ok(prev) = cron.find_previous_occurrence(&fire, false) else {
            continue;
        };
        if start.is_some_and(|s| prev.with_timezone(&Utc) < s) {
            continue; // the interval would begin before start_date
        }
        if end.is_some_and(|e| prev.with_timezone(&Utc) > e) {
            out += "  (end_date reached)\n";
            break;
        }
        out += &format!(
            "  {}  runs the interval {} .. {}  (logical date {})\n",
            fire.format("%Y-%m-%d %H:%M %Z"),
            prev.format("%Y-%m-%d %H:%M"),
            fire.format("%Y-%m-%d %H:%M"),
            prev.format("%Y-%m-%d")
        );
        shown += 1;
    }
    out
}
