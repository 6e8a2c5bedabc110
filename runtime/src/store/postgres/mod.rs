//! The PostgreSQL state store (`--state postgres://...`): one database
//! shared by every machine an orchestrator runs a pipeline's tasks on, and
//! by any number of pipelines (rows carry the pipeline's name).
//!
//! - Tables live in the schema `chime`; `chime.meta` holds the schema
//!   version. Opening creates or migrates the tables under a transaction
//!   advisory lock, so processes starting at once do not race; a version
//!   newer than this binary's is refused.
//! - Writes are row upserts keyed by (run, task id, attempt) in one
//!   transaction per batch, so `task` processes on different machines
//!   writing the same run at once never overwrite each other's rows.
//! - Claims (`claim.rs`) are session advisory locks: PostgreSQL releases
//!   them when the process's connection ends, however the process ends.
//! - The `postgres` client runs its own async runtime, which cannot be
//!   entered from the executor's: the connection lives on a thread of its
//!   own and the store sends it jobs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;

use postgres::{Client, Statement};

use super::{AttemptRecord, Change, RunRecord, Store, StoreError, TaskRecord};
use crate::claim::{Claim, ClaimError};
use crate::scheduler::Clock;
use crate::state::{RunState, TaskState};
use crate::vocabulary::{AttemptOutcome, RunKind};

mod claims;
mod stats;
mod write;

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1: runs, task instances, attempts (with the tail of each
/// attempt's log, read by `logs` on another machine), the scheduler's
/// lease per pipeline, and who holds each claim (for messages).
const SCHEMA_V1: &str = "
CREATE TABLE chime.runs (
    id bigserial PRIMARY KEY,
    pipeline text NOT NULL,
    run_id text NOT NULL,
    logical_date text NOT NULL,
    interval_start text NOT NULL,
    interval_end text NOT NULL,
    kind text NOT NULL,
    state text NOT NULL,
    params text NOT NULL,
    started_at text,
    ended_at text,
    UNIQUE (pipeline, run_id)
);
CREATE INDEX runs_by_date ON chime.runs (pipeline, logical_date);
CREATE TABLE chime.task_instances (
    run bigint NOT NULL REFERENCES chime.runs (id) ON DELETE CASCADE,
    task_id text NOT NULL,
    created bigserial NOT NULL,
    state text NOT NULL,
    try_number integer NOT NULL,
    output text,
    PRIMARY KEY (run, task_id)
);
CREATE TABLE chime.attempts (
    run bigint NOT NULL REFERENCES chime.runs (id) ON DELETE CASCADE,
    task_id text NOT NULL,
    attempt integer NOT NULL,
    started_at text NOT NULL,
    ended_at text,
    outcome text NOT NULL DEFAULT '',
    exit_code integer,
    error text,
    log_path text NOT NULL,
    log_tail text,
    PRIMARY KEY (run, task_id, attempt)
);
CREATE TABLE chime.scheduler_leases (
    pipeline text PRIMARY KEY,
    holder text NOT NULL,
    expires_at bigint NOT NULL
);
CREATE TABLE chime.claims (key text PRIMARY KEY, holder text NOT NULL);
";

/// The connection, owned by the store's thread, with its prepared
/// statements.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    /// `sql`, prepared once per connection.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// Sends jobs to the connection's thread; the thread (and the connection,
/// and every claim held on it) ends when the last sender is dropped.
#[derive(Clone)]
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
    /// The URL's password, hidden from every message.
    password: Option<Arc<str>>,
}

impl Worker {
    /// Runs `f` on the connection and waits for its result.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |c| {
            let _ = reply.send(f(c));
        });
        let gone = || StoreError::Database("the PostgreSQL state connection is closed".into());
        self.jobs.send(job).map_err(|_| gone())?;
        result
            .recv()
            .map_err(|_| gone())?
            .map_err(|e| self.error(&e))
    }

    /// A database error as the store reports it, the password hidden.
    fn error(&self, e: &postgres::Error) -> StoreError {
        StoreError::Database(self.hide(&pg_error(e)))
    }

    fn hide(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(&**p, "***"),
            _ => text.to_string(),
        }
    }
}

/// A PostgreSQL error with its server message, detail and hint.
fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; hint: {h}"));
            }
            if let Some(hint) = crate::pg_tls::hint(&s) {
                s.push_str(&format!(" ({hint})"));
            }
            s
        }
        None => crate::pg_tls::error_chain(e),
    }
}

pub struct PgStore {
    worker: Worker,
    /// The URL with its password hidden, for messages.
    shown: String,
    pipeline: Arc<str>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.shown)
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

impl PgStore {
    /// Connects to `url` and makes sure the tables are there, at this
    /// binary's schema version.
    pub fn open(url: &str, pipeline: &str) -> Result<PgStore, StoreError> {
        let shown = crate::secrets::redact_url(url);
        let unreadable = |e: crate::pg_tls::TlsError| StoreError::Corrupt {
            path: shown.clone(),
            detail: match e {
                crate::pg_tls::TlsError::Parse(e) => {
                    format!("not a PostgreSQL URL chime can read: {}", pg_error(&e))
                }
                other => other.to_string(),
            },
        };
        let (mut config, tls) = crate::pg_tls::config(url).map_err(unreadable)?;
        let password = config
            .get_password()
            .map(|p| Arc::from(String::from_utf8_lossy(p).as_ref()));
        config.application_name(&format!("chime {pipeline}"));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        // The connection is idle while a task runs, and holds its claims:
        // keepalives keep NATs and load balancers from dropping it, and
        // find a dead server within about a minute.
        config
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(30))
            .keepalives_interval(std::time::Duration::from_secs(10))
            .keepalives_retries(3);
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("chime-pg-state".into())
            .spawn(move || {
                let client = match crate::pg_tls::connect(&config, tls) {
                    Ok(c) => {
                        let _ = ready.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let mut conn = Conn {
                    client,
                    statements: HashMap::new(),
                };
                while let Ok(job) = inbox.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start a thread: {e}")))?;
        let worker = Worker { jobs, password };
        let cannot = |detail: String| {
            StoreError::Database(format!(
                "cannot connect to the PostgreSQL state at {shown}: {detail}"
            ))
        };
        match connected.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(cannot(worker.hide(&pg_error(&e)))),
            Err(_) => return Err(cannot("the connection's thread ended".into())),
        }
        let store = PgStore {
            worker,
            shown: shown.clone(),
            pipeline: Arc::from(pipeline),
        };
        let found = store.worker.call(migrate)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: shown,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    /// Reads runs with `sql`, whose first parameter is the pipeline.
    fn runs_where(
        &self,
        sql: &'static str,
        args: Vec<String>,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let pipeline = self.pipeline.to_string();
        self.worker.call(move |c| {
            let st = c.statement(sql)?;
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&pipeline];
            params.extend(
                args.iter()
                    .map(|a| a as &(dyn postgres::types::ToSql + Sync)),
            );
            let rows = c.client.query(&st, &params)?;
            Ok(rows.iter().map(run_from_row).collect())
        })
    }
}

/// Creates the tables, or migrates them, to [`SCHEMA_VERSION`]; returns the
/// version found (a newer one is left alone, and refused by the caller).
fn migrate(c: &mut Conn) -> Result<i64, postgres::Error> {
    // Up to date: no DDL, so a role with only read and write rights on
    // the tables (its schema made by an administrator) can open it.
    let current: Option<i64> = c
        .client
        .query_one(
            "SELECT CASE WHEN to_regclass('chime.meta') IS NULL THEN NULL ELSE 0 END::bigint",
            &[],
        )?
        .get(0);
    if current.is_some() {
        let found: Option<i64> = c
            .client
            .query_opt(
                "SELECT value::bigint FROM chime.meta WHERE key = 'schema_version'",
                &[],
            )?
            .map(|r| r.get(0));
        if let Some(v) = found.filter(|v| *v >= SCHEMA_VERSION) {
            return Ok(v);
        }
    }
    let mut tx = c.client.transaction()?;
    // One process at a time creates or migrates.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('chime:schema', 0))",
        &[],
    )?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS chime;
         CREATE TABLE IF NOT EXISTS chime.meta (key text PRIMARY KEY, value text NOT NULL);",
    )?;
    let found: Option<i64> = tx
        .query_opt(
            "SELECT value::bigint FROM chime.meta WHERE key = 'schema_version'",
            &[],
        )?
        .map(|r| r.get(0));
    let found = found.unwrap_or(0);
    if found >= SCHEMA_VERSION {
        tx.commit()?;
        return Ok(found);
    }
    // Each version's steps in order; version 1 is the first.
    if found < 1 {
        tx.batch_execute(SCHEMA_V1)?;
    }
    tx.execute(
        "INSERT INTO chime.meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SCHEMA_VERSION.to_string()],
    )?;
    tx.commit()?;
    Ok(SCHEMA_VERSION)
}

const TASK_RECORDS: &str =
    "SELECT t.task_id, t.state, t.try_number, t.output FROM chime.task_instances t
     JOIN chime.runs r ON r.id = t.run WHERE r.pipeline = $1 AND r.run_id = $2 ORDER BY t.created";

fn task_from_row(r: &postgres::Row) -> TaskRecord {
    TaskRecord {
        task_id: r.get(0),
        state: TaskState::parse(r.get(1)).unwrap_or(TaskState::None),
        try_number: r.get::<_, i32>(2).max(0) as u32,
        output: r.get(3),
    }
}

fn run_from_row(r: &postgres::Row) -> RunRecord {
    let kind: String = r.get(4);
    let state: String = r.get(5);
    RunRecord {
        run_id: r.get(0),
        logical_date: r.get(1),
        interval_start: r.get(2),
        interval_end: r.get(3),
        // As in SQLite: unknown text (a hand-edited row) reads as a manual
        // run, and as a failed one that `run` resumes.
        kind: RunKind::parse(&kind).unwrap_or(RunKind::Manual),
        state: RunState::parse(&state).unwrap_or(RunState::Failed),
        params: r.get(6),
        started_at: r.get(7),
        ended_at: r.get(8),
    }
}

/// `SELECT <run columns> FROM chime.runs WHERE pipeline = $1 <rest>`.
macro_rules! select_runs {
    ($rest:literal) => {
        concat!(
            "SELECT run_id, logical_date, interval_start, interval_end, kind, state, params, started_at, ended_at FROM chime.runs WHERE pipeline = $1 ",
            $rest
        )
    };
}

impl Store for PgStore {
    fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let runs = self.runs_where(select_runs!("AND run_id = $2"), vec![run_id.to_string()])?;
        Ok(runs.into_iter().next())
    }

    fn create_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        let pipeline = self.pipeline.to_string();
        let r = run.clone();
        self.worker.call(move |c| {
            // Two `task` processes may create the run at once: one wins.
            let st = c.statement(
                "INSERT INTO chime.runs (pipeline, run_id, logical_date, interval_start, interval_end, kind, state, params, started_at, ended_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (pipeline, run_id) DO NOTHING",
            )?;
            c.client.execute(
                &st,
                &[
                    &pipeline,
                    &r.run_id,
                    &r.logical_date,
                    &r.interval_start,
                    &r.interval_end,
                    &r.kind.as_str(),
                    &r.state.as_str(),
                    &r.params,
                    &r.started_at,
                    &r.ended_at,
                ],
            )?;
            Ok(())
        })
    }

    fn set_params(&mut self, run_id: &str, params: &str) -> Result<(), StoreError> {
        let (pipeline, run_id, params) = (
            self.pipeline.to_string(),
            run_id.to_string(),
            params.to_string(),
        );
        self.worker.call(move |c| {
            let st = c.statement(
                "UPDATE chime.runs SET params = $3 WHERE pipeline = $1 AND run_id = $2",
            )?;
            c.client.execute(&st, &[&pipeline, &run_id, &params])?;
            Ok(())
        })
    }

    fn task_records(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let (pipeline, run_id) = (self.pipeline.to_string(), run_id.to_string());
        self.worker.call(move |c| {
            let st = c.statement(TASK_RECORDS)?;
            let rows = c.client.query(&st, &[&pipeline, &run_id])?;
            Ok(rows.iter().map(task_from_row).collect())
        })
    }

    fn settle_run(
        &mut self,
        run_id: &str,
        rule: &super::RunRule,
        at: &str,
    ) -> Result<RunState, StoreError> {
        let (pipeline, run_id, at) = (
            self.pipeline.to_string(),
            run_id.to_string(),
            at.to_string(),
        );
        let rule = rule.clone();
        self.worker.call(move |c| {
            let records = c.statement(TASK_RECORDS)?;
            let mut tx = c.client.transaction()?;
            // The run's row locked: other processes settling it wait.
            tx.execute(
                "SELECT id FROM chime.runs WHERE pipeline = $1 AND run_id = $2 FOR UPDATE",
                &[&pipeline, &run_id],
            )?;
            let rows = tx.query(&records, &[&pipeline, &run_id])?;
            let state = rule.state(&rows.iter().map(task_from_row).collect::<Vec<_>>());
            tx.execute(
                "UPDATE chime.runs SET state = $3, ended_at = $4 WHERE pipeline = $1 AND run_id = $2",
                &[&pipeline, &run_id, &state.as_str(), &at],
            )?;
            tx.commit()?;
            Ok(state)
        })
    }

    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let (pipeline, run_id) = (self.pipeline.to_string(), run_id.to_string());
        self.worker.call(move |c| {
            let st = c.statement(
                "SELECT a.task_id, a.attempt, a.started_at, a.ended_at, a.outcome, a.exit_code, a.error, a.log_path, a.log_tail
                 FROM chime.attempts a JOIN chime.runs r ON r.id = a.run
                 LEFT JOIN chime.task_instances t ON t.run = a.run AND t.task_id = a.task_id
                 WHERE r.pipeline = $1 AND r.run_id = $2 ORDER BY t.created, a.attempt",
            )?;
            let rows = c.client.query(&st, &[&pipeline, &run_id])?;
            Ok(rows
                .iter()
                .map(|r| AttemptRecord {
                    task_id: r.get(0),
                    attempt: r.get::<_, i32>(1).max(0) as u32,
                    started_at: r.get(2),
                    ended_at: r.get(3),
                    outcome: AttemptOutcome::parse(r.get(4)),
                    exit_code: r.get(5),
                    error: r.get(6),
                    log_path: r.get(7),
                    log_tail: r.get(8),
                })
                .collect())
        })
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let pipeline = self.pipeline.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.worker.call(move |c| {
            let st = c.statement(select_runs!(
                "ORDER BY logical_date DESC, run_id DESC LIMIT $2"
            ))?;
            let rows = c.client.query(&st, &[&pipeline, &limit])?;
            Ok(rows.iter().map(run_from_row).collect())
        })
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        self.apply_batch(changes)
    }

    fn run_by_logical(&self, logical_date: &str) -> Result<Option<RunRecord>, StoreError> {
        let runs = self.runs_where(
            select_runs!("AND logical_date = $2 ORDER BY id LIMIT 1"),
            vec![logical_date.to_string()],
        )?;
        Ok(runs.into_iter().next())
    }

    fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(
            select_runs!("AND state IN ($2, $3) ORDER BY logical_date"),
            vec![
                RunState::Running.as_str().into(),
                RunState::Queued.as_str().into(),
            ],
        )
    }

    fn latest_scheduled(&self) -> Result<Option<String>, StoreError> {
        let pipeline = self.pipeline.to_string();
        self.worker.call(move |c| {
            let st = c.statement(
                "SELECT max(logical_date) FROM chime.runs WHERE pipeline = $1 AND kind IN ($2, $3)",
            )?;
            let row = c.client.query_one(
                &st,
                &[
                    &pipeline,
                    &RunKind::Scheduled.as_str(),
                    &RunKind::Backfill.as_str(),
                ],
            )?;
            Ok(row.get(0))
        })
    }

    fn acquire_lease(
        &mut self,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        self.lease(holder, now, expires_at)
    }

    fn release_lease(&mut self, holder: &str) -> Result<(), StoreError> {
        let (pipeline, holder) = (self.pipeline.to_string(), holder.to_string());
        self.worker.call(move |c| {
            let st = c.statement(
                "DELETE FROM chime.scheduler_leases WHERE pipeline = $1 AND holder = $2",
            )?;
            c.client.execute(&st, &[&pipeline, &holder])?;
            Ok(())
        })
    }

    fn claim(
        &self,
        logical: &str,
        task: Option<&str>,
        doing: &str,
        clock: &dyn Clock,
    ) -> Result<Claim, ClaimError> {
        claims::claim(self, logical, task, doing, clock)
    }

    fn pool_slot(
        &self,
        pool: &str,
        size: u32,
        doing: &str,
        clock: &dyn Clock,
    ) -> Result<Option<Claim>, ClaimError> {
        claims::pool_slot(self, pool, size, doing, clock)
    }

    fn stats(&self) -> Result<super::Stats, StoreError> {
        let pipeline = self.pipeline.to_string();
        self.worker
            .call(move |c| stats::read(&mut c.client, &pipeline))
    }
}
