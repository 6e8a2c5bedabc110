//! End to end, issue 11 ("trust"): the pipeline binary's state and run
//! commands as an unlucky operator meets them: two processes on one date,
//! a rebuild between a crash and its resume, a resume that forgets
//! `--param`, `clear` on a succeeded run, schedules that do not fire at
//! midnight, backfill ranges, dates chrono alone would accept.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Builds tests/e2e/<yaml>.yaml, whose pipeline is called `pipeline`.
fn build_as(yaml: &str, pipeline: &str) -> PathBuf {
    let bin = build(yaml);
    bin.with_file_name(pipeline)
}

const DAY: &str = "2026-11-24";

/// [`run`], killed (exit code -1) if it has not ended within `limit`.
fn run_within(bin: &Path, dir: &Path, args: &[&str], limit: Duration) -> Run {
    let out = tempfile::NamedTempFile::new().expect("tmp");
    let mut child = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .stdout(out.reopen().expect("reopen"))
        .stderr(out.reopen().expect("reopen"))
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stdout: std::fs::read_to_string(out.path()).unwrap_or_default(),
    }
}

/// Removes the hold file (its task then ends) and kills the process when
/// the test ends, passed or not, so no run outlives its test.
struct Held(PathBuf, std::process::Child);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = self.1.kill();
        let _ = self.1.wait();
    }
}

#[test]
fn a_second_run_of_a_date_is_refused_while_the_first_runs_and_names_it() {
    let bin = build("claim");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let hold = d.join(format!("hold-{DAY}"));
    std::fs::write(&hold, "").expect("write");
    std::fs::write(d.join("pass"), "").expect("write");
    let first = Command::new(&bin)
        .current_dir(d)
        .args(["run", "--date", DAY, "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut first = Held(hold.clone(), first);
    wait_for(&d.join("started"));

    // Bounded: without the claim, the second run would wait on the hold.
    let second = run_within(&bin, d, &["run", "--date", DAY], Duration::from_secs(30));
    assert_eq!(second.code, 2, "{}", second.stdout);
    assert!(
        second.stdout.contains(&format!("pid {}", first.1.id())),
        "names the holder: {}",
        second.stdout
    );
    assert!(
        second.stdout.contains("already being executed"),
        "{}",
        second.stdout
    );
    // Neither a single task of that date, nor a backfill over it, nor a
    // clear of the run.
    let task = run(&bin, d, &["task", "first", "--date", DAY]);
    assert_eq!(task.code, 2, "{}", task.stdout);
    let runs = run(&bin, d, &["runs"]).stdout;
    let run_id = runs
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("a run")
        .to_string();
    let clear = run(&bin, d, &["clear", &run_id]);
    assert_eq!(clear.code, 2, "{}", clear.stdout);
    // Another date runs meanwhile.
    let other = run(&bin, d, &["run", "--date", "2026-11-25", "--quiet"]);
    assert_eq!(other.code, 0, "{}", other.stdout);

    std::fs::remove_file(&hold).expect("release");
    assert!(first.1.wait().expect("wait").success());
    assert_eq!(
        read(d, "runs.log").lines().collect::<Vec<_>>(),
        ["first 1", "gate 1", "first 1", "gate 1"],
        "each date's tasks ran once"
    );
}

#[test]
fn a_resumed_run_keeps_its_params_and_refuses_different_ones() {
    let bin = build("claim");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // `gate` fails (no `pass` file) after `first` ran with factor 3.
    let r = run(&bin, d, &["run", "--date", DAY, "--param", "factor=3"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    std::fs::write(d.join("pass"), "").expect("write");

    let changed = run(&bin, d, &["run", "--date", DAY, "--param", "factor=5"]);
    assert_eq!(changed.code, 2, "{}", changed.stdout);
    assert!(
        changed
            .stdout
            .contains("was started with params {\"factor\":3}")
            && changed.stdout.contains("clear"),
        "{}",
        changed.stdout
    );
    // Without --param the run resumes with the params it recorded.
    let resumed = run(&bin, d, &["run", "--date", DAY]);
    assert_eq!(resumed.code, 0, "{}", resumed.stdout);
    assert_eq!(
        read(d, "runs.log").lines().collect::<Vec<_>>(),
        ["first 3", "gate 3", "gate 3"]
    );
}

#[test]
fn a_run_resumed_by_a_rebuild_with_more_tasks_keeps_each_tasks_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // Kept aside: the second build writes to the same place.
    let v1 = d.join("evolve_v1");
    std::fs::copy(build_as("evolve_v1", "evolve"), &v1).expect("copy");
    let r = run(&v1, d, &["run", "--date", DAY]);
    assert_eq!(r.code, 1, "load fails without `pass`: {}", r.stdout);
    let v2 = build_as("evolve_v2", "evolve");
    std::fs::write(d.join("pass"), "").expect("write");
    let r = run(&v2, d, &["run", "--date", DAY]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let show = run(&v2, d, &["show", &format!("manual__{DAY}T00:00:00+00:00")]).stdout;
    assert_eq!(state_of(&show, "validate"), "success", "{show}");
    assert_eq!(state_of(&show, "extract"), "success", "{show}");
    assert_eq!(state_of(&show, "load"), "success", "{show}");
    let line = |task: &str| {
        show.lines()
            .find(|l| l.starts_with(task))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("extract").contains("{\"rows\":7}"), "{show}");
    assert!(line("validate").contains("\"valid\""), "{show}");
    assert_eq!(read(d, "loaded").trim(), "7", "load read extract's output");
    // extract was not run again; validate is new and ran once, beside load.
    let mut log: Vec<String> = read(d, "runs.log").lines().map(str::to_string).collect();
    log[2..].sort();
    assert_eq!(log, ["extract", "load", "load", "validate"]);
    // The old build sees the task it does not know, marked as such.
    let old = run(&v1, d, &["show", &format!("manual__{DAY}T00:00:00+00:00")]).stdout;
    assert!(
        line_of(&old, "validate").contains("(no longer in the pipeline)"),
        "{old}"
    );
}

fn line_of(show: &str, task: &str) -> String {
    show.lines()
        .find(|l| l.starts_with(task))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn clear_resets_a_succeeded_run_and_says_what_it_did() {
    let bin = build("claim");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("pass"), "").expect("write");
    assert_eq!(run(&bin, d, &["run", "--date", DAY, "-q"]).code, 0);
    let id = format!("manual__{DAY}T00:00:00+00:00");
    let again = run(&bin, d, &["run", "--date", DAY]);
    assert!(
        again.stdout.contains(&format!("`clear {id}`")),
        "{}",
        again.stdout
    );

    let only_failed = run(&bin, d, &["clear", &id, "--only-failed"]);
    assert_eq!(only_failed.code, 0);
    assert!(
        only_failed.stdout.contains("nothing to clear"),
        "{}",
        only_failed.stdout
    );

    let cleared = run(&bin, d, &["clear", &id]);
    assert_eq!(cleared.code, 0, "{}", cleared.stdout);
    assert!(
        cleared.stdout.contains("cleared 2 task(s)") && cleared.stdout.contains("first, gate"),
        "{}",
        cleared.stdout
    );
    let show = run(&bin, d, &["show", &id]).stdout;
    assert!(show.contains("state queued"), "{show}");
    assert_eq!(state_of(&show, "first"), "none");
    assert_eq!(run(&bin, d, &["run", "--date", DAY, "-q"]).code, 0);
    assert_eq!(
        read(d, "runs.log").lines().count(),
        4,
        "both tasks ran again"
    );
}

#[test]
fn dates_name_the_schedules_run_of_that_day_even_without_a_midnight() {
    let bin = build("late");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // 8 March 2026: Havana's clocks go from 00:00 to 01:00.
    let r = run(&bin, d, &["run", "--date", "2026-03-08"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        read(d, "days.log").trim(),
        "2026-03-08 2026-03-08T02:30:00-04:00 2026-03-09T02:30:00-04:00",
        "the whole 02:30 interval, not 00:00 to 02:30"
    );
    for bad in ["0000-01-01", "+99999-01-01", "99999-01-01", "2026-02-30"] {
        let r = run(&bin, d, &["run", "--date", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stdout);
        assert!(r.stdout.contains("years 1 to 9999"), "{bad}: {}", r.stdout);
    }
    // backfill --from D --to D runs day D; --to is inclusive.
    let b = run(
        &bin,
        d,
        &["backfill", "--from", "2026-03-10", "--to", "2026-03-10"],
    );
    assert_eq!(b.code, 0, "{}", b.stdout);
    let b = run(
        &bin,
        d,
        &["backfill", "--from", "2026-03-11", "--to", "2026-03-12"],
    );
    assert_eq!(b.code, 0, "{}", b.stdout);
    let days: Vec<String> = read(d, "days.log")
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        days,
        ["2026-03-08", "2026-03-10", "2026-03-11", "2026-03-12"]
    );
    let none = run(
        &bin,
        d,
        &["backfill", "--from", "2026-02-01", "--to", "2026-02-01"],
    );
    assert_eq!(none.code, 0, "{}", none.stdout);
    assert!(
        none.stdout.contains("2026-02-01") && none.stdout.contains("nothing to do"),
        "before start_date: said so\n{}",
        none.stdout
    );
    // Without --date: the latest whole interval that has ended.
    let latest = run(&bin, d, &["run", "-q"]);
    assert_eq!(latest.code, 0, "{}", latest.stdout);
    let log = read(d, "days.log");
    let last = log.lines().last().unwrap_or_default().to_string();
    let fields: Vec<&str> = last.split(' ').collect();
    assert!(fields[1].contains("T02:30:00"), "{last}");
    let end = chrono::DateTime::parse_from_rfc3339(fields[2]).expect("end");
    assert!(
        end <= chrono::Utc::now(),
        "an interval that has ended: {last}"
    );
    assert!(
        chrono::Utc::now() - end.with_timezone(&chrono::Utc) < chrono::Duration::hours(25),
        "the latest one: {last}"
    );
}

#[test]
fn secrets_never_print_or_persist_yet_downstream_tasks_get_the_real_value() {
    let bin = build("secrets");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // A password with a quote, a backslash, a space and raw `@`s.
    let secret = r#"s3"cr\t p@ss@"#;
    let env = [("WAREHOUSE_PASSWORD", secret)];
    let first = run_env(&bin, d, &["run", "--date", DAY], &env);
    assert_eq!(
        first.code, 1,
        "consume fails without `pass`: {}",
        first.stdout
    );
    std::fs::write(d.join("pass"), "").expect("write");
    // The resume gets produce's output from the state.
    let resumed = run_env(&bin, d, &["run", "--date", DAY], &env);
    assert_eq!(resumed.code, 0, "{}", resumed.stdout);
    assert_eq!(read(d, "received"), secret, "downstream got the real value");

    let id = format!("manual__{DAY}T00:00:00+00:00");
    let show = run(&bin, d, &["show", &id]).stdout;
    let logs = run(&bin, d, &["logs", &id, "produce"]).stdout;
    assert!(show.contains(r#"{"token":"***"}"#), "{show}");
    assert!(logs.contains("raw: ***"), "{logs}");
    let forms = [
        secret.to_string(),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
        "s3%22cr%5Ct%20p%40ss%40".to_string(),
        "p@ss".to_string(),
    ];
    let mut files = vec![d.join("secrets.state.db"), d.join("secrets.state.db-wal")];
    files.extend(walk(&d.join("logs")).into_iter().filter(|p| p.is_file()));
    for form in &forms {
        for (what, text) in [
            ("console", &first.stdout),
            ("console", &resumed.stdout),
            ("show", &show),
            ("logs", &logs),
        ] {
            assert!(
                !text.contains(form.as_str()),
                "{what} shows {form}:\n{text}"
            );
        }
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_default();
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{} holds {form}",
                f.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn task_exits_with_its_own_tasks_result_not_the_whole_runs() {
    let bin = build("claim");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let first = run(&bin, d, &["task", "first", "--date", DAY]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert!(
        first.stdout.contains("task first of run"),
        "{}",
        first.stdout
    );
    let id = format!("manual__{DAY}T00:00:00+00:00");
    let show = run(&bin, d, &["show", &id]).stdout;
    assert!(
        show.contains("state queued"),
        "the rest is still to come: {show}"
    );
    let gate = run(&bin, d, &["task", "gate", "--date", DAY]);
    assert_eq!(gate.code, 1, "gate fails without `pass`: {}", gate.stdout);
    // The pipeline's on_failure is for a failed run, not for each failed
    // `task` call of an orchestrator (issue 14).
    assert!(
        !d.join("on_failure_ran").exists(),
        "a task call ran on_failure: {}",
        gate.stdout
    );
    std::fs::write(d.join("pass"), "").expect("write");
    let gate = run(&bin, d, &["task", "gate", "--date", DAY]);
    assert_eq!(gate.code, 0, "{}", gate.stdout);
}

/// The runner's peak resident memory, in KiB (Linux).
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_backfill_over_millions_of_intervals_starts_at_once_in_little_memory() {
    let bin = build("minutely");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // Ten years of minutes: planning them all up front took gigabytes.
    let child = Command::new(&bin)
        .current_dir(d)
        .args(["backfill", "--from", "2026-01-01", "--to", "2035-12-31"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut child = Held(d.join("no-hold"), child);
    let start = Instant::now();
    while read(d, "runs.log").lines().count() < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the backfill has not run 20 intervals after a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak = peak_kib(child.1.id()).expect("VmHWM");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.1.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.1.try_wait().expect("wait") {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the backfill did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143), "stopped by SIGTERM");
    assert!(peak < 100 * 1024, "peak {peak} KiB");
    let first: Vec<String> = read(d, "runs.log")
        .lines()
        .take(2)
        .map(str::to_string)
        .collect();
    assert_eq!(
        first,
        ["2026-01-01T00:00:00+00:00", "2026-01-01T00:01:00+00:00"],
        "oldest first"
    );
}
