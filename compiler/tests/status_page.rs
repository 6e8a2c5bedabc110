//! The status page end to end, in a real browser: Debian's Chromium
//! driven by Playwright (tests/browser/status_page.py), against the `ui`
//! of a pipeline binary started on a free loopback port.

mod common;

use common::page::Page;
use common::*;

const PLAYWRIGHT: (&str, &str) = ("playwright-1.65.2", "playwright==1.65.2");

fn browser(args: &[&str]) {
    let venv = python_tool(PLAYWRIGHT.0, PLAYWRIGHT.1);
    succeeds(
        std::process::Command::new(venv.join("bin/python"))
            .arg(root().join("tests/browser/status_page.py"))
            .args(args),
    );
}

/// The grid after a failed run shows the failed cell, its log is
/// readable, markup in an output is text, and clear & rerun turns the
/// cell green.
#[test]
fn the_grid_shows_a_failure_and_clear_and_rerun_fixes_it() {
    let bin = build("status");
    let dir = tempfile::tempdir().unwrap();
    let first = run(&bin, dir.path(), &["run", "--date", "2026-11-20"]);
    assert_eq!(first.code, 1, "{}", first.stdout);
    let page = Page::start(&bin, dir.path(), "127.0.0.1:0", &[]);
    let shots = root().join("target/status-page-shots");
    browser(&[
        "grid",
        &page.url,
        dir.path().to_str().unwrap(),
        shots.to_str().unwrap(),
    ]);
    // What the page showed is what the state holds.
    let show = run(
        &bin,
        dir.path(),
        &["show", "manual__2026-11-20T03:00:00+00:00"],
    );
    assert_eq!(state_of(&show.stdout, "load"), "success", "{}", show.stdout);
    assert_eq!(state_of(&show.stdout, "extract"), "success");
    // The rerun's output went to logs/ui/.
    let ui_logs = std::fs::read_dir(dir.path().join("logs/ui"))
        .unwrap()
        .count();
    assert_eq!(ui_logs, 1);
}

/// Trigger (with its refusal of an undeclared param) and backfill (a dry
/// run first) from the page; what they started is in the state.
#[test]
fn trigger_and_backfill_from_the_page() {
    let bin = build("status");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fixed.flag"), "").unwrap();
    let page = Page::start(&bin, dir.path(), "127.0.0.1:0", &[]);
    browser(&["actions", &page.url]);
    let runs = run(&bin, dir.path(), &["runs"]).stdout;
    for id in [
        "manual__2026-11-25T03:00:00+00:00",
        "backfill__2026-11-01T03:00:00+00:00",
        "backfill__2026-11-02T03:00:00+00:00",
        "backfill__2026-11-03T03:00:00+00:00",
    ] {
        assert!(runs.contains(id), "{id} not in\n{runs}");
    }
    assert!(!runs.contains("2026-11-26"), "{runs}");
}

/// On another address than loopback the page refuses to start without a
/// token, and with one a browser gets in only through the login form.
#[test]
fn off_loopback_the_page_needs_its_token() {
    let bin = build("status");
    let dir = tempfile::tempdir().unwrap();
    let refused = run(&bin, dir.path(), &["ui", "0.0.0.0:0"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("set CHIME_UI_TOKEN"),
        "{}",
        refused.stdout
    );
    let token = "a-token-for-the-test-0123456789";
    let page = Page::start(&bin, dir.path(), "0.0.0.0:0", &[("CHIME_UI_TOKEN", token)]);
    browser(&["token", &page.url, token]);
    // The scheduler serving the page runs tasks: one that prints its
    // environment shows the token as ***.
    let printed = run_env(
        &bin,
        dir.path(),
        &["run", "--date", "2026-11-20"],
        &[("CHIME_UI_TOKEN", token)],
    );
    assert!(!printed.stdout.contains(token), "{}", printed.stdout);
    let log = run(
        &bin,
        dir.path(),
        &["logs", "manual__2026-11-20T03:00:00+00:00", "extract"],
    );
    assert!(log.stdout.contains("token: ***"), "{}", log.stdout);
    assert!(!log.stdout.contains(token), "{}", log.stdout);
}
