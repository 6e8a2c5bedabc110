//! `clear`: a run's tasks back to `none`, for `run --date` to run again.

use std::process::ExitCode;

use chrono::DateTime;

use super::error::{CliError, CliResult};
use super::show::get_run;
use crate::claim;
use crate::runs::{self, Runs};
use crate::scheduler::SystemClock;
use crate::state::TaskState;
use crate::store::TaskRecord;

/// `clear RUN [--task ID [--downstream]] [--only-failed]`, as Airflow's
/// clear: the chosen task instances go back to `none` (outputs dropped,
/// attempts kept in the history) and the run to `queued`; `run --date` (or
/// the scheduler when it next starts) runs them again.
pub fn clear(
    runs: &Runs,
    run_id: &str,
    task: Option<&str>,
    downstream: bool,
    only_failed: bool,
) -> CliResult {
    let def = runs.def;
    let mut store = runs.open()?;
    let run = get_run(runs, &*store, run_id)?;
    // Not while a process executes this run.
    let doing = claim::doing();
    let _claim = store.claim(&run.logical_date, None, &doing, &SystemClock)?;
    let records = store.task_records(run_id)?;
    let mut selected: std::collections::HashSet<&str> = match task {
        Some(id) => {
            let mut starts: Vec<&str> = def
                .tasks
                .iter()
                .filter(|t| t.id == id || t.group == id)
                .map(|t| t.id)
                .collect();
            // Instances a dynamic `for_each` made at run time: one by its
            // id; all of them (and the task, which makes them again) by
            // the task's.
            for r in &records {
                if let Some(group) = def.made_by(&r.task_id)
                    && (r.task_id == id || group == id)
                {
                    starts.push(r.task_id.as_str());
                }
            }
            if let (true, Some(by)) = (starts.is_empty(), def.made_by(id)) {
                return Err(CliError::NoInstance {
                    instance: id.to_string(),
                    task: by,
                    run_id: run_id.to_string(),
                });
            }
            if starts.is_empty() {
                return Err(CliError::NoTask {
                    task: id.to_string(),
                    pipeline: def.name,
                });
            }
            starts.into_iter().collect()
        }
        // Every task the run has a record of, this build's or an older one's.
        None => records.iter().map(|r| r.task_id.as_str()).collect(),
    };
    if task.is_some() && downstream {
        // Tasks are in topological order: one pass forward is enough.
        // A task after a dynamic `for_each` follows each of its instances.
        let made_by: std::collections::HashSet<&str> =
            selected.iter().filter_map(|id| def.made_by(id)).collect();
        // A dynamic `for_each` downstream is cleared whole: it makes its
        // instances again.
        let mut whole = std::collections::HashSet::new();
        for t in def.tasks {
            if t.upstream
                .iter()
                .any(|&u| selected.contains(def.tasks[u].id) || made_by.contains(def.tasks[u].id))
            {
                selected.insert(t.id);
                if t.expand.is_some() {
                    whole.insert(t.id);
                }
            }
        }
        for r in &records {
            if def.made_by(&r.task_id).is_some_and(|g| whole.contains(g)) {
                selected.insert(r.task_id.as_str());
            }
        }
    }
    // A removed instance comes back only if the task that made it makes
    // it again: cleared with that task, never alone (nothing would run it).
    let revived = |r: &TaskRecord| {
        r.state != TaskState::Removed
            || def
                .made_by(&r.task_id)
                .is_some_and(|by| selected.contains(by))
    };
    let cleared: Vec<&TaskRecord> = records
        .iter()
        .filter(|r| {
            let failed = !matches!(
                r.state,
                TaskState::Success | TaskState::Skipped | TaskState::Removed
            );
            r.state != TaskState::None
                && selected.contains(r.task_id.as_str())
                && (!only_failed || failed)
                && revived(r)
        })
        .collect();
    let names: Vec<&str> = cleared.iter().map(|r| r.task_id.as_str()).collect();
    if let Some(removed) = records
        .iter()
        .find(|r| names.is_empty() && selected.contains(r.task_id.as_str()) && !revived(r))
    {
        return Err(CliError::Removed {
            instance: removed.task_id.clone(),
            task: def.made_by(&removed.task_id).unwrap_or_default(),
            run_id: run_id.to_string(),
        });
    }
    if names.is_empty() {
        println!(
            "nothing to clear in {run_id} (state {}): no task matched",
            run.state
        );
        return Ok(ExitCode::SUCCESS);
    }
    runs::reset(&mut *store, run_id, cleared, true)?;
    let date = DateTime::parse_from_rfc3339(&run.logical_date)
        .map(|d| d.to_rfc3339())
        .unwrap_or(run.logical_date.clone());
    println!(
        "cleared {} task(s) of {run_id}: {}; the run is queued: `run --date {date}` runs them again (a scheduler does when it next starts)",
        names.len(),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
