//! The CI integrations the docs advertise work as written: the pre-commit
//! hook's entry and the GitHub Actions step of docs/ci.md, run on
//! `examples/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example_pipelines() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).expect("examples/") {
        let dir = entry.expect("entry").path();
        for name in ["pipeline.yaml", "pipeline.yml"] {
            if dir.join(name).is_file() {
                out.push(format!(
                    "examples/{}/{name}",
                    dir.file_name().and_then(|n| n.to_str()).expect("utf-8")
                ));
            }
        }
    }
    out.sort();
    out
}

/// Runs a `chime ...` command line as the docs write it.
fn run_chime(command_line: &str, extra: &[String]) -> (i32, String) {
    let mut words = command_line.split_whitespace();
    assert_eq!(words.next(), Some("chime"), "{command_line}");
    let out = Command::new(env!("CARGO_BIN_EXE_chime"))
        .current_dir(root())
        .args(words)
        .args(extra)
        .output()
        .expect("run chime");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn pre_commit_hook_entry_passes_on_the_examples() {
    let hooks = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml"))
        .expect(".pre-commit-hooks.yaml");
    let entry = hooks
        .lines()
        .find_map(|l| l.trim().strip_prefix("entry: "))
        .expect("an entry");
    let files = example_pipelines();
    assert!(!files.is_empty(), "examples/ has pipelines");
    // pre-commit passes the staged files matching `files:` as arguments.
    let (code, out) = run_chime(entry, &files);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn github_actions_step_of_the_docs_passes_on_the_examples() {
    let doc = std::fs::read_to_string(root().join("docs/ci.md")).expect("docs/ci.md");
    let step = doc
        .lines()
        .find_map(|l| l.trim().strip_prefix("- run: chime check"))
        .expect("a chime check step");
    let command = format!("chime check{}", step.replace("pipelines/", "examples/"));
    let (code, out) = run_chime(&command, &[]);
    assert_eq!(code, 0, "{out}");
    // A broken pipeline gives an annotation GitHub understands.
    let broken = root().join("tests/ui/e011_unknown_dependency.yaml");
    let (code, out) = run_chime(
        &format!(
            "chime check{}",
            step.replace("pipelines/", broken.to_str().expect("utf-8"))
        ),
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        out.lines()
            .any(|l| l.starts_with("::error file=") && l.contains("title=E011::")),
        "{out}"
    );
}
