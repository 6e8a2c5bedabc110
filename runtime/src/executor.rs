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

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::context::{
    LogSink, MAX_OUTPUT_BYTES, Secrets, StopReason, TaskContext, TaskError, TaskResult,
    cancel_pair, panic_message,
};
use crate::def::{PipelineDef, TriggerRule};
use crate::operators::registry::Registered;
use crate::secrets::passwords_of;
use crate::spec::AttemptOutcome;
use crate::state::{RunState, TaskState};
use crate::store::{Change, RunRecord, Store, StoreError};
use crate::template::{self, Outputs, RunContext};

/// How long an operator that ignores its cancellation gets before its
/// future is dropped.
const ABANDON_AFTER: Duration = Duration::from_secs(3);

/// What `run` asks for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run: RunRecord,
    /// `2026-11-24`.
    pub ds: String,
    pub params: serde_json::Value,
    /// Only these tasks (by index) are run; the others must be finished
    /// already (used by `task`). `None`: the whole DAG.
    pub only: Option<Vec<usize>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Finished(RunState),
    /// Stopped by a signal (its number).
    Interrupted(i32),
}

/// Options of the executor.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Where `logs/` goes (beside the state file).
    pub log_dir: PathBuf,
    pub max_active_tasks: usize,
    /// Print task starts, ends and output lines.
    pub echo: bool,
    /// On SIGINT/SIGTERM: `None` stops running tasks at once (`run`);
    /// `Some(grace)` lets them finish for up to `grace` first (`scheduler`).
    pub drain: Option<Duration>,
}

enum Decision {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    success: u32,
    failed: u32,
    skipped: u32,
    done: u32,
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
    states: Vec<TaskState>,
    tries: Vec<u32>,
    failures: Vec<u32>,
    counts: Vec<Counts>,
    downstream: Vec<Vec<usize>>,
    decided: Vec<bool>,
    selected: Vec<bool>,
    ready: VecDeque<usize>,
    running: usize,
    retrying: usize,
    changes: Vec<Change>,
    outputs: Arc<Outputs>,
    env: minijinja::Environment<'static>,
    events: JoinSet<Event>,
    shutdown: watch::Sender<bool>,
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
}

/// A run or task id as one file name under `logs/`: `/`, `\\`, control
/// characters and a leading `.` are written as `%XX`, so no id (a
/// `for_each` item, say) can name a path outside its folder.
pub fn path_component(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, c) in id.chars().enumerate() {
        let unsafe_char = matches!(c, '/' | '\\' | '%') || c.is_control() || (i == 0 && c == '.');
        if unsafe_char {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

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
) -> Result<RunOutcome, StoreError> {
    let n = def.tasks.len();
    let run_id = req.run.run_id.clone();
    let resuming = store.get_run(&run_id)?.is_some();
    if !resuming {
        store.create_run(&req.run)?;
    }
    let records = store.task_records(&run_id)?;
    let by_id: HashMap<&str, &crate::store::TaskRecord> =
        records.iter().map(|r| (r.task_id.as_str(), r)).collect();
    let mut downstream = vec![Vec::new(); n];
    for (t, task) in def.tasks.iter().enumerate() {
        for &u in task.upstream {
            downstream[u].push(t);
        }
    }
    let (shutdown, _) = watch::channel(false);
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
        states: vec![TaskState::None; n],
        tries: vec![0; n],
        failures: vec![0; n],
        counts: vec![Counts::default(); n],
        downstream,
        decided: vec![false; n],
        selected: vec![req.only.is_none(); n],
        ready: VecDeque::new(),
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
    };
    for (t, task) in def.tasks.iter().enumerate() {
        if task.group != task.id {
            ex.groups.entry(task.group).or_default().push(t);
        }
    }
    ex.connections = Arc::new(ex.render_connections());
    ex.secrets = ex.collect_secrets();
    #[cfg(feature = "sql")]
    {
        ex.pool = Arc::new(crate::conn::Pool::new(
            (*ex.connections).clone(),
            ex.secrets.clone(),
        ));
    }
    if let Some(only) = &req.only {
        for &t in only {
            ex.selected[t] = true;
        }
    }
    ex.resume(&by_id)?;
    if resuming {
        ex.stop_leftovers();
    }
    ex.changes.push(Change::Run {
        run_id: run_id.clone(),
        state: RunState::Running,
        at: now(),
    });
    ex.flush()?;
    ex.decide_all();
    let outcome = ex.main_loop().await?;
    Ok(outcome)
}

impl Exec<'_> {
    fn resume(
        &mut self,
        records: &HashMap<&str, &crate::store::TaskRecord>,
    ) -> Result<(), StoreError> {
        let attempts = self.store.attempts(&self.run_id)?;
        let index = self.task_index();
        for a in &attempts {
            let t = index.get(a.task_id.as_str()).copied();
            if let Some(t) = t
                && a.outcome.is_some_and(AttemptOutcome::is_failure)
            {
                self.failures[t] += 1;
            }
            // An open attempt is dead, unless another `task` process (its
            // claim shared with ours) is running that task right now.
            if a.ended_at.is_none() && t.is_none_or(|t| self.selected[t]) {
                self.changes.push(Change::AttemptEnded {
                    run_id: self.run_id.clone(),
                    task_id: a.task_id.clone(),
                    attempt: a.attempt,
                    at: now(),
                    outcome: AttemptOutcome::Interrupted,
                    exit_code: None,
                    error: Some("the pipeline's process stopped during this attempt".into()),
                });
            }
        }
        // A run started by an older build: its tasks that this build no
        // longer has are kept in the state and reported; new ones run.
        let mut gone: Vec<&str> = records
            .keys()
            .copied()
            .filter(|id| !index.contains_key(id))
            .collect();
        if !gone.is_empty() {
            gone.sort_unstable();
            let list = gone.join(", ");
            self.say(|| {
                format!("tasks of this run no longer in the pipeline (kept in the state, not run): {list}")
            });
        }
        for (t, task) in self.def.tasks.iter().enumerate() {
            let Some(rec) = records.get(task.id) else {
                continue;
            };
            self.tries[t] = rec.try_number;
            let keep = rec.state.kept_on_resume() || (!self.selected[t] && rec.state.is_finished());
            if keep {
                self.states[t] = rec.state;
                self.decided[t] = true;
                if rec.state == TaskState::Success {
                    // Stored sealed: downstream tasks get the real values back.
                    if let Some(out) = rec
                        .output
                        .as_deref()
                        .and_then(|o| serde_json::from_str(o).ok())
                    {
                        let out = self.secrets.unseal(&out);
                        self.record_output(t, out);
                    }
                }
            } else if rec.state != TaskState::None {
                self.set_state(t, TaskState::None, None);
            }
        }
        for t in 0..self.def.tasks.len() {
            if self.states[t].is_finished() {
                for i in 0..self.downstream[t].len() {
                    let d = self.downstream[t][i];
                    Self::count(&mut self.counts[d], self.states[t]);
                }
            }
        }
        Ok(())
    }

    /// Stops the process groups that attempts of the tasks about to run
    /// again left running when an earlier runner was killed (see
    /// [`crate::process_group`]), so that no task runs twice at once.
    fn stop_leftovers(&mut self) {
        let index = self.task_index();
        let runs_again = |id: &str| {
            index
                .get(id)
                .is_some_and(|&t| !self.decided[t] && self.selected[t])
        };
        let run_dir = self.opts.log_dir.join(path_component(&self.run_id));
        let stopped = crate::process_group::stop_leftovers(&run_dir, &self.run_id, runs_again);
        for s in stopped {
            self.say(|| {
                format!(
                    "{} attempt {}: stopped {} process(es) of process group {} left running by a runner that died{}",
                    s.task_id,
                    s.attempt,
                    s.processes,
                    s.pgid,
                    if s.still_exiting { " (some are still exiting)" } else { "" }
                )
            });
        }
    }

    /// `logs/<run>/<task>/`: the task's logs and scratch directories.
    fn task_dir(&self, t: usize) -> PathBuf {
        self.opts
            .log_dir
            .join(path_component(&self.run_id))
            .join(path_component(self.def.tasks[t].id))
    }

    /// Each task's position, by id.
    fn task_index(&self) -> HashMap<&'static str, usize> {
        let tasks = self.def.tasks;
        tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect()
    }

    /// Renders `connections:` (templates over env, params and dates). One
    /// that fails to render is left out, with a line on the console; a task
    /// that uses it fails with a clear message.
    fn render_connections(&mut self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for (name, template) in self.def.connections {
            let value = serde_json::Value::String((*template).to_string());
            match template::render(&self.env, &self.run, &self.outputs, None, &value) {
                Ok(serde_json::Value::String(s)) => {
                    out.insert((*name).to_string(), s);
                }
                Ok(_) => {}
                Err(e) => self.say(|| format!("connection `{name}`: {e}")),
            }
        }
        out
    }

    /// The secrets of this run: the values of the environment variables
    /// that `connections:`, `on_failure:` and `http`/`wait_for` tasks read,
    /// and the passwords of the rendered connections.
    fn collect_secrets(&self) -> Secrets {
        let mut values: Vec<(String, String)> = Vec::new();
        let templates = self
            .def
            .connections
            .iter()
            .map(|(_, t)| *t)
            .chain(self.def.on_failure.iter().map(|a| a.params))
            // Requests carry tokens in their URLs and headers.
            .chain(
                self.def
                    .tasks
                    .iter()
                    .filter(|t| matches!(t.operator, "http" | "wait_for"))
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
        Secrets::named(values)
    }

    fn count(c: &mut Counts, state: TaskState) {
        c.done += 1;
        match state {
            TaskState::Success => c.success += 1,
            TaskState::Failed | TaskState::UpstreamFailed => c.failed += 1,
            TaskState::Skipped => c.skipped += 1,
            _ => {}
        }
    }

    fn evaluate(&self, t: usize) -> Decision {
        let task = &self.def.tasks[t];
        let total = task.upstream.len() as u32;
        let c = self.counts[t];
        let all_done = c.done == total;
        if total == 0 {
            return Decision::Run;
        }
        match task.trigger_rule {
            TriggerRule::AllSuccess if c.failed > 0 => Decision::UpstreamFailed,
            TriggerRule::AllSuccess if c.skipped > 0 => Decision::Skip,
            TriggerRule::AllFailed if c.success > 0 || c.skipped > 0 => Decision::Skip,
            TriggerRule::OneSuccess if c.success > 0 => Decision::Run,
            TriggerRule::OneFailed if c.failed > 0 => Decision::Run,
            TriggerRule::NoneFailed if c.failed > 0 => Decision::UpstreamFailed,
            _ if !all_done => Decision::Wait,
            TriggerRule::OneSuccess if c.skipped == total => Decision::Skip,
            TriggerRule::OneSuccess => Decision::UpstreamFailed,
            TriggerRule::OneFailed => Decision::Skip,
            _ => Decision::Run,
        }
    }

    fn decide_all(&mut self) {
        for t in 0..self.def.tasks.len() {
            self.decide(t);
        }
    }

    /// Decides task `t` if its trigger rule allows it now; a skip or an
    /// upstream failure is final at once and may decide its downstream.
    fn decide(&mut self, first: usize) {
        let mut work = vec![first];
        while let Some(t) = work.pop() {
            if self.decided[t] || !self.selected[t] {
                continue;
            }
            let final_state = match self.evaluate(t) {
                Decision::Wait => continue,
                Decision::Run => {
                    self.decided[t] = true;
                    self.ready.push_back(t);
                    continue;
                }
                Decision::Skip => TaskState::Skipped,
                Decision::UpstreamFailed => TaskState::UpstreamFailed,
            };
            self.decided[t] = true;
            self.set_state(t, final_state, None);
            self.say(|| format!("{} {}", self.def.tasks[t].id, final_state));
            self.finish(t, final_state, &mut work);
        }
    }

    /// Propagates a final state to the downstream counters.
    fn finish(&mut self, t: usize, state: TaskState, work: &mut Vec<usize>) {
        for i in 0..self.downstream[t].len() {
            let d = self.downstream[t][i];
            Self::count(&mut self.counts[d], state);
            work.push(d);
        }
    }

    fn set_state(&mut self, t: usize, state: TaskState, output: Option<String>) {
        self.states[t] = state;
        self.changes.push(Change::Task {
            run_id: self.run_id.clone(),
            task_id: self.def.tasks[t].id.to_string(),
            state,
            try_number: self.tries[t],
            output,
        });
    }

    fn record_output(&mut self, t: usize, out: serde_json::Value) {
        let task = &self.def.tasks[t];
        let Ok(mut map) = self.outputs.by_task.lock() else {
            return;
        };
        map.insert(task.id.to_string(), out);
        if let Some(members) = self.groups.get(task.group) {
            // `tasks.group.output`: the instances' outputs, in item order.
            let list: Vec<serde_json::Value> = members
                .iter()
                .map(|&o| {
                    map.get(self.def.tasks[o].id)
                        .cloned()
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect();
            map.insert(task.group.to_string(), serde_json::Value::Array(list));
        }
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

    fn flush(&mut self) -> Result<(), StoreError> {
        use std::io::Write;
        let _ = self.console.flush();
        let changes = std::mem::take(&mut self.changes);
        self.store.apply(&changes)
    }

    fn launch(&mut self, t: usize) {
        let def = self.def;
        let task = &def.tasks[t];
        self.tries[t] += 1;
        let attempt = self.tries[t];
        let started_at = now();
        let started = Instant::now();
        if task.operator == "noop" && task.timeout_ms.is_none() {
            // noop does nothing: no context, no rendering, no log; one row
            // records the attempt.
            return self.complete(
                t,
                attempt,
                Ok(None),
                started.elapsed(),
                Some((started_at, String::new())),
            );
        }
        let log_path = self.task_dir(t).join(format!("{attempt}.log"));
        let log_text = log_path.display().to_string();
        let params: serde_json::Value = serde_json::from_str(task.params).unwrap_or_default();
        let item: Option<serde_json::Value> = task.item.and_then(|i| serde_json::from_str(i).ok());
        let rendered =
            template::render(&self.env, &self.run, &self.outputs, item.as_ref(), &params);
        let op = self.ops.get(task.operator).copied();
        let (params, op) = match (rendered, op) {
            (Ok(p), Some(op)) => (p, op),
            (rendered, _) => {
                // A template that does not render, or an operator this binary
                // lacks: the attempt fails before it starts anything.
                let e = match rendered {
                    Err(e) => e,
                    Ok(_) => format!(
                        "operator `{}` is not available in this binary",
                        task.operator
                    ),
                };
                self.record_start(t, attempt, started_at, log_text);
                return self.complete(
                    t,
                    attempt,
                    Err(TaskError::failed(e)),
                    started.elapsed(),
                    None,
                );
            }
        };
        let (handle, cancel) = cancel_pair();
        let upstream_outputs = match self.outputs.by_task.lock() {
            Ok(map) => task
                .upstream
                .iter()
                .filter_map(|&u| {
                    map.get(def.tasks[u].id)
                        .map(|o| (def.tasks[u].id.to_string(), o.clone()))
                })
                .collect(),
            Err(_) => serde_json::Map::new(),
        };
        let ctx = Arc::new(TaskContext {
            pipeline: def.name,
            run_id: self.run_id.clone(),
            task_id: task.id.to_string(),
            try_number: attempt,
            logical_date: self.run.logical_date.clone(),
            data_interval_start: self.run.data_interval_start.clone(),
            data_interval_end: self.run.data_interval_end.clone(),
            params: self.run.params.clone(),
            upstream_outputs,
            connections: self.connections.clone(),
            #[cfg(feature = "sql")]
            pool: self.pool.clone(),
            secrets: self.secrets.clone(),
            scratch_dir: self.task_dir(t).join(format!("{attempt}.scratch")),
            log: Arc::new(
                LogSink::new(log_path, task.id, self.opts.echo).with_secrets(self.secrets.clone()),
            ),
            cancel,
        });
        let log = ctx.log.clone();
        let mut fut = (op.run)(ctx, params);
        if op.instant && task.timeout_ms.is_none() {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
                // One row for the whole attempt, no `running` state: saves
                // two writes per task on DAGs of many instant tasks.
                return self.complete(
                    t,
                    attempt,
                    log.fail_on_write_error(result),
                    started.elapsed(),
                    Some((started_at, log_text)),
                );
            }
        }
        self.record_start(t, attempt, started_at, log_text);
        self.say(|| format!("{} started (attempt {attempt})", task.id));
        self.running += 1;
        let timeout = task.timeout_ms.map(Duration::from_millis);
        let mut shutdown = self.shutdown.subscribe();
        self.events.spawn(async move {
            let mut op_task = tokio::spawn(fut);
            let sleep = async {
                match timeout {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let stop = async {
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    if shutdown.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            let joined = tokio::select! {
                r = &mut op_task => r,
                () = sleep => stop_attempt(&handle, StopReason::TimedOut, &mut op_task).await,
                () = stop => stop_attempt(&handle, StopReason::Interrupted, &mut op_task).await,
            };
            let result = match joined {
                Ok(r) => r,
                Err(e) if e.is_panic() => Err(TaskError::Panicked(panic_message(e.into_panic()))),
                Err(_) => Err(TaskError::Interrupted),
            };
            let result = log.fail_on_write_error(result);
            Event::Done {
                t,
                attempt,
                result,
                elapsed: started.elapsed(),
            }
        });
    }

    fn record_start(&mut self, t: usize, attempt: u32, at: String, log_path: String) {
        self.set_state(t, TaskState::Running, None);
        self.changes.push(Change::AttemptStarted {
            run_id: self.run_id.clone(),
            task_id: self.def.tasks[t].id.to_string(),
            attempt,
            at,
            log_path,
        });
    }

    /// Records an attempt's end. `instant`: the attempt's start time and log
    /// path when it finished inline and its start was never recorded.
    fn complete(
        &mut self,
        t: usize,
        attempt: u32,
        result: TaskResult,
        elapsed: Duration,
        instant: Option<(String, String)>,
    ) {
        let def = self.def;
        let task = &def.tasks[t];
        let secs = elapsed.as_secs_f64();
        // Any operator's output is stored, shown and passed downstream
        // whole: one over the limit fails the task (see MAX_OUTPUT_BYTES).
        let result = match result {
            Ok(Some(o)) => {
                let text = o.to_string();
                if text.len() > MAX_OUTPUT_BYTES {
                    Err(TaskError::failed(format!(
                        "the task's output is {} bytes of JSON, over the limit of {MAX_OUTPUT_BYTES} bytes for an output; write large results to a file or a table and output its name",
                        text.len()
                    )))
                } else {
                    Ok(Some(o))
                }
            }
            other => other,
        };
        let (outcome, exit_code, error) = match &result {
            Ok(_) => (AttemptOutcome::Success, None, None),
            Err(e) => {
                let code = match e {
                    TaskError::Failed { exit_code, .. } => *exit_code,
                    _ => None,
                };
                (
                    attempt_outcome(e),
                    code,
                    Some(self.secrets.redact(&e.to_string()).into_owned()),
                )
            }
        };
        match instant {
            Some((started_at, log_path)) => self.changes.push(Change::Attempt {
                run_id: self.run_id.clone(),
                task_id: task.id.to_string(),
                attempt,
                ended_at: if elapsed < Duration::from_millis(1) {
                    started_at.clone()
                } else {
                    now()
                },
                started_at,
                outcome,
                log_path,
            }),
            None => self.changes.push(Change::AttemptEnded {
                run_id: self.run_id.clone(),
                task_id: task.id.to_string(),
                attempt,
                at: now(),
                outcome,
                exit_code,
                error: error.clone(),
            }),
        }
        let mut work = Vec::new();
        match result {
            Ok(output) => {
                // Secrets are sealed in the state, never stored.
                let text = output.as_ref().map(|o| self.secrets.seal(o).to_string());
                if let Some(o) = output {
                    self.record_output(t, o);
                }
                self.set_state(t, TaskState::Success, text);
                self.say(|| format!("{} success in {secs:.2}s", task.id));
                self.finish(t, TaskState::Success, &mut work);
            }
            Err(TaskError::Interrupted) => {
                // Not a failure of the task: it runs again on resume.
                self.set_state(t, TaskState::None, None);
                self.say(|| format!("{} interrupted after {secs:.2}s", task.id));
            }
            Err(e) => {
                self.failures[t] += 1;
                if self.failures[t] <= task.retries && !*self.shutdown.borrow() {
                    let delay = task.retry_delay(attempt + 1);
                    self.set_state(t, TaskState::UpForRetry, None);
                    let failures = self.failures[t];
                    self.say(|| {
                        format!(
                            "{} failed in {secs:.2}s: {e}; retry {failures} of {} in {:.1}s",
                            task.id,
                            task.retries,
                            delay.as_secs_f64()
                        )
                    });
                    self.retrying += 1;
                    let timer = self.events.spawn(async move {
                        tokio::time::sleep(delay).await;
                        Event::RetryDue { t }
                    });
                    self.retry_timers.push(timer);
                } else {
                    self.set_state(t, TaskState::Failed, None);
                    self.say(|| format!("{} failed in {secs:.2}s: {e}", task.id));
                    self.finish(t, TaskState::Failed, &mut work);
                }
            }
        }
        for d in work {
            self.decide(d);
        }
    }

    async fn main_loop(&mut self) -> Result<RunOutcome, StoreError> {
        let mut signal: Option<i32> = None;
        let mut sigint =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let max = self.opts.max_active_tasks.max(1);
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        let mut stopped = false;
        loop {
            // Everything decided so far is committed before anything new starts.
            self.flush()?;
            while signal.is_none() && self.running < max {
                let Some(t) = self.ready.pop_front() else {
                    break;
                };
                self.launch(t);
                if !self.changes.is_empty() && self.ready.is_empty() {
                    // Instant tasks finished inline: commit before their downstream start.
                    self.flush()?;
                }
            }
            self.flush()?;
            if self.running == 0
                && (self.retrying == 0 || signal.is_some())
                && (self.ready.is_empty() || signal.is_some())
            {
                break;
            }
            let grace_over = async {
                match drain_deadline {
                    Some(d) if !stopped => tokio::time::sleep_until(d).await,
                    _ => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                e = self.events.join_next() => e,
                _ = recv(&mut sigint), if signal.is_none() => { signal = Some(2); self.on_signal(&mut drain_deadline, &mut stopped); continue }
                _ = recv(&mut sigterm), if signal.is_none() => { signal = Some(15); self.on_signal(&mut drain_deadline, &mut stopped); continue }
                () = grace_over => { self.stop(); stopped = true; continue }
            };
            let mut next = event;
            while let Some(joined) = next {
                match joined {
                    Ok(Event::Done {
                        t,
                        attempt,
                        result,
                        elapsed,
                    }) => {
                        self.running -= 1;
                        self.complete(t, attempt, result, elapsed, None);
                    }
                    Ok(Event::RetryDue { t }) => {
                        self.retrying -= 1;
                        if signal.is_none() {
                            self.ready.push_back(t);
                        }
                    }
                    Err(_) => {} // an aborted retry timer
                }
                next = self.events.try_join_next();
            }
        }
        if let Some(sig) = signal {
            self.changes.push(Change::Run {
                run_id: self.run_id.clone(),
                state: RunState::Queued,
                at: now(),
            });
            let run_id = self.run_id.clone();
            self.say(|| {
                format!("run {run_id} interrupted by signal {sig}; `run` again resumes it")
            });
            self.flush()?;
            return Ok(RunOutcome::Interrupted(sig));
        }
        let state = self.run_state();
        self.changes.push(Change::Run {
            run_id: self.run_id.clone(),
            state,
            at: now(),
        });
        self.flush()?;
        if state == RunState::Failed {
            self.on_failure().await;
        }
        Ok(RunOutcome::Finished(state))
    }

    /// Runs the pipeline's `on_failure` actions, once, in order. Their
    /// failures are reported on the console and in their logs; they do not
    /// change the run's state.
    async fn on_failure(&mut self) {
        for (i, action) in self.def.on_failure.iter().enumerate() {
            let name = format!("on_failure[{i}]");
            let params: serde_json::Value = serde_json::from_str(action.params).unwrap_or_default();
            let rendered = template::render(&self.env, &self.run, &self.outputs, None, &params);
            let Some(op) = self.ops.get(action.operator).copied() else {
                self.say(|| {
                    format!(
                        "{name}: operator `{}` is not available in this binary",
                        action.operator
                    )
                });
                continue;
            };
            let params = match rendered {
                Ok(p) => p,
                Err(e) => {
                    self.say(|| format!("{name} failed: {e}"));
                    continue;
                }
            };
            let (_handle, cancel) = cancel_pair();
            let dir = self
                .opts
                .log_dir
                .join(path_component(&self.run_id))
                .join(path_component(&name));
            let ctx = Arc::new(TaskContext {
                pipeline: self.def.name,
                run_id: self.run_id.clone(),
                task_id: name.clone(),
                try_number: 1,
                logical_date: self.run.logical_date.clone(),
                data_interval_start: self.run.data_interval_start.clone(),
                data_interval_end: self.run.data_interval_end.clone(),
                params: self.run.params.clone(),
                upstream_outputs: serde_json::Map::new(),
                connections: self.connections.clone(),
                #[cfg(feature = "sql")]
                pool: self.pool.clone(),
                secrets: self.secrets.clone(),
                scratch_dir: dir.join("scratch"),
                log: Arc::new(
                    LogSink::new(dir.join("1.log"), &name, self.opts.echo)
                        .with_secrets(self.secrets.clone()),
                ),
                cancel,
            });
            let log = ctx.log.clone();
            let result = tokio::spawn((op.run)(ctx, params))
                .await
                .map(|r| log.fail_on_write_error(r));
            match result {
                Ok(Ok(_)) => self.say(|| format!("{name} ({}) done", action.operator)),
                Ok(Err(e)) => self.say(|| format!("{name} ({}) failed: {e}", action.operator)),
                Err(e) => self.say(|| format!("{name} ({}) panicked: {e}", action.operator)),
            }
        }
        let _ = std::io::Write::flush(&mut self.console);
    }

    /// A signal: stop at once, or (draining) launch nothing new and give
    /// running tasks the grace period.
    fn on_signal(&mut self, deadline: &mut Option<tokio::time::Instant>, stopped: &mut bool) {
        match self.opts.drain {
            Some(grace) => {
                *deadline = Some(tokio::time::Instant::now() + grace);
                for timer in self.retry_timers.drain(..) {
                    timer.abort();
                }
                self.retrying = 0;
                self.ready.clear();
                let n = self.running;
                self.say(|| {
                    format!("stopping: letting {n} running task(s) finish (up to {grace:?})")
                });
            }
            None => {
                self.stop();
                *stopped = true;
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for timer in self.retry_timers.drain(..) {
            timer.abort();
        }
        self.retrying = 0;
        self.ready.clear();
    }

    /// Airflow's rule: the run succeeds when every leaf task succeeded or
    /// was skipped (only the selected tasks count for `task`).
    fn run_state(&self) -> RunState {
        let leaves_ok = (0..self.def.tasks.len())
            .filter(|&t| self.downstream[t].is_empty())
            .all(|t| matches!(self.states[t], TaskState::Success | TaskState::Skipped));
        let all_decided = (0..self.def.tasks.len()).all(|t| self.states[t].is_finished());
        // `task` ran part of the run: the rest is still to come.
        let partial = self.selected.iter().any(|s| !s);
        let failed = (0..self.def.tasks.len()).any(|t| {
            matches!(
                self.states[t],
                TaskState::Failed | TaskState::UpstreamFailed
            )
        });
        if partial && !all_decided && !failed {
            return RunState::Queued;
        }
        if leaves_ok && all_decided {
            RunState::Success
        } else {
            RunState::Failed
        }
    }
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Asks the operator to stop; one that ignores it is abandoned after
/// [`ABANDON_AFTER`].
async fn stop_attempt(
    handle: &crate::context::CancelHandle,
    reason: StopReason,
    op_task: &mut tokio::task::JoinHandle<TaskResult>,
) -> Result<TaskResult, tokio::task::JoinError> {
    handle.cancel(reason);
    let as_error = match reason {
        StopReason::TimedOut => TaskError::TimedOut,
        StopReason::Interrupted => TaskError::Interrupted,
    };
    match tokio::time::timeout(ABANDON_AFTER, &mut *op_task).await {
        Ok(Ok(Err(e))) => Ok(Err(e)),
        Ok(Ok(Ok(_))) | Ok(Err(_)) | Err(_) => {
            op_task.abort();
            Ok(Err(as_error))
        }
    }
}

/// How an attempt that ended with `e` is recorded.
fn attempt_outcome(e: &TaskError) -> AttemptOutcome {
    // The one mapping is TaskError::outcome's; its names are AttemptOutcome's.
    AttemptOutcome::parse(e.outcome()).unwrap_or(AttemptOutcome::Failed)
}

#[cfg(test)]
mod tests {
    use super::path_component;

    /// Issue 11, item 5: ids become one path component under `logs/`.
    #[test]
    fn ids_cannot_name_paths_outside_the_log_folder() {
        assert_eq!(path_component("../../etc/x"), "%2E.%2F..%2Fetc%2Fx");
        assert_eq!(path_component(".."), "%2E.");
        assert_eq!(path_component("a\\b\nc"), "a%5Cb%0Ac");
        assert_eq!(path_component(""), "%00");
        assert_eq!(path_component("per_region[kr]"), "per_region[kr]");
        assert_eq!(
            path_component("manual__2026-11-24T00:00:00+00:00"),
            "manual__2026-11-24T00:00:00+00:00"
        );
    }
}
