//! [`Stats`] of a SQLite state, counted by SQLite.

use rusqlite::{Connection, OptionalExtension};

use crate::store::stats::{AttemptStats, DURATION_BUCKETS, Stats, attempt_columns};
use crate::vocabulary::RunKind;

pub(super) fn read(conn: &Connection) -> rusqlite::Result<Stats> {
    let mut st =
        conn.prepare_cached("SELECT state, count(*) FROM runs GROUP BY state ORDER BY state")?;
    let runs = st
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
        .collect::<Result<_, _>>()?;
    // Times are RFC 3339 text, which julianday() reads (offsets included);
    // its days as a float are rounded back to whole milliseconds, what
    // chime records.
    let sql = format!(
        "SELECT t.task_id, a.outcome, {} FROM (
             SELECT run, seq, outcome,
                    round((julianday(ended_at) - julianday(started_at)) * 86400000.0) / 1000.0 AS d
             FROM attempts WHERE outcome != '' AND ended_at IS NOT NULL
         ) a JOIN task_instances t ON t.run = a.run AND t.seq = a.seq
         GROUP BY t.task_id, a.outcome ORDER BY t.task_id, a.outcome",
        attempt_columns(|cond| format!("sum(CASE WHEN {cond} THEN 1 ELSE 0 END)"))
    );
    let mut st = conn.prepare_cached(&sql)?;
    let attempts = st
        .query_map([], |r| {
            let buckets = (0..DURATION_BUCKETS.len())
                .map(|i| {
                    r.get::<_, Option<i64>>(4 + i)
                        .map(Option::unwrap_or_default)
                })
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(AttemptStats::from_row(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, Option<f64>>(3)?.unwrap_or_default(),
                buckets.into_iter(),
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(
        "SELECT task_id, total(json_extract(output, '$.rows')) FROM task_instances
         WHERE json_valid(output) AND json_type(output, '$.rows') IN ('integer', 'real')
         GROUP BY task_id ORDER BY task_id",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let last_success = conn.query_row(
        "SELECT max(ended_at) FROM runs WHERE state = 'success'",
        [],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(
        "SELECT interval_end FROM runs WHERE state = 'success' ORDER BY logical_date DESC LIMIT 5",
    )?;
    let success_interval_ends = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let last_scheduled = conn
        .query_row(
            &format!(
                "SELECT interval_end, started_at FROM runs
                 WHERE kind = '{}' AND started_at IS NOT NULL
                 ORDER BY logical_date DESC LIMIT 1",
                RunKind::Scheduled.as_str()
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let lease = conn
        .query_row(
            "SELECT holder, expires_at FROM scheduler_lease WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
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
