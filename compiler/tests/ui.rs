//! Golden tests: every `tests/ui/<case>.yaml` is checked and its human
//! output compared with `<case>.stderr`. `CHIME_BLESS=1 cargo test` rewrites
//! the expected files; review the diff before committing it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ui")
}

fn check(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chime"))
        .current_dir(dir)
        .arg("check")
        .args(args)
        .args(["--color", "never"])
        .output()
        .expect("run chime");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`check`] under resource limits set by the shell's `ulimit` (`-t`: CPU
/// seconds, `-v`: KiB of address space): a check that runs away is killed
/// by the system (SIGXCPU, or a failed allocation) instead of being timed
/// with a clock, so a loaded machine cannot make it fail.
fn check_limited(dir: &Path, limits: &[&str], args: &[&str]) -> (i32, String, String) {
    let set: String = limits.iter().map(|l| format!("ulimit {l} && ")).collect();
    let out = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!(r#"{set}exec "$0" check "$@" --color never"#))
        .arg(env!("CARGO_BIN_EXE_chime"))
        .args(args)
        .output()
        .expect("run chime");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ui_cases_match_their_golden_output() {
    let dir = ui_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ui")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the ui cases, found {}",
        cases.len()
    );
    let bless = std::env::var_os("CHIME_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let (code, stdout, stderr) = check(&dir, &[name]);
        assert!(
            stdout.is_empty(),
            "{name}: human format writes to stderr only"
        );
        let expected_code = i32::from(stderr.starts_with("error") || stderr.contains("\nerror"));
        assert_eq!(code, expected_code, "{name}: exit status\n{stderr}");
        // Every case is named after the codes it shows: they must appear.
        for part in name.split(['_', '.']) {
            let code = part.to_uppercase();
            let is_code = code.len() == 4
                && (code.starts_with('E') || code.starts_with('W'))
                && code.as_bytes()[1..].iter().all(u8::is_ascii_digit);
            if is_code {
                assert!(
                    stderr.contains(&format!("[{code}]")),
                    "{name}: no {code} reported\n{stderr}"
                );
            }
        }
        if name.starts_with("ok_") {
            assert!(stderr.ends_with("no problems\n"), "{name}: {stderr}");
        }
        let golden = case.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &stderr).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != stderr {
            failures.push(format!("--- {name}: expected\n{want}\n--- got\n{stderr}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (CHIME_BLESS=1 to accept):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_code_has_a_case() {
    let names: Vec<String> = std::fs::read_dir(ui_dir())
        .expect("tests/ui")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let codes = [
        "e001", "e002", "e003", "e004", "e010", "e011", "e012", "e020", "e021", "e022", "e023",
        "e030", "e031", "e032", "e040", "e041", "e042", "e050", "w001",
    ];
    for code in codes {
        assert!(
            names.iter().any(|n| n.contains(code)),
            "no ui case for {code}"
        );
    }
}

#[test]
fn all_files_are_checked_in_one_run() {
    let (code, _, stderr) = check(
        &ui_dir(),
        &[
            "e011_unknown_dependency.yaml",
            "e012_cycle.yaml",
            "ok_spec_example.yaml",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("[E011]") && stderr.contains("[E012]"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("checked 3 files: 4 errors"),
        "{stderr}"
    );
}

#[test]
fn directories_and_globs_expand_to_yaml_files() {
    let dir = ui_dir();
    let (_, _, stderr) = check(&dir, &["."]);
    let files = std::fs::read_dir(&dir)
        .expect("ui")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert!(
        stderr.contains(&format!("checked {files} files")),
        "{}",
        stderr.lines().last().unwrap_or_default()
    );
    let e03 = std::fs::read_dir(&dir)
        .expect("ui")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("e03") && name.ends_with(".yaml")
        })
        .count();
    assert!(e03 >= 6, "{e03}");
    let (_, _, stderr) = check(&dir, &["e03*.yaml"]);
    assert!(
        stderr.contains(&format!("checked {e03} files")),
        "{}",
        stderr.lines().last().unwrap_or_default()
    );
}

#[test]
fn unreadable_input_exits_2() {
    let (code, _, stderr) = check(&ui_dir(), &["no_such_file.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no_such_file.yaml: no such file or directory"),
        "{stderr}"
    );
    let (code, _, stderr) = check(&ui_dir(), &["nothing*.yaml"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn non_utf8_and_oversized_files_get_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("chime-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    std::fs::write(dir.join("latin1.yaml"), b"pipeline: caf\xe9\n").expect("write");
    let (code, _, stderr) = check(&dir, &["latin1.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("latin1.yaml:1: the file is not UTF-8"),
        "{stderr}"
    );
    let big = std::fs::File::create(dir.join("big.yaml")).expect("create");
    big.set_len(65 * 1024 * 1024).expect("sparse file");
    let (code, _, stderr) = check(&dir, &["big.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("limited to 64 MiB"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/dev/zero` (like a pipe) reports a size of 0 and never ends: the read
/// stops at the limit, promptly, with an error naming the file.
#[test]
fn check_of_dev_zero_stops_at_the_size_limit() {
    // Unbounded, the read would run until killed at 30 s of CPU.
    let (code, _, stderr) = check_limited(&ui_dir(), &["-t 30"], &["/dev/zero"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("/dev/zero: more than 64 MiB; pipeline files are limited to 64 MiB"),
        "{stderr}"
    );
}

/// tests/ui/e001_long_scalar_laughs.yaml is 3.4 KB: aliases of a 3 KB
/// string, a million copies once expanded (3 GB; it took `check` past 8 GB
/// before the text limit). Under a 1 GiB address-space limit (and 30 s of
/// CPU) it must be refused with E001.
#[test]
fn alias_bomb_of_long_strings_is_refused_in_little_memory() {
    let (code, _, stderr) = check_limited(
        &ui_dir(),
        &["-v 1048576", "-t 30"],
        &["e001_long_scalar_laughs.yaml"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "error[E001]: the document expands to more than 64 MiB of text through aliases"
        ),
        "{stderr}"
    );
}

/// E042 searched every referencing task's ancestors: a 40,000-task chain
/// whose tasks all read the first one took 41 s (debug build; 3.4 s
/// release). Answered together it takes about 4 s of CPU in a debug
/// build; a 20 s CPU limit (not a clock) fails the quadratic way.
#[test]
fn e042_on_a_40000_task_chain_is_not_quadratic() {
    let dir = std::env::temp_dir().join(format!("chime-ui-chain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut yaml = String::from(
        "pipeline: chain\ntasks:\n  t0:\n    operator: shell\n    with: { command: \"echo 1\" }\n",
    );
    for i in 1..40_000 {
        yaml += &format!(
            "  t{i}:\n    operator: shell\n    depends_on: [t{}]\n    with: {{ command: \"echo {{{{ tasks.t0.output | sh_quote }}}} {{{{ tasks.t{}.output | sh_quote }}}}\" }}\n",
            i - 1,
            i + 1,
        );
    }
    std::fs::write(dir.join("chain.yaml"), yaml).expect("write");
    // 20 s of CPU: the quadratic search took 41 s, this ~4 s (debug).
    let (code, stdout, stderr) =
        check_limited(&dir, &["-t 20"], &["chain.yaml", "--format", "json"]);
    // Every task but the last reads its downstream neighbour: 39,998 E042.
    assert_eq!(code, 1, "{}", &stderr[..stderr.len().min(2000)]);
    assert_eq!(
        stdout.matches("\"E042\"").count(),
        39_998,
        "{}",
        &stdout[..stdout.len().min(2000)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
