//! Resuming a run that an earlier process left: what is kept, what runs
//! again, and the leftovers of attempts that were cut off.

use std::collections::HashMap;

use super::{Exec, ExecError, now, path_component};
use crate::state::{TaskInstance, TaskState};
use crate::store::{Change, TaskRecord};
use crate::vocabulary::AttemptOutcome;

impl Exec<'_> {
    /// Takes over the run's recorded task instances (see the module's
    /// documentation for what is kept) and closes the attempts left open.
    pub(super) fn resume(&mut self, records: &[TaskRecord]) -> Result<(), ExecError> {
        self.remake_instances(records);
        let attempts = self.store.attempts(&self.run_id)?;
        let index = self.task_index();
        // Failed attempts count against `retries` only for a task cut off
        // in the middle of its tries (a crash while running or waiting for
        // a retry). A task that failed for good, or that `clear` reset,
        // runs again with all its retries, as Airflow's clear gives them.
        let mid_tries: std::collections::HashSet<&str> = records
            .iter()
            .filter(|r| matches!(r.state, TaskState::Running | TaskState::UpForRetry))
            .map(|r| r.task_id.as_str())
            .collect();
        for a in &attempts {
            let t = index.get(a.task_id.as_str()).copied();
            if let Some(t) = t
                && a.outcome.is_some_and(AttemptOutcome::is_failure)
                && mid_tries.contains(a.task_id.as_str())
            {
                self.tasks[t].failures += 1;
            }
            // An open attempt is dead, unless another `task` process (its
            // claim shared with ours) is running that task right now.
            if a.ended_at.is_none() && t.is_none_or(|t| self.tasks[t].selected) {
                self.changes.push(Change::AttemptEnded {
                    run_id: self.run_id.clone(),
                    task_id: a.task_id.clone(),
                    attempt: a.attempt,
                    at: now(),
                    outcome: AttemptOutcome::Interrupted,
                    exit_code: None,
                    error: Some("the pipeline's process stopped during this attempt".into()),
                    log_tail: crate::store::log_tail(std::path::Path::new(&a.log_path)),
                });
            }
        }
        let records: HashMap<&str, &TaskRecord> =
            records.iter().map(|r| (r.task_id.as_str(), r)).collect();
        // A run started by an older build: its tasks that this build no
        // longer has are kept in the state and reported; new ones run.
        let mut gone: Vec<&str> = records
            .keys()
            .copied()
            .filter(|id| !index.contains_key(id) && self.def.made_by(id).is_none())
            .collect();
        if !gone.is_empty() {
            gone.sort_unstable();
            let list = gone.join(", ");
            self.say(|| {
                format!("tasks of this run no longer in the pipeline (kept in the state, not run): {list}")
            });
        }
        for t in 0..self.tasks.len() {
            let Some(rec) = records.get(self.tasks[t].id) else {
                continue;
            };
            let task = &mut self.tasks[t];
            task.instance = TaskInstance::restored(rec.state, rec.try_number);
            // A task the orchestrator asks to run (`task --attempt N`) runs,
            // even after a success: it cleared the task to run it again.
            let asked = task.selected && self.attempt.is_some();
            // A `--condition` call changes nothing recorded.
            let keep = !asked
                && (rec.state.kept_on_resume()
                    || (!task.selected && rec.state.is_finished())
                    || (self.condition_only && rec.state != TaskState::None));
            if keep {
                task.decided = true;
                if rec.state == TaskState::Success && !task.expands() {
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
            } else if rec.state != TaskState::None && task.selected {
                self.set_state(t, TaskState::None, None)?;
            }
            // A task another `task` process may be running right now is
            // left as recorded: this process writes only its own tasks.
        }
        if let Some(n) = self.attempt {
            // Numbered by the orchestrator: the next attempt started is N.
            for task in self.tasks.iter_mut().filter(|t| t.selected) {
                task.instance = TaskInstance::restored(task.state(), n.saturating_sub(1));
            }
        }
        for t in 0..self.tasks.len() {
            if self.tasks[t].state().is_finished() {
                let mut work = Vec::new();
                self.finish(t, &mut work);
            }
        }
        Ok(())
    }

    /// The instances that dynamic `for_each` tasks made in an earlier
    /// execution, made again from their recorded outputs (before the
    /// records are taken over, so that the instances' are too).
    fn remake_instances(&mut self, records: &[TaskRecord]) {
        for t in 0..self.tasks.len() {
            // A task the orchestrator asks to run again makes them anew.
            if !self.tasks[t].expands() || (self.tasks[t].selected && self.attempt.is_some()) {
                continue;
            }
            let id = self.tasks[t].id;
            let made = records
                .iter()
                .find(|r| r.task_id == id)
                .and_then(super::made::made_of);
            if let Some(made) = made {
                let made = self.secrets.unseal(&made);
                self.add_instances(t, &made);
            }
        }
    }

    /// Stops the process groups that attempts of the tasks about to run
    /// again left running when an earlier runner was killed (see
    /// [`crate::process_group`]), so that no task runs twice at once.
    pub(super) fn stop_leftovers(&mut self) {
        let index = self.task_index();
        let runs_again = |id: &str| {
            index
                .get(id)
                .is_some_and(|&t| !self.tasks[t].decided && self.tasks[t].selected)
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
}
