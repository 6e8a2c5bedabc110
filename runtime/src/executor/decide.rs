//! Readiness and trigger rules: when a task runs, is skipped, or is
//! upstream_failed.

use super::task::Counts;
use super::{Exec, ExecError};
use crate::compiled::TriggerRule;
use crate::state::TaskState;

/// What a task's trigger rule says, given its upstreams' states so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

/// Trigger rule `rule` of a task with `total` upstreams, `c` of which
/// have finished.
fn evaluate(rule: TriggerRule, total: u32, c: Counts) -> Decision {
    let all_done = c.done == total;
    if total == 0 {
        return Decision::Run;
    }
    match rule {
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
            let total = task.def.upstream.len() as u32;
            // Under an orchestrator (`task --engine`) it applied the rule.
            let decision = match self.engine {
                true => Decision::Run,
                false => evaluate(task.def.trigger_rule, total, task.upstream),
            };
            let final_state = match decision {
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

#[cfg(test)]
mod tests {
    use super::{Counts, Decision, TriggerRule, evaluate};

    /// Each rule on two upstreams, as their states come in.
    #[test]
    fn trigger_rules() {
        use Decision::*;
        use TriggerRule::*;
        // (rule, success, failed, skipped) of 2 upstreams -> decision
        let table = [
            (AllSuccess, 1, 0, 0, Wait),
            (AllSuccess, 2, 0, 0, Run),
            (AllSuccess, 0, 1, 0, UpstreamFailed),
            (AllSuccess, 0, 0, 1, Skip),
            (AllDone, 1, 0, 0, Wait),
            (AllDone, 0, 1, 1, Run),
            (AllFailed, 0, 1, 0, Wait),
            (AllFailed, 0, 2, 0, Run),
            (AllFailed, 1, 0, 0, Skip),
            (AllFailed, 0, 1, 1, Skip),
            (OneSuccess, 1, 0, 0, Run),
            (OneSuccess, 0, 1, 0, Wait),
            (OneSuccess, 0, 0, 2, Skip),
            (OneSuccess, 0, 1, 1, UpstreamFailed),
            (OneFailed, 0, 1, 0, Run),
            (OneFailed, 1, 0, 0, Wait),
            (OneFailed, 1, 0, 1, Skip),
            (NoneFailed, 1, 0, 0, Wait),
            (NoneFailed, 1, 0, 1, Run),
            (NoneFailed, 0, 1, 0, UpstreamFailed),
        ];
        for (rule, success, failed, skipped, expected) in table {
            let c = Counts {
                success,
                failed,
                skipped,
                done: success + failed + skipped,
            };
            assert_eq!(
                evaluate(rule, 2, c),
                expected,
                "{rule:?} {success} {failed} {skipped}"
            );
        }
        for rule in TriggerRule::ALL {
            assert_eq!(evaluate(*rule, 0, Counts::default()), Run, "no upstream");
        }
    }
}
