//! What a run's earlier executions ended in (for `recovery`).

use std::collections::HashMap;

use crate::compiled::PipelineDef;
use crate::state::RunState;
use crate::store::RunRecord;

/// What a run's earlier executions ended in, read when it starts again:
/// a run cleared or resumed after a failure recovers when it succeeds.
#[derive(Debug, Default)]
pub(crate) struct Before {
    /// The run failed (recorded `failed`, or cleared after failed attempts).
    pub failed: bool,
    /// The run had succeeded (recorded `success`): a rerun of it is no
    /// recovery.
    pub succeeded: bool,
    /// Tasks whose last attempt failed.
    pub failed_tasks: std::collections::HashSet<String>,
}

impl Before {
    pub(super) fn of(run: &RunRecord, attempts: &[crate::store::AttemptRecord]) -> Before {
        use crate::vocabulary::AttemptOutcome;
        let mut last: HashMap<&str, Option<AttemptOutcome>> = HashMap::new();
        for a in attempts {
            last.insert(a.task_id.as_str(), a.outcome);
        }
        let failed_tasks: std::collections::HashSet<String> = last
            .into_iter()
            .filter(|(_, o)| matches!(o, Some(AttemptOutcome::Failed | AttemptOutcome::TimedOut)))
            .map(|(t, _)| t.to_string())
            .collect();
        Before {
            failed: run.state == RunState::Failed
                || (run.state == RunState::Queued && !failed_tasks.is_empty()),
            succeeded: run.state == RunState::Success,
            failed_tasks,
        }
    }
}

/// Whether any `notify:` entry is for `recovery` (only then are earlier
/// executions read).
pub(super) fn notifies_recovery(def: &PipelineDef) -> bool {
    def.notify
        .iter()
        .chain(def.tasks.iter().flat_map(|t| t.notify))
        .any(|n| n.on.contains(&crate::vocabulary::NotifyEvent::Recovery))
}
