//! The run's notifications: which `notify:` entries an event reaches, the
//! notice they get, and sending it off the run's loop (see
//! [`crate::notify`]).

use chrono::DateTime;

use super::Exec;
use crate::compiled::NotifyDef;
use crate::notify::{self, Notice, SEND_TIMEOUT};
use crate::state::{RunState, TaskState};
use crate::store::{RunRecord, TaskRecord};
use crate::template;
use crate::vocabulary::NotifyEvent;

/// How many of the latest runs are searched for the previous one.
const PREVIOUS_WITHIN: usize = 1000;

// Notifications are the whole run's (`Exec::whole_run`): an orchestrator's
// `task` call runs part of it, and the orchestrator owns alerting on its
// tasks (it would be told once per call).
impl Exec<'_> {
    /// A task's event: its own `notify:` entries, and for `retry` the
    /// pipeline's too.
    pub(super) fn notify_task(
        &mut self,
        t: usize,
        event: NotifyEvent,
        attempt: u32,
        error: Option<&str>,
    ) {
        if !self.whole_run {
            return;
        }
        let (task, id) = (self.tasks[t].def, self.tasks[t].id);
        let mut defs = notify::matching(task.notify, event);
        if event == NotifyEvent::Retry {
            defs.extend(notify::matching(self.def.notify, event));
        }
        if event == NotifyEvent::Success && !task.notify.is_empty() {
            // Recovery: the task failed in this run's earlier execution
            // (cleared, run again), or in the previous run.
            let failed_before = self.before.failed_tasks.contains(id)
                || self.previous_run().is_some_and(|(_, tasks)| {
                    tasks
                        .iter()
                        .any(|r| r.task_id == id && r.state == TaskState::Failed)
                });
            if failed_before {
                let recovery = notify::matching(task.notify, NotifyEvent::Recovery);
                if !recovery.is_empty() {
                    let notice = self.task_notice(t, NotifyEvent::Recovery, attempt, None);
                    self.dispatch(recovery, notice);
                }
            }
        }
        if defs.is_empty() {
            return;
        }
        let notice = self.task_notice(t, event, attempt, error);
        self.dispatch(defs, notice);
    }

    fn task_notice(
        &self,
        t: usize,
        event: NotifyEvent,
        attempt: u32,
        error: Option<&str>,
    ) -> Notice {
        let log = self.task_dir(t).join(format!("{attempt}.log"));
        Notice {
            task: Some(self.tasks[t].id.to_string()),
            attempt: Some(attempt),
            state: self.tasks[t].instance.state().as_str().to_string(),
            error: error.map(|e| self.secrets.redact(e).into_owned()),
            log_tail: crate::store::log_tail(&log)
                .map(|tail| notify::last_lines(&self.secrets.redact(&tail))),
            ..self.run_notice(event)
        }
    }

    /// At the run's start: an email entry without an SMTP server to send
    /// through is said now, not at the first failure it should report.
    pub(super) fn check_smtp(&mut self) {
        if !self.whole_run {
            return;
        }
        let borrowed = self
            .def
            .notify
            .iter()
            .chain(self.def.tasks.iter().flat_map(|t| t.notify))
            .filter(|n| n.channel == crate::vocabulary::Channel::Email)
            .any(|n| {
                let params: serde_json::Value = serde_json::from_str(n.params).unwrap_or_default();
                params
                    .get("smtp")
                    .and_then(|s| s.as_str())
                    .is_none_or(|s| s.trim().is_empty())
            });
        if !borrowed {
            return;
        }
        match std::env::var(notify::SMTP_ENV) {
            Ok(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {}
            Ok(_) => self.warn(format!(
                "{} is not an smtp:// or smtps:// URL: this run's emails will not be sent",
                notify::SMTP_ENV
            )),
            Err(_) => self.warn(format!(
                "{} is not set: this run's emails will not be sent (docs/monitoring.md#notifications)",
                notify::SMTP_ENV
            )),
        }
    }

    /// What must be seen even under `run -q` (a notification that was not
    /// sent): on stderr, redacted.
    fn warn(&self, line: String) {
        let line = self.secrets.redact(&line);
        eprintln!("warning: {}", crate::terminal::escape_controls(&line));
    }

    /// The notice's run part.
    pub(super) fn run_notice(&self, event: NotifyEvent) -> Notice {
        Notice {
            pipeline: self.def.name.to_string(),
            event: event.as_str().to_string(),
            run_id: self.run_id.clone(),
            logical_date: self.run.logical_date.clone(),
            link: self.def.ui_url.map(|base| {
                format!(
                    "{}/runs/{}",
                    base.trim_end_matches('/'),
                    crate::web::segment(&self.run_id)
                )
            }),
            ..Notice::default()
        }
    }

    /// A run's end: `failure` (naming its first failed task), `success`,
    /// and `recovery` when the previous run failed.
    pub(super) fn notify_run(&mut self, state: RunState) {
        if !self.whole_run || self.def.notify.is_empty() {
            return;
        }
        match state {
            RunState::Failed => {
                let defs = notify::matching(self.def.notify, NotifyEvent::Failure);
                if defs.is_empty() {
                    return;
                }
                let failed = (0..self.tasks.len())
                    .find(|&t| self.tasks[t].instance.state() == TaskState::Failed);
                // The run's notice, with the first failed task's error and
                // log: what the reader opens first.
                let mut notice = match failed {
                    Some(t) => {
                        let attempt = self.tasks[t].instance.try_number();
                        let error = self.tasks[t].last_error.clone();
                        Notice {
                            task: None,
                            attempt: None,
                            ..self.task_notice(t, NotifyEvent::Failure, attempt, error.as_deref())
                        }
                    }
                    None => self.run_notice(NotifyEvent::Failure),
                };
                notice.state = state.as_str().to_string();
                let failed_tasks: Vec<String> = self
                    .tasks
                    .iter()
                    .filter(|r| r.instance.state() == TaskState::Failed)
                    .map(|r| format!("{} (attempt {})", r.id, r.instance.try_number()))
                    .collect();
                if !failed_tasks.is_empty() {
                    notice.detail = Some(format!("failed: {}", failed_tasks.join(", ")));
                }
                if self.timed_out {
                    let limit = self.def.timeout_ms.unwrap_or_default() as f64 / 1000.0;
                    let why = format!("the run passed its timeout of {limit}s and was stopped");
                    notice.detail = Some(match notice.detail {
                        Some(d) => format!("{why}; {d}"),
                        None => why,
                    });
                }
                self.dispatch(defs, notice);
            }
            RunState::Success => {
                let mut defs = notify::matching(self.def.notify, NotifyEvent::Success);
                let mut notice = self.run_notice(NotifyEvent::Success);
                notice.state = state.as_str().to_string();
                if !defs.is_empty() {
                    self.dispatch(std::mem::take(&mut defs), notice.clone());
                }
                // Recovery: this run failed before (and was cleared or run
                // again), or it is new and the run before it failed. A rerun
                // of a run that had succeeded recovers nothing.
                let recovery = notify::matching(self.def.notify, NotifyEvent::Recovery);
                let recovered = !recovery.is_empty()
                    && (self.before.failed
                        || (!self.before.succeeded
                            && self
                                .previous_run()
                                .is_some_and(|(r, _)| r.state == RunState::Failed)));
                if recovered {
                    notice.event = NotifyEvent::Recovery.as_str().to_string();
                    self.dispatch(recovery, notice);
                }
            }
            RunState::Queued | RunState::Running => {}
        }
    }

    /// The run has not finished by its SLA deadline: said on the console,
    /// and told to the pipeline's `sla_miss` entries, once; the run goes on.
    pub(super) fn notify_sla_miss(&mut self) {
        let run_id = self.run_id.clone();
        // In the pipeline's zone, to the second: as the fire time reads.
        let now = self.opts.clock.now();
        let now = match self.def.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => now
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            Err(_) => now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        };
        self.say(|| format!("run {run_id} missed its SLA: not finished at {now}; it goes on"));
        let defs = notify::matching(self.def.notify, NotifyEvent::SlaMiss);
        if defs.is_empty() || !self.whole_run {
            return;
        }
        let mut notice = self.run_notice(NotifyEvent::SlaMiss);
        notice.state = RunState::Running.as_str().to_string();
        let sla = self.def.sla.as_ref();
        let mut terms = Vec::new();
        if let Some(ms) = sla.and_then(|s| s.max_duration_ms) {
            terms.push(format!(
                "{}s after its fire time {}",
                ms / 1000,
                self.run.data_interval_end
            ));
        }
        if let Some(t) = sla.and_then(|s| s.finish_by) {
            terms.push(format!("by {t} ({})", self.def.timezone));
        }
        notice.detail = Some(format!(
            "the run had not finished at {now}: its SLA is to finish {}",
            terms.join(", or ")
        ));
        self.dispatch(defs, notice);
    }

    /// The run before this one by logical date, if any (read once).
    fn previous_run(&mut self) -> Option<&(RunRecord, Vec<TaskRecord>)> {
        if self.previous.is_none() {
            let mine = DateTime::parse_from_rfc3339(&self.run.logical_date).ok();
            let before = self.store.runs(PREVIOUS_WITHIN).ok().and_then(|runs| {
                runs.into_iter()
                    .filter(|r| r.run_id != self.run_id)
                    .filter_map(|r| {
                        let at = DateTime::parse_from_rfc3339(&r.logical_date).ok()?;
                        (Some(at) < mine).then_some((at, r))
                    })
                    .max_by_key(|(at, _)| *at)
                    .map(|(_, r)| r)
            });
            let found = before.and_then(|r| {
                let tasks = self.store.task_records(&r.run_id).ok()?;
                Some((r, tasks))
            });
            self.previous = Some(found);
        }
        self.previous.as_ref().and_then(Option::as_ref)
    }

    /// Renders each entry's settings and sends the notice on a blocking
    /// thread; [`Exec::notices_sent`] waits for them.
    fn dispatch(&mut self, defs: Vec<&'static NotifyDef>, notice: Notice) {
        for d in defs {
            let params: serde_json::Value = serde_json::from_str(d.params).unwrap_or_default();
            let params = match template::render(&self.env, &self.run, &self.outputs, None, &params)
            {
                Ok(p) => p,
                Err(e) => {
                    self.warn(format!(
                        "notify ({}) for {}: {e}",
                        d.channel.as_str(),
                        notice.event
                    ));
                    continue;
                }
            };
            let (secrets, notice, channel) = (self.secrets.clone(), notice.clone(), d.channel);
            let event = notice.event.clone();
            let handle = tokio::task::spawn_blocking(move || {
                notify::send(channel, &params, &notice).map_err(|e| secrets.redact(&e).into_owned())
            });
            self.notices.push((channel.as_str(), event, handle));
        }
    }

    /// Waits for the notices sent so far (each at most
    /// [`SEND_TIMEOUT`]), and says on the console what became of them.
    pub(super) async fn notices_sent(&mut self) {
        let pending: Vec<_> = self.notices.drain(..).collect();
        for (channel, event, handle) in pending {
            let grace = SEND_TIMEOUT + std::time::Duration::from_secs(5);
            match tokio::time::timeout(grace, handle).await {
                Ok(Ok(Ok(what))) => self.say(|| format!("notified ({event}): {what}")),
                Ok(Ok(Err(e))) => self.warn(format!("notify ({channel}) for {event} failed: {e}")),
                Ok(Err(e)) => self.warn(format!("notify ({channel}) for {event} panicked: {e}")),
                Err(_) => self.warn(format!(
                    "notify ({channel}) for {event}: no answer in {}s; given up",
                    grace.as_secs()
                )),
            }
        }
    }
}
