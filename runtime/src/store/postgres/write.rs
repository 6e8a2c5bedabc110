//! Writing to the PostgreSQL state: a batch of changes in one
//! transaction, and the scheduler's lease.

use super::{Conn, PgStore};
use crate::state::RunState;
use crate::store::{Change, StoreError};

/// The run's row id, by pipeline and run id (`$1`, `$2`).
macro_rules! run {
    () => {
        "(SELECT id FROM chime.runs WHERE pipeline = $1 AND run_id = $2)"
    };
}

const UPDATE_RUN_STARTED: &str = "UPDATE chime.runs SET state = $3, started_at = coalesce(started_at, $4), ended_at = NULL WHERE pipeline = $1 AND run_id = $2";
const UPDATE_RUN_ENDED: &str =
    "UPDATE chime.runs SET state = $3, ended_at = $4 WHERE pipeline = $1 AND run_id = $2";
const UPSERT_TASK: &str = concat!(
    "INSERT INTO chime.task_instances (run, task_id, state, try_number, output) VALUES (",
    run!(),
    ", $3, $4, $5, $6) ON CONFLICT (run, task_id) DO UPDATE SET state = excluded.state, try_number = excluded.try_number, output = excluded.output"
);
const ATTEMPT_STARTED: &str = concat!(
    "INSERT INTO chime.attempts (run, task_id, attempt, started_at, log_path) VALUES (",
    run!(),
    ", $3, $4, $5, $6) ON CONFLICT (run, task_id, attempt) DO UPDATE SET started_at = excluded.started_at, log_path = excluded.log_path, ended_at = NULL, outcome = '', exit_code = NULL, error = NULL, log_tail = NULL"
);
const ATTEMPT_WHOLE: &str = concat!(
    "INSERT INTO chime.attempts (run, task_id, attempt, started_at, ended_at, outcome, log_path, log_tail) VALUES (",
    run!(),
    ", $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (run, task_id, attempt) DO UPDATE SET started_at = excluded.started_at, ended_at = excluded.ended_at, outcome = excluded.outcome, log_path = excluded.log_path, log_tail = excluded.log_tail, exit_code = NULL, error = NULL"
);
const ATTEMPT_ENDED: &str = concat!(
    "UPDATE chime.attempts SET ended_at = $5, outcome = $6, exit_code = $7, error = $8, log_tail = $9 WHERE run = ",
    run!(),
    " AND task_id = $3 AND attempt = $4"
);

impl PgStore {
    /// [`crate::store::Store::apply`]: the batch in one transaction.
    pub(super) fn apply_batch(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let pipeline = self.pipeline.to_string();
        let changes = changes.to_vec();
        self.worker.call(move |c| write(c, &pipeline, &changes))
    }

    /// Takes or renews the scheduler's lease of this pipeline for `holder`
    /// unless another holder's is valid at `now` (one statement: two
    /// schedulers starting at once cannot both win).
    pub(super) fn lease(
        &mut self,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let (pipeline, holder) = (self.pipeline.to_string(), holder.to_string());
        self.worker.call(move |c| {
            let take = c.statement(
                "INSERT INTO chime.scheduler_leases (pipeline, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (pipeline) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE chime.scheduler_leases.holder = excluded.holder OR chime.scheduler_leases.expires_at <= $4",
            )?;
            if c.client.execute(&take, &[&pipeline, &holder, &expires_at, &now])? == 1 {
                return Ok(None);
            }
            let current = c.statement(
                "SELECT holder, expires_at FROM chime.scheduler_leases WHERE pipeline = $1",
            )?;
            Ok(c
                .client
                .query_opt(&current, &[&pipeline])?
                .map(|r| (r.get(0), r.get(1))))
        })
    }
}

fn write(c: &mut Conn, pipeline: &String, changes: &[Change]) -> Result<(), postgres::Error> {
    // Prepared before the transaction borrows the client.
    let started = c.statement(UPDATE_RUN_STARTED)?;
    let ended = c.statement(UPDATE_RUN_ENDED)?;
    let task = c.statement(UPSERT_TASK)?;
    let attempt_started = c.statement(ATTEMPT_STARTED)?;
    let attempt_whole = c.statement(ATTEMPT_WHOLE)?;
    let attempt_ended = c.statement(ATTEMPT_ENDED)?;
    let mut tx = c.client.transaction()?;
    for change in changes {
        let run_id = change.run_id().to_string();
        match change {
            Change::Run { state, at, .. } => {
                let st = match state {
                    RunState::Running => &started,
                    RunState::Success | RunState::Failed | RunState::Queued => &ended,
                };
                tx.execute(st, &[pipeline, &run_id, &state.as_str(), at])?;
            }
            Change::Task {
                task_id,
                state,
                try_number,
                output,
                ..
            } => {
                let tries = i32::try_from(*try_number).unwrap_or(i32::MAX);
                tx.execute(
                    &task,
                    &[pipeline, &run_id, task_id, &state.as_str(), &tries, output],
                )?;
            }
            Change::AttemptStarted {
                task_id,
                attempt,
                at,
                log_path,
                ..
            } => {
                let n = i32::try_from(*attempt).unwrap_or(i32::MAX);
                tx.execute(
                    &attempt_started,
                    &[pipeline, &run_id, task_id, &n, at, log_path],
                )?;
            }
            Change::Attempt {
                task_id,
                attempt,
                started_at,
                ended_at,
                outcome,
                log_path,
                log_tail,
                ..
            } => {
                let n = i32::try_from(*attempt).unwrap_or(i32::MAX);
                tx.execute(
                    &attempt_whole,
                    &[
                        pipeline,
                        &run_id,
                        task_id,
                        &n,
                        started_at,
                        ended_at,
                        &outcome.as_str(),
                        log_path,
                        log_tail,
                    ],
                )?;
            }
            Change::AttemptEnded {
                task_id,
                attempt,
                at,
                outcome,
                exit_code,
                error,
                log_tail,
                ..
            } => {
                let n = i32::try_from(*attempt).unwrap_or(i32::MAX);
                tx.execute(
                    &attempt_ended,
                    &[
                        pipeline,
                        &run_id,
                        task_id,
                        &n,
                        at,
                        &outcome.as_str(),
                        exit_code,
                        error,
                        log_tail,
                    ],
                )?;
            }
        }
    }
    tx.commit()
}
