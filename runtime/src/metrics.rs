//! Prometheus metrics of a pipeline, from its state (docs/monitoring.md):
//! served at `/metrics` by the status page, and written as a textfile by
//! `run --metrics-file` for node_exporter's textfile collector.
//!
//! Every figure is read from the state when asked ([`Store::stats`]), not
//! counted by the process: the numbers are the same whichever process
//! asks (the scheduler, a standalone `ui`, a one-shot `run`), and they
//! survive restarts.
//!
//! The text exposition format (version 0.0.4) is written here: a few
//! families of gauges, counters and one histogram, computed in one go, do
//! not need a client library's registry. `promtool check metrics` and a
//! real Prometheus read it in the tests.

use std::fmt::Write;

use chrono::DateTime;

use crate::store::stats::DURATION_BUCKETS;
use crate::store::{Stats, Store, StoreError};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics of pipeline `pipeline` from its `store`, at `now` (unix
/// seconds; the lease is valid until its expiry).
pub fn render(pipeline: &str, store: &dyn Store, now: i64) -> Result<String, StoreError> {
    Ok(text(pipeline, &store.stats()?, now))
}

/// Writes the metrics to `path` for node_exporter's textfile collector:
/// to a file beside it first, then renamed over it, so the collector never
/// reads half a file.
pub fn write_file(
    pipeline: &str,
    store: &dyn Store,
    path: &std::path::Path,
    now: i64,
) -> Result<(), String> {
    let text = render(pipeline, store, now).map_err(|e| e.to_string())?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })
}

/// `stats` in the text format.
pub fn text(pipeline: &str, stats: &Stats, now: i64) -> String {
    let p = escape(pipeline);
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "chime_runs",
        "gauge",
        "Runs in the state, by state.",
    );
    for (state, n) in &stats.runs {
        let _ = writeln!(
            out,
            "chime_runs{{pipeline=\"{p}\",state=\"{}\"}} {n}",
            escape(state)
        );
    }
    family(
        &mut out,
        "chime_task_attempts_total",
        "counter",
        "Finished task attempts, by task and outcome.",
    );
    for a in &stats.attempts {
        let _ = writeln!(
            out,
            "chime_task_attempts_total{{pipeline=\"{p}\",task=\"{}\",outcome=\"{}\"}} {}",
            escape(&a.task_id),
            escape(&a.outcome),
            a.count
        );
    }
    family(
        &mut out,
        "chime_task_duration_seconds",
        "histogram",
        "How long finished task attempts took, by task and outcome.",
    );
    for a in &stats.attempts {
        let labels = format!(
            "pipeline=\"{p}\",task=\"{}\",outcome=\"{}\"",
            escape(&a.task_id),
            escape(&a.outcome)
        );
        for (bound, n) in DURATION_BUCKETS.iter().zip(a.buckets) {
            let _ = writeln!(
                out,
                "chime_task_duration_seconds_bucket{{{labels},le=\"{bound:?}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "chime_task_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            a.count
        );
        let _ = writeln!(
            out,
            "chime_task_duration_seconds_sum{{{labels}}} {}",
            number(a.seconds)
        );
        let _ = writeln!(
            out,
            "chime_task_duration_seconds_count{{{labels}}} {}",
            a.count
        );
    }
    family(
        &mut out,
        "chime_rows_written_total",
        "counter",
        "Rows written by the task's instances (the `rows` of sql's and predict's outputs).",
    );
    for (task, rows) in &stats.rows {
        let _ = writeln!(
            out,
            "chime_rows_written_total{{pipeline=\"{p}\",task=\"{}\"}} {}",
            escape(task),
            number(*rows)
        );
    }
    if let Some(t) = stats.last_success.as_deref().and_then(seconds) {
        family(
            &mut out,
            "chime_last_success_timestamp_seconds",
            "gauge",
            "When the latest successful run ended (unix time).",
        );
        let _ = writeln!(
            out,
            "chime_last_success_timestamp_seconds{{pipeline=\"{p}\"}} {}",
            number(t)
        );
    }
    if let Some(end) = stats
        .success_interval_ends
        .iter()
        .filter_map(|t| seconds(t))
        .reduce(f64::max)
    {
        family(
            &mut out,
            "chime_last_success_interval_end_seconds",
            "gauge",
            "The end of the data interval of the latest successful run by logical date (unix time): how fresh the data is; a backfill of old dates does not move it.",
        );
        let _ = writeln!(
            out,
            "chime_last_success_interval_end_seconds{{pipeline=\"{p}\"}} {}",
            number(end)
        );
    }
    if let Some(lag) = stats
        .last_scheduled
        .as_ref()
        .and_then(|(fire, start)| Some(seconds(start)? - seconds(fire)?))
    {
        family(
            &mut out,
            "chime_schedule_lag_seconds",
            "gauge",
            "From the latest scheduled run's fire time (its interval's end) to its start.",
        );
        let _ = writeln!(
            out,
            "chime_schedule_lag_seconds{{pipeline=\"{p}\"}} {}",
            number(lag)
        );
    }
    family(
        &mut out,
        "chime_scheduler_up",
        "gauge",
        "1 while a scheduler holds the state's lease.",
    );
    let up = stats
        .lease
        .as_ref()
        .is_some_and(|(_, expires)| *expires > now);
    let _ = writeln!(
        out,
        "chime_scheduler_up{{pipeline=\"{p}\"}} {}",
        u8::from(up)
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value in the text format: backslash, double quote and line
/// feed escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: Go's float syntax (`NaN`, `+Inf`, `1e+06` are all
/// fine; Rust's `inf` is not).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// An RFC 3339 time as unix seconds.
fn seconds(rfc3339: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(t.timestamp_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AttemptStats;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_text_has_every_family_and_a_cumulative_histogram() {
        let mut buckets = [0u64; DURATION_BUCKETS.len()];
        buckets[1..].fill(2);
        let stats = Stats {
            runs: vec![("failed".into(), 1), ("success".into(), 3)],
            attempts: vec![AttemptStats {
                task_id: "load".into(),
                outcome: "success".into(),
                count: 2,
                seconds: 6.5,
                buckets,
            }],
            rows: vec![("load".into(), 1500.0)],
            last_success: Some("2026-01-02T00:00:10.500Z".into()),
            success_interval_ends: vec![
                "2026-01-02T00:00:00+01:00".into(),
                "2026-01-01T23:30:00Z".into(),
            ],
            last_scheduled: Some((
                "2026-01-02T01:00:00+01:00".into(),
                "2026-01-02T00:00:03Z".into(),
            )),
            lease: Some(("pid 1 on h".into(), 100)),
        };
        let text = text("nightly", &stats, 99);
        for line in [
            "chime_runs{pipeline=\"nightly\",state=\"failed\"} 1",
            "chime_task_attempts_total{pipeline=\"nightly\",task=\"load\",outcome=\"success\"} 2",
            "chime_task_duration_seconds_bucket{pipeline=\"nightly\",task=\"load\",outcome=\"success\",le=\"1.0\"} 0",
            "chime_task_duration_seconds_bucket{pipeline=\"nightly\",task=\"load\",outcome=\"success\",le=\"5.0\"} 2",
            "chime_task_duration_seconds_bucket{pipeline=\"nightly\",task=\"load\",outcome=\"success\",le=\"+Inf\"} 2",
            "chime_task_duration_seconds_sum{pipeline=\"nightly\",task=\"load\",outcome=\"success\"} 6.5",
            "chime_rows_written_total{pipeline=\"nightly\",task=\"load\"} 1500",
            "chime_last_success_timestamp_seconds{pipeline=\"nightly\"} 1767312010.5",
            "chime_schedule_lag_seconds{pipeline=\"nightly\"} 3",
            // 23:30 UTC is later than midnight at +01:00 (23:00 UTC).
            "chime_last_success_interval_end_seconds{pipeline=\"nightly\"} 1767310200",
            "chime_scheduler_up{pipeline=\"nightly\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        // An expired lease: no scheduler.
        assert!(
            super::text("nightly", &stats, 100)
                .contains("chime_scheduler_up{pipeline=\"nightly\"} 0")
        );
    }
}
