//! End to end, issue 14: `task` as an orchestrator (Airflow, Argo) calls
//! it: one attempt per call, numbered by the orchestrator; the interval
//! given exactly; upstreams checked unless the engine decided; the output
//! JSON on stdout's last line; a skip's own exit status.

use std::path::Path;
use std::process::Command;

mod common;
use common::*;

const DAY: &str = "2026-11-24";
/// The run of 2026-11-24 of `30 6 * * *` in Paris.
const RUN: &str = "manual__2026-11-24T06:30:00+01:00";

struct Call {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Call {
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

fn call(bin: &Path, dir: &Path, args: &[&str]) -> Call {
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run the pipeline");
    Call {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// How many lines of calls.log start with `what`.
fn calls(dir: &Path, what: &str) -> usize {
    read(dir, "calls.log")
        .lines()
        .filter(|l| l.starts_with(what))
        .count()
}

#[test]
fn each_call_runs_one_attempt_numbered_by_the_orchestrator() {
    let bin = build("orchestrated");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let task =
        |id: &str, attempt: &str| call(&bin, d, &["task", id, "--date", DAY, "--attempt", attempt]);

    let gather = task("gather", "1");
    assert_eq!(gather.code, 0, "{}{}", gather.stdout, gather.stderr);
    // The interval is the schedule's (06:30 to 06:30), not midnight's.
    assert_eq!(
        read(d, "calls.log").trim(),
        "gather 2026-11-24T06:30:00+01:00 2026-11-25T06:30:00+01:00"
    );
    // The output is stdout's last line (what Airflow pushes to XCom).
    let output: serde_json::Value =
        serde_json::from_str(gather.last_line()).expect("the last line is JSON");
    assert_eq!(output, serde_json::json!({"rows": 42, "day": DAY}));

    // `retries: 3` is the orchestrator's now: one call, one attempt.
    let flaky = task("flaky", "1");
    assert_eq!(flaky.code, 1, "{}", flaky.stdout);
    assert_eq!(calls(d, "flaky"), 1, "{}", read(d, "calls.log"));
    // The orchestrator's retry is attempt 2, recorded as such.
    let retry = task("flaky", "2");
    assert_eq!(retry.code, 1, "{}{}", retry.stdout, retry.stderr);
    assert_eq!(calls(d, "flaky"), 2);
    // A number already recorded (Argo's `argo retry` counts from 0 again)
    // runs as the next one, and says so.
    std::fs::write(d.join("pass"), "").expect("write");
    let again = task("flaky", "1");
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stderr.contains("this one is attempt 3"),
        "{}",
        again.stderr
    );
    assert_eq!(calls(d, "flaky"), 3);
    for n in ["1", "2", "3"] {
        let logs = call(&bin, d, &["logs", RUN, "flaky", "--attempt", n]);
        assert_eq!(logs.code, 0, "attempt {n}: {}", logs.stderr);
    }
    let show = call(&bin, d, &["show", RUN]).stdout;
    assert_eq!(state_of(&show, "flaky"), "success", "{show}");

    // A try that succeeded, called again (a lost worker): reported, not rerun.
    let repeat = task("gather", "1");
    assert_eq!(repeat.code, 0, "{}", repeat.stdout);
    assert_eq!(calls(d, "gather"), 1);
    assert_eq!(repeat.last_line(), gather.last_line());
    // A higher try after a success: the orchestrator cleared it to rerun it.
    let rerun = task("gather", "2");
    assert_eq!(rerun.code, 0, "{}", rerun.stdout);
    assert_eq!(calls(d, "gather"), 2);
}

#[test]
fn upstreams_must_be_done_unless_the_engine_applied_the_trigger_rule() {
    let bin = build("orchestrated");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let report = call(&bin, d, &["task", "report", "--date", DAY]);
    assert_eq!(report.code, 2, "{}", report.stdout);
    assert!(
        report
            .stderr
            .contains("its upstreams are not finished (gather (none))"),
        "{}",
        report.stderr
    );
    assert_eq!(read(d, "calls.log"), "", "nothing ran");
    // `always` waits for nothing, in a `task` call too (Airflow's meaning).
    let heartbeat = call(&bin, d, &["task", "heartbeat", "--date", DAY]);
    assert_eq!(
        heartbeat.code, 0,
        "{}{}",
        heartbeat.stdout, heartbeat.stderr
    );
    assert_eq!(calls(d, "heartbeat"), 1);

    // Airflow ran `cleanup` (all_done) after it skipped or failed `flaky`
    // without calling the binary: the engine's decision stands.
    let cleanup = call(&bin, d, &["task", "cleanup", "--date", DAY, "--engine"]);
    assert_eq!(cleanup.code, 0, "{}{}", cleanup.stdout, cleanup.stderr);
    assert_eq!(calls(d, "cleanup"), 1);

    assert_eq!(call(&bin, d, &["task", "gather", "--date", DAY]).code, 0);
    // all_failed after a success: skipped, with the status BashOperator
    // reads as skipped.
    let alarm = call(&bin, d, &["task", "alarm", "--date", DAY]);
    assert_eq!(alarm.code, 99, "{}{}", alarm.stdout, alarm.stderr);
    assert_eq!(calls(d, "alarm"), 0);
    // A downstream call reads the upstream's output from the state.
    let report = call(&bin, d, &["task", "report", "--date", DAY]);
    assert_eq!(report.code, 0, "{}{}", report.stdout, report.stderr);
    assert_eq!(calls(d, "report 42"), 1, "{}", read(d, "calls.log"));
    assert_eq!(report.last_line(), "null", "report has no output");
}

#[test]
fn the_interval_can_be_given_exactly_and_the_output_written_to_a_file() {
    let bin = build("orchestrated");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // Argo's scheduledTime: 06:30 in Paris on the 25th ends the 24th's run.
    let fired = call(
        &bin,
        d,
        &["task", "gather", "--fire-time", "2026-11-25T05:30:00Z"],
    );
    assert_eq!(fired.code, 0, "{}{}", fired.stdout, fired.stderr);
    assert!(fired.stdout.contains(RUN), "{}", fired.stdout);
    // Half an hour late (`argo submit --from cronwf`): the same run.
    let late = call(
        &bin,
        d,
        &["task", "gather", "--fire-time", "2026-11-25T06:00:00Z"],
    );
    assert_eq!(late.code, 0, "{}{}", late.stdout, late.stderr);
    assert!(late.stdout.contains(RUN), "{}", late.stdout);

    // Airflow's data interval: the same run, resumed.
    let exact = [
        "task",
        "report",
        "--interval-start",
        "2026-11-24T05:30:00Z",
        "--interval-end",
        "2026-11-25T05:30:00Z",
        "--output-file",
        "out.json",
    ];
    let report = call(&bin, d, &exact);
    assert_eq!(report.code, 0, "{}{}", report.stdout, report.stderr);
    assert!(report.stdout.contains(RUN), "{}", report.stdout);
    assert_eq!(read(d, "out.json"), "null\n");
    assert_ne!(report.last_line(), "null", "the output went to the file");
    let gather = [
        "task",
        "gather",
        "--interval-start",
        "2026-11-24T05:30:00Z",
        "--interval-end",
        "2026-11-25T05:30:00Z",
        "--output-file",
        "gather.json",
    ];
    assert_eq!(call(&bin, d, &gather).code, 0);
    let output: serde_json::Value =
        serde_json::from_str(&read(d, "gather.json")).expect("JSON in the file");
    assert_eq!(output["rows"], 42);
    assert_eq!(calls(d, "gather"), 1, "a success is kept without --attempt");

    // One logical date cannot name two intervals.
    let shorter = call(
        &bin,
        d,
        &[
            "task",
            "gather",
            "--interval-start",
            "2026-11-24T05:30:00Z",
            "--interval-end",
            "2026-11-24T17:30:00Z",
        ],
    );
    assert_eq!(shorter.code, 2);
    assert!(
        shorter.stderr.contains(&format!("run {RUN} covers")),
        "{}",
        shorter.stderr
    );
    // One way to name the run at a time.
    let both = call(&bin, d, &["run", "--latest", "--date", DAY]);
    assert_eq!(both.code, 2, "{}", both.stderr);
}

/// Issue 17: `task ID --condition`, the step Argo runs before a task with
/// `when:`, evaluates it over the upstreams' outputs without running the
/// task: `true` leaves it to its own call; `false` records it as skipped.
#[test]
fn a_condition_call_decides_a_when_without_running_the_task() {
    let bin = build("branch");
    let dir = tempfile::tempdir().expect("tmp");
    let env = [("TRIAL_DIR", dir.path().to_str().expect("utf-8"))];
    let task = |args: &[&str]| {
        let mut all = vec!["task"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--date", DAY, "--engine"]);
        run_env(&bin, dir.path(), &all, &env)
    };
    for t in ["maybe_fail", "evaluate"] {
        assert_eq!(task(&[t, "--attempt", "1"]).code, 0, "{t}");
    }
    // accuracy 0.95: publish, not hold_back.
    let publish = task(&["publish", "--condition"]);
    assert_eq!(publish.code, 0, "{}", publish.stdout);
    assert_eq!(
        publish.stdout.lines().last(),
        Some("true"),
        "{}",
        publish.stdout
    );
    let out = dir.path().join("hold_back.json");
    let hold_back = task(&[
        "hold_back",
        "--condition",
        "--output-file",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(hold_back.code, 0, "{}", hold_back.stdout);
    assert_eq!(read(dir.path(), "hold_back.json"), "false\n");
    assert!(!dir.path().join("calls.log").exists(), "nothing ran");
    let show = run(&bin, dir.path(), &["show", RUN]).stdout;
    assert_eq!(state_of(&show, "hold_back"), "skipped", "{show}");
    assert_eq!(state_of(&show, "publish"), "none", "{show}");
    assert_eq!(task(&["publish", "--attempt", "1"]).code, 0);
    assert_eq!(read(dir.path(), "calls.log"), "publish\n");
    // It changes nothing recorded: a failed task stays failed, and may run
    // again (its own call retries it).
    let other = tempfile::tempdir().expect("tmp");
    let in_other = |args: &[&str]| {
        let mut all = vec!["task", "maybe_fail", "--param", "fail=yes"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--date", DAY, "--engine"]);
        run_env(&bin, other.path(), &all, &env)
    };
    let failed = in_other(&["--attempt", "1"]);
    assert_eq!(failed.code, 1, "{}", failed.stdout);
    let again = in_other(&["--condition"]);
    assert_eq!(
        again.stdout.lines().last(),
        Some("true"),
        "{}",
        again.stdout
    );
    let show = run(&bin, other.path(), &["show", RUN]).stdout;
    assert_eq!(state_of(&show, "maybe_fail"), "failed", "{show}");
}
