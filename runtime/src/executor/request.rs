//! What the executor is asked to do (a [`RunRequest`]), and how a run
//! ended (a [`RunOutcome`]).

use crate::state::RunState;
use crate::store::RunRecord;

/// What `run` asks for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run: RunRecord,
    /// `2026-11-24`.
    pub ds: String,
    pub params: serde_json::Value,
    /// Only these tasks (by index) are run; the others must be finished
    /// already (used by `task`). `None`: the whole DAG.
    pub only: Option<Vec<usize>>,
    /// With `only`: the orchestrator's try number. Each selected task runs
    /// exactly one attempt, numbered so, and is not retried here (the
    /// orchestrator retries with the next number).
    pub attempt: Option<u32>,
    /// With `only`: the orchestrator applied the trigger rules; selected
    /// tasks run whatever their upstreams' states.
    pub engine: bool,
    /// With `only`: also this instance of a dynamic `for_each`
    /// (`task[key]`), made again from its task's recorded output (a
    /// `task` call for one instance).
    pub instance: Option<String>,
    /// With `only`: decide the selected tasks (a false `when:` skips
    /// them) without running them (`task --condition`).
    pub condition_only: bool,
    /// Run no task: only the pipeline's `on_failure` actions, over the run
    /// as recorded (an orchestrator's watcher task, `on-failure`).
    pub on_failure_only: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Finished(RunState),
    /// Stopped by a signal (its number).
    Interrupted(i32),
}
