//! End to end, issue 14: pipeline binaries keeping their state in a real
//! PostgreSQL (`--state postgres://...` or `CHIME_STATE`), as the machines
//! of an orchestrator do: the same run as on SQLite, `task` processes
//! writing one run at once, one task never twice, a worker killed mid-task.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::pg::Postgres;
use common::*;

const DAY: &str = "2026-11-24";

/// Runs the binary in `dir` with its state at `url` (given in the
/// environment, as a password should be).
fn on(url: &str, bin: &Path, dir: &Path, args: &[&str]) -> Run {
    run_env(bin, dir, args, &[("CHIME_STATE", url)])
}

#[test]
fn a_run_on_postgres_state_ends_as_the_same_run_on_sqlite() {
    let server = Postgres::start();
    let url = server.db_url("state");
    let bin = build_with("orchestrated", &["--postgres-state"]);
    let (sqlite, pg) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let id = "manual__2026-11-24T06:30:00+01:00";
    // `flaky` fails each of its 4 attempts; the run succeeds anyway (its
    // leaves did: report, alarm skipped, cleanup).
    let mut shows = Vec::new();
    for (dir, url) in [(sqlite.path(), None), (pg.path(), Some(url.as_str()))] {
        let (r, show) = match url {
            Some(u) => (
                on(u, &bin, dir, &["run", "--date", DAY]),
                on(u, &bin, dir, &["show", id]),
            ),
            None => (
                run(&bin, dir, &["run", "--date", DAY]),
                run(&bin, dir, &["show", id]),
            ),
        };
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert_eq!(state_of(&show.stdout, "flaky"), "failed", "{}", show.stdout);
        shows.push(states(&show.stdout));
    }
    assert_eq!(shows[0], shows[1], "SQLite and PostgreSQL disagree");
    // The password is never printed; the state holds what `runs` shows.
    let runs = run(&bin, pg.path(), &["--state", &url, "runs"]).stdout;
    assert!(runs.contains(id) && runs.contains("success"), "{runs}");
    assert!(!runs.contains("state-pw"), "{runs}");
    let rows = server.psql(
        "state",
        "SELECT count(*) FROM chime.runs WHERE pipeline = 'orchestrated'",
    );
    assert_eq!(rows, "1");
    // The logs stay on the machine that ran the attempt; elsewhere `logs`
    // shows the last lines the state kept.
    let logs = on(&url, &bin, pg.path(), &["logs", id, "gather"]);
    assert_eq!(logs.code, 0, "{}", logs.stdout);
    // Another machine: the log file is not there.
    std::fs::remove_dir_all(pg.path().join("logs")).expect("remove logs/");
    let elsewhere = tempfile::tempdir().expect("tmp");
    let remote = on(&url, &bin, elsewhere.path(), &["logs", id, "gather"]);
    assert_eq!(remote.code, 0, "{}", remote.stdout);
    assert!(
        remote
            .stdout
            .contains("is on the machine that ran this attempt")
            && remote.stdout.contains("\"rows\": 42"),
        "{}",
        remote.stdout
    );
    let broken = run(
        &bin,
        pg.path(),
        &["--state", "postgres://chime:hunter2@127.0.0.1:1/x", "runs"],
    );
    assert_eq!(broken.code, 2);
    assert!(
        broken.stdout.contains("cannot connect") && !broken.stdout.contains("hunter2"),
        "{}",
        broken.stdout
    );
}

#[test]
fn task_processes_write_one_run_at_once() {
    let server = Postgres::start();
    let url = server.db_url("state");
    let bin = build_with("wide", &["--postgres-state"]);
    // The same on a SQLite file (one machine): a `task` process must not
    // reset the rows of tasks that other processes are running.
    for state in [url.as_str(), "wide.state.db"] {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let task = |id: &str| {
            on(
                state,
                &bin,
                d,
                &["task", id, "--date", DAY, "--attempt", "1"],
            )
        };
        assert_eq!(task("start").code, 0);
        // Eight workers at once, as an orchestrator starts a mapped task.
        let children: Vec<_> = (1..=8)
            .map(|i| {
                Command::new(&bin)
                    .current_dir(d)
                    .env("CHIME_STATE", state)
                    .args([
                        "task",
                        &format!("work[{i}]"),
                        "--date",
                        DAY,
                        "--attempt",
                        "1",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("wait").success(), "on {state}");
        }
        let join = task("join");
        assert_eq!(join.code, 0, "{}", join.stdout);
        assert!(
            read(d, "calls.log").contains("join 1,2,3,4,5,6,7,8"),
            "{}",
            read(d, "calls.log")
        );
        let show = on(
            state,
            &bin,
            d,
            &["show", "manual__2026-11-24T00:00:00+00:00"],
        )
        .stdout;
        assert!(show.contains("state success"), "{show}");
        assert_eq!(
            states(&show).iter().filter(|(_, s)| s == "success").count(),
            10,
            "{show}"
        );
    }
}

#[test]
fn one_task_never_runs_twice_and_a_killed_worker_is_resumed_by_the_next_attempt() {
    let server = Postgres::start();
    let url = server.db_url("state");
    let bin = build_with("claim", &["--postgres-state"]);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    assert_eq!(on(&url, &bin, d, &["task", "first", "--date", DAY]).code, 0);
    // `gate` waits while hold-<ds> exists.
    std::fs::write(d.join(format!("hold-{DAY}")), "").expect("hold");
    let mut worker = Command::new(&bin)
        .current_dir(d)
        .env("CHIME_STATE", &url)
        .args(["task", "gate", "--date", DAY, "--attempt", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while !d.join("started").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gate never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second call for the same task, on any machine, is refused.
    let twice = on(
        &url,
        &bin,
        d,
        &["task", "gate", "--date", DAY, "--attempt", "2"],
    );
    assert_eq!(twice.code, 2, "{}", twice.stdout);
    assert!(
        twice.stdout.contains("is already being executed by pid"),
        "{}",
        twice.stdout
    );
    // The worker dies; the engine's next attempt takes over.
    worker.kill().expect("kill -9");
    worker.wait().expect("reap");
    std::fs::remove_file(d.join(format!("hold-{DAY}"))).expect("release");
    std::fs::write(d.join("pass"), "").expect("pass");
    let next = on(
        &url,
        &bin,
        d,
        &["task", "gate", "--date", DAY, "--attempt", "2"],
    );
    assert_eq!(next.code, 0, "{}", next.stdout);
    let id = format!("manual__{DAY}T00:00:00+00:00");
    let attempts = server.psql(
        "state",
        "SELECT attempt || ' ' || outcome FROM chime.attempts WHERE task_id = 'gate' ORDER BY attempt",
    );
    assert_eq!(attempts, "1 interrupted\n2 success", "in run {id}");
    let show = on(&url, &bin, d, &["show", &id]).stdout;
    assert_eq!(state_of(&show, "gate"), "success", "{show}");
}

#[test]
fn leaves_finishing_at_once_in_two_processes_settle_the_run() {
    let server = Postgres::start();
    let url = server.db_url("state");
    let bin = build_with("two_leaves", &["--postgres-state"]);
    for state in [url.as_str(), "two_leaves.state.db"] {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        assert_eq!(
            on(state, &bin, d, &["task", "start", "--date", DAY]).code,
            0
        );
        // Both running before either ends: each saw the other unfinished.
        let children: Vec<_> = ["left", "right"]
            .iter()
            .map(|t| {
                Command::new(&bin)
                    .current_dir(d)
                    .env("CHIME_STATE", state)
                    .args(["task", t, "--date", DAY, "--engine", "--attempt", "1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let start = Instant::now();
        while !(d.join("started-left").exists() && d.join("started-right").exists()) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the leaves never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::write(d.join("go"), "").expect("go");
        for mut c in children {
            assert!(c.wait().expect("wait").success(), "on {state}");
        }
        let runs = on(state, &bin, d, &["runs"]).stdout;
        let line = runs.lines().nth(1).unwrap_or_default();
        assert!(line.contains(" success "), "on {state}: {runs}");
    }
}
