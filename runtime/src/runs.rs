//! A DAG run's life cycle, in one place for every command that starts,
//! resumes or clears runs (`run`, `task`, `scheduler`, `backfill`,
//! `clear`): the state store it lives in, its record, the executor's
//! options, the runtime it executes on, and putting its tasks back to
//! `none`.
//!
//! What one run does once started is the executor's
//! ([`crate::executor::execute`]); which runs to start, and when, is the
//! commands'.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compiled::PipelineDef;
use crate::executor::{self, ExecError, ExecOptions, RunOutcome, RunRequest};
use crate::operators::registry::Registered;
use crate::scheduler::Interval;
use crate::state::{RunState, TaskInstance, TaskState};
use crate::store::sqlite::SqliteStore;
use crate::store::{Change, RunRecord, Store, StoreError, TaskRecord};
use crate::vocabulary::RunKind;

/// Where a pipeline's state lives: a SQLite file (the default), or a
/// PostgreSQL database shared by every machine that runs its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    File(PathBuf),
    /// A `postgres://` or `postgresql://` URL (it may hold a password:
    /// never print it whole, see [`StateLocation::describe`]).
    Postgres(String),
}

impl StateLocation {
    /// `--state` as given: a PostgreSQL URL, or a file path.
    pub fn parse(text: &std::ffi::OsStr) -> StateLocation {
        match text.to_str() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StateLocation::Postgres(url.to_string())
            }
            _ => StateLocation::File(PathBuf::from(text)),
        }
    }

    /// For messages: the path, or the URL with its password hidden.
    pub fn describe(&self) -> String {
        match self {
            StateLocation::File(p) => p.display().to_string(),
            StateLocation::Postgres(url) => crate::secrets::redact_url(url),
        }
    }
}

/// A pipeline's runs: its state store, and the logs beside it.
#[derive(Debug, Clone)]
pub struct Runs {
    pub def: &'static PipelineDef,
    state: StateLocation,
}

impl Runs {
    pub fn new(def: &'static PipelineDef, state: StateLocation) -> Runs {
        Runs { def, state }
    }

    /// Where the state is, for messages (no password).
    pub fn describe(&self) -> String {
        self.state.describe()
    }

    /// The state as `--state` or `CHIME_STATE` take it: handed to the
    /// processes the status page starts, in their environment (a URL's
    /// password never on a command line).
    pub fn state_arg(&self) -> std::ffi::OsString {
        match &self.state {
            StateLocation::File(path) => path.clone().into_os_string(),
            StateLocation::Postgres(url) => url.into(),
        }
    }

    /// Opens the state store.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        match &self.state {
            StateLocation::File(path) => Ok(Box::new(SqliteStore::open(
                &path.display().to_string(),
                self.def.name,
            )?)),
            StateLocation::Postgres(url) => open_postgres(url, self.def.name),
        }
    }

    /// How the executor runs this pipeline's tasks: logs under `logs/`
    /// beside the state file, `max_active_tasks` (default: the CPUs).
    pub fn options(
        &self,
        echo: bool,
        drain: Option<Duration>,
        clock: std::rc::Rc<dyn crate::scheduler::Clock>,
    ) -> ExecOptions {
        ExecOptions {
            clock,
            log_dir: self.log_dir(),
            max_active_tasks: self.def.max_active_tasks.map_or_else(
                || std::thread::available_parallelism().map_or(2, |n| n.get()),
                |m| m as usize,
            ),
            echo,
            drain,
        }
    }

    /// `logs/` beside the state file; with PostgreSQL state, in the working
    /// directory of the process that runs the task (the attempt's tail is
    /// kept in the state too).
    pub fn log_dir(&self) -> PathBuf {
        match &self.state {
            StateLocation::File(path) => path.parent().unwrap_or(Path::new(".")).join("logs"),
            // Absolute: the state keeps the path, read by `logs` later.
            StateLocation::Postgres(_) => std::env::current_dir().unwrap_or_default().join("logs"),
        }
    }

    /// The run of logical date `logical`, whoever started it (a manual
    /// run, the scheduler, a backfill), and its id; without one, the id
    /// a new run of `kind` gets (`manual__2026-11-24T00:00:00+00:00`).
    pub fn find(
        &self,
        store: &dyn Store,
        kind: RunKind,
        logical: &str,
    ) -> Result<(String, Option<RunRecord>), StoreError> {
        let existing = store.run_by_logical(logical)?;
        let run_id = existing
            .as_ref()
            .map_or_else(|| kind.run_id(logical), |r| r.run_id.clone());
        Ok((run_id, existing))
    }

    /// Executes (or resumes) a run, in a store of its own.
    pub async fn execute(
        &self,
        ops: &[Registered],
        req: RunRequest,
        opts: ExecOptions,
    ) -> Result<RunOutcome, ExecError> {
        let mut store = self.open()?;
        self.execute_in(&mut *store, ops, req, opts).await
    }

    /// [`Runs::execute`] in a store the caller has open (and reads after).
    pub async fn execute_in(
        &self,
        store: &mut dyn Store,
        ops: &[Registered],
        req: RunRequest,
        opts: ExecOptions,
    ) -> Result<RunOutcome, ExecError> {
        executor::execute(self.def, ops, store, req, opts).await
    }
}

#[cfg(feature = "pg-state")]
fn open_postgres(url: &str, pipeline: &str) -> Result<Box<dyn Store>, StoreError> {
    Ok(Box::new(crate::store::postgres::PgStore::open(
        url, pipeline,
    )?))
}

#[cfg(not(feature = "pg-state"))]
fn open_postgres(url: &str, _pipeline: &str) -> Result<Box<dyn Store>, StoreError> {
    Err(StoreError::Unsupported(format!(
        "{}: this binary was built without PostgreSQL state support",
        crate::secrets::redact_url(url)
    )))
}

/// The pipeline's params with their defaults.
pub fn default_params(def: &PipelineDef) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(def.params).unwrap_or_default()
}

/// What the executor is asked to do for run `run_id` of `kind` over
/// `interval`: every task, or `only` these.
pub fn request(
    run_id: String,
    kind: RunKind,
    interval: &Interval,
    params: serde_json::Value,
    only: Option<Vec<usize>>,
) -> RunRequest {
    RunRequest {
        run: RunRecord {
            run_id,
            logical_date: interval.start.to_rfc3339(),
            interval_start: interval.start.to_rfc3339(),
            interval_end: interval.end.to_rfc3339(),
            kind,
            state: RunState::Running,
            params: params.to_string(),
            started_at: None,
            ended_at: None,
        },
        ds: ds(interval),
        params,
        only,
        attempt: None,
        engine: false,
        instance: None,
        condition_only: false,
        on_failure_only: false,
    }
}

/// The request that resumes `run`, a run a crash or a signal left
/// unfinished, over its recorded interval, with its recorded `params`.
pub fn resume_request(
    run: RunRecord,
    interval: &Interval,
    params: serde_json::Value,
) -> RunRequest {
    RunRequest {
        run,
        ds: ds(interval),
        params,
        only: None,
        attempt: None,
        engine: false,
        instance: None,
        condition_only: false,
        on_failure_only: false,
    }
}

/// `{{ ds }}` of a run: its interval's start, as a local date.
fn ds(interval: &Interval) -> String {
    interval.start.format("%Y-%m-%d").to_string()
}

/// Puts `tasks` of run `run_id` back to `none` (outputs dropped, attempts
/// kept in the history), in one transaction; with `queue`, the run to
/// `queued` too, for the next `run` or `scheduler` to run them again.
pub fn reset<'a>(
    store: &mut dyn Store,
    run_id: &str,
    tasks: impl IntoIterator<Item = &'a TaskRecord>,
    queue: bool,
) -> Result<(), ExecError> {
    let mut changes: Vec<Change> = Vec::new();
    for r in tasks {
        // Through the state machine, as every other change of a task's state.
        let mut instance = TaskInstance::restored(r.state, r.try_number);
        instance
            .set(TaskState::None)
            .map_err(|bug| ExecError::transition(&r.task_id, bug))?;
        changes.push(Change::Task {
            run_id: run_id.into(),
            task_id: r.task_id.clone(),
            state: instance.state(),
            try_number: instance.try_number(),
            output: None,
        });
    }
    if queue {
        changes.push(Change::Run {
            run_id: run_id.into(),
            state: RunState::Queued,
            at: executor::now(),
        });
    }
    Ok(store.apply(&changes)?)
}

/// Runs `work` (runs and what waits for them) to its end on a runtime of
/// its own, on this thread. An operator abandoned at its timeout may still
/// hold a blocking thread; the process does not wait for it.
pub fn block_on<F: Future>(work: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let out = local.block_on(&rt, work);
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(out)
}
