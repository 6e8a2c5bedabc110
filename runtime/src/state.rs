//! The states of runs and task instances (Airflow's vocabulary), and the
//! transitions the executor may make.

use std::fmt;

/// The state of one task instance (a task in a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Not yet considered: upstreams are not finished. Set when a run is created.
    None,
    /// Upstreams are done and the trigger rule says run; waiting for a slot.
    Scheduled,
    /// Handed to the executor's pool, not started.
    Queued,
    /// An attempt is running. Found on restart, it means the process died
    /// mid-attempt: the task is run again.
    Running,
    /// The last attempt succeeded. Final.
    Success,
    /// The last attempt failed and no retry is left. Final.
    Failed,
    /// An attempt failed; another will start after the retry delay.
    UpForRetry,
    /// Not run: the trigger rule can no longer be met because upstreams failed. Final.
    UpstreamFailed,
    /// Not run: the trigger rule says skip (e.g. `all_failed` when all succeeded). Final.
    Skipped,
    /// An instance of a dynamic `for_each` whose task was made again from
    /// a list without its key (Airflow's `removed`): kept in the history,
    /// counted by no rule. Final.
    Removed,
}

impl TaskState {
    pub const ALL: [TaskState; 10] = [
        TaskState::None,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Success,
        TaskState::Failed,
        TaskState::UpForRetry,
        TaskState::UpstreamFailed,
        TaskState::Skipped,
        TaskState::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::None => "none",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Skipped => "skipped",
            TaskState::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Success, failed, upstream_failed, skipped or removed: nothing more
    /// will happen.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success
                | TaskState::Failed
                | TaskState::UpstreamFailed
                | TaskState::Skipped
                | TaskState::Removed
        )
    }

    /// Whether a run resumed after a crash keeps this state (finished and
    /// successful work is never redone).
    pub fn kept_on_resume(self) -> bool {
        matches!(self, TaskState::Success | TaskState::Skipped)
    }

    /// Checks a transition the executor wants to make. [`TaskInstance`]
    /// makes every change of state through it.
    pub fn transition(self, to: TaskState) -> Result<TaskState, InvalidTransition> {
        use TaskState::*;
        let ok = match (self, to) {
            (None | UpForRetry, Scheduled | UpstreamFailed | Skipped) => true,
            // A ready task is launched at once: chime's executor has no
            // separate scheduled or queued step (Airflow's vocabulary keeps them).
            (None | Scheduled | Queued | UpForRetry, Running) => true,
            (Scheduled, Queued) => true,
            (Running, Success | Failed | UpForRetry) => true,
            // Resume, `clear` and an interrupted attempt: anything that is
            // not kept goes back to none.
            (_, None) => true,
            _ => false,
        };
        if ok {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }
}

/// One task instance as the executor holds it: its state, changed only
/// through [`TaskState::transition`], and the number of attempts started.
///
/// An illegal change is a bug in chime: [`TaskInstance::set`] refuses it
/// and leaves the state as it was; the executor stops the run, records it
/// failed and reports the [`InvalidTransition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskInstance {
    state: TaskState,
    try_number: u32,
}

impl Default for TaskInstance {
    fn default() -> Self {
        TaskInstance::restored(TaskState::None, 0)
    }
}

impl TaskInstance {
    /// As the state store recorded it (a run resumed): where the state
    /// machine starts again, not a transition.
    pub fn restored(state: TaskState, try_number: u32) -> TaskInstance {
        TaskInstance { state, try_number }
    }

    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Attempts started so far.
    pub fn try_number(&self) -> u32 {
        self.try_number
    }

    /// Moves to `to`, if the state machine allows it.
    pub fn set(&mut self, to: TaskState) -> Result<(), InvalidTransition> {
        self.state = self.state.transition(to)?;
        Ok(())
    }

    /// Starts an attempt: the instance is running, and the attempt's number
    /// (from 1) is returned.
    pub fn start_attempt(&mut self) -> Result<u32, InvalidTransition> {
        self.set(TaskState::Running)?;
        self.try_number += 1;
        Ok(self.try_number)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the state machine does not allow: a bug in chime, not in
/// the user's pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: TaskState,
    pub to: TaskState,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "internal error: task state {} -> {} is not allowed",
            self.from, self.to
        )
    }
}

impl std::error::Error for InvalidTransition {}

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Waiting to go on: stopped by a signal, reset by `clear`, or partly
    /// run by `task`. `run` and the next `scheduler` resume it.
    Queued,
    /// Recorded when the run starts. Found by a new process, the old one
    /// died: `run` and the next `scheduler` resume it.
    Running,
    /// Every leaf task succeeded or was skipped. Final.
    Success,
    /// Every task is decided and a leaf did not succeed. `run` again
    /// resumes it: what succeeded or skipped is kept, the rest runs again.
    Failed,
}

impl RunState {
    /// Airflow's rule, from each task's state and whether it is a leaf
    /// (nothing depends on it): every task decided and every leaf
    /// succeeded or skipped is a success; a failure fails the run; else
    /// the rest is still to come (`queued`: `task` ran part of it).
    pub fn of(tasks: impl IntoIterator<Item = (TaskState, bool)>) -> RunState {
        let (mut all_decided, mut failed, mut leaves_ok) = (true, false, true);
        for (state, leaf) in tasks {
            all_decided &= state.is_finished();
            failed |= matches!(state, TaskState::Failed | TaskState::UpstreamFailed);
            leaves_ok &= !leaf || matches!(state, TaskState::Success | TaskState::Skipped);
        }
        match (all_decided, failed, leaves_ok) {
            (true, _, true) => RunState::Success,
            (true, _, false) | (false, true, _) => RunState::Failed,
            (false, false, _) => RunState::Queued,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        [
            RunState::Queued,
            RunState::Running,
            RunState::Success,
            RunState::Failed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in TaskState::ALL {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
        }
    }

    /// Every pair of states: the legal transitions are exactly these. The
    /// executor's paths are among them: launch (none -> running), a retry
    /// (running -> up_for_retry -> running), an attempt's end, a trigger
    /// rule's skip or upstream_failed, and the resets of resume, `clear`
    /// and an interrupted attempt (anything -> none).
    #[test]
    fn transitions_table() {
        use TaskState::*;
        let legal = [
            (None, Scheduled),
            (None, Running),
            (None, UpstreamFailed),
            (None, Skipped),
            (Scheduled, Queued),
            (Scheduled, Running),
            (Queued, Running),
            (Running, Success),
            (Running, Failed),
            (Running, UpForRetry),
            (UpForRetry, Scheduled),
            (UpForRetry, Running),
            (UpForRetry, UpstreamFailed),
            (UpForRetry, Skipped),
        ];
        for from in TaskState::ALL {
            for to in TaskState::ALL {
                let expected = to == None || legal.contains(&(from, to));
                let got = from.transition(to);
                assert_eq!(got.is_ok(), expected, "{from} -> {to}");
                match got {
                    Ok(s) => assert_eq!(s, to),
                    Err(e) => assert_eq!(
                        e.to_string(),
                        format!("internal error: task state {from} -> {to} is not allowed")
                    ),
                }
            }
        }
    }

    #[test]
    fn an_instance_changes_state_only_through_transitions() {
        let mut t = TaskInstance::default();
        assert_eq!(t.start_attempt(), Ok(1));
        t.set(TaskState::UpForRetry).unwrap();
        assert_eq!(t.start_attempt(), Ok(2));
        t.set(TaskState::Success).unwrap();
        let refused = t.start_attempt().unwrap_err();
        assert_eq!(
            (refused.from, refused.to),
            (TaskState::Success, TaskState::Running)
        );
        assert_eq!((t.state(), t.try_number()), (TaskState::Success, 2));
        let mut resumed = TaskInstance::restored(TaskState::Running, 2);
        resumed.set(TaskState::None).unwrap();
        assert_eq!(resumed.start_attempt(), Ok(3));
    }
}
