//! E032 bad-dates: `start_date` is required with a schedule; both dates
//! must parse (a date, or an RFC 3339 date-time) with a year from 1 to
//! 9999; `end_date` must not be before `start_date`.

use chrono::{DateTime, Utc};

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::Entry;

pub use runtime::scheduler::parse_date;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    let tz = p
        .timezone
        .and_then(|e| e.value.as_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let start = p.start_date.and_then(|e| check(e, "start_date", tz, diags));
    let end = p.end_date.and_then(|e| check(e, "end_date", tz, diags));
    let scheduled = p.schedule.is_some();
    if scheduled
        && p.start_date.is_none()
        && p.root.get("start_date").is_none()
        && let Some(schedule) = p.schedule
    {
        diags.push(
            Diagnostic::new(
                Code::E032,
                schedule.key.span,
                "a scheduled pipeline needs a `start_date`",
            )
            .label("the schedule is set here")
            .help(
                "add `start_date: 2026-01-01`: the first interval the scheduler runs starts there",
            ),
        );
    }
    if let (Some(start), Some(end), Some(s), Some(e)) = (start, end, p.start_date, p.end_date)
        && end < start
    {
        diags.push(
            Diagnostic::new(
                Code::E032,
                e.value.span,
                "`end_date` is before `start_date`",
            )
            .label("ends here")
            .secondary(s.value.span, "starts here")
            .help("swap the two dates, or remove `end_date` to run without an end"),
        );
    }
}

/// Whether the date's year is 0001-9999 (chrono also reads `+99999-01-01`
/// and year 0, which neither the schedule's users nor other tools expect).
fn four_digit_year(text: &str) -> bool {
    let t = text.trim().as_bytes();
    t.len() > 4 && t[..4].iter().all(u8::is_ascii_digit) && t[4] == b'-' && &t[..4] != b"0000"
}

fn check(
    entry: &Entry,
    key: &str,
    tz: chrono_tz::Tz,
    diags: &mut Diagnostics,
) -> Option<DateTime<Utc>> {
    let text = entry.value.as_str()?;
    let parsed = parse_date(text, tz);
    // What chrono alone reads as a date (parse_date refuses the years
    // outside 1-9999 that it accepts).
    let looks_like_a_date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok()
        || DateTime::parse_from_rfc3339(text.trim()).is_ok();
    if looks_like_a_date && !four_digit_year(text) {
        diags.push(
            Diagnostic::new(
                Code::E032,
                entry.value.span,
                format!("`{key}` is out of range: `{text}`"),
            )
            .label("years go from 1 to 9999")
            .help("write the year with four digits, e.g. 2026-01-31"),
        );
        return None;
    }
    if parsed.is_none() {
        diags.push(
            Diagnostic::new(
                Code::E032,
                entry.value.span,
                format!("`{key}` is not a date: `{text}`"),
            )
            .label("expected a date or an RFC 3339 date-time")
            .help("write 2026-01-31, or 2026-01-31T06:00:00+09:00"),
        );
    }
    parsed
}
