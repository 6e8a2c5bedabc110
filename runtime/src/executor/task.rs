//! One task of the run as the executor holds it.

use crate::compiled::TaskDef;
use crate::state::{TaskInstance, TaskState};

/// A task of the run: its definition, its instance (state and attempts),
/// and what the executor tracks to decide and retry it.
#[derive(Debug)]
pub(super) struct TaskRun {
    pub def: &'static TaskDef,
    pub instance: TaskInstance,
    /// Failed attempts (timeouts included), counted against `retries`;
    /// interrupted attempts are not.
    pub failures: u32,
    /// Its upstreams' final states so far.
    pub upstream: Counts,
    /// The tasks that list it as an upstream.
    pub downstream: Vec<usize>,
    /// Its trigger rule has been applied (it is ready, ran, or was given a
    /// final state without running), or its kept state was resumed.
    pub decided: bool,
    /// Run by this process: every task for `run`, the chosen ones for `task`.
    pub selected: bool,
    /// Its last failed attempt's error, for notifications.
    pub last_error: Option<String>,
}

impl TaskRun {
    pub fn new(def: &'static TaskDef, selected: bool) -> TaskRun {
        TaskRun {
            def,
            instance: TaskInstance::default(),
            failures: 0,
            upstream: Counts::default(),
            downstream: Vec::new(),
            decided: false,
            selected,
            last_error: None,
        }
    }

    pub fn state(&self) -> TaskState {
        self.instance.state()
    }
}

/// A task's upstreams' final states, tallied as they come.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub success: u32,
    pub failed: u32,
    pub upstream_failed: u32,
    pub skipped: u32,
    pub done: u32,
}

impl Counts {
    /// One more upstream finished in `state`.
    pub fn add(&mut self, state: TaskState) {
        self.done += 1;
        match state {
            TaskState::Success => self.success += 1,
            TaskState::Failed => self.failed += 1,
            TaskState::UpstreamFailed => self.upstream_failed += 1,
            TaskState::Skipped => self.skipped += 1,
            _ => {}
        }
    }
}
