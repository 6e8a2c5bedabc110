//! Writing to the PostgreSQL state: a batch of changes in one
//! transaction, and the scheduler's lease.

use super::{Conn, PgStore};
use crate::state::RunState;
use crate::store::{Change, StoreError};

const UPDATE_RUN_STARTED: &str = "UPDATE chime.runs SET state = $3, started_at = coalesce(started_at, $4), ended_at = NULL WHERE pipeline = $1 AND run_id = $2";
const UPDATE_RUN_ENDED: &str =
    "UPDATE chime.runs SET state = $3, ended_at = $4 WHERE pipeline = $1 AND run_id = $2";
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

/// A batch's rows, one statement per kind and run: a round of a large
/// run is a few round trips, not one per change. Within a batch the last
/// change of a row wins, as it would one statement at a time.
#[derive(Default)]
struct Rows {
    /// By task id: state, try number, output.
    tasks: Vec<(String, &'static str, i32, Option<String>)>,
    task_at: std::collections::HashMap<String, usize>,
    /// By (task id, attempt), in first-seen order.
    attempts: Vec<AttemptRow>,
    attempt_at: std::collections::HashMap<(String, i32), usize>,
}

#[derive(Clone)]
struct AttemptRow {
    task_id: String,
    attempt: i32,
    /// Started in this batch: when, and its log.
    started: Option<(String, String)>,
    /// Ended in this batch.
    ended: Option<Ended>,
}

/// An attempt's end: when, outcome, exit code, error, log tail.
type Ended = (
    String,
    &'static str,
    Option<i32>,
    Option<String>,
    Option<String>,
);

impl Rows {
    fn task(&mut self, id: &str, state: &'static str, tries: i32, output: &Option<String>) {
        let row = (id.to_string(), state, tries, output.clone());
        match self.task_at.get(id) {
            Some(&i) => self.tasks[i] = row,
            None => {
                self.task_at.insert(id.to_string(), self.tasks.len());
                self.tasks.push(row);
            }
        }
    }

    fn attempt(&mut self, task_id: &str, attempt: u32) -> &mut AttemptRow {
        let n = i32::try_from(attempt).unwrap_or(i32::MAX);
        let key = (task_id.to_string(), n);
        let at = match self.attempt_at.get(&key) {
            Some(&i) => i,
            None => {
                self.attempt_at.insert(key, self.attempts.len());
                self.attempts.push(AttemptRow {
                    task_id: task_id.to_string(),
                    attempt: n,
                    started: None,
                    ended: None,
                });
                self.attempts.len() - 1
            }
        };
        &mut self.attempts[at]
    }
}

const UPSERT_TASKS: &str = "INSERT INTO chime.task_instances (run, task_id, state, try_number, output)
     SELECT r.id, t.task_id, t.state, t.try_number, t.output FROM chime.runs r,
       unnest($3::text[], $4::text[], $5::int4[], $6::text[]) WITH ORDINALITY AS t(task_id, state, try_number, output, n)
     WHERE r.pipeline = $1 AND r.run_id = $2 ORDER BY t.n
     ON CONFLICT (run, task_id) DO UPDATE SET state = excluded.state, try_number = excluded.try_number, output = excluded.output";
const UPSERT_ATTEMPTS: &str = "INSERT INTO chime.attempts (run, task_id, attempt, started_at, log_path, ended_at, outcome, exit_code, error, log_tail)
     SELECT r.id, t.task_id, t.attempt, t.started_at, t.log_path, t.ended_at, t.outcome, t.exit_code, t.error, t.log_tail FROM chime.runs r,
       unnest($3::text[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[], $10::text[], $11::text[])
         AS t(task_id, attempt, started_at, log_path, ended_at, outcome, exit_code, error, log_tail)
     WHERE r.pipeline = $1 AND r.run_id = $2
     ON CONFLICT (run, task_id, attempt) DO UPDATE SET started_at = excluded.started_at, log_path = excluded.log_path,
       ended_at = excluded.ended_at, outcome = excluded.outcome, exit_code = excluded.exit_code, error = excluded.error, log_tail = excluded.log_tail";
const END_ATTEMPTS: &str = "UPDATE chime.attempts a SET ended_at = t.ended_at, outcome = t.outcome, exit_code = t.exit_code, error = t.error, log_tail = t.log_tail
     FROM chime.runs r,
       unnest($3::text[], $4::int4[], $5::text[], $6::text[], $7::int4[], $8::text[], $9::text[])
         AS t(task_id, attempt, ended_at, outcome, exit_code, error, log_tail)
     WHERE r.pipeline = $1 AND r.run_id = $2 AND a.run = r.id AND a.task_id = t.task_id AND a.attempt = t.attempt";

fn write(c: &mut Conn, pipeline: &String, changes: &[Change]) -> Result<(), postgres::Error> {
    // Prepared before the transaction borrows the client.
    let started = c.statement(UPDATE_RUN_STARTED)?;
    let ended = c.statement(UPDATE_RUN_ENDED)?;
    let upsert_tasks = c.statement(UPSERT_TASKS)?;
    let upsert_attempts = c.statement(UPSERT_ATTEMPTS)?;
    let end_attempts = c.statement(END_ATTEMPTS)?;
    // By run, in first-seen order (a batch is one run's, as a rule).
    let mut runs: Vec<(String, Rows)> = Vec::new();
    let mut run_states: Vec<(String, RunState, String)> = Vec::new();
    for change in changes {
        let run_id = change.run_id();
        let at = match runs.iter().position(|(r, _)| r == run_id) {
            Some(i) => i,
            None => {
                runs.push((run_id.to_string(), Rows::default()));
                runs.len() - 1
            }
        };
        let rows = &mut runs[at].1;
        match change {
            Change::Run { state, at, .. } => {
                run_states.push((run_id.to_string(), *state, at.clone()));
            }
            Change::Task {
                task_id,
                state,
                try_number,
                output,
                ..
            } => {
                let tries = i32::try_from(*try_number).unwrap_or(i32::MAX);
                rows.task(task_id, state.as_str(), tries, output);
            }
            Change::AttemptStarted {
                task_id,
                attempt,
                at,
                log_path,
                ..
            } => {
                let row = rows.attempt(task_id, *attempt);
                row.started = Some((at.clone(), log_path.clone()));
                row.ended = None;
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
                let row = rows.attempt(task_id, *attempt);
                row.started = Some((started_at.clone(), log_path.clone()));
                row.ended = Some((
                    ended_at.clone(),
                    outcome.as_str(),
                    None,
                    None,
                    log_tail.clone(),
                ));
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
                let row = rows.attempt(task_id, *attempt);
                row.ended = Some((
                    at.clone(),
                    outcome.as_str(),
                    *exit_code,
                    error.clone(),
                    log_tail.clone(),
                ));
            }
        }
    }
    let mut tx = c.client.transaction()?;
    for (run_id, state, at) in &run_states {
        let st = match state {
            RunState::Running => &started,
            RunState::Success | RunState::Failed | RunState::Queued => &ended,
        };
        tx.execute(st, &[pipeline, run_id, &state.as_str(), at])?;
    }
    for (run_id, rows) in &runs {
        if !rows.tasks.is_empty() {
            let ids: Vec<&str> = rows.tasks.iter().map(|t| t.0.as_str()).collect();
            let states: Vec<&str> = rows.tasks.iter().map(|t| t.1).collect();
            let tries: Vec<i32> = rows.tasks.iter().map(|t| t.2).collect();
            let outputs: Vec<Option<&str>> = rows.tasks.iter().map(|t| t.3.as_deref()).collect();
            tx.execute(
                &upsert_tasks,
                &[pipeline, run_id, &ids, &states, &tries, &outputs],
            )?;
        }
        let (whole, ends): (Vec<&AttemptRow>, Vec<&AttemptRow>) =
            rows.attempts.iter().partition(|a| a.started.is_some());
        if !whole.is_empty() {
            let col = |f: &dyn Fn(&AttemptRow) -> Option<String>| -> Vec<Option<String>> {
                whole.iter().map(|a| f(a)).collect()
            };
            let ids: Vec<&str> = whole.iter().map(|a| a.task_id.as_str()).collect();
            let numbers: Vec<i32> = whole.iter().map(|a| a.attempt).collect();
            let started_at = col(&|a| a.started.as_ref().map(|s| s.0.clone()));
            let log_paths = col(&|a| a.started.as_ref().map(|s| s.1.clone()));
            let ended_at = col(&|a| a.ended.as_ref().map(|e| e.0.clone()));
            let outcomes: Vec<&str> = whole
                .iter()
                .map(|a| a.ended.as_ref().map_or("", |e| e.1))
                .collect();
            let codes: Vec<Option<i32>> = whole
                .iter()
                .map(|a| a.ended.as_ref().and_then(|e| e.2))
                .collect();
            let errors = col(&|a| a.ended.as_ref().and_then(|e| e.3.clone()));
            let tails = col(&|a| a.ended.as_ref().and_then(|e| e.4.clone()));
            tx.execute(
                &upsert_attempts,
                &[
                    pipeline,
                    run_id,
                    &ids,
                    &numbers,
                    &started_at,
                    &log_paths,
                    &ended_at,
                    &outcomes,
                    &codes,
                    &errors,
                    &tails,
                ],
            )?;
        }
        if !ends.is_empty() {
            let ended: Vec<_> = ends
                .iter()
                .filter_map(|a| a.ended.as_ref().map(|e| (a, e)))
                .collect();
            let ids: Vec<&str> = ended.iter().map(|(a, _)| a.task_id.as_str()).collect();
            let numbers: Vec<i32> = ended.iter().map(|(a, _)| a.attempt).collect();
            let at: Vec<&str> = ended.iter().map(|(_, e)| e.0.as_str()).collect();
            let outcomes: Vec<&str> = ended.iter().map(|(_, e)| e.1).collect();
            let codes: Vec<Option<i32>> = ended.iter().map(|(_, e)| e.2).collect();
            let errors: Vec<Option<&str>> = ended.iter().map(|(_, e)| e.3.as_deref()).collect();
            let tails: Vec<Option<&str>> = ended.iter().map(|(_, e)| e.4.as_deref()).collect();
            tx.execute(
                &end_attempts,
                &[
                    pipeline, run_id, &ids, &numbers, &at, &outcomes, &codes, &errors, &tails,
                ],
            )?;
        }
    }
    tx.commit()
}
