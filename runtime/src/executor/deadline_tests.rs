//! The run's deadlines on an injected clock: nothing sleeps for real. The
//! test moves a [`ManualClock`] past a deadline while a task runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::compiled::{NotifyDef, PipelineDef, SlaDef, TaskDef, TriggerRule};
use crate::operators::registry::{Registered, builtins};
use crate::runs::{self, Runs, StateLocation};
use crate::scheduler::{Interval, ManualClock};
use crate::state::{RunState, TaskState};
use crate::vocabulary::{Channel, NotifyEvent, RunKind};

/// Released by the test: the task `gate` waits for it.
static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn gate() -> Registered {
    Registered {
        name: "gate",
        run: |_, _| {
            Box::pin(async {
                GATE.notified().await;
                Ok(None)
            })
        },
        instant: false,
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A local HTTP server that records each POST's body.
fn receiver() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            log.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or_default());
            let _ = reader
                .into_inner()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}

fn def(port: u16, tasks: &'static [TaskDef], timeout_ms: Option<u64>) -> &'static PipelineDef {
    let params: &'static str =
        Box::leak(format!("{{\"url\": \"http://127.0.0.1:{port}/hook\"}}").into_boxed_str());
    let notify: &'static [NotifyDef] = Box::leak(Box::new([NotifyDef {
        on: &[NotifyEvent::SlaMiss, NotifyEvent::Failure],
        channel: Channel::Http,
        params,
    }]));
    Box::leak(Box::new(PipelineDef {
        name: "deadlines",
        schedule: Some("0 2 * * *"),
        start_date: Some("2026-01-01"),
        notify,
        timeout_ms,
        // Finished an hour after the fire time (02:00), or by 02:30.
        sla: Some(SlaDef {
            max_duration_ms: Some(3_600_000),
            finish_by: Some("02:30"),
        }),
        tasks,
        ..PipelineDef::BLANK
    }))
}

/// Executes the scheduled run of 2026-11-24 with `clock` starting at
/// 02:01, while `drive` moves the clock and lets tasks go; the run's
/// state and each task's.
fn execute(
    def: &'static PipelineDef,
    ops: Vec<Registered>,
    clock: Rc<ManualClock>,
    drive: impl std::future::Future<Output = ()>,
) -> (RunState, Vec<(String, TaskState)>) {
    let dir = tempfile::tempdir().unwrap();
    let runs = Runs::new(def, StateLocation::File(dir.path().join("d.state.db")));
    let tz = chrono_tz::UTC;
    let interval = Interval {
        start: utc("2026-11-23T02:00:00Z").with_timezone(&tz),
        end: utc("2026-11-24T02:00:00Z").with_timezone(&tz),
    };
    let logical = interval.start.to_rfc3339();
    let req = runs::request(
        RunKind::Scheduled.run_id(&logical),
        RunKind::Scheduled,
        &interval,
        serde_json::json!({}),
        None,
    );
    let run_id = req.run.run_id.clone();
    let opts = runs.options(false, None, clock);
    let outcome = runs::block_on(async {
        let (outcome, ()) = tokio::join!(runs.execute(&ops, req, opts), drive);
        outcome
    })
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
    (state, tasks)
}

/// Waits (a few ms at a time, 10 s at most) until `got` holds `n` notices.
async fn notices(got: &Arc<Mutex<Vec<serde_json::Value>>>, n: usize) {
    for _ in 0..1000 {
        if got.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{n} notices never came: {:?}", got.lock().unwrap());
}

#[test]
fn a_scheduled_run_past_its_sla_is_told_once_and_goes_on() {
    static TASKS: [TaskDef; 2] = [
        TaskDef::test("wait", "gate", "{}", &[]),
        TaskDef::test("after", "noop", "{}", &[0]),
    ];
    let (port, got) = receiver();
    let clock = Rc::new(ManualClock::new(utc("2026-11-24T02:01:00Z")));
    let mut ops = builtins();
    ops.push(gate());
    let c = clock.clone();
    let drive = async {
        // Past 02:30 (finish_by), before 03:00 (max_duration): one notice.
        tokio::task::yield_now().await;
        c.set(utc("2026-11-24T02:31:00Z"));
        notices(&got, 1).await;
        c.set(utc("2026-11-24T04:00:00Z"));
        tokio::task::yield_now().await;
        GATE.notify_one();
    };
    let (state, tasks) = execute(def(port, &TASKS, None), ops, clock.clone(), drive);
    assert_eq!(
        state,
        RunState::Success,
        "an SLA miss does not stop the run"
    );
    assert!(
        tasks.iter().all(|(_, s)| *s == TaskState::Success),
        "{tasks:?}"
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "told once: {got:?}");
    assert_eq!(got[0]["event"], "sla_miss");
    assert_eq!(got[0]["state"], "running");
    let detail = got[0]["detail"].as_str().unwrap();
    assert!(detail.contains("by 02:30 (UTC)"), "{detail}");
}

#[test]
fn a_run_past_its_timeout_is_stopped_and_fails() {
    // `slow` would sleep a minute; the clock passes the timeout at once.
    static TASKS: [TaskDef; 4] = [
        TaskDef::test("quick", "noop", "{}", &[]),
        TaskDef::test("slow", "shell", "{\"command\": \"sleep 60\"}", &[0]),
        TaskDef::test("after", "noop", "{}", &[1]),
        // Ready once `slow` ends, whatever its state: not started after the
        // timeout.
        TaskDef {
            trigger_rule: TriggerRule::AllDone,
            ..TaskDef::test("cleanup", "noop", "{}", &[1])
        },
    ];
    let (port, got) = receiver();
    let clock = Rc::new(ManualClock::new(utc("2026-11-24T02:01:00Z")));
    let c = clock.clone();
    let drive = async {
        // Let `slow` start, then move past the 2 h timeout (02:01 + 2 h);
        // 02:30 passes too, so the SLA is missed first.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        c.set(utc("2026-11-24T04:02:00Z"));
    };
    let started = std::time::Instant::now();
    let (state, tasks) = execute(def(port, &TASKS, Some(7_200_000)), builtins(), clock, drive);
    assert!(
        started.elapsed().as_secs() < 30,
        "the run waited for the task"
    );
    assert_eq!(state, RunState::Failed);
    assert_eq!(
        tasks,
        [
            ("quick".to_string(), TaskState::Success),
            ("slow".to_string(), TaskState::Failed),
            // Decided by its trigger rule when `slow` failed.
            ("after".to_string(), TaskState::UpstreamFailed),
            ("cleanup".to_string(), TaskState::Skipped),
        ]
    );
    let got = got.lock().unwrap().clone();
    let mut events: Vec<&str> = got.iter().filter_map(|n| n["event"].as_str()).collect();
    events.sort();
    assert_eq!(events, ["failure", "sla_miss"], "{got:?}");
    let failure = got.iter().find(|n| n["event"] == "failure").unwrap();
    assert!(
        failure["detail"]
            .as_str()
            .unwrap()
            .starts_with("the run passed its timeout of 7200s"),
        "{failure}"
    );
}
