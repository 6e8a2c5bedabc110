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
}

impl TaskState {
    pub const ALL: [TaskState; 9] = [
        TaskState::None,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Success,
        TaskState::Failed,
        TaskState::UpForRetry,
        TaskState::UpstreamFailed,
        TaskState::Skipped,
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
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Success, failed, upstream_failed or skipped: nothing more will happen.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::UpstreamFailed | TaskState::Skipped
        )
    }

    /// Whether a run resumed after a crash keeps this state (finished and
    /// successful work is never redone).
    pub fn kept_on_resume(self) -> bool {
        matches!(self, TaskState::Success | TaskState::Skipped)
    }

    /// Checks a transition the executor wants to make.
    pub fn transition(self, to: TaskState) -> Result<TaskState, InvalidTransition> {
        use TaskState::*;
        let ok = match (self, to) {
            (None | UpForRetry, Scheduled | UpstreamFailed | Skipped) => true,
            (Scheduled, Queued | Running) => true,
            (Queued, Running) => true,
            (Running, Success | Failed | UpForRetry) => true,
            (UpForRetry, Running) => true,
            // Resume and `clear`: anything that is not kept goes back to none.
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
    /// Waiting to run: created and not started, or interrupted by a
    /// signal. `run` and the next `scheduler` resume it.
    Queued,
    /// Tasks are being run. Found on restart, the process died: `run` resumes it.
    Running,
    /// Every leaf task succeeded or was skipped. Final.
    Success,
    /// A leaf failed, or the run was interrupted. `run` again resumes it.
    Failed,
}

impl RunState {
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

    #[test]
    fn transitions() {
        assert!(TaskState::Running.transition(TaskState::Success).is_ok());
        assert!(TaskState::Success.transition(TaskState::Running).is_err());
        assert!(TaskState::Failed.transition(TaskState::None).is_ok());
    }
}
