//! End to end: what tasks print (issue 11): bytes that are not UTF-8, the
//! process group of a runner killed with `kill -9`, terminal escapes, very
//! long lines and large outputs, and logs that cannot be written.

use std::path::Path;

mod common;
use common::*;

fn logs(bin: &Path, dir: &Path, task: &str) -> String {
    run(bin, dir, &["logs", RUN_ID, task]).stdout
}

#[test]
fn a_byte_that_is_not_utf8_does_not_stop_the_pipe_reader() {
    let bin = build("binary_output");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert_eq!(state_of(&show, "noisy"), "success", "{show}");
    assert!(show.contains(r#"{"after":"the bad bytes"}"#), "{show}");
    let log = logs(&bin, dir.path(), "noisy");
    // Decoded lossily: each bad byte is U+FFFD, and what follows is kept.
    assert!(log.contains("\u{FFFD}\u{FFFD} ok"), "{log}");
    assert!(log.contains("err \u{FFFD} on stderr"), "{log}");
    assert!(log.contains("line 2999 after the bad bytes"), "{log}");
    assert!(
        logs(&bin, dir.path(), "next").contains("got the bad bytes"),
        "the output reached the downstream task"
    );
}

/// Polls until `pid` is gone (or a zombie), for up to 10 s.
fn gone_within_10s(pid: i32) -> bool {
    let start = std::time::Instant::now();
    while alive(pid) {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

#[test]
fn kill_9_of_the_runner_leaves_no_task_process_running_beside_the_resume() {
    let bin = build("orphans");
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(&bin)
        .current_dir(dir.path())
        .args(["run", "--date", "2026-11-24", "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the pipeline");
    wait_for(&dir.path().join("sleep.pid"));
    let pid = |file: &str| -> i32 { read(dir.path(), file).trim().parse().expect(file) };
    let (sh, sleep) = (pid("sh.pid"), pid("sleep.pid"));
    assert!(alive(sh) && alive(sleep));
    child.kill().expect("kill -9");
    let _ = child.wait();
    // The task's shell dies with the runner (the parent-death signal).
    assert!(
        gone_within_10s(sh),
        "the task's shell {sh} outlived the runner"
    );

    std::fs::write(dir.path().join("resumed"), "").expect("write");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // The shell's child survived the runner; the resume stopped it before
    // running the task again, and ran the task once.
    let sleep_gone = gone_within_10s(sleep);
    if !sleep_gone {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(sleep),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(sleep_gone, "the first attempt's sleep {sleep} still runs");
    assert_eq!(
        read(dir.path(), "runs.log").lines().collect::<Vec<_>>(),
        ["slow", "slow"],
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("slow attempt 1"),
        "the resume says what it stopped\n{}",
        r.stdout
    );
}

#[test]
fn terminal_escapes_from_a_task_are_shown_escaped_on_the_console_and_in_show() {
    let bin = build("escapes");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains(r"hostile | \x1b]0;pwned\x07title \x1b[2J cleared"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains('\u{1b}'),
        "a raw ESC reached the console"
    );
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert!(show.contains(r#""name":"\u{202e}evil\x7f""#), "{show}");
    assert!(
        !show.contains(['\u{202e}', '\u{7f}']),
        "raw in show: {show}"
    );
    // The log file keeps what the task printed; so does `logs` into a pipe
    // or a file (escaped only on a terminal).
    let log = std::fs::read_to_string(
        dir.path()
            .join("logs")
            .join(RUN_ID)
            .join("hostile")
            .join("1.log"),
    )
    .expect("the log");
    assert!(
        log.contains("\u{1b}]0;pwned\u{7}title \u{1b}[2J"),
        "{log:?}"
    );
    assert!(logs(&bin, dir.path(), "hostile").contains("\u{1b}[2J"));
}

/// The peak resident memory of process `pid` (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_huge_line_or_output_does_not_grow_the_runner() {
    let bin = build("big_output");
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(&bin)
        .current_dir(dir.path())
        .args(["run", "--date", "2026-11-24"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the pipeline");
    // `gate` starts once the three big tasks have ended and their outputs
    // are stored: the peak so far covers all of their output.
    wait_for(&dir.path().join("gate.started"));
    let peak = peak_rss_kib(child.id());
    std::fs::write(dir.path().join("go"), "").expect("write");
    let status = child.wait().expect("wait");
    // big_json fails; the run's only leaf, `gate` (all_done), succeeds.
    assert_eq!(status.code(), Some(0));
    assert!(
        peak < 24 * 1024,
        "the runner peaked at {peak} KiB for a 20 MB line and 50 MB of lines"
    );

    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert_eq!(state_of(&show, "long_line"), "success", "{show}");
    assert!(show.contains(r#"{"after":"the long line"}"#), "{show}");
    assert_eq!(state_of(&show, "many_lines"), "success", "{show}");
    assert!(show.contains(r#"{"lines":"all read"}"#), "{show}");
    // JSON too big to pass downstream is refused, not cut.
    assert_eq!(state_of(&show, "big_json"), "failed", "{show}");
    assert!(
        show.contains("5000012 bytes") && show.contains("1048576"),
        "{show}"
    );
    let log = logs(&bin, dir.path(), "long_line");
    assert!(
        log.contains("[19934464 more bytes of this line cut]"),
        "{}",
        &log[log.len().saturating_sub(300)..]
    );
    assert!(log.len() < 100_000, "the log holds the cut line");
}

#[test]
fn a_custom_operators_output_over_the_limit_fails_its_task() {
    let bin = build("big_custom_output");
    let dir = tempfile::tempdir().expect("tmp");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert_eq!(state_of(&show, "huge"), "failed", "{show}");
    assert_eq!(state_of(&show, "after"), "upstream_failed", "{show}");
    assert!(
        show.contains("the task's output is 2200011 bytes of JSON, over the limit of 1048576"),
        "{show}"
    );
}

#[test]
fn a_log_that_cannot_be_written_fails_the_attempt_instead_of_succeeding() {
    let bin = build("log_full");
    let dir = tempfile::tempdir().expect("tmp");
    let task_dir = dir.path().join("logs").join(RUN_ID).join("noisy");
    std::fs::create_dir_all(&task_dir).expect("mkdir");
    let log = task_dir.join("1.log");
    std::os::unix::fs::symlink("/dev/full", &log).expect("symlink");
    let r = run(&bin, dir.path(), &["run", "--date", "2026-11-24"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert_eq!(state_of(&show, "noisy"), "failed", "{show}");
    assert!(
        show.contains(&format!("cannot write the log logs/{RUN_ID}/noisy/1.log: "))
            && show.contains("No space left on device"),
        "{show}"
    );
}
