//! Readiness and trigger rules: when a task runs, is skipped, or is
//! upstream_failed.

use super::task::Counts;
use super::{Exec, ExecError};
use crate::compiled::TriggerRule;
use crate::state::TaskState;
use crate::template;

/// What a task's trigger rule says, given its upstreams' states so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

/// Trigger rule `rule` of a task with `total` upstreams, `c` of which
/// have finished: Airflow's `TriggerRuleDep` (`trigger_rule_dep.py`).
/// First the final states Airflow gives as soon as they are certain
/// (`flag_upstream_failed`), then the rule's condition to run; until it
/// holds, the task waits. Once every upstream is done, no rule waits.
fn evaluate(rule: TriggerRule, total: u32, c: Counts) -> Decision {
    use Decision::{Run, Skip, UpstreamFailed, Wait};
    use TriggerRule as R;
    if total == 0 || rule == R::Always {
        return Run;
    }
    let done = c.done == total;
    let any_failed = c.failed + c.upstream_failed > 0;
    let flagged = match rule {
        R::AllSuccess | R::NoneFailed | R::NoneFailedMinOneSuccess if any_failed => {
            Some(UpstreamFailed)
        }
        R::AllSuccess if c.skipped > 0 => Some(Skip),
        R::AllFailed if c.success + c.skipped > 0 => Some(Skip),
        R::OneSuccess if done && c.skipped == total => Some(Skip),
        R::OneSuccess if done && c.success == 0 => Some(UpstreamFailed),
        R::OneFailed if done && !any_failed => Some(Skip),
        R::OneDone if done && c.success + c.failed == 0 => Some(Skip),
        R::NoneFailedMinOneSuccess if c.skipped == total => Some(Skip),
        R::NoneFailedMinOneSuccess if done && c.success == 0 => Some(UpstreamFailed),
        R::NoneSkipped if c.skipped > 0 => Some(Skip),
        R::AllSkipped if c.skipped < c.done => Some(Skip),
        // Skipped upstreams are not "done" for this rule: any skips it.
        R::AllDoneMinOneSuccess if c.skipped > 0 => Some(Skip),
        R::AllDoneMinOneSuccess if done && c.success == 0 => Some(UpstreamFailed),
        _ => None,
    };
    if let Some(decision) = flagged {
        return decision;
    }
    let run = match rule {
        R::AllSuccess => c.success == total,
        R::AllFailed => c.failed + c.upstream_failed == total,
        R::AllDone | R::AllDoneSetupSuccess | R::NoneSkipped => done,
        R::OneSuccess => c.success > 0,
        R::OneFailed => any_failed,
        R::OneDone => c.success + c.failed > 0,
        R::NoneFailed => c.success + c.skipped == total,
        R::NoneFailedMinOneSuccess => c.success + c.skipped == total && c.success > 0,
        R::AllSkipped => c.skipped == total,
        R::AllDoneMinOneSuccess => done && c.success > 0,
        R::Always => true,
    };
    if run { Run } else { Wait }
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
            let total = task.total;
            // Under an orchestrator (`task --engine`) it applied the rule.
            let decision = match self.engine {
                true => Decision::Run,
                false => evaluate(task.def.trigger_rule, total, task.upstream),
            };
            // A dynamic `for_each` checks `when:` on each instance.
            let decision = match decision {
                Decision::Run if !task.expands() && self.condition(t) == Some(false) => {
                    let id = self.tasks[t].id;
                    self.say(|| format!("{id} is skipped: its `when` is false"));
                    Decision::Skip
                }
                d => d,
            };
            let final_state = match decision {
                Decision::Wait => continue,
                Decision::Run => {
                    self.tasks[t].decided = true;
                    if self.condition_only {
                        continue;
                    }
                    if self.tasks[t].expands() {
                        self.expand(t, &mut work)?;
                    } else {
                        self.ready.push_back(t);
                    }
                    continue;
                }
                Decision::Skip => TaskState::Skipped,
                Decision::UpstreamFailed => TaskState::UpstreamFailed,
            };
            self.tasks[t].decided = true;
            self.set_state(t, final_state, None)?;
            let id = self.tasks[t].id;
            self.say(|| format!("{id} {final_state}"));
            self.finish(t, &mut work);
        }
        Ok(())
    }

    /// Task `t`'s `when:` condition, if it has one and it can be
    /// evaluated. False skips the task; one that cannot be evaluated lets
    /// it start, and its attempt fails with the reason (see `launch`).
    pub(super) fn condition(&self, t: usize) -> Option<bool> {
        let when = self.tasks[t].def.when?;
        let item = self.tasks[t].item_value();
        template::condition(&self.env, &self.run, &self.outputs, item.as_ref(), when).ok()
    }

    /// Task `t`, ready to start, is skipped after all: its `when` became
    /// false while it waited.
    pub(super) fn skip(&mut self, t: usize) -> Result<(), ExecError> {
        self.release_slot(t);
        self.set_state(t, TaskState::Skipped, None)?;
        let id = self.tasks[t].id;
        self.say(|| format!("{id} is skipped: its `when` is false"));
        let mut work = Vec::new();
        self.finish(t, &mut work);
        for d in work {
            self.decide(d)?;
        }
        Ok(())
    }

    /// Propagates task `t`'s final state to its downstream tasks' counts,
    /// and adds them to `work` to be decided again.
    pub(super) fn finish(&mut self, t: usize, work: &mut Vec<usize>) {
        let state = self.tasks[t].state();
        if state == TaskState::Success && self.tasks[t].expands() {
            // Its instances finish for it (see `expand.rs`).
            return;
        }
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
    use crate::state::TaskState;

    /// The 15 ways two upstreams can stand: `.` not finished, `s`
    /// success, `f` failed, `u` upstream_failed, `k` skipped.
    const PAIRS: [&str; 15] = [
        "..", ".s", ".f", ".u", ".k", "ss", "sf", "su", "sk", "ff", "fu", "fk", "uu", "uk", "kk",
    ];

    /// Checks `rule` on two upstreams against `table`: one decision per
    /// entry of [`PAIRS`], `W` wait, `R` run, `S` skipped, `U`
    /// upstream_failed. The tables are Airflow's, read from its docs
    /// ("Trigger Rules") and from `ti_deps/deps/trigger_rule_dep.py`.
    fn truth_table(rule: TriggerRule, table: &str) {
        let decisions: Vec<char> = table.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(decisions.len(), PAIRS.len(), "{rule:?}");
        for (pair, want) in PAIRS.iter().zip(decisions) {
            let mut c = Counts::default();
            for state in pair.chars() {
                match state {
                    's' => c.add(TaskState::Success),
                    'f' => c.add(TaskState::Failed),
                    'u' => c.add(TaskState::UpstreamFailed),
                    'k' => c.add(TaskState::Skipped),
                    _ => {}
                }
            }
            let want = match want {
                'W' => Decision::Wait,
                'R' => Decision::Run,
                'S' => Decision::Skip,
                _ => Decision::UpstreamFailed,
            };
            assert_eq!(evaluate(rule, 2, c), want, "{} over {pair}", rule.as_str());
            assert_eq!(evaluate(rule, 0, c), Decision::Run, "no upstream");
        }
    }

    macro_rules! truth_tables {
        ($($name:ident: $rule:ident $table:literal,)*) => {$(
            #[test]
            fn $name() {
                truth_table(TriggerRule::$rule, $table);
            }
        )*
        #[test]
        fn every_rule_has_a_table() {
            let tested = [$(TriggerRule::$rule),*];
            assert_eq!(tested.len(), TriggerRule::ALL.len());
            for rule in TriggerRule::ALL {
                assert!(tested.contains(rule), "{rule:?}");
            }
        }};
    }

    //                       ..  .s  .f  .u  .k  ss  sf  su  sk  ff  fu  fk  uu  uk  kk
    truth_tables! {
        all_success:                 AllSuccess              "W   W   U   U   S   R   U   U   S   U   U   U   U   U   S",
        all_failed:                  AllFailed               "W   S   W   W   S   S   S   S   S   R   R   S   R   S   S",
        all_done:                    AllDone                 "W   W   W   W   W   R   R   R   R   R   R   R   R   R   R",
        all_done_setup_success:      AllDoneSetupSuccess     "W   W   W   W   W   R   R   R   R   R   R   R   R   R   R",
        one_success:                 OneSuccess              "W   R   W   W   W   R   R   R   R   U   U   U   U   U   S",
        one_failed:                  OneFailed               "W   W   R   R   W   S   R   R   S   R   R   R   R   R   S",
        one_done:                    OneDone                 "W   R   R   W   W   R   R   R   R   R   R   R   S   S   S",
        none_failed:                 NoneFailed              "W   W   U   U   W   R   U   U   R   U   U   U   U   U   R",
        none_failed_min_one_success: NoneFailedMinOneSuccess "W   W   U   U   W   R   U   U   R   U   U   U   U   U   S",
        none_skipped:                NoneSkipped             "W   W   W   W   S   R   R   R   S   R   R   S   R   S   S",
        all_skipped:                 AllSkipped              "W   S   S   S   W   S   S   S   S   S   S   S   S   S   R",
        all_done_min_one_success:    AllDoneMinOneSuccess    "W   W   W   W   S   R   R   R   S   U   U   S   U   S   S",
        always:                      Always                  "R   R   R   R   R   R   R   R   R   R   R   R   R   R   R",
    }
}
