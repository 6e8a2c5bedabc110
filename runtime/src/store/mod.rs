//! Where runs, task instances and attempts are kept.
//!
//! The executor talks to a [`Store`]: SQLite (`sqlite/`, one file, the
//! default) or PostgreSQL (`postgres/`, shared by the machines an
//! orchestrator runs tasks on). Writes come in batches
//! ([`Store::apply`], one transaction each): the executor groups every
//! change of a scheduling round, so persistence costs one commit per round,
//! not one per task.

use std::fmt;

use crate::state::{RunState, TaskState};
use crate::vocabulary::{AttemptOutcome, RunKind};

#[cfg(feature = "pg-state")]
pub mod postgres;
pub mod sqlite;
pub mod stats;

pub use stats::{AttemptStats, Stats};

use crate::claim::{Claim, ClaimError};
use crate::scheduler::Clock;

/// A run of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub run_id: String,
    /// RFC 3339, in the pipeline's time zone.
    pub logical_date: String,
    pub interval_start: String,
    pub interval_end: String,
    pub kind: RunKind,
    pub state: RunState,
    /// JSON object: the run's params after `--param` overrides.
    pub params: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

/// A task instance: a task in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub task_id: String,
    pub state: TaskState,
    /// Attempts started so far.
    pub try_number: u32,
    /// JSON text of the task's output, when it succeeded and gave one.
    pub output: Option<String>,
}

/// One attempt of a task instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub task_id: String,
    pub attempt: u32,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `None` while the attempt runs (stored as empty text).
    pub outcome: Option<AttemptOutcome>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub log_path: String,
    /// The last lines of the attempt's log (at most [`LOG_TAIL_BYTES`]),
    /// for `logs` on a machine that does not have the file.
    pub log_tail: Option<String>,
}

/// A run's tasks, to settle its state from its rows
/// ([`RunState::of`], Airflow's rule).
#[derive(Debug, Clone, Default)]
pub struct RunRule {
    /// Each task's id, and whether it is a leaf (nothing depends on it).
    pub tasks: Vec<(String, bool)>,
}

impl RunRule {
    pub fn state(&self, records: &[TaskRecord]) -> RunState {
        let by_id: std::collections::HashMap<&str, TaskState> = records
            .iter()
            .map(|r| (r.task_id.as_str(), r.state))
            .collect();
        RunState::of(self.tasks.iter().map(|(id, leaf)| {
            let state = by_id.get(id.as_str()).copied().unwrap_or(TaskState::None);
            (state, *leaf)
        }))
    }
}

/// How much of the end of an attempt's log the state keeps.
pub const LOG_TAIL_BYTES: usize = 4096;

/// The last whole lines of the log at `path` within [`LOG_TAIL_BYTES`]
/// (the log is redacted as it is written); `None` without a log.
pub fn log_tail(path: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    if path.as_os_str().is_empty() {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let from = len.saturating_sub(LOG_TAIL_BYTES as u64);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::with_capacity(LOG_TAIL_BYTES);
    file.take(LOG_TAIL_BYTES as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    let text = String::from_utf8_lossy(&bytes);
    // Cut mid-file: the first, partial line goes.
    let text = match (from > 0, text.find('\n')) {
        (true, Some(i)) => &text[i + 1..],
        _ => &text[..],
    };
    (!text.is_empty()).then(|| text.to_string())
}

/// One write; [`Store::apply`] commits a batch atomically.
#[derive(Debug, Clone)]
pub enum Change {
    Run {
        run_id: String,
        state: RunState,
        at: String,
    },
    Task {
        run_id: String,
        /// Rows are keyed by task id (created on the first change): a run
        /// started by an older build of the pipeline resumes by id.
        task_id: String,
        state: TaskState,
        try_number: u32,
        output: Option<String>,
    },
    AttemptStarted {
        run_id: String,
        task_id: String,
        attempt: u32,
        at: String,
        log_path: String,
    },
    /// A whole attempt at once: one that finished without awaiting (noop).
    Attempt {
        run_id: String,
        task_id: String,
        attempt: u32,
        started_at: String,
        ended_at: String,
        outcome: AttemptOutcome,
        log_path: String,
        log_tail: Option<String>,
    },
    AttemptEnded {
        run_id: String,
        task_id: String,
        attempt: u32,
        at: String,
        outcome: AttemptOutcome,
        exit_code: Option<i32>,
        error: Option<String>,
        log_tail: Option<String>,
    },
}

impl Change {
    /// The run the change is about.
    pub fn run_id(&self) -> &str {
        match self {
            Change::Run { run_id, .. }
            | Change::Task { run_id, .. }
            | Change::AttemptStarted { run_id, .. }
            | Change::Attempt { run_id, .. }
            | Change::AttemptEnded { run_id, .. } => run_id,
        }
    }

    /// The task the change is about (none for a run's state).
    pub fn task_id(&self) -> Option<&str> {
        match self {
            Change::Run { .. } => None,
            Change::Task { task_id, .. }
            | Change::AttemptStarted { task_id, .. }
            | Change::Attempt { task_id, .. }
            | Change::AttemptEnded { task_id, .. } => Some(task_id),
        }
    }
}

/// A state store's failure: the environment's, never the user's pipeline.
#[derive(Debug)]
pub enum StoreError {
    /// The file is not a chime state database, or is damaged.
    Corrupt { path: String, detail: String },
    /// Written by a newer chime; this binary cannot read it safely.
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    /// The state belongs to another pipeline.
    OtherPipeline {
        path: String,
        found: String,
        expected: String,
    },
    /// Any other database error.
    Database(String),
    /// A kind of state this binary cannot open.
    Unsupported(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Corrupt { path, detail } => write!(
                f,
                "{path}: not a readable chime state database ({detail}); move it away to start afresh, or pass another --state"
            ),
            StoreError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "{path}: state schema version {found} was written by a newer chime (this binary reads up to {supported}); rebuild the pipeline with that chime, or pass another --state"
            ),
            StoreError::OtherPipeline {
                path,
                found,
                expected,
            } => write!(
                f,
                "{path}: this state belongs to pipeline `{found}`, not `{expected}`; pass --state for this pipeline's own file"
            ),
            StoreError::Database(e) => write!(f, "state database error: {e}"),
            StoreError::Unsupported(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The state store.
pub trait Store {
    fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Creates a run. Its task instances are created by their first
    /// [`Change::Task`]; a task without one is in state `none`.
    fn create_run(&mut self, run: &RunRecord) -> Result<(), StoreError>;
    /// Replaces a run's recorded params (a run with no finished task).
    fn set_params(&mut self, run_id: &str, params: &str) -> Result<(), StoreError>;
    /// The run's task instances that have a record, in pipeline order.
    fn task_records(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError>;
    /// [`Store::task_records`] without their outputs (the status page's
    /// grid, which shows states only: outputs may be large).
    fn task_states(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let mut records = self.task_records(run_id)?;
        for r in &mut records {
            r.output = None;
        }
        Ok(records)
    }
    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError>;
    /// The most recent runs, newest logical date first.
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError>;
    /// Commits the changes in one transaction.
    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError>;
    /// The run of a logical date (RFC 3339), whatever its kind.
    fn run_by_logical(&self, logical_date: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Runs left `running` by a process that died, or `queued` by a signal.
    fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// The latest logical date among scheduled and backfilled runs.
    fn latest_scheduled(&self) -> Result<Option<String>, StoreError>;
    /// Takes or renews the scheduler's lease for `holder` until
    /// `expires_at` (unix seconds), unless another holder's lease is still
    /// valid at `now`: then returns that holder and its expiry.
    fn acquire_lease(
        &mut self,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<(String, i64)>, StoreError>;
    /// Gives the lease up (a clean shutdown).
    fn release_lease(&mut self, holder: &str) -> Result<(), StoreError>;
    /// Sets the run's state by `rule` from its task rows as they are now,
    /// in one transaction no other writer interleaves with: a `task`
    /// process ends while others are running tasks of the same run.
    fn settle_run(
        &mut self,
        run_id: &str,
        rule: &RunRule,
        at: &str,
    ) -> Result<RunState, StoreError>;
    /// Claims the run of logical date `logical` for this process (see
    /// `claim.rs`): exclusively for a whole run, or (`task`) the date
    /// shared and the task exclusively. Held until the [`Claim`] is
    /// dropped or the process ends, however it ends.
    fn claim(
        &self,
        logical: &str,
        task: Option<&str>,
        doing: &str,
        clock: &dyn Clock,
    ) -> Result<Claim, ClaimError>;
    /// A free slot of pool `pool` (of `size` slots), held until the
    /// claim is dropped or the process ends; `None` while all are held
    /// (see `pool.rs`).
    fn pool_slot(
        &self,
        pool: &str,
        size: u32,
        doing: &str,
        clock: &dyn Clock,
    ) -> Result<Option<Claim>, ClaimError>;
    /// Counts over the whole state, for metrics (see `stats.rs`).
    fn stats(&self) -> Result<Stats, StoreError>;
}
