//! The PostgreSQL state store against a real server (issue 14): the same
//! semantics as SQLite, several writers at once, claims between
//! processes' connections, the schema's version.

use chime::claim::ClaimError;
use chime::scheduler::SystemClock;
use chime::state::{RunState, TaskState};
use chime::store::postgres::PgStore;
use chime::store::{Change, RunRecord, Store, StoreError};
use chime::vocabulary::{AttemptOutcome, RunKind};

#[path = "../../compiler/tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

fn run(id: &str, logical: &str) -> RunRecord {
    RunRecord {
        run_id: id.into(),
        logical_date: logical.into(),
        interval_start: logical.into(),
        interval_end: "2026-11-25T00:00:00+00:00".into(),
        kind: RunKind::Scheduled,
        state: RunState::Running,
        params: "{}".into(),
        started_at: None,
        ended_at: None,
    }
}

fn task(run_id: &str, id: &str, state: TaskState, output: Option<&str>) -> Change {
    Change::Task {
        run_id: run_id.into(),
        task_id: id.into(),
        state,
        try_number: 1,
        output: output.map(String::from),
    }
}

const DAY: &str = "2026-11-24T00:00:00+00:00";

#[test]
fn runs_tasks_attempts_and_leases_as_in_sqlite() {
    let server = pg::Postgres::start();
    let url = server.db_url("state");
    let mut s = PgStore::open(&url, "p").expect("open");
    s.create_run(&run("r1", DAY)).expect("create");
    // A second create of the same run (another `task` process) is no error.
    s.create_run(&run("r1", DAY)).expect("create again");
    s.apply(&[
        Change::Run {
            run_id: "r1".into(),
            state: RunState::Running,
            at: "t0".into(),
        },
        task("r1", "a", TaskState::Success, Some("{\"n\":1}")),
        Change::AttemptStarted {
            run_id: "r1".into(),
            task_id: "b".into(),
            attempt: 1,
            at: "t1".into(),
            log_path: "logs/b/1.log".into(),
        },
        task("r1", "b", TaskState::Running, None),
    ])
    .expect("apply");
    s.apply(&[Change::AttemptEnded {
        run_id: "r1".into(),
        task_id: "b".into(),
        attempt: 1,
        at: "t2".into(),
        outcome: AttemptOutcome::Failed,
        exit_code: Some(3),
        error: Some("boom".into()),
        log_tail: Some("last line\n".into()),
    }])
    .expect("end");
    // Another pipeline in the same database sees none of it.
    let other = PgStore::open(&url, "q").expect("open q");
    assert_eq!(other.get_run("r1").expect("get"), None);
    assert!(other.runs(10).expect("runs").is_empty());

    let again = PgStore::open(&url, "p").expect("reopen");
    let r = again.get_run("r1").expect("get").expect("the run");
    assert_eq!(
        (r.state, r.started_at.as_deref()),
        (RunState::Running, Some("t0"))
    );
    assert_eq!(again.run_by_logical(DAY).expect("by date"), Some(r.clone()));
    assert_eq!(again.unfinished_runs().expect("unfinished"), vec![r]);
    assert_eq!(
        again.latest_scheduled().expect("latest").as_deref(),
        Some(DAY)
    );
    let tasks = again.task_records("r1").expect("tasks");
    let states: Vec<_> = tasks
        .iter()
        .map(|t| (t.task_id.as_str(), t.state, t.output.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("a", TaskState::Success, Some("{\"n\":1}")),
            ("b", TaskState::Running, None)
        ]
    );
    let attempts = again.attempts("r1").expect("attempts");
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(
        (
            a.task_id.as_str(),
            a.outcome,
            a.exit_code,
            a.error.as_deref()
        ),
        ("b", Some(AttemptOutcome::Failed), Some(3), Some("boom"))
    );

    // One scheduler per pipeline until its lease expires.
    let mut b = PgStore::open(&url, "p").expect("open b");
    assert_eq!(s.acquire_lease("A", 100, 160).expect("lease"), None);
    assert_eq!(
        b.acquire_lease("B", 120, 180).expect("lease"),
        Some(("A".into(), 160))
    );
    assert_eq!(b.acquire_lease("B", 161, 221).expect("expired"), None);
    b.release_lease("B").expect("release");
    assert_eq!(s.acquire_lease("A", 170, 230).expect("free"), None);
}

#[test]
fn writers_on_many_connections_at_once_lose_nothing() {
    let server = pg::Postgres::start();
    let url = server.db_url("state");
    let threads: Vec<_> = (0..8)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut s = PgStore::open(&url, "p").expect("open");
                // Every writer creates the run, as `task` processes do.
                s.create_run(&run("r", DAY)).expect("create");
                for i in 0..25 {
                    let id = format!("t{w}_{i}");
                    s.apply(&[
                        Change::AttemptStarted {
                            run_id: "r".into(),
                            task_id: id.clone(),
                            attempt: 1,
                            at: "t".into(),
                            log_path: String::new(),
                        },
                        task("r", &id, TaskState::Success, Some("1")),
                        Change::Run {
                            run_id: "r".into(),
                            state: RunState::Queued,
                            at: "t".into(),
                        },
                    ])
                    .expect("apply");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let s = PgStore::open(&url, "p").expect("open");
    assert_eq!(s.runs(10).expect("runs").len(), 1);
    let tasks = s.task_records("r").expect("tasks");
    assert_eq!(tasks.len(), 200);
    assert!(tasks.iter().all(|t| t.state == TaskState::Success));
    assert_eq!(s.attempts("r").expect("attempts").len(), 200);
}

#[test]
fn claims_hold_across_connections_and_end_with_them() {
    let server = pg::Postgres::start();
    let url = server.db_url("state");
    let a = PgStore::open(&url, "p").expect("a");
    let b = PgStore::open(&url, "p").expect("b");
    let clock = SystemClock;
    let whole = a
        .claim(DAY, None, "run --date D", &clock)
        .expect("run claim");
    match b.claim(DAY, Some("t"), "task t", &clock) {
        Err(ClaimError::Busy(busy)) => {
            assert!(busy.holder.contains("`run --date D`"), "{}", busy.holder);
            assert_eq!(busy.what, format!("the run of {DAY}"));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    drop(whole);
    // Two tasks of one run at once; never one task twice.
    let t1 = b.claim(DAY, Some("t1"), "task t1", &clock).expect("t1");
    let t2 = a.claim(DAY, Some("t2"), "task t2", &clock).expect("t2");
    let c = PgStore::open(&url, "p").expect("c");
    match c.claim(DAY, Some("t1"), "task t1 again", &clock) {
        Err(ClaimError::Busy(busy)) => {
            assert_eq!(busy.what, format!("task `t1` of the run of {DAY}"));
            assert!(busy.holder.contains("`task t1`"), "{}", busy.holder);
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert!(
        c.claim(DAY, None, "run", &clock).is_err(),
        "tasks hold the date"
    );
    // Another pipeline's dates are its own.
    let q = PgStore::open(&url, "q").expect("q");
    q.claim(DAY, None, "run of q", &clock)
        .expect("q's own date");
    drop((t1, t2));
    // Released by drop: the date is free for a whole run again.
    c.claim(DAY, None, "run", &clock).expect("released");
}

#[test]
fn a_newer_schema_is_refused_and_the_password_never_shown() {
    let server = pg::Postgres::start();
    let url = server.db_url("state");
    drop(PgStore::open(&url, "p").expect("create the schema"));
    server.psql(
        "state",
        "UPDATE chime.meta SET value = '99' WHERE key = 'schema_version'",
    );
    match PgStore::open(&url, "p") {
        Err(StoreError::NewerSchema { path, found, .. }) => {
            assert_eq!(found, 99);
            assert!(!path.contains("state-pw"), "{path}");
        }
        other => panic!("expected a newer schema, got {other:?}"),
    }
    // Nothing listens on port 1: the error names the URL, not its password.
    let e = PgStore::open("postgres://chime:hunter2@127.0.0.1:1/x", "p").expect_err("refused");
    let text = e.to_string();
    assert!(
        text.contains("cannot connect") && !text.contains("hunter2"),
        "{text}"
    );
}

/// The metrics' counts (`Store::stats`) are the same from PostgreSQL as
/// from SQLite for the same changes, and only this pipeline's.
#[test]
fn stats_count_as_in_sqlite() {
    let server = pg::Postgres::start();
    let url = server.db_url("stats");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = chime::store::sqlite::SqliteStore::open(
        &dir.path().join("p.state.db").display().to_string(),
        "p",
    )
    .expect("sqlite");
    let pg = PgStore::open(&url, "p").expect("open");
    let mut other = PgStore::open(&url, "q").expect("open q");
    let attempt = |run: &str, task: &str, n: u32, secs: u32, outcome| Change::Attempt {
        run_id: run.into(),
        task_id: task.into(),
        attempt: n,
        started_at: "2026-11-24T00:00:00.000Z".into(),
        ended_at: format!("2026-11-24T00:00:{secs:02}.500Z"),
        outcome,
        log_path: String::new(),
        log_tail: None,
    };
    let mut stores: Vec<Box<dyn Store>> = vec![Box::new(sqlite), Box::new(pg)];
    for s in &mut stores {
        s.create_run(&run("r1", DAY)).unwrap();
        s.create_run(&RunRecord {
            kind: RunKind::Manual,
            ..run("r2", "2026-11-25T00:00:00+00:00")
        })
        .unwrap();
        s.apply(&[
            task("r1", "load", TaskState::Success, Some("{\"rows\": 1500}")),
            task(
                "r1",
                "note",
                TaskState::Success,
                Some("{\"rows\": \"many\"}"),
            ),
            task("r2", "load", TaskState::Success, Some("{\"rows\": 2.5}")),
            attempt("r1", "load", 1, 3, AttemptOutcome::Failed),
            attempt("r1", "load", 2, 20, AttemptOutcome::Success),
            attempt("r2", "load", 1, 0, AttemptOutcome::Success),
            Change::Run {
                run_id: "r1".into(),
                state: RunState::Success,
                at: "2026-11-24T00:01:00.000Z".into(),
            },
        ])
        .unwrap();
        s.acquire_lease("pid 1 on h", 100, 130).unwrap();
    }
    other.create_run(&run("x", DAY)).unwrap();
    other
        .apply(&[attempt("x", "load", 1, 1, AttemptOutcome::Failed)])
        .unwrap();
    let (from_sqlite, from_pg) = (stores[0].stats().unwrap(), stores[1].stats().unwrap());
    assert_eq!(from_pg, from_sqlite);
    let s = from_pg;
    assert_eq!(s.runs, [("running".into(), 1), ("success".into(), 1)]);
    let load: Vec<_> = s
        .attempts
        .iter()
        .map(|a| {
            (
                a.outcome.as_str(),
                a.count,
                a.seconds,
                a.buckets[0],
                a.buckets[2],
            )
        })
        .collect();
    // 3.5 s failed; 20.5 s and 0.5 s succeeded (<= 1 s: one; <= 15 s: one).
    assert_eq!(load, [("failed", 1, 3.5, 0, 1), ("success", 2, 21.0, 1, 1)]);
    assert_eq!(s.rows, [("load".to_string(), 1502.5)]);
    assert_eq!(s.last_success.as_deref(), Some("2026-11-24T00:01:00.000Z"));
    assert_eq!(s.success_interval_ends, ["2026-11-25T00:00:00+00:00"]);
    assert_eq!(s.lease, Some(("pid 1 on h".into(), 130)));
}

/// Issue 17: a pool's slots are shared by every pipeline on the database,
/// never given twice (not even to one connection), and free again when
/// their holder lets go.
#[test]
fn pool_slots_are_shared_by_pipelines_and_given_once() {
    let server = pg::Postgres::start();
    let url = server.db_url("state");
    let clock = SystemClock;
    let p = PgStore::open(&url, "p").expect("p");
    let q = PgStore::open(&url, "q").expect("q");
    let first = p.pool_slot("warehouse", 2, "run", &clock).expect("p");
    let second = q.pool_slot("warehouse", 2, "run", &clock).expect("q");
    assert!(first.is_some() && second.is_some());
    for store in [&p, &q] {
        let third = store
            .pool_slot("warehouse", 2, "run", &clock)
            .expect("third");
        assert!(third.is_none(), "two slots only");
    }
    assert!(p.pool_slot("api", 1, "run", &clock).expect("api").is_some());
    drop(first);
    assert!(
        q.pool_slot("warehouse", 2, "run", &clock)
            .expect("freed")
            .is_some()
    );
    drop(second);
}
