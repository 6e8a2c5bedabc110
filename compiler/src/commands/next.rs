//! `chime check --next N`: the next fire times of a pipeline's schedule and
//! the data interval each run covers, computed by the runtime's scheduler
//! code (`runtime::scheduler`), the same the pipeline binary uses: a run
//! covers `[previous fire, this fire)`, its logical date is the interval's
//! start, and it starts when the interval ends.

use chrono::{DateTime, Utc};
use runtime::scheduler::{Schedule, parse_date};

use crate::analysis::Analysis;

/// Text listing the next `n` runs of an analysed pipeline, or why there are none.
pub fn describe(analysis: &Analysis<'_>, n: usize, now: DateTime<Utc>) -> String {
    let (source, p) = (analysis.source, &analysis.pipeline);
    let name = p.name.and_then(|n| n.as_str()).unwrap_or("pipeline");
    let Some(expr) = p.schedule.and_then(|e| e.value.as_str()) else {
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
    if crate::cron::parse(expr).is_err() {
        return String::new();
    }
    let date = |e: Option<&crate::syntax::Entry>| {
        e.and_then(|e| e.value.as_str())
            .and_then(|t| parse_date(t, tz))
    };
    let Ok(schedule) = Schedule::new(expr.trim(), tz, date(p.start_date), date(p.end_date)) else {
        return String::new();
    };
    let mut out = format!(
        "{}: next runs of `{name}` (schedule `{expr}`, time zone {tz})\n",
        source.path
    );
    let upcoming = schedule.upcoming(now, n);
    for i in &upcoming {
        out += &format!(
            "  {}  runs the interval {} .. {}  (logical date {})\n",
            i.end.format("%Y-%m-%d %H:%M %Z"),
            i.start.format("%Y-%m-%d %H:%M"),
            i.end.format("%Y-%m-%d %H:%M"),
            i.start.format("%Y-%m-%d")
        );
    }
    if upcoming.len() < n && date(p.end_date).is_some() {
        out += "  (end_date reached)\n";
    }
    out
}
