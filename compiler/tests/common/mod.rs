//! Helpers shared by the end-to-end tests: one target directory and crate
//! cache for every `chime build`, running binaries, reading `show`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub mod airflow;
pub mod page;
pub mod pg;
pub mod s3;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// `chime`, with the target directory and crate cache shared by every
/// end-to-end test.
///
/// The pipelines are built without optimisation (`opt-level` 0 instead of
/// the generated crate's 3): what they do is the same, and on 2 cores
/// tract and arrow compile in about 3 minutes instead of 9. `.ci/run`
/// builds the README's example with the same setting, so it shares the
/// artifacts. Benchmarks (tests/bench) build as users do.
pub fn chime() -> Command {
    let root = root();
    let mut c = Command::new(env!("CARGO_BIN_EXE_chime"));
    c.env("CHIME_TARGET_DIR", root.join("target/e2e"))
        .env("XDG_CACHE_HOME", root.join("target/e2e-cache"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0");
    c
}

/// Builds tests/e2e/<name>.yaml and returns the binary.
pub fn build(name: &str) -> PathBuf {
    build_with(name, &[])
}

/// [`build`] with more `chime build` flags (`--postgres-state`).
pub fn build_with(name: &str, flags: &[&str]) -> PathBuf {
    let root = root();
    // One output directory per test, so tests building the same pipeline
    // in parallel do not replace each other's binary.
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "_");
    let out = root.join("target/e2e-bin").join(test);
    let status = chime()
        .arg("build")
        .arg(root.join("tests/e2e").join(format!("{name}.yaml")))
        .arg("-o")
        .arg(&out)
        .args(flags)
        .status()
        .expect("run chime build");
    assert!(status.success(), "chime build {name} failed");
    out.join(name)
}

/// Builds examples/<name>/pipeline.yaml and returns the binary.
pub fn build_example(name: &str) -> PathBuf {
    let root = root();
    let out = root.join("target/e2e-bin").join(name);
    let status = chime()
        .arg("build")
        .arg(root.join("examples").join(name).join("pipeline.yaml"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run chime build");
    assert!(status.success(), "chime build of the example {name} failed");
    out.join(name)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
}

pub fn run(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    run_env(bin, dir, args, &[])
}

/// [`run`] with environment variables set.
pub fn run_env(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the pipeline");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

/// Where an example writes its results, with a name for messages: SQLite
/// (its default: no variable set), then PostgreSQL (`var` set to `url`).
pub fn backends<'a>(var: &'a str, url: &'a str) -> [(&'static str, Vec<(&'a str, &'a str)>); 2] {
    [("SQLite", vec![]), ("PostgreSQL", vec![(var, url)])]
}

/// Pinned Python packages from PyPI (`requirements`, separated by spaces)
/// in the virtualenv target/`dir`, installed on first use, once, under a
/// lock (tests run in parallel processes); `.ci/run` installs them ahead,
/// from the same list. Returns the venv.
pub fn python_tool(dir: &str, requirements: &str) -> PathBuf {
    let target = root().join("target");
    let venv = target.join(dir);
    if venv.join("bin/python").is_file() && venv.join(".installed").is_file() {
        return venv;
    }
    std::fs::create_dir_all(&target).expect("target/");
    let script = format!(
        "test -f '{v}/.installed' || {{ rm -rf '{v}' && python3 -m venv '{v}' && '{v}/bin/pip' install -q --disable-pip-version-check {requirements} && touch '{v}/.installed'; }}",
        v = venv.display()
    );
    let status = std::process::Command::new("flock")
        .arg(target.join(format!("{dir}.lock")))
        .args(["sh", "-c", &script])
        .status()
        .expect("run flock (util-linux) to install a Python tool");
    assert!(
        status.success(),
        "installing {requirements} from PyPI into {} failed",
        venv.display()
    );
    venv
}

/// Runs `cmd` and fails the test with its stdout and stderr unless it
/// succeeds; returns its output.
pub fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// The state column of `show` for each task.
pub fn states(show: &str) -> Vec<(String, String)> {
    show.lines()
        .skip(2)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

pub fn state_of(show: &str, task: &str) -> String {
    states(show)
        .into_iter()
        .find(|(t, _)| t == task)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{task} not in\n{show}"))
}

pub fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn alive(pid: i32) -> bool {
    // A zombie is dead for our purpose; /proc/<pid>/stat says which.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

pub const RUN_ID: &str = "manual__2026-11-24T00:00:00+00:00";
