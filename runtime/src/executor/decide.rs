//! Readiness and trigger rules: when a task runs, is skipped, or is
//! upstream_failed.

use super::task::Counts;
use super::{Exec, ExecError};
use crate::def::{TaskDef, TriggerRule};
use crate::state::TaskState;

/// What a task's trigger rule says, given its upstreams' states so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

fn evaluate(task: &TaskDef, c: Counts) -> Decision {
    let total = task.upstream.len() as u32;
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

impl Exec<'_> {
    pub(super) fn decide_all(&mut self) -> Result<(), ExecError> {
        for t in 0..self.tasks.len() {
            self.decide(t)?;
        }
        Ok(())
    }

    /// Decides task `t` if its trigger rule allows it now; a skip or an
    /// upstream failure is final at once and may decide its downstream.
    pub(super) fn decide(&mut self, first: usize) -> Result<(), ExecError> {
        let mut work = vec![first];
        while let Some(t) = work.pop() {
            let task = &self.tasks[t];
            if task.decided || !task.selected {
                continue;
            }
            let final_state = match evaluate(task.def, task.upstream) {
                Decision::Wait => continue,
                Decision::Run => {
                    self.tasks[t].decided = true;
                    self.ready.push_back(t);
                    continue;
                }
                Decision::Skip => TaskState::Skipped,
                Decision::UpstreamFailed => TaskState::UpstreamFailed,
            };
            self.tasks[t].decided = true;
            self.set_state(t, final_state, None)?;
            let id = self.tasks[t].def.id;
            self.say(|| format!("{id} {final_state}"));
            self.finish(t, &mut work);
        }
        Ok(())
    }

    /// Propagates task `t`'s final state to its downstream tasks' counts,
    /// and adds them to `work` to be decided again.
    pub(super) fn finish(&mut self, t: usize, work: &mut Vec<usize>) {
        let state = self.tasks[t].state();
        for i in 0..self.tasks[t].downstream.len() {
            let d = self.tasks[t].downstream[i];
            self.tasks[d].upstream.add(state);
            work.push(d);
        }
    }
}
