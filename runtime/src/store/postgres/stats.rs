//! [`Stats`] of a PostgreSQL state (one pipeline's rows), counted by
//! PostgreSQL.

use postgres::Client;

use crate::store::stats::{AttemptStats, DURATION_BUCKETS, Stats, attempt_columns};
use crate::vocabulary::RunKind;

pub(super) fn read(client: &mut Client, pipeline: &str) -> Result<Stats, postgres::Error> {
    let runs = client
        .query(
            "SELECT state, count(*) FROM chime.runs WHERE pipeline = $1 GROUP BY state ORDER BY state",
            &[&pipeline],
        )?
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
        .collect();
    let sql = format!(
        "SELECT task_id, outcome, {} FROM (
             SELECT a.task_id, a.outcome,
                    extract(epoch FROM (a.ended_at::timestamptz - a.started_at::timestamptz))::float8 AS d
             FROM chime.attempts a JOIN chime.runs r ON r.id = a.run
             WHERE r.pipeline = $1 AND a.outcome <> '' AND a.ended_at IS NOT NULL
         ) x GROUP BY task_id, outcome ORDER BY task_id, outcome",
        attempt_columns(|cond| format!("count(*) FILTER (WHERE {cond})"))
    );
    let attempts = client
        .query(sql.as_str(), &[&pipeline])?
        .iter()
        .map(|r| {
            AttemptStats::from_row(
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                (0..DURATION_BUCKETS.len()).map(|i| r.get::<_, i64>(4 + i)),
            )
        })
        .collect();
    let rows = client
        .query(
            "SELECT t.task_id, sum((t.output::json ->> 'rows')::float8)
             FROM chime.task_instances t JOIN chime.runs r ON r.id = t.run
             WHERE r.pipeline = $1 AND t.output IS NOT NULL
               AND json_typeof(t.output::json -> 'rows') = 'number'
             GROUP BY t.task_id ORDER BY t.task_id",
            &[&pipeline],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let last_success = client
        .query_one(
            "SELECT max(ended_at) FROM chime.runs WHERE pipeline = $1 AND state = 'success'",
            &[&pipeline],
        )?
        .get(0);
    let success_interval_ends = client
        .query(
            "SELECT interval_end FROM chime.runs WHERE pipeline = $1 AND state = 'success'
             ORDER BY logical_date DESC LIMIT 5",
            &[&pipeline],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let last_scheduled = client
        .query_opt(
            "SELECT interval_end, started_at FROM chime.runs
             WHERE pipeline = $1 AND kind = $2 AND started_at IS NOT NULL
             ORDER BY logical_date DESC LIMIT 1",
            &[&pipeline, &RunKind::Scheduled.as_str()],
        )?
        .map(|r| (r.get(0), r.get(1)));
    let lease = client
        .query_opt(
            "SELECT holder, expires_at FROM chime.scheduler_leases WHERE pipeline = $1",
            &[&pipeline],
        )?
        .map(|r| (r.get(0), r.get(1)));
    Ok(Stats {
        runs,
        attempts,
        rows,
        last_success,
        success_interval_ends,
        last_scheduled,
        lease,
    })
}
