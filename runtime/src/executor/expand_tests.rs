//! Dynamic `for_each` (issue 17) in the executor: instances made from an
//! upstream's output count for their task in downstream trigger rules.

use super::condition_tests::{error_of, execute};
use crate::compiled::{ExpandDef, TaskDef, TriggerRule};
use crate::state::{RunState, TaskState};

const fn fan_out(id: &'static str, key: Option<&'static str>, max: u32) -> TaskDef {
    TaskDef {
        expand: Some(ExpandDef {
            over: "tasks.list.output.items",
            key,
            max_instances: max,
        }),
        ..TaskDef::test(
            id,
            "shell",
            r#"{"command": "test \"{{ item }}\" != bad"}"#,
            &[0],
        )
    }
}

fn state(tasks: &[(String, TaskState)], id: &str) -> TaskState {
    tasks
        .iter()
        .find(|(t, _)| t == id)
        .map_or_else(|| panic!("no {id} in {tasks:?}"), |(_, s)| *s)
}

#[test]
fn a_failed_instance_fails_its_task_for_the_downstream_rules() {
    static TASKS: [TaskDef; 4] = [
        TaskDef::test(
            "list",
            "shell",
            r#"{"command": "echo '{\"items\": [\"a\", \"bad\", \"c\"]}'"}"#,
            &[],
        ),
        fan_out("each", Some("item | upper"), 10),
        TaskDef::test("after", "noop", "{}", &[1]),
        TaskDef {
            trigger_rule: TriggerRule::OneFailed,
            ..TaskDef::test("alarm", "noop", "{}", &[1])
        },
    ];
    let (run, tasks, _) = execute(&TASKS);
    assert_eq!(run, RunState::Failed);
    assert_eq!(
        state(&tasks, "each"),
        TaskState::Success,
        "it made its instances"
    );
    assert_eq!(state(&tasks, "each[A]"), TaskState::Success);
    assert_eq!(state(&tasks, "each[BAD]"), TaskState::Failed);
    assert_eq!(state(&tasks, "each[C]"), TaskState::Success);
    assert_eq!(state(&tasks, "after"), TaskState::UpstreamFailed);
    assert_eq!(state(&tasks, "alarm"), TaskState::Success);
}

#[test]
fn too_many_items_or_not_a_list_fail_the_task_with_the_reason() {
    static TOO_MANY: [TaskDef; 3] = [
        TaskDef::test(
            "list",
            "shell",
            r#"{"command": "echo '{\"items\": [1, 2, 3]}'"}"#,
            &[],
        ),
        fan_out("each", None, 2),
        TaskDef::test("after", "noop", "{}", &[1]),
    ];
    let (run, tasks, attempts) = execute(&TOO_MANY);
    assert_eq!(run, RunState::Failed);
    assert_eq!(state(&tasks, "each"), TaskState::Failed);
    assert_eq!(state(&tasks, "after"), TaskState::UpstreamFailed);
    let error = error_of(&attempts, "each");
    assert_eq!(
        error.as_deref(),
        Some(
            "for_each gave 3 items, over max_instances (2); raise max_instances, or fan out over fewer items"
        ),
        "{attempts:?}"
    );
    static NOT_A_LIST: [TaskDef; 2] = [
        TaskDef::test(
            "list",
            "shell",
            r#"{"command": "echo '{\"items\": 7}'"}"#,
            &[],
        ),
        fan_out("each", None, 2),
    ];
    let (_, _, attempts) = execute(&NOT_A_LIST);
    let error = error_of(&attempts, "each");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("gave a number, not a list")),
        "{error:?}"
    );
    static SAME_KEY: [TaskDef; 2] = [
        TaskDef::test(
            "list",
            "shell",
            r#"{"command": "echo '{\"items\": [\"a\", \"A\"]}'"}"#,
            &[],
        ),
        fan_out("each", Some("item | upper"), 9),
    ];
    let (_, _, attempts) = execute(&SAME_KEY);
    let error = error_of(&attempts, "each");
    assert!(
        error.as_deref().is_some_and(|e| e.contains("`A` twice")),
        "{error:?}"
    );
}
