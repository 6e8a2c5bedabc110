//! End to end: `chime build` pipelines from tests/e2e/, run the binaries,
//! and check what a user would: task order, trigger rules, retries and
//! their delays, timeouts, outputs through templates, for_each, exit codes,
//! `show`/`runs`/`logs`, and resuming after `kill -9` and SIGTERM.
//!
//! Every build shares one target directory (target/e2e), so the runtime is
//! compiled once per CI run.

use std::path::Path;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

#[test]
fn outputs_flow_through_templates_and_for_each_fans_out_and_in() {
    let bin = build("flow");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let order: Vec<String> = read(dir.path(), "order.log")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(order.len(), 4, "{order:?}");
    assert_eq!(order[0], "extract");
    assert_eq!(order[3], "report");
    let mut middle = order[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["per_region jp", "per_region kr"]);
    assert_eq!(
        read(dir.path(), "report.txt").trim(),
        "kr,jp 2 2026-11-24 hello"
    );
    // Console: each task's start and end, its output lines prefixed by its id.
    assert!(
        r.stdout.contains("extract started (attempt 1)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("per_region[kr] | "), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("run {RUN_ID}: success")),
        "{}",
        r.stdout
    );

    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert!(show.contains(r#"{"region":"kr","rows":42}"#), "{show}");
    for (task, state) in states(&show) {
        assert_eq!(state, "success", "{task}");
    }
    // A param override, on another date.
    let r = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-25", "--param", "n=5", "--quiet"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        read(dir.path(), "report.txt").trim(),
        "kr,jp 5 2026-11-25 hello"
    );
    let runs = run(&bin, dir.path(), &["runs"]).stdout;
    let lines: Vec<&str> = runs.lines().collect();
    assert_eq!(lines.len(), 3, "{runs}");
    assert!(
        lines[1].starts_with("manual__2026-11-25") && lines[1].contains("success"),
        "{runs}"
    );
    // A run that already succeeded is not run again.
    let again = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("already succeeded"),
        "{}",
        again.stdout
    );
    assert_eq!(read(dir.path(), "order.log").lines().count(), 8);
    // Other params for it are refused, not ignored with exit 0.
    let other = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-24", "--param", "n=12345"],
    );
    assert_eq!(other.code, 2, "{}", other.stdout);
    assert!(
        other.stdout.contains("--param would change them"),
        "{}",
        other.stdout
    );
    assert_eq!(read(dir.path(), "order.log").lines().count(), 8);
    // Unknown params are refused.
    let bad = run(&bin, dir.path(), &["run", "--param", "nope=1"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stdout.contains("declares no such param"),
        "{}",
        bad.stdout
    );
}

#[test]
fn trigger_rules_decide_as_airflow_does() {
    let bin = build("rules");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 1, "a failed leaf fails the run\n{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    let expect = [
        ("ok", "success"),
        ("bad", "failed"),
        ("all_success", "upstream_failed"),
        ("all_done", "success"),
        ("all_failed", "success"),
        ("all_failed_skip", "skipped"),
        ("one_success", "success"),
        ("one_failed", "success"),
        ("one_failed_skip", "skipped"),
        ("none_failed", "upstream_failed"),
        ("none_failed_ok", "success"),
        ("after_skip", "skipped"),
    ];
    for (task, state) in expect {
        assert_eq!(state_of(&show, task), state, "{task}\n{show}");
    }
    assert!(show.contains("the command exited with status 3"), "{show}");
    assert!(show.contains("state failed"), "{show}");
    // on_failure ran once for the failed run (not once per failed task), with the run's context.
    assert_eq!(
        read(dir.path(), "alerts.log"),
        format!("failed {RUN_ID} 2026-11-24\n")
    );
}

#[test]
fn retries_back_off_and_timeouts_kill_the_process_group() {
    let bin = build("retries");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert_eq!(state_of(&show, "flaky"), "success", "{show}");
    assert_eq!(state_of(&show, "always_fails"), "failed", "{show}");
    assert_eq!(state_of(&show, "stuck"), "failed", "{show}");
    // flaky: 3 attempts, 200 ms then 300 ms apart (doubling, capped).
    let times: Vec<f64> = read(dir.path(), "flaky.times")
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(
        times[1] - times[0] >= 0.19,
        "first retry after {:.3}s",
        times[1] - times[0]
    );
    assert!(
        times[2] - times[1] >= 0.29,
        "second retry after {:.3}s",
        times[2] - times[1]
    );
    let attempts = |task: &str| {
        show.lines()
            .find(|l| l.starts_with(task))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_string)
    };
    assert_eq!(attempts("flaky").as_deref(), Some("3"));
    assert_eq!(attempts("always_fails").as_deref(), Some("2"));
    // The error and the log of the last attempt.
    assert!(show.contains("the command exited with status 7"), "{show}");
    let logs = run(
        &bin,
        dir.path(),
        &["logs", RUN_ID, "always_fails", "--attempt", "2"],
    )
    .stdout;
    assert!(
        logs.contains("attempt 2 (failed") && logs.contains("boom"),
        "{logs}"
    );
    // A run that does not exist is named as such.
    let none = run(&bin, dir.path(), &["logs", "manual__1999", "stuck"]);
    assert_eq!(none.code, 2, "{}", none.stdout);
    assert!(
        none.stdout.contains("no run `manual__1999`"),
        "{}",
        none.stdout
    );
    // stuck: timed out, and its child that ignored SIGTERM is gone too.
    let logs = run(&bin, dir.path(), &["logs", RUN_ID, "stuck"]).stdout;
    assert!(logs.contains("timed_out"), "{logs}");
    let pid: i32 = read(dir.path(), "stuck.pid")
        .trim()
        .parse()
        .expect("stuck.pid");
    let start = Instant::now();
    while alive(pid) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the timed-out task's child {pid} still runs");
}

/// A task that failed for good gets all its retries again when cleared
/// and run (Airflow's clear), and when its failed run is run again.
#[test]
fn a_cleared_task_gets_its_retries_again() {
    let bin = build("retries");
    let dir = tempfile::tempdir().expect("tmp");
    let tries = |dir: &Path| {
        let show = run(&bin, dir, &["show", RUN_ID]).stdout;
        show.lines()
            .find(|l| l.starts_with("always_fails"))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_string)
    };
    run(&bin, dir.path(), &["run", "--date", "2026-11-24", "-q"]);
    assert_eq!(tries(dir.path()).as_deref(), Some("2"));
    let cleared = run(
        &bin,
        dir.path(),
        &["clear", RUN_ID, "--task", "always_fails"],
    );
    assert_eq!(cleared.code, 0, "{}", cleared.stdout);
    run(&bin, dir.path(), &["run", "--date", "2026-11-24", "-q"]);
    // One attempt and its retry, again: 4 in all.
    assert_eq!(tries(dir.path()).as_deref(), Some("4"));
    run(&bin, dir.path(), &["run", "--date", "2026-11-24", "-q"]);
    assert_eq!(tries(dir.path()).as_deref(), Some("6"));
}

fn spawn_run(bin: &Path, dir: &Path) -> std::process::Child {
    Command::new(bin)
        .current_dir(dir)
        .args(["run", "--date", "2026-11-24", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the pipeline")
}

#[test]
fn a_run_killed_with_sigkill_resumes_without_rerunning_finished_tasks() {
    let bin = build("resume");
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = spawn_run(&bin, dir.path());
    wait_for(&dir.path().join("started"));
    child.kill().expect("kill -9"); // SIGKILL
    let _ = child.wait();
    // The task's own process group outlives a SIGKILLed parent; clean it up as an operator would.
    let pgid: i32 = read(dir.path(), "slow.pgid")
        .trim()
        .parse()
        .expect("slow.pgid");
    assert!(pgid > 1, "a real process group: {pgid}");
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    std::fs::write(dir.path().join("resumed"), "").expect("write");

    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("resuming run"), "{}", r.stdout);
    let log: Vec<String> = read(dir.path(), "runs.log")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        log,
        ["first", "slow", "slow", "last"],
        "first ran once, slow again, then last"
    );
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    let tries = |task: &str| {
        show.lines()
            .find(|l| l.starts_with(task))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_string)
    };
    assert_eq!(tries("first").as_deref(), Some("1"), "{show}");
    assert_eq!(tries("slow").as_deref(), Some("2"), "{show}");
    let logs = run(
        &bin,
        dir.path(),
        &["logs", RUN_ID, "slow", "--attempt", "1"],
    )
    .stdout;
    assert!(logs.contains("interrupted"), "{logs}");
}

#[test]
fn sigterm_stops_the_run_and_its_tasks_and_run_resumes_it() {
    let bin = build("resume");
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = spawn_run(&bin, dir.path());
    wait_for(&dir.path().join("started"));
    let pgid: i32 = read(dir.path(), "slow.pgid").trim().parse().expect("pgid");
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");
    let start = Instant::now();
    while alive(pgid) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pgid), "the running task's processes were stopped");
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert!(
        show.contains("state queued"),
        "an interrupted run waits to be resumed\n{show}"
    );
    assert_eq!(state_of(&show, "first"), "success");
    assert_eq!(
        state_of(&show, "slow"),
        "none",
        "an interrupted task waits to be run again\n{show}"
    );

    std::fs::write(dir.path().join("resumed"), "").expect("write");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        read(dir.path(), "runs.log").lines().collect::<Vec<_>>(),
        ["first", "slow", "slow", "last"]
    );
}

#[test]
fn a_damaged_or_newer_state_file_is_refused_clearly() {
    let bin = build("rules");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("rules.state.db"), vec![b'x'; 8192]).expect("write");
    let r = run(&bin, dir.path(), &["runs"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.contains("not a readable chime state database"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("panicked"), "{}", r.stdout);
}

#[test]
fn graph_describe_and_help() {
    let bin = build("flow");
    let dir = tempfile::tempdir().expect("tmp");
    let g = run(&bin, dir.path(), &["graph", "--format", "dot"]).stdout;
    assert!(g.contains("\"per_region[jp]\" -> \"report\";"), "{g}");
    let d: serde_json::Value =
        serde_json::from_str(&run(&bin, dir.path(), &["describe"]).stdout).expect("json");
    assert_eq!(d["pipeline"], "flow");
    assert_eq!(d["tasks"].as_array().map(Vec::len), Some(4));
    for cmd in [
        "run", "task", "runs", "show", "logs", "clear", "graph", "describe",
    ] {
        let h = run(&bin, dir.path(), &[cmd, "--help"]);
        assert_eq!(h.code, 0, "{cmd} --help");
        assert!(h.stdout.contains("Usage:"), "{cmd}: {}", h.stdout);
    }
}

#[test]
fn custom_operators_output_retries_panics_and_timeouts() {
    let bin = build("custom");
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    let elapsed = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.stdout);
    // Output of a custom operator reaches a downstream template.
    assert_eq!(
        read(dir.path(), "echo.txt").trim(),
        "hello chimehello chime"
    );
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert_eq!(state_of(&show, "hello"), "success", "{show}");
    assert_eq!(state_of(&show, "echo"), "success", "{show}");
    // An error is retried as configured; its text is in `show` and `logs`.
    assert_eq!(state_of(&show, "flaky"), "failed", "{show}");
    assert!(
        show.contains("the warehouse refused the load (try 3)"),
        "{show}"
    );
    let logs = run(
        &bin,
        dir.path(),
        &["logs", RUN_ID, "flaky", "--attempt", "2"],
    )
    .stdout;
    assert!(
        logs.contains("refused the load (try 2)") && logs.contains("try 2"),
        "{logs}"
    );
    // A panic fails its task, not the binary.
    assert_eq!(state_of(&show, "boom"), "failed", "{show}");
    assert!(
        show.contains("panicked: index out of range in the scorer"),
        "{show}"
    );
    // Operators deaf to cancellation are still stopped at their timeout.
    assert_eq!(state_of(&show, "deaf"), "failed", "{show}");
    assert_eq!(state_of(&show, "stuck"), "failed", "{show}");
    let logs = run(&bin, dir.path(), &["logs", RUN_ID, "stuck"]).stdout;
    assert!(logs.contains("timed_out"), "{logs}");
    assert!(
        elapsed < Duration::from_secs(30),
        "the run waited for a blocked operator: {elapsed:?}"
    );
}

#[test]
fn the_sentiment_example_scores_reviews_with_its_custom_operator() {
    let root = root();
    let bin = build_example("sentiment");
    // The scores go to SQLite (the default), then to PostgreSQL
    // (SENTIMENT_DB): the custom operator writes through chime's row writer
    // either way.
    let pg = common::pg::Postgres::start();
    let pg_url = pg.db_url("sentiment");
    for (on, env) in backends("SENTIMENT_DB", &pg_url) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("data");
        std::fs::copy(
            root.join("examples/sentiment/data/reviews.csv"),
            dir.path().join("data/reviews.csv"),
        )
        .expect("copy");
        let r = run_env(&bin, dir.path(), &["run", "--date", "2026-11-24"], &env);
        assert_eq!(r.code, 0, "{on}: {}", r.stdout);
        let summary = read(dir.path(), "out/20261124/summary.txt");
        assert_eq!(
            summary.trim(),
            "2026-11-24: 12 reviews, 6 positive, 5 negative, mean 0.083"
        );
        // The next day adds its own rows; re-running a day replaces them.
        for _ in 0..2 {
            let r = run_env(&bin, dir.path(), &["run", "--date", "2026-11-25"], &env);
            assert_eq!(r.code, 0, "{on}: {}", r.stdout);
            let r = run_env(
                &bin,
                dir.path(),
                &[
                    "clear",
                    "manual__2026-11-25T03:00:00+00:00",
                    "--task",
                    "score",
                    "--downstream",
                ],
                &env,
            );
            assert_eq!(r.code, 0, "{on}: {}", r.stdout);
        }
        // The table the dashboard reads: the day's reviews, one row each.
        let rows = "SELECT ds, id, score, label FROM review_sentiment ORDER BY ds, id";
        let per_day = "SELECT ds, count(*) FROM review_sentiment GROUP BY ds ORDER BY ds";
        type Rows = Vec<(String, i64, f64, String)>;
        let (rows, per_day): (Rows, Vec<(String, i64)>) = if env.is_empty() {
            let db = rusqlite::Connection::open(dir.path().join("out/sentiment.db")).expect("db");
            let rows = db
                .prepare(rows)
                .expect("query")
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .expect("rows")
                .map(Result::unwrap)
                .collect();
            let per_day = db
                .prepare(per_day)
                .expect("query")
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("rows")
                .map(Result::unwrap)
                .collect();
            (rows, per_day)
        } else {
            let lines = |sql: &str| -> Vec<Vec<String>> {
                pg.psql("sentiment", sql)
                    .lines()
                    .map(|l| l.split('|').map(str::to_string).collect())
                    .collect()
            };
            let rows = lines(rows)
                .into_iter()
                .map(|r| {
                    (
                        r[0].clone(),
                        r[1].parse().unwrap(),
                        r[2].parse().unwrap(),
                        r[3].clone(),
                    )
                })
                .collect();
            let per_day = lines(per_day)
                .into_iter()
                .map(|r| (r[0].clone(), r[1].parse().unwrap()))
                .collect();
            (rows, per_day)
        };
        assert_eq!(
            per_day,
            [
                ("2026-11-24".to_string(), 12),
                ("2026-11-25".to_string(), 4)
            ],
            "{on}"
        );
        assert_eq!(
            rows[1],
            ("2026-11-24".into(), 2, -1.0, "negative".into()),
            "{on}"
        );
    }
}

#[test]
fn chime_init_with_ops_builds_and_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("newproj");
    let in_project = |args: &[&str]| {
        chime()
            .current_dir(&project)
            .args(args)
            .output()
            .expect("chime")
    };
    std::fs::create_dir_all(&project).expect("dir");
    let out = in_project(&["init", ".", "--ops"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.join("pipeline.schema.json").is_file());
    let out = in_project(&["check", "pipeline.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Running init again never overwrites.
    assert_eq!(in_project(&["init", "."]).status.code(), Some(2));
    let out = in_project(&["build", "pipeline.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = run(
        &project.join("dist/newproj"),
        &project,
        &["run", "--date", "2026-11-24"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("report | 5 words"), "{}", r.stdout);
}

#[test]
fn backfill_runs_each_interval_once_and_continues_where_it_stopped() {
    let bin = build("sched");
    let dir = tempfile::tempdir().expect("tmp");
    let dry = run(
        &bin,
        dir.path(),
        &[
            "backfill",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-03",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stdout);
    assert_eq!(
        dry.stdout
            .lines()
            .filter(|l| l.starts_with("would run backfill__"))
            .count(),
        3,
        "{}",
        dry.stdout
    );
    assert!(
        read(dir.path(), "days.log").is_empty(),
        "a dry run runs nothing"
    );

    let r = run(
        &bin,
        dir.path(),
        &["backfill", "--from", "2026-01-01", "--to", "2026-01-03"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let mut days: Vec<String> = read(dir.path(), "days.log")
        .lines()
        .map(str::to_string)
        .collect();
    days.sort();
    assert_eq!(days, ["2026-01-01", "2026-01-02", "2026-01-03"]);
    // Succeeded intervals are skipped; the range is clipped by end_date.
    let r = run(
        &bin,
        dir.path(),
        &["backfill", "--from", "2026-01-01", "--to", "2026-02-01"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.stdout.matches("skip ").count(), 3, "{}", r.stdout);
    assert_eq!(read(dir.path(), "days.log").lines().count(), 5);
    // --reprocess all runs a succeeded interval again.
    let r = run(
        &bin,
        dir.path(),
        &[
            "backfill",
            "--from",
            "2026-01-02",
            "--to",
            "2026-01-02",
            "--reprocess",
            "all",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        read(dir.path(), "days.log")
            .lines()
            .filter(|d| *d == "2026-01-02")
            .count(),
        2
    );
    let runs = run(&bin, dir.path(), &["runs"]).stdout;
    assert_eq!(
        runs.lines().filter(|l| l.starts_with("backfill__")).count(),
        5,
        "{runs}"
    );
    let next = run(&bin, dir.path(), &["next", "--count", "2"]);
    assert_eq!(next.code, 0);
}

#[test]
fn backfill_keeps_max_active_runs_at_once() {
    // sched.yaml allows 2 runs at once; each run's task records its start and end.
    let bin = build("sched_overlap");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(
        &bin,
        dir.path(),
        &["backfill", "--from", "2026-01-01", "--to", "2026-01-04"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let mut events: Vec<(f64, i32)> = read(dir.path(), "spans.log")
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (kind, t) = (w.next()?, w.next()?);
            Some((t.parse().ok()?, if kind == "start" { 1 } else { -1 }))
        })
        .collect();
    events.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    assert_eq!(events.len(), 8);
    let (mut now, mut peak) = (0, 0);
    for (_, d) in events {
        now += d;
        peak = peak.max(now);
    }
    assert_eq!(peak, 2, "two runs at once, never more");
}

/// The most spans of `tag` in `spans.log` open at once.
fn peak(dir: &Path, tag: &str) -> (usize, i32) {
    let mut events: Vec<(f64, i32)> = read(dir, "spans.log")
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (kind, t, which) = (w.next()?, w.next()?, w.next()?);
            let d = if kind == "start" { 1 } else { -1 };
            (which == tag).then(|| Some((t.parse().ok()?, d)))?
        })
        .collect();
    events.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    let (mut now, mut most) = (0, 0);
    for (_, d) in &events {
        now += d;
        most = most.max(now);
    }
    (events.len() / 2, most)
}

/// Issue 17: a pool bounds its tasks across the runs of a backfill (3 at
/// once) and across a second process on another state file of the folder.
#[test]
fn pools_bound_tasks_across_runs_and_processes() {
    let bin = build("pools");
    let dir = tempfile::tempdir().expect("tmp");
    let other = Command::new(&bin)
        .current_dir(dir.path())
        .args([
            "--state",
            "other.state.db",
            "backfill",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-02",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("second process");
    let r = run(
        &bin,
        dir.path(),
        &["backfill", "--from", "2026-01-01", "--to", "2026-01-03"],
    );
    let other = other.wait_with_output().expect("second process");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(other.status.success());
    assert!(
        r.stdout.contains("waits for a slot of pool `warehouse`"),
        "{}",
        r.stdout
    );
    assert_eq!(peak(dir.path(), "warehouse"), (5, 1), "one at a time");
    let (n, most) = peak(dir.path(), "api");
    assert_eq!(n, 10);
    assert!(most <= 2, "at most two at once: {most}");
}

/// Issue 17: an orchestrator runs a dynamic `for_each` as Airflow's
/// `.expand()` does: the task's call makes the instances and prints their
/// ids (its XCom), one call per instance runs each, and the report reads
/// all their outputs. Without `--engine`, the task's call runs them too.
#[test]
fn an_orchestrator_runs_a_dynamic_for_each_instance_by_instance() {
    let bin = build("fanout");
    let dir = tempfile::tempdir().expect("tmp");
    let call = |id: &str| {
        let r = run(
            &bin,
            dir.path(),
            &[
                "task",
                id,
                "--date",
                "2026-11-24",
                "--engine",
                "--attempt",
                "1",
            ],
        );
        let last = r.stdout.lines().last().unwrap_or_default().to_string();
        (r.code, last, r.stdout)
    };
    assert_eq!(call("list_stores").0, 0);
    // No instance before its task made them.
    let (code, _, out) = call("per_store[store_1]");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("task `per_store` has not made its instances"),
        "{out}"
    );
    let (code, ids, out) = call("per_store");
    assert_eq!(code, 0, "{out}");
    let ids: Vec<String> = serde_json::from_str(&ids).expect("a list of ids");
    let want: Vec<String> = (0..5).map(|i| format!("per_store[store_{i}]")).collect();
    assert_eq!(ids, want, "{out}");
    assert!(!dir.path().join("done.log").exists(), "no instance ran yet");
    let (code, _, out) = call("per_store[store_9]");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("made no instance `per_store[store_9]`"),
        "{out}"
    );
    // Without --engine, the report waits for the instances, and says so.
    let early = run(
        &bin,
        dir.path(),
        &["task", "report", "--date", "2026-11-24"],
    );
    assert_eq!(early.code, 2, "{}", early.stdout);
    assert!(
        early.stdout.contains("per_store[store_0] (none)"),
        "{}",
        early.stdout
    );
    for id in &ids {
        let (code, output, out) = call(id);
        assert_eq!(code, 0, "{id}: {out}");
        assert!(
            output.contains(&format!("\"store\":\"{}\"", &id[10..id.len() - 1])),
            "{out}"
        );
    }
    // A duplicate call reports the recorded attempt, and runs nothing.
    let (code, again, out) = call("per_store[store_2]");
    assert_eq!(code, 0, "{out}");
    assert!(again.contains("\"sales\":2"), "{out}");
    assert_eq!(read(dir.path(), "done.log").lines().count(), 5);
    assert_eq!(call("report").0, 0);
    assert_eq!(read(dir.path(), "report.log"), "5 10\n");
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    assert!(show.contains("success"), "{show}");
    for (task, state) in states(&show) {
        assert_eq!(state, "success", "{task}: {show}");
    }
    assert_eq!(states(&show).len(), 8, "{show}");
    // Without --engine, the task's call runs its instances too.
    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(
        run(
            &bin,
            dir.path(),
            &["task", "list_stores", "--date", "2026-11-24"]
        )
        .code,
        0
    );
    let r = run(
        &bin,
        dir.path(),
        &["task", "per_store", "--date", "2026-11-24"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("succeeded") && r.stdout.contains("5 instance(s)"),
        "{}",
        r.stdout
    );
    assert_eq!(read(dir.path(), "done.log").lines().count(), 5);
    assert!(!dir.path().join("report.log").exists(), "report is not run");
}

/// Issue 17: an orchestrator runs a dynamic `for_each`'s upstream and the
/// task again (Airflow's clear, a new try) while the upstream's data
/// changes: instances the new list lacks are `removed`, and ones a later
/// list has again are tasks of the run again (`none` until they run).
#[test]
fn instances_a_new_list_drops_are_removed_and_come_back() {
    let bin = build("fanout_files");
    let dir = tempfile::tempdir().expect("tmp");
    let attempt = |n: &str| {
        for task in ["list_stores", "per_store"] {
            let r = run(
                &bin,
                dir.path(),
                &[
                    "task",
                    task,
                    "--date",
                    "2026-11-24",
                    "--engine",
                    "--attempt",
                    n,
                ],
            );
            assert_eq!(r.code, 0, "{task} attempt {n}: {}", r.stdout);
        }
        run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout
    };
    std::fs::write(dir.path().join("stores.txt"), "1, 2, 3").expect("write");
    attempt("1");
    std::fs::write(dir.path().join("stores.txt"), "1").expect("write");
    let show = attempt("2");
    assert_eq!(state_of(&show, "per_store[store_1]"), "none", "{show}");
    assert_eq!(state_of(&show, "per_store[store_2]"), "removed", "{show}");
    assert_eq!(state_of(&show, "per_store[store_3]"), "removed", "{show}");
    std::fs::write(dir.path().join("stores.txt"), "1, 2").expect("write");
    let show = attempt("3");
    assert_eq!(state_of(&show, "per_store[store_2]"), "none", "{show}");
    assert_eq!(state_of(&show, "per_store[store_3]"), "removed", "{show}");
}

/// Issue 17: a dynamic `for_each` makes one instance per store the
/// upstream found, named by `instance_key`; the report gets their outputs
/// as a list; `show` and `logs` know the instances.
#[test]
fn a_dynamic_for_each_fans_out_over_an_upstreams_output() {
    let bin = build("fanout");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("per_store made 5 instance(s)"),
        "{}",
        r.stdout
    );
    // 5 stores, sales 0 + 1 + 2 + 3 + 4.
    assert_eq!(read(dir.path(), "report.log"), "5 10\n");
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    for task in [
        "list_stores",
        "per_store",
        "per_store[store_0]",
        "per_store[store_4]",
        "report",
    ] {
        assert_eq!(state_of(&show, task), "success", "{task}: {show}");
    }
    let logs = run(
        &bin,
        dir.path(),
        &["logs", FANOUT_RUN, "per_store[store_3]"],
    );
    assert_eq!(logs.code, 0, "{}", logs.stdout);
    assert!(logs.stdout.contains("store_3"), "{}", logs.stdout);
    // Made again from a shorter list (the run cleared, fewer stores): the
    // instances it no longer makes are `removed`, as Airflow marks them,
    // and their logs stay.
    let clear = run(&bin, dir.path(), &["clear", FANOUT_RUN]);
    assert_eq!(clear.code, 0, "{}", clear.stdout);
    let r = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-24", "--param", "stores=3"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    assert_eq!(state_of(&show, "per_store[store_2]"), "success", "{show}");
    assert_eq!(state_of(&show, "per_store[store_3]"), "removed", "{show}");
    assert_eq!(state_of(&show, "per_store[store_4]"), "removed", "{show}");
    assert!(show.contains("state success"), "{show}");
    assert_eq!(read(dir.path(), "report.log"), "5 10\n3 3\n");
    let logs = run(
        &bin,
        dir.path(),
        &["logs", FANOUT_RUN, "per_store[store_4]"],
    );
    assert!(logs.stdout.contains("store_4"), "{}", logs.stdout);
    // Nothing would run a removed instance cleared alone: refused, and
    // --only-failed leaves it.
    let alone = run(
        &bin,
        dir.path(),
        &["clear", FANOUT_RUN, "--task", "per_store[store_4]"],
    );
    assert_eq!(alone.code, 2, "{}", alone.stdout);
    assert!(alone.stdout.contains("was removed"), "{}", alone.stdout);
    run(&bin, dir.path(), &["clear", FANOUT_RUN, "--only-failed"]);
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    assert_eq!(state_of(&show, "per_store[store_4]"), "removed", "{show}");
    let unknown = run(
        &bin,
        dir.path(),
        &["clear", FANOUT_RUN, "--task", "per_store[store_99]"],
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stdout);
    assert!(
        unknown
            .stdout
            .contains("made no instance `per_store[store_99]`"),
        "{}",
        unknown.stdout
    );
    // An upstream that finds nothing skips the fan-out, and what follows.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("resumed"), "").expect("write");
    let r = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-24", "--param", "stores=0"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    assert_eq!(state_of(&show, "per_store"), "skipped", "{show}");
    assert_eq!(state_of(&show, "report"), "skipped", "{show}");
    // More items than max_instances fail the task and say why.
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-24", "--param", "stores=2001"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("for_each gave 2001 items, over max_instances (2000)"),
        "{}",
        r.stdout
    );
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    assert_eq!(state_of(&show, "report"), "upstream_failed", "{show}");
}

const FANOUT_RUN: &str = "manual__2026-11-24T00:00:00+00:00";

/// Issue 17: 1,000 instances made at run time; the runner killed with
/// SIGKILL mid-way; the resumed run makes the same instances and runs
/// only those that had not finished; `clear --task` on one instance runs
/// only that one again.
#[test]
fn a_thousand_instance_fan_out_resumes_after_kill_9_and_clears_one_instance() {
    let bin = build("fanout");
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(&bin)
        .current_dir(dir.path())
        .args(["run", "--date", "2026-11-24", "--param", "stores=1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    wait_for(&dir.path().join("started"));
    child.kill().expect("kill -9");
    let _ = child.wait();
    let pgid: i32 = read(dir.path(), "slow.pgid")
        .trim()
        .parse()
        .expect("slow.pgid");
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    let show = run(&bin, dir.path(), &["show", FANOUT_RUN]).stdout;
    let finished: Vec<String> = states(&show)
        .into_iter()
        .filter(|(t, s)| t.starts_with("per_store[") && s == "success")
        .map(|(t, _)| t["per_store[".len()..t.len() - 1].to_string())
        .collect();
    assert!(
        !finished.is_empty() && finished.len() < 1000,
        "{}",
        finished.len()
    );
    std::fs::write(dir.path().join("resumed"), "").expect("write");

    let r = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-24", "--param", "stores=1000"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("resuming run"), "{}", r.stdout);
    let count = |key: &str, log: &str| log.lines().filter(|l| *l == key).count();
    let done = read(dir.path(), "done.log");
    for key in &finished {
        assert_eq!(
            count(key, &done),
            1,
            "{key} finished before the kill: not run again"
        );
    }
    for i in 0..1000 {
        assert!(count(&format!("store_{i}"), &done) >= 1, "store_{i} ran");
    }
    assert_eq!(read(dir.path(), "report.log"), "1000 499500\n");

    let cleared = run(
        &bin,
        dir.path(),
        &["clear", FANOUT_RUN, "--task", "per_store[store_7]"],
    );
    assert_eq!(cleared.code, 0, "{}", cleared.stdout);
    assert!(
        cleared.stdout.contains("cleared 1 task(s)"),
        "{}",
        cleared.stdout
    );
    let before = read(dir.path(), "done.log").lines().count();
    let r = run(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-24", "--param", "stores=1000"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let done = read(dir.path(), "done.log");
    let new: Vec<&str> = done.lines().skip(before).collect();
    assert_eq!(new, ["store_7"], "only the cleared instance ran");
    assert_eq!(
        read(dir.path(), "report.log").lines().count(),
        1,
        "report kept"
    );
}

#[test]
fn a_scheduler_killed_mid_run_is_completed_by_the_next_one() {
    let bin = build("sched_kill");
    let dir = tempfile::tempdir().expect("tmp");
    let mut first = Command::new(&bin)
        .current_dir(dir.path())
        .arg("scheduler")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("scheduler");
    wait_for(&dir.path().join("started"));
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let pgid: i32 = read(dir.path(), "slow.pgid")
        .trim()
        .parse()
        .expect("slow.pgid");
    assert!(pgid > 1);
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    std::fs::write(dir.path().join("resumed"), "").expect("write");

    // The next scheduler takes over at once (the dead one's lease is stale),
    // resumes the run, then idles until the next fire time.
    let second = Command::new(&bin)
        .current_dir(dir.path())
        .arg("scheduler")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scheduler");
    let start = Instant::now();
    while read(dir.path(), "runs.log").lines().last() != Some("last") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run was not completed: {}",
            read(dir.path(), "runs.log")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(Pid::from_raw(second.id() as i32), Signal::SIGTERM);
    let out = second.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "SIGTERM stops the scheduler cleanly\n{log}"
    );
    assert!(log.contains("resuming unfinished run scheduled__"), "{log}");
    assert_eq!(
        read(dir.path(), "runs.log").lines().collect::<Vec<_>>(),
        ["first", "slow", "slow", "last"]
    );
}

#[test]
fn one_scheduler_per_state_store() {
    let bin = build("idle");
    let dir = tempfile::tempdir().expect("tmp");
    let mut first = Command::new(&bin)
        .current_dir(dir.path())
        .arg("scheduler")
        .stderr(Stdio::piped())
        .spawn()
        .expect("scheduler");
    // Wait until the first holds the lease: it logs its next fire time then.
    let stderr = first.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    loop {
        let line = lines
            .next()
            .expect("the scheduler exited early")
            .expect("read");
        if line.contains("next run at") {
            break;
        }
    }
    let second = run(&bin, dir.path(), &["scheduler"]);
    assert_eq!(second.code, 2, "{}", second.stdout);
    assert!(
        second.stdout.contains("another scheduler (pid"),
        "{}",
        second.stdout
    );
    let _ = kill(Pid::from_raw(first.id() as i32), Signal::SIGTERM);
    let status = first.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn build_writes_deployment_files() {
    let root = root();
    let out = tempfile::tempdir().expect("tmp");
    for target in ["systemd", "kubernetes"] {
        let status = chime()
            .arg("build")
            .arg(root.join("tests/e2e/idle.yaml"))
            .args(["--deploy", target, "-o"])
            .arg(out.path())
            .status()
            .expect("chime build");
        assert!(status.success(), "{target}");
    }
    let unit = read(out.path(), "idle.service");
    assert!(
        unit.contains("ExecStart=/opt/chime/idle/idle scheduler --state"),
        "{unit}"
    );
    // Not as root; state and logs private to the pipeline's user.
    assert!(
        unit.contains("User=idle") && unit.contains("UMask=0077"),
        "{unit}"
    );
    let cron = read(out.path(), "idle.cronjob.yaml");
    assert!(
        cron.contains("schedule: \"0 0 1 1 *\"") && cron.contains("timeZone: \"UTC\""),
        "{cron}"
    );
    // Each job runs the interval that has just ended (issue 14).
    assert!(cron.contains("args: [\"run\", \"--latest\""), "{cron}");
    assert!(read(out.path(), "idle.deployment.yaml").contains("args: [\"scheduler\""));
    // Valid for Kubernetes, strictly (no unknown field), as kubectl would
    // have them.
    let venv = python_tool("kubernetes-validate-1.37.0", "kubernetes-validate==1.37.0");
    let files = [
        "idle.cronjob.yaml",
        "idle.deployment.yaml",
        "idle.state.yaml",
    ];
    succeeds(
        Command::new(venv.join("bin/kubernetes-validate"))
            .args(["--strict", "-k", "1.33.0"])
            .args(files.map(|f| out.path().join(f))),
    );
}

#[test]
fn a_backfill_stopped_with_ctrl_c_is_continued_by_the_next_one() {
    let bin = build("sched_overlap");
    let dir = tempfile::tempdir().expect("tmp");
    let child = Command::new(&bin)
        .current_dir(dir.path())
        .args(["backfill", "--from", "2026-01-01", "--to", "2026-01-06"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("backfill");
    // Interrupt once the second pair of runs is under way.
    let start = Instant::now();
    while read(dir.path(), "spans.log")
        .lines()
        .filter(|l| l.starts_with("start"))
        .count()
        < 3
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the backfill did not progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
    let status = child.wait_with_output().expect("wait").status;
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
    let ended = |log: &str| log.lines().filter(|l| l.starts_with("end")).count();
    assert!(
        ended(&read(dir.path(), "spans.log")) < 6,
        "it stopped before the end"
    );

    let r = run(
        &bin,
        dir.path(),
        &["backfill", "--from", "2026-01-01", "--to", "2026-01-06"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let log = read(dir.path(), "spans.log");
    // Every day completed exactly once across the two backfills.
    let mut days: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("end"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    days.sort_unstable();
    assert_eq!(
        days,
        [
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-04",
            "2026-01-05",
            "2026-01-06"
        ],
        "{log}"
    );
    let runs = run(&bin, dir.path(), &["runs"]).stdout;
    assert_eq!(
        runs.lines().filter(|l| l.contains(" success ")).count(),
        6,
        "{runs}"
    );
}
