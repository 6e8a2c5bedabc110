//! The SQLite state store: one file (`./<pipeline>.state.db` by default),
//! WAL mode, a versioned schema.
//!
//! Durability: WAL with `synchronous = NORMAL`. A committed batch survives
//! the process being killed (`kill -9`, a crash, an OOM kill); after a power
//! loss the last batches may be lost, and are then re-run. `PRAGMA
//! user_version` holds the schema version; a newer one is refused.

use rusqlite::{Connection, OptionalExtension, params};

use super::{AttemptRecord, Change, RunRecord, Store, StoreError, TaskRecord};
use crate::spec::{AttemptOutcome, RunKind};
use crate::state::{RunState, TaskState};

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

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
    PRIMARY KEY (run, seq, attempt)
) WITHOUT ROWID;
";

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
        let conn = Connection::open(path).map_err(corrupt)?;
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

    /// The row number of task `task_id` in run `key`, and whether it is new
    /// (then `apply` creates its row). Existing rows are found by task id.
    fn seq(&mut self, key: i64, task_id: &str) -> Result<(u32, bool), StoreError> {
        if !self.seqs.contains_key(&key) {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT task_id, seq FROM task_instances WHERE run = ?1 ORDER BY seq",
                )
                .map_err(db)?;
            let mut run = RunSeqs::default();
            let rows = stmt
                .query_map([key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(db)?;
            for row in rows {
                let (id, seq) = row.map_err(db)?;
                let seq = seq.clamp(0, u32::MAX as i64 - 1) as u32;
                run.next = run.next.max(seq + 1);
                // A file damaged by hand may repeat an id: the first row wins.
                run.by_id.entry(id).or_insert(seq);
            }
            self.seqs.insert(key, run);
        }
        let run = self.seqs.get_mut(&key).expect("loaded above");
        if let Some(&seq) = run.by_id.get(task_id) {
            return Ok((seq, false));
        }
        let seq = run.next;
        run.next = seq.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: "a task row number past 2^32".into(),
        })?;
        run.by_id.insert(task_id.to_string(), seq);
        Ok((seq, true))
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
                    "INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
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
        let mut stmt = self
            .conn
            .prepare("SELECT task_id, state, try_number, output FROM task_instances WHERE run = ?1 ORDER BY seq")
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

    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.task_id, a.attempt, a.started_at, a.ended_at, a.outcome, a.exit_code, a.error, a.log_path
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
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE state IN ('running', 'queued') ORDER BY logical_date"))
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
        if changes.is_empty() {
            return Ok(());
        }
        // Batches hold one run's changes: its integer key is looked up once.
        let mut last: Option<(&str, i64)> = None;
        let mut keys = Vec::with_capacity(changes.len());
        for change in changes {
            let run_id = match change {
                Change::Run { run_id, .. }
                | Change::Task { run_id, .. }
                | Change::AttemptStarted { run_id, .. }
                | Change::Attempt { run_id, .. }
                | Change::AttemptEnded { run_id, .. } => run_id.as_str(),
            };
            let k = match last {
                Some((id, k)) if id == run_id => k,
                _ => {
                    let k = match self.keys.get(run_id) {
                        Some(&k) => k,
                        None => {
                            let k = self.key(run_id)?;
                            self.keys.insert(run_id.to_string(), k);
                            k
                        }
                    };
                    last = Some((run_id, k));
                    k
                }
            };
            keys.push(k);
        }
        // One writer at a time from here (another `task` process may add
        // rows to the same run): new rows are numbered under the lock.
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
        let result = self.numbered_write(changes, &keys);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(db);
        if result.is_err() || ended.is_err() {
            // Rows numbered in this batch were not written: number them again.
            self.seqs.clear();
        }
        result.and(ended)
    }
}

impl SqliteStore {
    /// Numbers the batch's task rows and writes it, inside the transaction
    /// `apply` holds.
    fn numbered_write(&mut self, changes: &[Change], keys: &[i64]) -> Result<(), StoreError> {
        // A cached numbering is dropped when another process added rows.
        let mut checked: Vec<i64> = Vec::new();
        for &key in keys {
            if checked.contains(&key) {
                continue;
            }
            checked.push(key);
            if let Some(cached) = self.seqs.get(&key) {
                let next: i64 = self
                    .conn
                    .prepare_cached(
                        "SELECT coalesce(max(seq) + 1, 0) FROM task_instances WHERE run = ?1",
                    )
                    .and_then(|mut st| st.query_row([key], |r| r.get(0)))
                    .map_err(db)?;
                if next != i64::from(cached.next) {
                    self.seqs.remove(&key);
                }
            }
        }
        let mut seqs = Vec::with_capacity(changes.len());
        let mut new_rows = Vec::new();
        for (change, &key) in changes.iter().zip(keys) {
            let task_id = match change {
                Change::Run { .. } => {
                    seqs.push(0);
                    continue;
                }
                Change::Task { task_id, .. }
                | Change::AttemptStarted { task_id, .. }
                | Change::Attempt { task_id, .. }
                | Change::AttemptEnded { task_id, .. } => task_id,
            };
            let (seq, new) = self.seq(key, task_id)?;
            // A new task's row is made by its state change; an attempt
            // written without one needs the row made first.
            if new && !matches!(change, Change::Task { .. }) {
                new_rows.push((key, seq, task_id.as_str()));
            }
            seqs.push(seq);
        }
        self.write(changes, keys, &seqs, &new_rows)
    }

    fn write(
        &mut self,
        changes: &[Change],
        keys: &[i64],
        seqs: &[u32],
        new_rows: &[(i64, u32, &str)],
    ) -> Result<(), StoreError> {
        let tx = &self.conn;
        {
            // A new task's row exists before its attempts refer to it.
            let mut placeholder = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO task_instances (run, seq, task_id, state, try_number) VALUES (?1, ?2, ?3, 'none', 0)",
                )
                .map_err(db)?;
            for (key, seq, task_id) in new_rows {
                placeholder
                    .execute(params![key, seq, task_id])
                    .map_err(db)?;
            }
            // Prepared once per batch, not once per change.
            let mut task = tx
                .prepare_cached(
                    "INSERT INTO task_instances (run, seq, task_id, state, try_number, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (run, seq) DO UPDATE SET state = excluded.state, try_number = excluded.try_number, output = excluded.output",
                )
                .map_err(db)?;
            let mut attempt_whole = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO attempts (run, seq, attempt, started_at, ended_at, outcome, log_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db)?;
            for ((change, &key), &seq) in changes.iter().zip(keys).zip(seqs) {
                match change {
                    Change::Run { run_id, state, at } => {
                        let column = match state {
                            RunState::Running => {
                                "started_at = coalesce(started_at, ?3), ended_at = NULL"
                            }
                            RunState::Success | RunState::Failed => "ended_at = ?3",
                            RunState::Queued => "ended_at = ?3",
                        };
                        tx.execute(
                            &format!("UPDATE runs SET state = ?2, {column} WHERE run_id = ?1"),
                            params![run_id, state.as_str(), at],
                        )
                        .map_err(db)?;
                    }
                    Change::Task {
                        task_id,
                        state,
                        try_number,
                        output,
                        ..
                    } => {
                        task.execute(params![
                            key,
                            seq,
                            task_id,
                            state.as_str(),
                            try_number,
                            output
                        ])
                        .map_err(db)?;
                    }
                    Change::AttemptStarted {
                        attempt,
                        at,
                        log_path,
                        ..
                    } => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO attempts (run, seq, attempt, started_at, log_path) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )
                        .and_then(|mut st| st.execute(params![key, seq, attempt, at, log_path]))
                        .map_err(db)?;
                    }
                    Change::AttemptEnded {
                        attempt,
                        at,
                        outcome,
                        exit_code,
                        error,
                        ..
                    } => {
                        tx.prepare_cached(
                            "UPDATE attempts SET ended_at = ?4, outcome = ?5, exit_code = ?6, error = ?7 WHERE run = ?1 AND seq = ?2 AND attempt = ?3",
                        )
                        .and_then(|mut st| st.execute(params![key, seq, attempt, at, outcome.as_str(), exit_code, error]))
                        .map_err(db)?;
                    }
                    Change::Attempt {
                        attempt,
                        started_at,
                        ended_at,
                        outcome,
                        log_path,
                        ..
                    } => {
                        attempt_whole
                            .execute(params![
                                key,
                                seq,
                                attempt,
                                started_at,
                                ended_at,
                                outcome.as_str(),
                                log_path
                            ])
                            .map_err(db)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            logical_date: "2026-01-01T00:00:00+00:00".into(),
            interval_start: "2026-01-01T00:00:00+00:00".into(),
            interval_end: "2026-01-02T00:00:00+00:00".into(),
            kind: RunKind::Manual,
            state: RunState::Running,
            params: "{}".into(),
            started_at: None,
            ended_at: None,
        }
    }

    #[test]
    fn round_trip_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.state.db");
        let path = path.to_str().unwrap();
        let mut s = SqliteStore::open(path, "p").unwrap();
        s.create_run(&run("r1")).unwrap();
        s.apply(&[
            Change::Task {
                run_id: "r1".into(),
                task_id: "b".into(),
                state: TaskState::Running,
                try_number: 1,
                output: None,
            },
            Change::Task {
                run_id: "r1".into(),
                task_id: "a".into(),
                state: TaskState::Success,
                try_number: 1,
                output: Some("3".into()),
            },
            Change::Run {
                run_id: "r1".into(),
                state: RunState::Success,
                at: "now".into(),
            },
        ])
        .unwrap();
        drop(s);
        let s = SqliteStore::open(path, "p").unwrap();
        let tasks = s.task_records("r1").unwrap();
        assert_eq!(tasks[0].task_id, "b");
        assert_eq!(tasks[0].state, TaskState::Running);
        assert_eq!(tasks[1].task_id, "a");
        assert_eq!(tasks[1].state, TaskState::Success);
        assert_eq!(tasks[1].output.as_deref(), Some("3"));
        assert_eq!(s.get_run("r1").unwrap().unwrap().state, RunState::Success);
    }

    fn task(id: &str, state: TaskState, output: Option<&str>) -> Change {
        Change::Task {
            run_id: "r1".into(),
            task_id: id.into(),
            state,
            try_number: 1,
            output: output.map(str::to_string),
        }
    }

    /// Issue 11, item 7: a rebuild that adds a task before the others must
    /// not write into the rows of tasks the run already has.
    #[test]
    fn rows_are_keyed_by_task_id_not_by_position_in_the_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.state.db");
        let path = path.to_str().unwrap();
        let mut s = SqliteStore::open(path, "p").unwrap();
        s.create_run(&run("r1")).unwrap();
        s.apply(&[
            task("extract", TaskState::Success, Some("\"rows\"")),
            task("load", TaskState::Failed, None),
        ])
        .unwrap();
        drop(s);
        // The new build has `validate` first; its run resumes the old run.
        let mut s = SqliteStore::open(path, "p").unwrap();
        s.apply(&[
            task("validate", TaskState::Success, Some("\"ok\"")),
            Change::AttemptStarted {
                run_id: "r1".into(),
                task_id: "validate".into(),
                attempt: 1,
                at: "t".into(),
                log_path: "logs/validate".into(),
            },
            task("load", TaskState::Running, None),
        ])
        .unwrap();
        let by_id: std::collections::HashMap<String, TaskRecord> = s
            .task_records("r1")
            .unwrap()
            .into_iter()
            .map(|r| (r.task_id.clone(), r))
            .collect();
        assert_eq!(by_id.len(), 3, "{by_id:?}");
        assert_eq!(by_id["extract"].state, TaskState::Success);
        assert_eq!(by_id["extract"].output.as_deref(), Some("\"rows\""));
        assert_eq!(by_id["validate"].output.as_deref(), Some("\"ok\""));
        assert_eq!(by_id["load"].state, TaskState::Running);
        let attempts = s.attempts("r1").unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].task_id, "validate");
        // A new task's attempt, written before its state, keeps its own row.
        let mut s = SqliteStore::open(path, "p").unwrap();
        s.apply(&[Change::AttemptStarted {
            run_id: "r1".into(),
            task_id: "report".into(),
            attempt: 1,
            at: "t".into(),
            log_path: "logs/report".into(),
        }])
        .unwrap();
        let attempts = SqliteStore::open(path, "p")
            .unwrap()
            .attempts("r1")
            .unwrap();
        assert_eq!(
            attempts
                .iter()
                .map(|a| a.task_id.as_str())
                .collect::<Vec<_>>(),
            ["validate", "report"]
        );
    }

    /// Kinds and outcomes are enums in the code and the same text in the
    /// file: a state file written by an earlier build reads, and what this
    /// build writes is the text it always wrote.
    #[test]
    fn kinds_and_outcomes_keep_their_stored_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.state.db");
        let path = path.to_str().unwrap();
        drop(SqliteStore::open(path, "p").unwrap());
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "INSERT INTO runs (id, run_id, logical_date, interval_start, interval_end, kind, state, params)
                 VALUES (1, 'scheduled__d', 'd', 'd', 'e', 'scheduled', 'running', '{}'),
                        (2, 'backfill__c', 'c', 'c', 'd', 'backfill', 'failed', '{}');
             INSERT INTO task_instances (run, seq, task_id, state, try_number) VALUES
                 (1, 0, 'a', 'up_for_retry', 3);
             INSERT INTO attempts (run, seq, attempt, started_at, ended_at, outcome, log_path) VALUES
                 (1, 0, 1, 't', 't', 'timed_out', 'l'),
                 (1, 0, 2, 't', 't', 'interrupted', 'l'),
                 (1, 0, 3, 't', NULL, '', 'l');",
        )
        .unwrap();
        let mut s = SqliteStore::open(path, "p").unwrap();
        assert_eq!(
            s.get_run("scheduled__d").unwrap().unwrap().kind,
            RunKind::Scheduled
        );
        assert_eq!(
            s.get_run("backfill__c").unwrap().unwrap().kind,
            RunKind::Backfill
        );
        assert_eq!(s.latest_scheduled().unwrap().as_deref(), Some("d"));
        let outcomes: Vec<_> = s
            .attempts("scheduled__d")
            .unwrap()
            .iter()
            .map(|a| a.outcome)
            .collect();
        assert_eq!(
            outcomes,
            [
                Some(AttemptOutcome::TimedOut),
                Some(AttemptOutcome::Interrupted),
                None
            ]
        );
        s.create_run(&run("r1")).unwrap();
        s.apply(&[
            Change::AttemptStarted {
                run_id: "scheduled__d".into(),
                task_id: "a".into(),
                attempt: 4,
                at: "t".into(),
                log_path: "l".into(),
            },
            Change::AttemptEnded {
                run_id: "scheduled__d".into(),
                task_id: "a".into(),
                attempt: 4,
                at: "t".into(),
                outcome: AttemptOutcome::Failed,
                exit_code: Some(1),
                error: None,
            },
            Change::Attempt {
                run_id: "r1".into(),
                task_id: "b".into(),
                attempt: 1,
                started_at: "t".into(),
                ended_at: "t".into(),
                outcome: AttemptOutcome::Success,
                log_path: String::new(),
            },
        ])
        .unwrap();
        let text: Vec<String> = c
            .prepare(
                "SELECT outcome FROM attempts WHERE ended_at IS NOT NULL ORDER BY run, attempt",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(text, ["timed_out", "interrupted", "failed", "success"]);
        let kind: String = c
            .query_row("SELECT kind FROM runs WHERE run_id = 'r1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kind, "manual");
    }

    #[test]
    fn a_new_state_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.state.db");
        let mut s = SqliteStore::open(path.to_str().unwrap(), "p").unwrap();
        s.create_run(&run("r1")).unwrap();
        for f in ["p.state.db", "p.state.db-wal"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    #[test]
    fn one_lease_holder_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.state.db");
        let mut a = SqliteStore::open(path.to_str().unwrap(), "p").unwrap();
        let mut b = SqliteStore::open(path.to_str().unwrap(), "p").unwrap();
        assert_eq!(a.acquire_lease("a", 100, 130).unwrap(), None);
        assert_eq!(
            b.acquire_lease("b", 110, 140).unwrap(),
            Some(("a".to_string(), 130))
        );
        assert_eq!(a.acquire_lease("a", 120, 150).unwrap(), None, "renewal");
        // a crashed: its lease expires and b takes over.
        assert_eq!(b.acquire_lease("b", 151, 181).unwrap(), None);
        b.release_lease("b").unwrap();
        assert_eq!(a.acquire_lease("a", 152, 182).unwrap(), None);
    }

    #[test]
    fn refuses_newer_foreign_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer.db");
        let c = Connection::open(&newer).unwrap();
        c.execute_batch("PRAGMA user_version = 99;").unwrap();
        drop(c);
        let e = SqliteStore::open(newer.to_str().unwrap(), "p").unwrap_err();
        assert!(
            matches!(e, StoreError::NewerSchema { found: 99, .. }),
            "{e}"
        );

        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        let e = SqliteStore::open(garbage.to_str().unwrap(), "p").unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");

        let other = dir.path().join("other.db");
        SqliteStore::open(other.to_str().unwrap(), "first").unwrap();
        let e = SqliteStore::open(other.to_str().unwrap(), "second").unwrap_err();
        assert!(e.to_string().contains("belongs to pipeline `first`"), "{e}");
    }
}
