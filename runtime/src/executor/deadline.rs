//! The run's deadlines, read on the executor's clock (the scheduler's,
//! injected in tests): `timeout` stops the run and fails it; `sla:` only
//! tells (`sla_miss`, see notify.rs).

use chrono::{DateTime, Utc};

use super::{Exec, ExecError};
use crate::context::StopReason;
use crate::state::TaskState;
use crate::vocabulary::RunKind;

impl Exec<'_> {
    /// When the run times out, and when a scheduled run misses its SLA:
    /// for a whole run only (an orchestrator's `task` call runs one task,
    /// and the orchestrator owns the run's deadlines).
    pub(super) fn deadlines(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        if !self.whole_run {
            return (None, None);
        }
        // A duration past chrono's range is no deadline at all.
        let ms = |ms: u64| chrono::Duration::try_milliseconds(i64::try_from(ms).ok()?);
        let timeout = self
            .def
            .timeout_ms
            .and_then(ms)
            .and_then(|d| self.started.checked_add_signed(d));
        let sla = self
            .def
            .sla
            .as_ref()
            .filter(|_| self.kind == RunKind::Scheduled)
            .and_then(|sla| {
                let fire = DateTime::parse_from_rfc3339(&self.run.data_interval_end).ok()?;
                let tz: chrono_tz::Tz = self.def.timezone.parse().ok()?;
                crate::deadline::sla_deadline(
                    fire.to_utc(),
                    tz,
                    sla.max_duration_ms.and_then(ms),
                    sla.finish_by.and_then(crate::deadline::parse_finish_by),
                )
            });
        (timeout, sla)
    }

    /// `timeout` passed: running attempts are stopped (and recorded
    /// `timed_out`), nothing more starts.
    pub(super) fn on_run_timeout(&mut self) {
        self.timed_out = true;
        let (run_id, n) = (self.run_id.clone(), self.running);
        let limit = self.def.timeout_ms.unwrap_or_default() as f64 / 1000.0;
        self.say(|| {
            format!(
                "run {run_id} passed its timeout of {limit}s: stopping {n} running task(s); the run fails, tasks still waiting are skipped"
            )
        });
        self.stop_for(StopReason::TimedOut);
    }

    /// After the timeout: every task that did not finish is `skipped`.
    pub(super) fn skip_unfinished(&mut self) -> Result<(), ExecError> {
        for t in 0..self.tasks.len() {
            let state = self.tasks[t].state();
            if state.is_finished() {
                continue;
            }
            if !matches!(state, TaskState::None | TaskState::UpForRetry) {
                self.set_state(t, TaskState::None, None)?;
            }
            self.set_state(t, TaskState::Skipped, None)?;
            self.tasks[t].decided = true;
        }
        Ok(())
    }
}
