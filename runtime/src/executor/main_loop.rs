//! The scheduling rounds of a run: launching ready tasks, collecting
//! their ends, signals and draining, and the run's final state.

use super::{Event, Exec, ExecError, RunOutcome, now};
use crate::context::StopReason;
use crate::state::RunState;
use crate::store::Change;

impl Exec<'_> {
    pub(super) async fn main_loop(&mut self) -> Result<RunOutcome, ExecError> {
        let mut signal: Option<i32> = None;
        let mut sigint =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let max = self.opts.max_active_tasks.max(1);
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        let mut stopped = false;
        let (timeout_at, sla_at) = self.deadlines();
        let clock = self.opts.clock.clone();
        let mut sla_told = false;
        loop {
            // Everything decided so far is committed before anything new starts.
            self.flush()?;
            while signal.is_none() && !self.timed_out && self.running < max {
                let Some(t) = self.ready.pop_front() else {
                    break;
                };
                if !self.take_slot(t)? {
                    continue;
                }
                self.launch(t)?;
                if !self.changes.is_empty() && self.ready.is_empty() {
                    // Instant tasks finished inline: commit before their downstream start.
                    self.flush()?;
                }
            }
            self.flush()?;
            let stopping = signal.is_some() || self.timed_out;
            if self.running == 0
                && (self.retrying == 0 || stopping)
                && ((self.ready.is_empty() && !self.pools.waiting()) || stopping)
            {
                break;
            }
            // Slots held by other runs and pipelines free up unseen: look
            // again now and then while a task waits for one.
            let waiting = self.pools.waiting() && !stopping;
            let pool_poll = async {
                match waiting {
                    true => tokio::time::sleep(super::pools::POLL).await,
                    false => std::future::pending().await,
                }
            };
            let grace_over = async {
                match drain_deadline {
                    Some(d) if !stopped => tokio::time::sleep_until(d).await,
                    _ => std::future::pending().await,
                }
            };
            let timeout_due = async {
                match timeout_at {
                    Some(t) if !self.timed_out && signal.is_none() => clock.at(t).await,
                    _ => std::future::pending().await,
                }
            };
            let sla_due = async {
                match sla_at {
                    Some(t) if !sla_told => clock.at(t).await,
                    _ => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                // An empty set answers at once: only a task waiting for
                // a pool slot can leave it empty here.
                e = self.events.join_next(), if !self.events.is_empty() => e,
                () = timeout_due => { self.on_run_timeout(); continue }
                () = sla_due => { sla_told = true; self.notify_sla_miss(); continue }
                _ = recv(&mut sigint), if signal.is_none() => { signal = Some(2); self.on_signal(&mut drain_deadline, &mut stopped); continue }
                _ = recv(&mut sigterm), if signal.is_none() => { signal = Some(15); self.on_signal(&mut drain_deadline, &mut stopped); continue }
                () = grace_over => { self.stop(); stopped = true; continue }
                () = pool_poll => { self.retry_waiting(); continue }
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
                        self.complete(t, attempt, result, elapsed, None)?;
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
            // Retries already told are sent before the process stops.
            self.notices_sent().await;
            return Ok(RunOutcome::Interrupted(sig));
        }
        // The pipeline's actions are for a run that failed as a whole: an
        // orchestrator's `task` call ran part of it, and the orchestrator
        // owns alerting on its tasks (it would page on every call).
        let whole_run = self.whole_run;
        if self.timed_out {
            self.skip_unfinished()?;
        }
        let state = if whole_run {
            // A run stopped at its timeout failed, whatever its leaves say
            // (Airflow's dagrun_timeout: the run fails, what had not
            // finished is skipped).
            let state = if self.timed_out {
                RunState::Failed
            } else {
                self.run_state()
            };
            self.changes.push(Change::Run {
                run_id: self.run_id.clone(),
                state,
                at: now(),
            });
            self.flush()?;
            state
        } else {
            // Other `task` processes may be running the run's other tasks:
            // its state comes from all its rows as committed, not from what
            // this process saw when it started.
            self.flush()?;
            let rule = self.run_rule();
            self.store.settle_run(&self.run_id, &rule, &now())?
        };
        if state == RunState::Failed && whole_run {
            self.on_failure().await;
        }
        self.notify_run(state);
        self.notices_sent().await;
        Ok(RunOutcome::Finished(state))
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
                self.forget_waiting();
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

    pub(super) fn stop(&mut self) {
        self.stop_for(StopReason::Interrupted);
    }

    /// Stops running attempts for `reason`, and launches nothing more.
    pub(super) fn stop_for(&mut self, reason: StopReason) {
        let _ = self.shutdown.send(Some(reason));
        for timer in self.retry_timers.drain(..) {
            timer.abort();
        }
        self.retrying = 0;
        self.ready.clear();
        self.forget_waiting();
    }

    /// The run's tasks and leaves, for [`crate::store::Store::settle_run`].
    fn run_rule(&self) -> crate::store::RunRule {
        crate::store::RunRule {
            tasks: self
                .tasks
                .iter()
                .map(|t| (t.id.to_string(), t.downstream.is_empty()))
                .collect(),
        }
    }

    /// The state of a run this process executed whole.
    fn run_state(&self) -> RunState {
        RunState::of(
            self.tasks
                .iter()
                .map(|t| (t.state(), t.downstream.is_empty())),
        )
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
