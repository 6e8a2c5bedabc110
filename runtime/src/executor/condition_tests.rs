//! `when:` (issue 17): a false condition skips its task, and the skip
//! spreads as Airflow's trigger rules say; one that cannot be evaluated
//! fails its task with the reason.

use std::rc::Rc;

use chrono::{DateTime, Utc};

use crate::compiled::{PipelineDef, TaskDef, TriggerRule};
use crate::operators::registry::builtins;
use crate::runs::{self, Runs, StateLocation};
use crate::scheduler::{Interval, ManualClock};
use crate::state::{RunState, TaskState};
use crate::store::AttemptRecord;
use crate::vocabulary::RunKind;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Runs `tasks` once for 2026-11-23 (a Monday): the run's state, each
/// task's state and every attempt.
pub(super) fn execute(
    tasks: &'static [TaskDef],
) -> (RunState, Vec<(String, TaskState)>, Vec<AttemptRecord>) {
    execute_with(tasks, builtins())
}

/// As [`execute`], with the operators `ops`.
pub(super) fn execute_with(
    tasks: &'static [TaskDef],
    ops: Vec<crate::operators::registry::Registered>,
) -> (RunState, Vec<(String, TaskState)>, Vec<AttemptRecord>) {
    let dir = tempfile::tempdir().unwrap();
    execute_in(&dir.path().join("c.state.db"), tasks, ops)
}

/// As [`execute_with`], on the state file `state`.
pub(super) fn execute_in(
    state: &std::path::Path,
    tasks: &'static [TaskDef],
    ops: Vec<crate::operators::registry::Registered>,
) -> (RunState, Vec<(String, TaskState)>, Vec<AttemptRecord>) {
    let def: &'static PipelineDef = Box::leak(Box::new(PipelineDef {
        name: "conditions",
        max_active_tasks: Some(8),
        tasks,
        ..PipelineDef::BLANK
    }));
    let runs = Runs::new(def, StateLocation::File(state.to_path_buf()));
    let tz = chrono_tz::UTC;
    let interval = Interval {
        start: utc("2026-11-23T00:00:00Z").with_timezone(&tz),
        end: utc("2026-11-24T00:00:00Z").with_timezone(&tz),
    };
    let logical = interval.start.to_rfc3339();
    let req = runs::request(
        RunKind::Manual.run_id(&logical),
        RunKind::Manual,
        &interval,
        serde_json::json!({}),
        None,
    );
    let run_id = req.run.run_id.clone();
    let clock = Rc::new(ManualClock::new(utc("2026-11-24T00:01:00Z")));
    let opts = runs.options(false, None, clock);
    let outcome = runs::block_on(runs.execute(&ops, req, opts))
        .unwrap()
        .unwrap();
    let state = match outcome {
        crate::executor::RunOutcome::Finished(s) => s,
        other => panic!("{other:?}"),
    };
    let store = runs.open().unwrap();
    let tasks = store
        .task_records(&run_id)
        .unwrap()
        .into_iter()
        .map(|r| (r.task_id, r.state))
        .collect();
    (state, tasks, store.attempts(&run_id).unwrap())
}

/// The error of task `id`'s first attempt, if it has one.
pub(super) fn error_of(attempts: &[AttemptRecord], id: &str) -> Option<String> {
    attempts
        .iter()
        .find(|a| a.task_id == id)
        .and_then(|a| a.error.clone())
}

const fn when(id: &'static str, when: &'static str, upstream: &'static [usize]) -> TaskDef {
    TaskDef {
        when: Some(when),
        ..TaskDef::test(id, "noop", "{}", upstream)
    }
}

#[test]
fn a_false_condition_skips_its_task_and_the_join_runs_after_the_other_branch() {
    static TASKS: [TaskDef; 7] = [
        TaskDef::test(
            "check",
            "shell",
            r#"{"command": "echo '{\"rows\": 0}'"}"#,
            &[],
        ),
        when("load", "tasks.check.output.rows > 0", &[0]),
        when("alert", "tasks.check.output.rows == 0", &[0]),
        TaskDef::test("after_load", "noop", "{}", &[1]),
        TaskDef {
            trigger_rule: TriggerRule::NoneFailedMinOneSuccess,
            ..TaskDef::test("join", "noop", "{}", &[1, 2])
        },
        // 2026-11-23 is a Monday; `ds` and filters are the templates'.
        when("mondays", "ds | ds_format('%a') == 'Mon'", &[4]),
        when("empty_list", "[]", &[]),
    ];
    let (state, tasks, attempts) = execute(&TASKS);
    assert_eq!(state, RunState::Success);
    let expected = [
        ("check", TaskState::Success),
        ("load", TaskState::Skipped),
        ("alert", TaskState::Success),
        ("after_load", TaskState::Skipped),
        ("join", TaskState::Success),
        ("mondays", TaskState::Success),
        ("empty_list", TaskState::Skipped),
    ];
    let mut expected: Vec<(String, TaskState)> =
        expected.iter().map(|(t, s)| (t.to_string(), *s)).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tasks = tasks;
    tasks.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(tasks, expected);
    // A skipped task never started.
    assert!(
        !attempts.iter().any(|a| a.task_id == "load"),
        "{attempts:?}"
    );
}

#[test]
fn a_condition_that_cannot_be_evaluated_fails_its_task_with_the_reason() {
    static TASKS: [TaskDef; 3] = [
        TaskDef::test(
            "check",
            "shell",
            r#"{"command": "echo '{\"rows\": 3}'"}"#,
            &[],
        ),
        when("load", "tasks.check.output.count > 0", &[0]),
        TaskDef::test("after", "noop", "{}", &[1]),
    ];
    let (state, tasks, attempts) = execute(&TASKS);
    assert_eq!(state, RunState::Failed);
    assert!(
        tasks.contains(&("load".to_string(), TaskState::Failed)),
        "{tasks:?}"
    );
    let after = ("after".to_string(), TaskState::UpstreamFailed);
    assert!(tasks.contains(&after), "{tasks:?}");
    let error = error_of(&attempts, "load").unwrap_or_default();
    assert!(
        error.contains("{{ tasks.check.output.count > 0 }}") && error.contains("undefined"),
        "{error}"
    );
}
