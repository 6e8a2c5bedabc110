//! One run of the DAG.
//!
//! Invariants:
//! - A task starts only after its upstreams' final states are committed:
//!   each scheduling round first commits every change it collected (task
//!   ends, attempt records), then launches the tasks those ends made ready.
//!   Persistence therefore costs one transaction per round, not per task.
//! - Ready tasks are launched as soon as their trigger rule is met, at most
//!   `max_active_tasks` at once. Retries wait `retry_delay` (fixed or
//!   doubling, capped by `max_retry_delay`) without holding a slot.
//!
//! What a crash leaves, and how `run` again resumes it:
//! - Tasks committed as `success` or `skipped` are kept and never re-run;
//!   their outputs feed downstream templates as before.
//! - A task committed as `running` was cut off mid-attempt: that attempt is
//!   closed as `interrupted` and the task runs again. Interrupted attempts
//!   do not count against `retries`.
//! - Anything else (`none`, `scheduled`, `up_for_retry`, `failed`,
//!   `upstream_failed`) is reset and decided again.
//! - Before any task runs again, the process groups its attempts recorded
//!   and that outlived a killed runner are stopped
//!   ([`crate::process_group`]): a task never runs beside its own leftover.
//!
//! On SIGINT/SIGTERM nothing new is launched, running attempts are stopped
//! (their process groups get SIGTERM, then SIGKILL), recorded as
//! `interrupted`, and the run is left `queued` for `run` (or the next
//! `scheduler`) to resume. With `drain` (the scheduler), running tasks get
//! a grace period to finish before they are stopped.

mod before;
mod deadline;
mod decide;
mod expand;
mod launch;
mod made;
mod main_loop;
mod notify;
mod on_failure;
mod paths;
mod pool_state;
mod pools;
mod request;
mod resume;
mod task;

pub(crate) use made::{instance_id, made_instances, made_of};
pub use paths::path_component;
pub use request::{RunOutcome, RunRequest};

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use self::before::{Before, notifies_recovery};
use self::task::TaskRun;
use crate::compiled::PipelineDef;
use crate::context::{Secrets, TaskResult};
use crate::operators::registry::Registered;
use crate::secrets::passwords_of;
use crate::state::{InvalidTransition, RunState, TaskState};
use crate::store::{Change, RunRecord, Store, StoreError};
use crate::template::{self, Outputs, RunContext};

/// Options of the executor.
#[derive(Clone)]
pub struct ExecOptions {
    /// Where `logs/` goes (beside the state file).
    pub log_dir: PathBuf,
    pub max_active_tasks: usize,
    /// Print task starts, ends and output lines.
    pub echo: bool,
    /// On SIGINT/SIGTERM: `None` stops running tasks at once (`run`);
    /// `Some(grace)` lets them finish for up to `grace` first (`scheduler`).
    pub drain: Option<Duration>,
    /// What the run's deadlines (`timeout`, `sla:`) are read on: the
    /// scheduler's clock, injected in tests.
    pub clock: std::rc::Rc<dyn crate::scheduler::Clock>,
}

impl std::fmt::Debug for ExecOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOptions")
            .field("log_dir", &self.log_dir)
            .field("max_active_tasks", &self.max_active_tasks)
            .field("echo", &self.echo)
            .field("drain", &self.drain)
            .finish_non_exhaustive()
    }
}

/// Why a run could not be executed to its end.
#[derive(Debug)]
pub enum ExecError {
    /// The state store failed (the environment's problem).
    Store(StoreError),
    /// A bug in chime: a change of a task's state that the state machine
    /// does not allow. The run is stopped and recorded as failed.
    Transition {
        task: String,
        bug: InvalidTransition,
    },
}

impl ExecError {
    pub(crate) fn transition(task: &str, bug: InvalidTransition) -> ExecError {
        ExecError::Transition {
            task: task.to_string(),
            bug,
        }
    }
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::Store(e) => e.fmt(f),
            ExecError::Transition { task, bug } => write!(f, "task `{task}`: {bug}"),
        }
    }
}

impl std::error::Error for ExecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecError::Store(e) => Some(e),
            ExecError::Transition { bug, .. } => Some(bug),
        }
    }
}

impl From<StoreError> for ExecError {
    fn from(e: StoreError) -> ExecError {
        ExecError::Store(e)
    }
}

enum Event {
    Done {
        t: usize,
        attempt: u32,
        result: TaskResult,
        elapsed: Duration,
    },
    RetryDue {
        t: usize,
    },
}

struct Exec<'s> {
    def: &'static PipelineDef,
    store: &'s mut dyn Store,
    ops: HashMap<&'static str, Registered>,
    opts: ExecOptions,
    run: RunContext,
    run_id: String,
    /// The pipeline's tasks, in its order (topological).
    tasks: Vec<TaskRun>,
    /// Decided to run, waiting for a slot.
    ready: VecDeque<usize>,
    /// Pool slots held, and tasks waiting for one.
    pools: pool_state::Pools,
    /// Attempts running.
    running: usize,
    /// Tasks waiting for their retry delay.
    retrying: usize,
    /// Collected, not yet committed (see [`Exec::flush`]).
    changes: Vec<Change>,
    outputs: Arc<Outputs>,
    env: minijinja::Environment<'static>,
    events: JoinSet<Event>,
    /// Why running attempts must stop: a signal, or the run's timeout.
    shutdown: watch::Sender<Option<crate::context::StopReason>>,
    console: std::io::BufWriter<std::io::Stdout>,
    retry_timers: Vec<tokio::task::AbortHandle>,
    /// `connections:`, rendered once per run.
    connections: Arc<std::collections::BTreeMap<String, String>>,
    /// The run's open connections, shared by its tasks.
    #[cfg(feature = "sql")]
    pool: Arc<crate::conn::Pool>,
    /// What logs, errors and outputs must not show.
    secrets: Secrets,
    /// `for_each` groups: the indices of their instances, in item order.
    groups: HashMap<&'static str, Vec<usize>>,
    /// See [`RunRequest::attempt`].
    attempt: Option<u32>,
    /// See [`RunRequest::engine`].
    engine: bool,
    /// See [`RunRequest::instance`].
    instance: Option<String>,
    /// See [`RunRequest::condition_only`].
    condition_only: bool,
    /// Notifications being sent.
    notices: Vec<Sending>,
    /// The run before this one (by logical date), as recorded, for
    /// `recovery`; read once, when first needed.
    previous: Option<Option<(RunRecord, Vec<crate::store::TaskRecord>)>>,
    /// Scheduled, manual or backfill: only scheduled runs have an SLA.
    kind: crate::vocabulary::RunKind,
    /// When the run first started (its `timeout` counts from there, across
    /// resumes).
    started: chrono::DateTime<chrono::Utc>,
    /// The run passed its `timeout` and was stopped.
    timed_out: bool,
    /// What this run's earlier executions ended in (for `recovery`).
    before: Before,
    /// This process runs every task of the run (not an orchestrator's
    /// `task` call): only then are the run's deadlines, notifications and
    /// actions its own.
    whole_run: bool,
}

/// A notification being sent: its channel, its event, the sending thread
/// (what it sent, or why it could not).
type Sending = (
    &'static str,
    String,
    tokio::task::JoinHandle<Result<String, String>>,
);

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs (or resumes) one run to its end.
pub async fn execute(
    def: &'static PipelineDef,
    ops: &[Registered],
    store: &mut dyn Store,
    req: RunRequest,
    opts: ExecOptions,
) -> Result<RunOutcome, ExecError> {
    let run_id = req.run.run_id.clone();
    let existing = store.get_run(&run_id)?;
    let resuming = existing.is_some();
    // The timeout counts from this execution's start; a run a crash left
    // `running` keeps its first start (the crash did not give it more
    // time). A cleared or failed run that runs again starts afresh.
    let started = existing
        .as_ref()
        .filter(|r| r.state == RunState::Running)
        .and_then(|r| r.started_at.as_deref())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(|| opts.clock.now(), |t| t.to_utc());
    let before = match &existing {
        Some(r) if notifies_recovery(def) => Before::of(r, &store.attempts(&run_id)?),
        _ => Before::default(),
    };
    if !resuming {
        store.create_run(&req.run)?;
    }
    let records = store.task_records(&run_id)?;
    let mut tasks: Vec<TaskRun> = def
        .tasks
        .iter()
        .map(|d| TaskRun::new(d, req.only.is_none()))
        .collect();
    for (t, task) in def.tasks.iter().enumerate() {
        for &u in task.upstream {
            tasks[u].downstream.push(t);
        }
    }
    for &t in req.only.iter().flatten() {
        tasks[t].selected = true;
    }
    let whole_run = tasks.iter().all(|t| t.selected);
    let (shutdown, _) = watch::channel(None);
    let mut ex = Exec {
        def,
        store,
        ops: ops.iter().map(|o| (o.name, *o)).collect(),
        opts,
        run: RunContext {
            run_id: run_id.clone(),
            logical_date: req.run.logical_date.clone(),
            data_interval_start: req.run.interval_start.clone(),
            data_interval_end: req.run.interval_end.clone(),
            ds: req.ds.clone(),
            params: req.params.clone(),
        },
        run_id: run_id.clone(),
        tasks,
        ready: VecDeque::new(),
        pools: pool_state::Pools::default(),
        running: 0,
        retrying: 0,
        changes: Vec::new(),
        outputs: Arc::new(Outputs::default()),
        env: template::environment(),
        events: JoinSet::new(),
        shutdown,
        console: std::io::BufWriter::new(std::io::stdout()),
        retry_timers: Vec::new(),
        connections: Arc::default(),
        #[cfg(feature = "sql")]
        pool: Arc::default(),
        secrets: Secrets::default(),
        groups: HashMap::new(),
        attempt: req.attempt,
        engine: req.engine,
        instance: req.instance,
        condition_only: req.condition_only,
        notices: Vec::new(),
        previous: None,
        kind: req.run.kind,
        started,
        timed_out: false,
        before,
        whole_run,
    };
    for (t, task) in def.tasks.iter().enumerate() {
        if task.group != task.id {
            let members = ex.groups.entry(task.group).or_default();
            ex.tasks[t].position = members.len();
            members.push(t);
        }
    }
    for (group, members) in &ex.groups {
        ex.outputs.start_group(group, members.len());
    }
    ex.connections = Arc::new(ex.render_connections(ex.def.connections, "connection"));
    let storage = ex.render_connections(ex.def.storage, "storage setting");
    ex.secrets = ex.collect_secrets(&storage);
    ex.check_smtp();
    #[cfg(feature = "sql")]
    {
        let pool = crate::conn::Pool::new((*ex.connections).clone(), ex.secrets.clone());
        #[cfg(feature = "s3")]
        let pool = {
            let unrendered = ex
                .def
                .storage
                .iter()
                .filter(|(k, _)| !storage.contains_key(*k))
                .map(|(k, _)| k.to_string())
                .collect();
            let storage = crate::storage::Storage::new(storage).with_unrendered(unrendered);
            pool.with_storage(Arc::new(storage))
        };
        ex.pool = Arc::new(pool);
    }
    if req.on_failure_only {
        ex.resume(&records)?;
        ex.on_failure().await;
        let state = ex
            .store
            .get_run(&run_id)?
            .map_or(RunState::Failed, |r| r.state);
        return Ok(RunOutcome::Finished(state));
    }
    match ex.start(&records, resuming).await {
        Err(ExecError::Transition { task, bug }) => {
            ex.abandon();
            Err(ExecError::Transition { task, bug })
        }
        other => other,
    }
}

impl Exec<'_> {
    async fn start(
        &mut self,
        records: &[crate::store::TaskRecord],
        resuming: bool,
    ) -> Result<RunOutcome, ExecError> {
        self.resume(records)?;
        if resuming {
            self.stop_leftovers();
        }
        self.changes.push(Change::Run {
            run_id: self.run_id.clone(),
            state: RunState::Running,
            at: now(),
        });
        self.flush()?;
        self.decide_all()?;
        self.main_loop().await
    }

    /// After a bug (an illegal transition): running attempts are told to
    /// stop, and the run is recorded as failed, with what was collected.
    fn abandon(&mut self) {
        self.stop();
        self.changes.push(Change::Run {
            run_id: self.run_id.clone(),
            state: RunState::Failed,
            at: now(),
        });
        let _ = self.flush();
    }

    /// `logs/<run>/<task>/`: the task's logs and scratch directories.
    fn task_dir(&self, t: usize) -> PathBuf {
        self.opts
            .log_dir
            .join(path_component(&self.run_id))
            .join(path_component(self.tasks[t].id))
    }

    /// Each task's position, by id.
    fn task_index(&self) -> HashMap<&'static str, usize> {
        let tasks = self.tasks.iter().enumerate();
        tasks.map(|(i, t)| (t.id, i)).collect()
    }

    /// Renders `connections:` or `storage:` (templates over env, params
    /// and dates). One that fails to render is left out, with a line on the
    /// console; a task that uses it fails with a clear message.
    fn render_connections(
        &mut self,
        templates: &[(&str, &str)],
        what: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for (name, template) in templates {
            let value = serde_json::Value::String((*template).to_string());
            match template::render(&self.env, &self.run, &self.outputs, None, &value) {
                Ok(serde_json::Value::String(s)) => {
                    out.insert((*name).to_string(), s);
                }
                Ok(_) => {}
                Err(e) => self.say(|| format!("{what} `{name}`: {e}")),
            }
        }
        out
    }

    /// The secrets of this run: the values of the environment variables
    /// that `connections:`, `on_failure:` and tasks whose operator's
    /// parameters carry credentials (`http`, `wait_for`) read,
    /// and the passwords of the rendered connections.
    fn collect_secrets(&self, storage: &std::collections::BTreeMap<String, String>) -> Secrets {
        let mut values: Vec<(String, String)> = Vec::new();
        let templates = self
            .def
            .connections
            .iter()
            .chain(self.def.storage)
            .map(|(_, t)| *t)
            .chain(self.def.on_failure.iter().map(|a| a.params))
            .chain(self.def.notify.iter().map(|n| n.params))
            .chain(
                self.def
                    .tasks
                    .iter()
                    .flat_map(|t| t.notify)
                    .map(|n| n.params),
            )
            .chain(
                self.def
                    .tasks
                    .iter()
                    .filter(|t| crate::operators::builtin(t.operator).is_some_and(|o| o.secret_env))
                    .map(|t| t.params),
            );
        for template in templates {
            for name in template::env_names(template) {
                if let Ok(v) = std::env::var(&name) {
                    values.push((format!("env.{name}"), v));
                }
            }
        }
        for (name, url) in self.connections.iter() {
            for (i, pw) in passwords_of(url).into_iter().enumerate() {
                values.push((format!("connection.{name}.{i}"), pw));
            }
        }
        // The status page's token: a task that prints its environment must
        // not show it (the scheduler serving the page runs the tasks).
        if let Ok(token) = std::env::var(crate::web::TOKEN_ENV)
            && !token.is_empty()
        {
            values.push((format!("env.{}", crate::web::TOKEN_ENV), token));
        }
        // The SMTP server's password, when email is sent.
        let emails = self
            .def
            .notify
            .iter()
            .chain(self.def.tasks.iter().flat_map(|t| t.notify))
            .any(|n| n.channel == crate::vocabulary::Channel::Email);
        if emails && let Ok(url) = std::env::var(crate::notify::SMTP_ENV) {
            for (i, pw) in passwords_of(&url).into_iter().enumerate() {
                values.push((format!("smtp.{i}"), pw));
            }
        }
        #[cfg(feature = "s3")]
        values.extend(crate::storage::Storage::secrets(storage));
        #[cfg(not(feature = "s3"))]
        let _ = storage;
        Secrets::named(values)
    }

    /// Moves task `t` to `state` (through its state machine) and records it.
    fn set_state(
        &mut self,
        t: usize,
        state: TaskState,
        output: Option<String>,
    ) -> Result<(), ExecError> {
        let task = &mut self.tasks[t];
        task.instance
            .set(state)
            .map_err(|bug| ExecError::transition(task.id, bug))?;
        self.record(t, output);
        Ok(())
    }

    /// Records task `t`'s current state and try number.
    fn record(&mut self, t: usize, output: Option<String>) {
        let task = &self.tasks[t];
        self.changes.push(Change::Task {
            run_id: self.run_id.clone(),
            task_id: task.id.to_string(),
            state: task.state(),
            try_number: task.instance.try_number(),
            output,
        });
    }

    fn record_output(&mut self, t: usize, out: serde_json::Value) {
        let task = &self.tasks[t];
        let in_group = self.groups.contains_key(task.def.group);
        let Ok(mut map) = self.outputs.by_task.lock() else {
            return;
        };
        if in_group {
            // `tasks.group.output`: the instances' outputs, in item order,
            // each put in its place (not the list made again: quadratic).
            if let Some(serde_json::Value::Array(list)) = map.get_mut(task.def.group)
                && let Some(slot) = list.get_mut(task.position)
            {
                *slot = out.clone();
            }
        }
        map.insert(task.id.to_string(), out);
    }

    /// Prints a progress line (built only when printing is on).
    fn say(&mut self, line: impl FnOnce() -> String) {
        use std::io::Write;
        if self.opts.echo {
            let line = line();
            let line = self.secrets.redact(&line);
            // Errors and ids may carry a task's own text.
            let _ = writeln!(self.console, "{}", crate::terminal::escape_controls(&line));
        }
    }

    /// Commits the changes collected so far, in one transaction.
    fn flush(&mut self) -> Result<(), StoreError> {
        use std::io::Write;
        let _ = self.console.flush();
        let changes = std::mem::take(&mut self.changes);
        self.store.apply(&changes)
    }
}

#[cfg(all(test, feature = "schedule"))]
mod condition_tests;
#[cfg(all(test, feature = "http"))]
mod deadline_tests;
#[cfg(all(test, feature = "schedule"))]
mod expand_tests;
#[cfg(all(test, feature = "schedule"))]
mod pool_tests;
