//! The SQLite state store: one file (`./<pipeline>.state.db` by default),
//! WAL mode, a versioned schema.
//!
//! Durability: WAL with `synchronous = NORMAL`. A committed batch survives
//! the process being killed (`kill -9`, a crash, an OOM kill); after a power
//! loss the last batches may be lost, and are then re-run. `PRAGMA
//! user_version` holds the schema version; a newer one is refused.

use rusqlite::{Connection, OptionalExtension, params};

use super::{AttemptRecord, Change, RunRecord, Store, StoreError, TaskRecord};
use crate::claim::{self, Claim, ClaimError};
use crate::scheduler::Clock;
use crate::state::{RunState, TaskState};
use crate::vocabulary::{AttemptOutcome, RunKind};

mod stats;
mod write;

/// The schema version this binary writes and reads. Version 2 added
/// `attempts.log_tail`; a version 1 file is migrated when opened.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE scheduler_lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    logical_date TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT
);
CREATE INDEX runs_by_date ON runs (logical_date);
-- Keyed by integers (the run's id, a number the store gives each task id of
-- the run on its first write): comparing long run_id strings dominated the
-- cost of a 10k-task run. `seq` is not the task's position in the pipeline:
-- a rebuild that adds or removes tasks must not move rows between tasks.
CREATE TABLE task_instances (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,
    try_number INTEGER NOT NULL,
    output TEXT,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
CREATE TABLE attempts (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    error TEXT,
    log_path TEXT NOT NULL,
    log_tail TEXT,
    PRIMARY KEY (run, seq, attempt)
) WITHOUT ROWID;
";

/// Each version's changes to the one before, in order: `MIGRATIONS[0]`
/// takes a version 1 file to version 2.
const MIGRATIONS: &[&str] = &["ALTER TABLE attempts ADD COLUMN log_tail TEXT;"];

pub struct SqliteStore {
    conn: Connection,
    path: String,
    /// run_id -> runs.id, for the integer keys of the other tables.
    keys: std::collections::HashMap<String, i64>,
    /// runs.id -> its task rows' numbers, by task id.
    seqs: std::collections::HashMap<i64, RunSeqs>,
}

/// The row numbers of one run's tasks.
#[derive(Debug, Default)]
struct RunSeqs {
    by_id: std::collections::HashMap<String, u32>,
    /// The number the next new task gets.
    next: u32,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// The run's task instances in row order, with `output` as the SQL
    /// expression for their outputs (`output`, or `NULL` to leave them).
    fn tasks_of(&self, run_id: &str, output: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT task_id, state, try_number, {output} FROM task_instances WHERE run = ?1 ORDER BY seq"
            ))
            .map_err(db)?;
        let key = self.key(run_id)?;
        let rows = stmt
            .query_map([key], |r| {
                let state: String = r.get(1)?;
                Ok(TaskRecord {
                    task_id: r.get(0)?,
                    state: TaskState::parse(&state).unwrap_or(TaskState::None),
                    try_number: r.get::<_, i64>(2)?.max(0) as u32,
                    output: r.get(3)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    /// Opens (creating if needed) the state of pipeline `pipeline` at `path`.
    pub fn open(path: &str, pipeline: &str) -> Result<SqliteStore, StoreError> {
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: path.to_string(),
            detail: e.to_string(),
        };
        // A new state file is readable by its owner only (it holds outputs,
        // errors and params); SQLite gives its -wal and -shm files the same
        // mode. An existing file keeps the mode its owner chose.
        {
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
        }
        let mut conn = Connection::open(path).map_err(corrupt)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(corrupt)?;
        // The first statement that reads the file tells a damaged or foreign file apart.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_string(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000; PRAGMA temp_store = MEMORY;",
        )
            .map_err(corrupt)?;
        if version == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(corrupt)?;
            if tables > 0 {
                return Err(StoreError::Corrupt {
                    path: path.to_string(),
                    detail: "a SQLite database with other tables".into(),
                });
            }
            let tx = conn.unchecked_transaction().map_err(db)?;
            tx.execute_batch(SCHEMA).map_err(db)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('pipeline', ?1)",
                [pipeline],
            )
            .map_err(db)?;
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        let owner: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'pipeline'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(corrupt)?;
        match owner {
            Some(found) if found != pipeline => {
                return Err(StoreError::OtherPipeline {
                    path: path.to_string(),
                    found,
                    expected: pipeline.to_string(),
                });
            }
            Some(_) => {}
            None => {
                return Err(StoreError::Corrupt {
                    path: path.to_string(),
                    detail: "no pipeline recorded".into(),
                });
            }
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS scheduler_lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, expires_at INTEGER NOT NULL);",
        )
        .map_err(db)?;
        if (1..SCHEMA_VERSION).contains(&version) {
            // One writer migrates; another process opening the file at the
            // same moment waits for it (busy_timeout), then sees version 2.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let now: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(db)?;
            for step in MIGRATIONS.iter().skip((now.max(1) - 1) as usize) {
                tx.execute_batch(step).map_err(db)?;
            }
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        // The WAL is checkpointed by size (16 MB), not at every close:
        // a run's process ends without a checkpoint's fsyncs.
        let _ = conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        );
        Ok(SqliteStore {
            conn,
            path: path.to_string(),
            keys: Default::default(),
            seqs: Default::default(),
        })
    }

    /// The integer key of a run (0 when there is no such run).
    fn key(&self, run_id: &str) -> Result<i64, StoreError> {
        if let Some(&k) = self.keys.get(run_id) {
            return Ok(k);
        }
        self.conn
            .query_row("SELECT id FROM runs WHERE run_id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()
            .map(|k| k.unwrap_or(0))
            .map_err(db)
    }

    fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
        let state: String = r.get(5)?;
        let kind: String = r.get(4)?;
        Ok(RunRecord {
            run_id: r.get(0)?,
            logical_date: r.get(1)?,
            interval_start: r.get(2)?,
            interval_end: r.get(3)?,
            // Likewise an unknown kind: it only names what started the run.
            kind: RunKind::parse(&kind).unwrap_or(RunKind::Manual),
            // An unknown state string means a damaged file; reading it as
            // failed lets `run` resume it rather than panic.
            state: RunState::parse(&state).unwrap_or(RunState::Failed),
            params: r.get(6)?,
            started_at: r.get(7)?,
            ended_at: r.get(8)?,
        })
    }
}

const RUN_COLUMNS: &str =
    "run_id, logical_date, interval_start, interval_end, kind, state, params, started_at, ended_at";

impl Store for SqliteStore {
    fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"),
                [run_id],
                Self::run_from_row,
            )
            .optional()
            .map_err(db)
    }

    fn create_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        self.conn
            .execute(
                &format!(
                    "INSERT OR IGNORE INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    run.run_id,
                    run.logical_date,
                    run.interval_start,
                    run.interval_end,
                    run.kind.as_str(),
                    run.state.as_str(),
                    run.params,
                    run.started_at,
                    run.ended_at
                ],
            )
            .map(|_| ())
            .map_err(db)
    }

    fn set_params(&mut self, run_id: &str, params: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET params = ?2 WHERE run_id = ?1",
                params![run_id, params],
            )
            .map(|_| ())
            .map_err(db)
    }

    fn task_records(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        self.tasks_of(run_id, "output")
    }

    fn task_states(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        self.tasks_of(run_id, "NULL")
    }

    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.task_id, a.attempt, a.started_at, a.ended_at, a.outcome, a.exit_code, a.error, a.log_path, a.log_tail
                 FROM attempts a JOIN task_instances t ON t.run = a.run AND t.seq = a.seq
                 WHERE a.run = ?1 ORDER BY a.seq, a.attempt",
            )
            .map_err(db)?;
        let key = self.key(run_id)?;
        let rows = stmt
            .query_map([key], |r| {
                Ok(AttemptRecord {
                    task_id: r.get(0)?,
                    attempt: r.get::<_, i64>(1)?.max(0) as u32,
                    started_at: r.get(2)?,
                    ended_at: r.get(3)?,
                    // Empty while running; unknown text (a damaged file)
                    // reads as no outcome, as an attempt cut off does.
                    outcome: AttemptOutcome::parse(&r.get::<_, String>(4)?),
                    exit_code: r.get(5)?,
                    error: r.get(6)?,
                    log_path: r.get(7)?,
                    log_tail: r.get(8)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY logical_date DESC, run_id DESC LIMIT ?1"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map([limit as i64], Self::run_from_row)
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    fn run_by_logical(&self, logical_date: &str) -> Result<Option<RunRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE logical_date = ?1 ORDER BY id LIMIT 1"
                ),
                [logical_date],
                Self::run_from_row,
            )
            .optional()
            .map_err(db)
    }

    fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE state IN ('{}', '{}') ORDER BY logical_date",
                RunState::Running.as_str(),
                RunState::Queued.as_str()
            ))
            .map_err(db)?;
        let rows = stmt.query_map([], Self::run_from_row).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    fn latest_scheduled(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT max(logical_date) FROM runs WHERE kind IN ('{}', '{}')",
                    RunKind::Scheduled.as_str(),
                    RunKind::Backfill.as_str()
                ),
                [],
                |r| r.get(0),
            )
            .map_err(db)
    }

    fn acquire_lease(
        &mut self,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let current: Option<(String, i64)> = tx
            .query_row(
                "SELECT holder, expires_at FROM scheduler_lease WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        if let Some((other, until)) = current
            && other != holder
            && until > now
        {
            return Ok(Some((other, until)));
        }
        tx.execute(
            "INSERT INTO scheduler_lease (id, holder, expires_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            params![holder, expires_at],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(None)
    }

    fn release_lease(&mut self, holder: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM scheduler_lease WHERE holder = ?1", [holder])
            .map(|_| ())
            .map_err(db)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        self.apply_batch(changes)
    }

    fn settle_run(
        &mut self,
        run_id: &str,
        rule: &super::RunRule,
        at: &str,
    ) -> Result<RunState, StoreError> {
        // The write lock first: no other process commits in between.
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
        let settled = self.task_records(run_id).and_then(|records| {
            let state = rule.state(&records);
            self.conn
                .execute(
                    "UPDATE runs SET state = ?2, ended_at = ?3 WHERE run_id = ?1",
                    params![run_id, state.as_str(), at],
                )
                .map_err(db)?;
            Ok(state)
        });
        let end = if settled.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.conn.execute_batch(end).map_err(db);
        let state = settled?;
        ended.map(|()| state)
    }

    fn claim(
        &self,
        logical: &str,
        task: Option<&str>,
        doing: &str,
        clock: &dyn Clock,
    ) -> Result<Claim, ClaimError> {
        let state = std::path::Path::new(&self.path);
        match task {
            Some(task) => claim::task(state, logical, task, doing, clock),
            None => claim::run(state, logical, doing, clock),
        }
    }

    fn pool_slot(
        &self,
        pool: &str,
        size: u32,
        doing: &str,
        clock: &dyn Clock,
    ) -> Result<Option<Claim>, ClaimError> {
        crate::pool::slot(std::path::Path::new(&self.path), pool, size, doing, clock)
    }

    fn stats(&self) -> Result<super::Stats, StoreError> {
        stats::read(&self.conn).map_err(db)
    }
}

#[cfg(test)]
mod tests;
