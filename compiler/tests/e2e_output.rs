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
