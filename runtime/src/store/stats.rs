//! What the state holds, counted by the database (`/metrics`, the
//! metrics textfile): runs by state, finished attempts by task and outcome
//! with a histogram of their durations, rows written, the latest success,
//! the latest scheduled run's lag and the scheduler's lease.
//!
//! Counted in SQL, one query each, so a scrape costs the same for a state
//! of ten runs or of a year of hourly runs: the rows that come back are
//! one per state, per task and outcome, per task.

/// Upper bounds, in seconds, of the task duration histogram's buckets
/// (`+Inf` follows): a second to three hours.
pub const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0,
];

/// Counts over the whole state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Runs by state name.
    pub runs: Vec<(String, u64)>,
    /// Finished attempts, by task and outcome.
    pub attempts: Vec<AttemptStats>,
    /// Per task, the sum of the `rows` numbers in its instances' outputs
    /// (what `sql` and `predict` wrote).
    pub rows: Vec<(String, f64)>,
    /// When the latest successful run ended (RFC 3339).
    pub last_success: Option<String>,
    /// The interval ends of the successful runs latest by logical date
    /// (up to 5, RFC 3339; their offsets may differ across a DST change,
    /// so the latest is found by parsing them): how fresh the data is.
    pub success_interval_ends: Vec<String>,
    /// The latest scheduled run that started: its interval's end (the fire
    /// time) and its start (RFC 3339 both).
    pub last_scheduled: Option<(String, String)>,
    /// The scheduler's lease: its holder and expiry (unix seconds).
    pub lease: Option<(String, i64)>,
}

/// Finished attempts of one task with one outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptStats {
    pub task_id: String,
    pub outcome: String,
    pub count: u64,
    /// The attempts' durations added up, in seconds.
    pub seconds: f64,
    /// How many took at most each of [`DURATION_BUCKETS`] (cumulative).
    pub buckets: [u64; DURATION_BUCKETS.len()],
}

/// The SELECT list that counts attempts per bucket, over a column `d` of
/// durations in seconds: `count(*), sum(d), <one count per bucket>`.
/// `count_if` writes one condition's count in the database's dialect.
pub(crate) fn attempt_columns(count_if: impl Fn(&str) -> String) -> String {
    let mut cols = vec!["count(*)".to_string(), "coalesce(sum(d), 0.0)".to_string()];
    cols.extend(
        DURATION_BUCKETS
            .iter()
            .map(|b| count_if(&format!("d <= {b:.1}"))),
    );
    cols.join(", ")
}

impl AttemptStats {
    /// From a row of `task_id, outcome, <attempt_columns>`: the count,
    /// the sum, then each bucket's count.
    pub(crate) fn from_row(
        task_id: String,
        outcome: String,
        count: i64,
        seconds: f64,
        per_bucket: impl Iterator<Item = i64>,
    ) -> AttemptStats {
        let mut buckets = [0u64; DURATION_BUCKETS.len()];
        for (b, n) in buckets.iter_mut().zip(per_bucket) {
            *b = n.max(0) as u64;
        }
        AttemptStats {
            task_id,
            outcome,
            count: count.max(0) as u64,
            seconds,
            buckets,
        }
    }
}
