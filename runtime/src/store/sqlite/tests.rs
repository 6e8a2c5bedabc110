use super::*;

fn run(id: &str) -> RunRecord {
    RunRecord {
        run_id: id.into(),
        logical_date: "2026-01-01T00:00:00+00:00".into(),
        interval_start: "2026-01-01T00:00:00+00:00".into(),
        interval_end: "2026-01-02T00:00:00+00:00".into(),
        kind: RunKind::Manual,
        state: RunState::Running,
        params: "{}".into(),
        started_at: None,
        ended_at: None,
    }
}

/// A new state file's path, in a folder removed with the returned guard.
fn state_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.state.db");
    (dir, path.to_str().unwrap().to_string())
}

#[test]
fn round_trip_and_batches() {
    let (_dir, path) = state_file();
    let path = path.as_str();
    let mut s = SqliteStore::open(path, "p").unwrap();
    s.create_run(&run("r1")).unwrap();
    s.apply(&[
        Change::Task {
            run_id: "r1".into(),
            task_id: "b".into(),
            state: TaskState::Running,
            try_number: 1,
            output: None,
        },
        Change::Task {
            run_id: "r1".into(),
            task_id: "a".into(),
            state: TaskState::Success,
            try_number: 1,
            output: Some("3".into()),
        },
        Change::Run {
            run_id: "r1".into(),
            state: RunState::Success,
            at: "now".into(),
        },
    ])
    .unwrap();
    drop(s);
    let s = SqliteStore::open(path, "p").unwrap();
    let tasks = s.task_records("r1").unwrap();
    assert_eq!(tasks[0].task_id, "b");
    assert_eq!(tasks[0].state, TaskState::Running);
    assert_eq!(tasks[1].task_id, "a");
    assert_eq!(tasks[1].state, TaskState::Success);
    assert_eq!(tasks[1].output.as_deref(), Some("3"));
    assert_eq!(s.get_run("r1").unwrap().unwrap().state, RunState::Success);
}

fn task(id: &str, state: TaskState, output: Option<&str>) -> Change {
    Change::Task {
        run_id: "r1".into(),
        task_id: id.into(),
        state,
        try_number: 1,
        output: output.map(str::to_string),
    }
}

/// Issue 11, item 7: a rebuild that adds a task before the others must
/// not write into the rows of tasks the run already has.
#[test]
fn rows_are_keyed_by_task_id_not_by_position_in_the_pipeline() {
    let (_dir, path) = state_file();
    let path = path.as_str();
    let mut s = SqliteStore::open(path, "p").unwrap();
    s.create_run(&run("r1")).unwrap();
    s.apply(&[
        task("extract", TaskState::Success, Some("\"rows\"")),
        task("load", TaskState::Failed, None),
    ])
    .unwrap();
    drop(s);
    // The new build has `validate` first; its run resumes the old run.
    let mut s = SqliteStore::open(path, "p").unwrap();
    s.apply(&[
        task("validate", TaskState::Success, Some("\"ok\"")),
        Change::AttemptStarted {
            run_id: "r1".into(),
            task_id: "validate".into(),
            attempt: 1,
            at: "t".into(),
            log_path: "logs/validate".into(),
        },
        task("load", TaskState::Running, None),
    ])
    .unwrap();
    let by_id: std::collections::HashMap<String, TaskRecord> = s
        .task_records("r1")
        .unwrap()
        .into_iter()
        .map(|r| (r.task_id.clone(), r))
        .collect();
    assert_eq!(by_id.len(), 3, "{by_id:?}");
    assert_eq!(by_id["extract"].state, TaskState::Success);
    assert_eq!(by_id["extract"].output.as_deref(), Some("\"rows\""));
    assert_eq!(by_id["validate"].output.as_deref(), Some("\"ok\""));
    assert_eq!(by_id["load"].state, TaskState::Running);
    let attempts = s.attempts("r1").unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].task_id, "validate");
    // A new task's attempt, written before its state, keeps its own row.
    let mut s = SqliteStore::open(path, "p").unwrap();
    s.apply(&[Change::AttemptStarted {
        run_id: "r1".into(),
        task_id: "report".into(),
        attempt: 1,
        at: "t".into(),
        log_path: "logs/report".into(),
    }])
    .unwrap();
    let attempts = SqliteStore::open(path, "p")
        .unwrap()
        .attempts("r1")
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.task_id.as_str())
            .collect::<Vec<_>>(),
        ["validate", "report"]
    );
}

/// Kinds and outcomes are enums in the code and the same text in the
/// file: a state file written by an earlier build reads, and what this
/// build writes is the text it always wrote.
#[test]
fn kinds_and_outcomes_keep_their_stored_text() {
    let (_dir, path) = state_file();
    let path = path.as_str();
    drop(SqliteStore::open(path, "p").unwrap());
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "INSERT INTO runs (id, run_id, logical_date, interval_start, interval_end, kind, state, params)
             VALUES (1, 'scheduled__d', 'd', 'd', 'e', 'scheduled', 'running', '{}'),
                    (2, 'backfill__c', 'c', 'c', 'd', 'backfill', 'failed', '{}');
         INSERT INTO task_instances (run, seq, task_id, state, try_number) VALUES
             (1, 0, 'a', 'up_for_retry', 3);
         INSERT INTO attempts (run, seq, attempt, started_at, ended_at, outcome, log_path) VALUES
             (1, 0, 1, 't', 't', 'timed_out', 'l'),
             (1, 0, 2, 't', 't', 'interrupted', 'l'),
             (1, 0, 3, 't', NULL, '', 'l');",
    )
    .unwrap();
    let mut s = SqliteStore::open(path, "p").unwrap();
    assert_eq!(
        s.get_run("scheduled__d").unwrap().unwrap().kind,
        RunKind::Scheduled
    );
    assert_eq!(
        s.get_run("backfill__c").unwrap().unwrap().kind,
        RunKind::Backfill
    );
    assert_eq!(s.latest_scheduled().unwrap().as_deref(), Some("d"));
    let outcomes: Vec<_> = s
        .attempts("scheduled__d")
        .unwrap()
        .iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            Some(AttemptOutcome::TimedOut),
            Some(AttemptOutcome::Interrupted),
            None
        ]
    );
    s.create_run(&run("r1")).unwrap();
    s.apply(&[
        Change::AttemptStarted {
            run_id: "scheduled__d".into(),
            task_id: "a".into(),
            attempt: 4,
            at: "t".into(),
            log_path: "l".into(),
        },
        Change::AttemptEnded {
            run_id: "scheduled__d".into(),
            task_id: "a".into(),
            attempt: 4,
            at: "t".into(),
            outcome: AttemptOutcome::Failed,
            exit_code: Some(1),
            error: None,
            log_tail: None,
        },
        Change::Attempt {
            run_id: "r1".into(),
            task_id: "b".into(),
            attempt: 1,
            started_at: "t".into(),
            ended_at: "t".into(),
            outcome: AttemptOutcome::Success,
            log_path: String::new(),
            log_tail: None,
        },
    ])
    .unwrap();
    let text: Vec<String> = c
        .prepare("SELECT outcome FROM attempts WHERE ended_at IS NOT NULL ORDER BY run, attempt")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(text, ["timed_out", "interrupted", "failed", "success"]);
    let kind: String = c
        .query_row("SELECT kind FROM runs WHERE run_id = 'r1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kind, "manual");
}

#[test]
fn a_new_state_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.state.db");
    let mut s = SqliteStore::open(path.to_str().unwrap(), "p").unwrap();
    s.create_run(&run("r1")).unwrap();
    for f in ["p.state.db", "p.state.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

#[test]
fn one_lease_holder_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.state.db");
    let mut a = SqliteStore::open(path.to_str().unwrap(), "p").unwrap();
    let mut b = SqliteStore::open(path.to_str().unwrap(), "p").unwrap();
    assert_eq!(a.acquire_lease("a", 100, 130).unwrap(), None);
    assert_eq!(
        b.acquire_lease("b", 110, 140).unwrap(),
        Some(("a".to_string(), 130))
    );
    assert_eq!(a.acquire_lease("a", 120, 150).unwrap(), None, "renewal");
    // a crashed: its lease expires and b takes over.
    assert_eq!(b.acquire_lease("b", 151, 181).unwrap(), None);
    b.release_lease("b").unwrap();
    assert_eq!(a.acquire_lease("a", 152, 182).unwrap(), None);
}

#[test]
fn refuses_newer_foreign_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    let c = Connection::open(&newer).unwrap();
    c.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(c);
    let e = SqliteStore::open(newer.to_str().unwrap(), "p").unwrap_err();
    assert!(
        matches!(e, StoreError::NewerSchema { found: 99, .. }),
        "{e}"
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let e = SqliteStore::open(garbage.to_str().unwrap(), "p").unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");

    let other = dir.path().join("other.db");
    SqliteStore::open(other.to_str().unwrap(), "first").unwrap();
    let e = SqliteStore::open(other.to_str().unwrap(), "second").unwrap_err();
    assert!(e.to_string().contains("belongs to pipeline `first`"), "{e}");
}

/// A state file written before `attempts.log_tail` existed (schema 1) is
/// migrated when opened, and keeps its rows.
#[test]
fn a_version_1_file_is_migrated_on_open() {
    let (_dir, path) = state_file();
    let path = path.as_str();
    {
        let c = Connection::open(path).unwrap();
        c.execute_batch(&super::SCHEMA.replace("    log_tail TEXT,\n", ""))
            .unwrap();
        c.execute_batch(
            "INSERT INTO meta (key, value) VALUES ('pipeline', 'p');
             INSERT INTO runs (id, run_id, logical_date, interval_start, interval_end, kind, state, params)
                 VALUES (1, 'r1', 'd', 'd', 'e', 'manual', 'failed', '{}');
             INSERT INTO task_instances (run, seq, task_id, state, try_number) VALUES (1, 0, 'a', 'failed', 1);
             INSERT INTO attempts (run, seq, attempt, started_at, ended_at, outcome, log_path) VALUES
                 (1, 0, 1, 't', 't', 'failed', 'l');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(path, "p").unwrap();
    let old = s.attempts("r1").unwrap();
    assert_eq!((old.len(), old[0].log_tail.as_deref()), (1, None));
    s.apply(&[Change::AttemptEnded {
        run_id: "r1".into(),
        task_id: "a".into(),
        attempt: 1,
        at: "t2".into(),
        outcome: AttemptOutcome::Failed,
        exit_code: Some(2),
        error: None,
        log_tail: Some("the end\n".into()),
    }])
    .unwrap();
    assert_eq!(
        s.attempts("r1").unwrap()[0].log_tail.as_deref(),
        Some("the end\n")
    );
    let version: i64 = Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, super::SCHEMA_VERSION);
}

/// The grid's read: every task's state and tries, no output.
#[test]
fn task_states_are_the_records_without_outputs() {
    let (_dir, path) = state_file();
    let mut s = SqliteStore::open(&path, "p").unwrap();
    s.create_run(&run("r1")).unwrap();
    s.apply(&[
        task("a", TaskState::Success, Some("{\"big\": \"output\"}")),
        task("b", TaskState::Failed, None),
    ])
    .unwrap();
    let full = s.task_records("r1").unwrap();
    let states = s.task_states("r1").unwrap();
    assert_eq!(full[0].output.as_deref(), Some("{\"big\": \"output\"}"));
    let expected: Vec<TaskRecord> = full
        .into_iter()
        .map(|r| TaskRecord { output: None, ..r })
        .collect();
    assert_eq!(states, expected);
}
