//! Attempts: rendering a task's parameters, starting its operator with a
//! context and a log, its timeout and cancellation, and recording its end
//! (retry, success or failure).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Exec, ExecError, now};
use crate::context::{
    Cancel, LogSink, MAX_OUTPUT_BYTES, StopReason, TaskContext, TaskError, TaskResult, cancel_pair,
    panic_message,
};
use crate::state::TaskState;
use crate::store::Change;
use crate::template;
use crate::vocabulary::{AttemptOutcome, NotifyEvent};

/// How long an operator that ignores its cancellation gets before its
/// future is dropped.
const ABANDON_AFTER: Duration = Duration::from_secs(3);

/// An attempt that finished inline, its start never recorded: when it
/// started and where its log is.
pub(super) struct Inline {
    started_at: String,
    log_path: String,
}

impl Inline {
    pub fn new(started_at: String, log_path: String) -> Inline {
        Inline {
            started_at,
            log_path,
        }
    }
}

impl Exec<'_> {
    /// What an operator gets for one attempt (a task's, or an `on_failure`
    /// action's).
    pub(super) fn task_context(
        &self,
        task_id: &str,
        try_number: u32,
        upstream_outputs: serde_json::Map<String, serde_json::Value>,
        scratch_dir: PathBuf,
        log_path: PathBuf,
        cancel: Cancel,
    ) -> Arc<TaskContext> {
        Arc::new(TaskContext {
            pipeline: self.def.name,
            run_id: self.run_id.clone(),
            task_id: task_id.to_string(),
            try_number,
            logical_date: self.run.logical_date.clone(),
            data_interval_start: self.run.data_interval_start.clone(),
            data_interval_end: self.run.data_interval_end.clone(),
            params: self.run.params.clone(),
            upstream_outputs,
            connections: self.connections.clone(),
            #[cfg(feature = "sql")]
            pool: self.pool.clone(),
            secrets: self.secrets.clone(),
            scratch_dir,
            log: Arc::new(
                LogSink::new(log_path, task_id, self.opts.echo).with_secrets(self.secrets.clone()),
            ),
            cancel,
        })
    }

    /// Starts an attempt of task `t`. One that cannot start (its template
    /// does not render, its operator is missing) or that finishes inline
    /// is completed at once; any other runs as an [`Event`] source.
    pub(super) fn launch(&mut self, t: usize) -> Result<(), ExecError> {
        if self.tasks[t].expands() {
            // A dynamic `for_each` retried: it evaluates its list again.
            let mut work = Vec::new();
            self.expand(t, &mut work)?;
            for d in work {
                self.decide(d)?;
            }
            return Ok(());
        }
        let task = self.tasks[t].def;
        let id = self.tasks[t].id;
        // `when:` once more (an upstream it reads may have finished while
        // it waited for a slot); one that cannot be evaluated fails below.
        let when = task.when.map(|w| {
            let item = self.tasks[t].item_value();
            template::condition(&self.env, &self.run, &self.outputs, item.as_ref(), w)
        });
        let first_try = self.tasks[t].instance.try_number() == 0;
        if first_try && matches!(when, Some(Ok(false))) {
            // False now (an upstream it reads finished while it waited for
            // a slot): skipped, as if decided so.
            return self.skip(t);
        }
        let attempt = self.tasks[t]
            .instance
            .start_attempt()
            .map_err(|bug| ExecError::transition(id, bug))?;
        let started_at = now();
        let started = Instant::now();
        let inert = crate::operators::builtin(task.operator).is_some_and(|o| o.inert);
        if inert && task.timeout_ms.is_none() && task.when.is_none() {
            // The operator does nothing (noop): no context, no rendering, no
            // log; one row records the attempt.
            let inline = Inline {
                started_at,
                log_path: String::new(),
            };
            return self.complete(t, attempt, Ok(None), started.elapsed(), Some(inline));
        }
        let log_path = self.task_dir(t).join(format!("{attempt}.log"));
        let log_text = log_path.display().to_string();
        let params: serde_json::Value = serde_json::from_str(task.params).unwrap_or_default();
        let item = self.tasks[t].item_value();
        let rendered =
            template::render(&self.env, &self.run, &self.outputs, item.as_ref(), &params);
        // A `when:` that cannot be evaluated let the task start: it fails.
        let rendered = match (rendered, when) {
            (Ok(_), Some(Err(e))) => Err(e),
            (rendered, _) => rendered,
        };
        let op = self.ops.get(task.operator).copied();
        let (params, op) = match (rendered, op) {
            (Ok(p), Some(op)) => (p, op),
            (rendered, _) => {
                // A template that does not render, or an operator this binary
                // lacks: the attempt fails before it starts anything.
                let e = match rendered {
                    Err(e) => e.to_string(),
                    Ok(_) => format!(
                        "operator `{}` is not available in this binary",
                        task.operator
                    ),
                };
                self.record_start(t, attempt, started_at, log_text);
                let failed = Err(TaskError::failed(e));
                return self.complete(t, attempt, failed, started.elapsed(), None);
            }
        };
        let (handle, cancel) = cancel_pair();
        let upstream_outputs = match self.outputs.by_task.lock() {
            Ok(map) => task
                .upstream
                .iter()
                .filter_map(|&u| {
                    let id = self.tasks[u].id;
                    map.get(id).map(|o| (id.to_string(), o.clone()))
                })
                .collect(),
            Err(_) => serde_json::Map::new(),
        };
        let scratch = self.task_dir(t).join(format!("{attempt}.scratch"));
        let ctx = self.task_context(id, attempt, upstream_outputs, scratch, log_path, cancel);
        let log = ctx.log.clone();
        let mut fut = (op.run)(ctx, params);
        if op.instant && task.timeout_ms.is_none() {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            if let std::task::Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
                // One row for the whole attempt, no `running` state: saves
                // two writes per task on DAGs of many instant tasks.
                let inline = Inline {
                    started_at,
                    log_path: log_text,
                };
                let result = log.fail_on_write_error(result);
                return self.complete(t, attempt, result, started.elapsed(), Some(inline));
            }
        }
        self.record_start(t, attempt, started_at, log_text);
        self.say(|| format!("{id} started (attempt {attempt})"));
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
                    if let Some(reason) = *shutdown.borrow() {
                        return reason;
                    }
                    if shutdown.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            let joined = tokio::select! {
                r = &mut op_task => r,
                () = sleep => stop_attempt(&handle, StopReason::TimedOut, &mut op_task).await,
                reason = stop => stop_attempt(&handle, reason, &mut op_task).await,
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
        Ok(())
    }

    /// Records that an attempt started: the instance is `running` in the
    /// state, and the attempt has a row.
    fn record_start(&mut self, t: usize, attempt: u32, at: String, log_path: String) {
        self.record(t, None);
        self.changes.push(Change::AttemptStarted {
            run_id: self.run_id.clone(),
            task_id: self.tasks[t].id.to_string(),
            attempt,
            at,
            log_path,
        });
    }

    /// Records an attempt's end, and the task's new state: success, a
    /// retry, failed, or none when it was interrupted (it runs again on
    /// resume). `inline`: the attempt finished inline and its start was
    /// never recorded.
    pub(super) fn complete(
        &mut self,
        t: usize,
        attempt: u32,
        result: TaskResult,
        elapsed: Duration,
        inline: Option<Inline>,
    ) -> Result<(), ExecError> {
        let task = self.tasks[t].def;
        let id = self.tasks[t].id;
        self.release_slot(t);
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
        self.record_attempt_end(t, attempt, &result, elapsed, inline);
        let mut work = Vec::new();
        match result {
            Ok(output) => {
                // Secrets are sealed in the state, never stored.
                let text = output.as_ref().map(|o| self.secrets.seal(o).to_string());
                // A dynamic `for_each` made its instances: they run next,
                // and downstream tasks wait for them, not for it.
                let made = match output {
                    Some(o) if self.tasks[t].expands() => Some(self.add_instances(t, &o)),
                    Some(o) => {
                        self.record_output(t, o);
                        None
                    }
                    None => None,
                };
                self.set_state(t, TaskState::Success, text)?;
                match made {
                    Some(instances) => {
                        let n = instances.len();
                        self.say(|| format!("{id} made {n} instance(s) in {secs:.2}s"));
                        for i in instances {
                            self.record(i, None);
                            work.push(i);
                        }
                    }
                    None => {
                        self.say(|| format!("{id} success in {secs:.2}s"));
                        self.notify_task(t, NotifyEvent::Success, attempt, None);
                        self.finish(t, &mut work);
                    }
                }
            }
            Err(TaskError::Interrupted) => {
                // Not a failure of the task: it runs again on resume.
                self.set_state(t, TaskState::None, None)?;
                self.say(|| format!("{id} interrupted after {secs:.2}s"));
            }
            Err(e) => {
                self.tasks[t].failures += 1;
                let error = e.to_string();
                self.tasks[t].last_error = Some(error.clone());
                let failures = self.tasks[t].failures;
                // Under an orchestrator's attempt number, it retries.
                // An expansion gives the same answer from the same outputs.
                let retries = if self.attempt.is_some() || self.tasks[t].expands() {
                    0
                } else {
                    task.retries
                };
                if failures <= retries && self.shutdown.borrow().is_none() {
                    let delay = task.retry_delay(attempt + 1);
                    self.set_state(t, TaskState::UpForRetry, None)?;
                    self.say(|| {
                        format!(
                            "{id} failed in {secs:.2}s: {e}; retry {failures} of {} in {:.1}s",
                            task.retries,
                            delay.as_secs_f64()
                        )
                    });
                    self.notify_task(t, NotifyEvent::Retry, attempt, Some(&error));
                    self.retrying += 1;
                    let timer = self.events.spawn(async move {
                        tokio::time::sleep(delay).await;
                        Event::RetryDue { t }
                    });
                    self.retry_timers.push(timer);
                } else {
                    self.set_state(t, TaskState::Failed, None)?;
                    self.say(|| format!("{id} failed in {secs:.2}s: {e}"));
                    self.notify_task(t, NotifyEvent::Failure, attempt, Some(&error));
                    self.finish(t, &mut work);
                }
            }
        }
        for d in work {
            self.decide(d)?;
        }
        Ok(())
    }

    /// The attempt's row: its end, or the whole attempt when it finished
    /// inline.
    fn record_attempt_end(
        &mut self,
        t: usize,
        attempt: u32,
        result: &TaskResult,
        elapsed: Duration,
        inline: Option<Inline>,
    ) {
        let (outcome, exit_code, error) = match result {
            Ok(_) => (AttemptOutcome::Success, None, None),
            Err(e) => {
                let code = match e {
                    TaskError::Failed { exit_code, .. } => *exit_code,
                    _ => None,
                };
                (
                    e.outcome(),
                    code,
                    Some(self.secrets.redact(&e.to_string()).into_owned()),
                )
            }
        };
        let run_id = self.run_id.clone();
        let task_id = self.tasks[t].id.to_string();
        // Kept in the state: under an orchestrator the log file stays on
        // the worker that ran the attempt.
        let log_tail = match &inline {
            Some(i) => crate::store::log_tail(std::path::Path::new(&i.log_path)),
            None => crate::store::log_tail(&self.task_dir(t).join(format!("{attempt}.log"))),
        };
        // An attempt that failed inline keeps its error: its start and its
        // end, as any attempt's (a one-row attempt has no error).
        let inline = match inline {
            Some(Inline {
                started_at,
                log_path,
            }) if error.is_some() => {
                self.changes.push(Change::AttemptStarted {
                    run_id: run_id.clone(),
                    task_id: task_id.clone(),
                    attempt,
                    at: started_at,
                    log_path,
                });
                None
            }
            other => other,
        };
        self.changes.push(match inline {
            Some(Inline {
                started_at,
                log_path,
            }) => Change::Attempt {
                run_id,
                task_id,
                attempt,
                ended_at: if elapsed < Duration::from_millis(1) {
                    started_at.clone()
                } else {
                    now()
                },
                started_at,
                outcome,
                log_path,
                log_tail,
            },
            None => Change::AttemptEnded {
                run_id,
                task_id,
                attempt,
                at: now(),
                outcome,
                exit_code,
                error,
                log_tail,
            },
        });
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
    let as_error = TaskError::from(reason);
    match tokio::time::timeout(ABANDON_AFTER, &mut *op_task).await {
        Ok(Ok(Err(e))) => Ok(Err(e)),
        Ok(Ok(Ok(_))) | Ok(Err(_)) | Err(_) => {
            op_task.abort();
            Ok(Err(as_error))
        }
    }
}
