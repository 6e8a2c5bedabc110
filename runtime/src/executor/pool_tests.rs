//! Pools (issue 17): tasks of a pool never run more at once than its
//! size, whatever `max_active_tasks` allows; the others wait and run.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::condition_tests::{execute_in, execute_with};
use crate::compiled::{TaskDef, TriggerRule};
use crate::operators::registry::{Registered, builtins};
use crate::state::{RunState, TaskState};

static NOW: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

/// An operator that counts how many of it run at once: it stays until a
/// second one is running (or 2 s pass), so a pool of 2 fills.
fn counted() -> Registered {
    Registered {
        name: "counted",
        run: |_, _| {
            Box::pin(async {
                let n = NOW.fetch_add(1, Ordering::SeqCst) + 1;
                MOST.fetch_max(n, Ordering::SeqCst);
                for _ in 0..200 {
                    if NOW.load(Ordering::SeqCst) >= 2 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                NOW.fetch_sub(1, Ordering::SeqCst);
                Ok(None)
            })
        },
        instant: false,
    }
}

const fn pooled(id: &'static str) -> TaskDef {
    TaskDef {
        pool: Some(("warehouse", 2)),
        ..TaskDef::test(id, "counted", "{}", &[])
    }
}

#[test]
fn a_pool_of_two_runs_two_tasks_at_once_and_every_task_in_the_end() {
    static TASKS: [TaskDef; 6] = [
        pooled("a"),
        pooled("b"),
        pooled("c"),
        pooled("d"),
        pooled("e"),
        TaskDef::test("after", "noop", "{}", &[0, 1, 2, 3, 4]),
    ];
    let mut ops = builtins();
    ops.push(counted());
    let (state, tasks, attempts) = execute_with(&TASKS, ops);
    assert_eq!(state, RunState::Success);
    assert!(
        tasks.iter().all(|(_, s)| *s == TaskState::Success),
        "{tasks:?}"
    );
    assert_eq!(MOST.load(Ordering::SeqCst), 2, "8 task slots, a pool of 2");
    assert_eq!(
        attempts.len(),
        6,
        "one attempt each: waiting is not failing"
    );
}

/// A run whose only task waits for a slot another process holds does not
/// spin: it waits, then runs when the slot frees (a bug the first e2e run
/// found: the loop polled an empty set of attempts without end).
#[test]
fn a_task_waits_for_a_slot_held_elsewhere_then_runs() {
    static TASKS: [TaskDef; 1] = [TaskDef {
        pool: Some(("etl", 1)),
        ..TaskDef::test("load", "noop", "{}", &[])
    }];
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("p.state.db");
    let other = dir.path().join("other.state.db");
    let (taken_tx, taken) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let clock = crate::scheduler::SystemClock;
        let held = crate::pool::slot(&other, "etl", 1, "run", &clock).unwrap();
        taken_tx.send(held.is_some()).unwrap();
        // Released once the run has had time to find the pool full.
        let _ = rx.recv_timeout(std::time::Duration::from_millis(300));
        drop(held);
    });
    assert!(taken.recv().unwrap(), "the other process's slot");
    let started = std::time::Instant::now();
    let (state, tasks, _) = execute_in(&state, &TASKS, builtins());
    let _ = tx.send(());
    holder.join().unwrap();
    assert_eq!(state, RunState::Success, "{tasks:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "it waited"
    );
}

/// A task that holds a slot and is then skipped (its `when:` became false
/// while it waited for the slot) gives the slot back: a review found it
/// kept, and the pool's next task waited for ever.
#[test]
fn a_task_skipped_at_its_start_gives_its_slot_back() {
    static TASKS: [TaskDef; 5] = [
        TaskDef {
            pool: Some(("p", 1)),
            ..TaskDef::test("holder", "shell", r#"{"command": "sleep 0.3"}"#, &[])
        },
        TaskDef::test("x", "noop", "{}", &[]),
        TaskDef::test(
            "y",
            "shell",
            r#"{"command": "sleep 0.1; echo '{\"go\": false}'"}"#,
            &[],
        ),
        // Ready once x succeeds, while y's output is not there yet: it waits
        // for the slot, and when it gets it, y said no.
        TaskDef {
            pool: Some(("p", 1)),
            when: Some("tasks.y.output.go"),
            trigger_rule: TriggerRule::OneSuccess,
            ..TaskDef::test("gated", "noop", "{}", &[1, 2])
        },
        TaskDef {
            pool: Some(("p", 1)),
            trigger_rule: TriggerRule::AllDone,
            ..TaskDef::test("next", "noop", "{}", &[3])
        },
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(execute_with(&TASKS, builtins()));
    });
    let (state, tasks, _) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the run ends: no slot is kept by a skipped task");
    assert_eq!(state, RunState::Success, "{tasks:?}");
    let of = |id: &str| tasks.iter().find(|(t, _)| t == id).map(|(_, s)| *s);
    assert_eq!(of("gated"), Some(TaskState::Skipped));
    assert_eq!(of("next"), Some(TaskState::Success));
}
