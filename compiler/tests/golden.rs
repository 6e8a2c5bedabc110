//! Golden generated crates: `chime build --emit-crate-only` on a few
//! pipelines must give exactly the committed tests/golden/<name>/ files
//! (the same YAML gives the same bytes), and those committed crates must
//! compile and run. `CHIME_BLESS=1 cargo test --test golden` rewrites them.

use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: &[(&str, &str)] = &[
    ("flow", "tests/e2e/flow.yaml"),
    ("rules", "tests/e2e/rules.yaml"),
    ("daily_report", "examples/daily_report/pipeline.yaml"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn emit(name: &str, yaml: &str, out: &Path) {
    let golden = root().join("tests/golden").join(name);
    std::fs::create_dir_all(&golden).expect("golden dir");
    // From the golden directory, the runtime is ../../../runtime: the path
    // written into Cargo.toml is that relative one, the same on every machine.
    let status = Command::new(env!("CARGO_BIN_EXE_chime"))
        .current_dir(&golden)
        .args([
            "build",
            "--emit-crate-only",
            "--runtime",
            "../../../runtime",
            "-o",
        ])
        .arg(out)
        .arg(root().join(yaml))
        .status()
        .expect("chime build");
    assert!(status.success(), "{name}");
}

#[test]
fn generated_crates_match_the_goldens_and_compile() {
    let bless = std::env::var_os("CHIME_BLESS").is_some();
    for (name, yaml) in CASES {
        let golden = root().join("tests/golden").join(name);
        if bless {
            emit(name, yaml, &golden);
        }
        let tmp = tempfile::tempdir().expect("tmp");
        emit(name, yaml, tmp.path());
        for file in ["Cargo.toml", "src/main.rs"] {
            let want = std::fs::read_to_string(golden.join(file)).unwrap_or_default();
            let got = std::fs::read_to_string(tmp.path().join(file)).expect("generated");
            assert!(
                want == got,
                "{name}/{file} differs from the golden (CHIME_BLESS=1 to accept)\n--- got\n{got}"
            );
        }
        // Generating twice gives the same bytes.
        let again = tempfile::tempdir().expect("tmp");
        emit(name, yaml, again.path());
        assert_eq!(
            std::fs::read(tmp.path().join("src/main.rs")).expect("first"),
            std::fs::read(again.path().join("src/main.rs")).expect("second")
        );
        // The committed crate compiles and its binary knows its pipeline.
        let target = root().join("target/e2e");
        // Built as the end-to-end tests build (common::chime): shared artifacts.
        let status = Command::new(env!("CARGO"))
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(golden.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo build");
        assert!(status.success(), "the golden crate {name} does not compile");
        let out = Command::new(target.join("release").join(name))
            .arg("describe")
            .output()
            .expect("run");
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("describe is JSON");
        assert_eq!(d["pipeline"], *name);
    }
}

/// The runtime features of the crate `chime build` emits for `yaml`.
fn features_of(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_chime"))
        .args(["build", "--emit-crate-only", "-o"])
        .arg(&out)
        .arg(&file)
        .status()
        .expect("chime build");
    assert!(status.success());
    let toml = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    let line = toml.lines().find(|l| l.contains("features = [")).unwrap();
    line.split("features = [").nth(1).unwrap().to_string()
}

#[test]
fn object_storage_is_compiled_in_only_for_pipelines_that_name_it() {
    let sql = |output: &str| {
        format!(
            "pipeline: p\nconnections: {{ db: \"sqlite::memory:\" }}\ntasks:\n  a:\n    operator: sql\n    with: {{ connection: db, query: SELECT 1, output: \"{output}\" }}\n"
        )
    };
    assert!(!features_of(&sql("out/a.csv")).contains("s3"));
    assert!(features_of(&sql("s3://lake/{{ ds }}/a.csv")).contains("\"s3\""));
    // A path only a template makes: `storage:` asks for it.
    let templated =
        sql("{{ params.out }}").replace("tasks:", "params: { out: x.csv }\nstorage: {}\ntasks:");
    assert!(features_of(&templated).contains("\"s3\""));
    let sensor =
        "pipeline: p\ntasks:\n  a: { operator: wait_for, with: { file: \"s3://lake/in/\" } }\n";
    assert!(features_of(sensor).contains("\"s3\""));
}

/// The status page's HTTP server (axum, maud) is compiled in only for a
/// pipeline with `ui:`: one without it compiles nothing more.
#[test]
fn the_status_page_is_compiled_in_only_for_pipelines_with_ui() {
    let plain = "pipeline: p\ntasks:\n  a: { operator: noop }\n";
    assert_eq!(features_of(plain), "\"rt\"] }");
    let with_ui = "pipeline: p\nui: {}\ntasks:\n  a: { operator: noop }\n";
    assert_eq!(features_of(with_ui), "\"rt\", \"ui\"] }");
}
