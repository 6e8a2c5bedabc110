//! The machine-readable formats: `--format json` (docs/ci.md) and
//! `--format github` (workflow commands), on stdout.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chime"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ui"))
        .args(args)
        .output()
        .expect("run chime");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn json_is_one_object_as_the_spec_shows() {
    let (code, stdout) = run(&[
        "check",
        "--format",
        "json",
        "e012_cycle.yaml",
        "w001_unreachable.yaml",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(v["errors"], 2);
    assert_eq!(v["warnings"], 1);
    assert_eq!(v["files"], 2);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E012");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "dependency cycle: a -> b -> c -> a");
    assert_eq!(d["file"], "e012_cycle.yaml");
    // `b`'s `depends_on: [a]` is the first edge of the ring, line 10.
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(10), Some(18))
    );
    assert!(d["help"].is_string());
    let w = &v["diagnostics"][2];
    assert_eq!(
        (
            w["code"].as_str(),
            w["severity"].as_str(),
            w["line"].as_u64()
        ),
        (Some("W001"), Some("warning"), Some(8))
    );
}

#[test]
fn json_for_a_clean_file() {
    let (code, stdout) = run(&["check", "--format", "json", "ok_spec_example.yaml"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(
        v,
        serde_json::json!({"diagnostics": [], "errors": 0, "warnings": 0, "files": 1})
    );
}

#[test]
fn github_annotations() {
    let (code, stdout) = run(&["check", "--format", "github", "e031_timezone.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        stdout.trim_end(),
        "::error file=e031_timezone.yaml,line=3,col=11,endLine=3,endColumn=24,title=E031::unknown time zone `Europe/Pariss`%0Ahelp: did you mean `Europe/Paris`?"
    );
}

#[test]
fn next_fire_times_in_the_pipelines_zone() {
    let (code, stdout) = run(&[
        "check",
        "ok_spec_example.yaml",
        "--next",
        "2",
        "--now",
        "2026-03-09T12:00:00Z",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "ok_spec_example.yaml: next runs of `demand_forecast` (schedule `0 2 * * *`, time zone Asia/Seoul)"
    );
    assert_eq!(
        lines[1],
        "  2026-03-10 02:00 KST  runs the interval 2026-03-09 02:00 .. 2026-03-10 02:00  (logical date 2026-03-09)"
    );
    assert_eq!(
        lines[2],
        "  2026-03-11 02:00 KST  runs the interval 2026-03-10 02:00 .. 2026-03-11 02:00  (logical date 2026-03-10)"
    );
}

#[test]
fn next_across_a_dst_change_fires_once() {
    // 02:30 does not exist in New York on 2026-03-08: it fires once, at 03:00.
    let dir = std::env::temp_dir().join(format!("chime-next-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join("ny.yaml");
    std::fs::write(&file, "pipeline: ny\nschedule: \"30 2 * * *\"\ntimezone: America/New_York\nstart_date: 2026-01-01\ntasks:\n  a: { operator: noop }\n").expect("write");
    let (_, stdout) = run(&[
        "check",
        file.to_str().expect("utf-8"),
        "--next",
        "3",
        "--now",
        "2026-03-07T00:00:00Z",
    ]);
    let fires: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|l| l[2..22].trim_end())
        .collect();
    assert_eq!(
        fires,
        [
            "2026-03-07 02:30 EST",
            "2026-03-08 03:00 EDT",
            "2026-03-09 02:30 EDT"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn schema_is_draft_07_and_knows_every_key() {
    let (code, stdout) = run(&["schema"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(v["additionalProperties"], false);
    assert_eq!(v["required"], serde_json::json!(["pipeline", "tasks"]));
    let task = &v["properties"]["tasks"]["additionalProperties"];
    // Airflow's 13 rules; `when` and `pool` (issue 17).
    let rules = task["properties"]["trigger_rule"]["enum"].as_array();
    assert!(rules.is_some_and(|a| a.len() == 13), "{rules:?}");
    assert!(rules.is_some_and(|a| a.contains(&"none_failed_min_one_success".into())));
    assert_eq!(task["properties"]["when"]["type"], "string");
    assert!(task["properties"]["pool"].is_object());
    assert!(v["properties"]["pools"].is_object());
    let shell = task["allOf"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|c| c["if"]["properties"]["operator"]["const"] == "shell")
        })
        .expect("shell");
    assert!(shell["then"]["properties"]["with"]["properties"]["command"].is_object());
}

#[test]
fn graph_formats() {
    let (code, stdout) = run(&["graph", "ok_spec_example.yaml", "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("digraph demand_forecast {"), "{stdout}");
    assert!(stdout.contains("    extract -> features;\n"), "{stdout}");
    assert!(
        stdout.contains("per_region [label=\"per_region\\nshell ×3\"];"),
        "{stdout}"
    );
    let (code, stdout) = run(&["graph", "ok_spec_example.yaml"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("flowchart LR") && stdout.contains("    per_region --> done\n"),
        "{stdout}"
    );
    let (code, _) = run(&["graph", "e012_cycle.yaml"]);
    assert_eq!(code, 1, "no graph for an invalid pipeline");
}

#[test]
fn explain_prints_the_checks_documentation() {
    for code in ["E001", "E012", "e042", "W001"] {
        let (status, stdout) = run(&["explain", code]);
        assert_eq!(status, 0, "{code}");
        assert!(
            stdout.starts_with(&format!("## {}", code.to_uppercase())),
            "{code}: {stdout}"
        );
        assert!(
            stdout.contains("```yaml"),
            "{code} has an example: {stdout}"
        );
    }
    let (status, _) = run(&["explain", "E999"]);
    assert_eq!(status, 2);
}

/// `chime explain | head -1`: the reader goes away; chime stops quietly
/// (exit 141, as for SIGPIPE) instead of printing a panic.
#[test]
fn a_closed_stdout_pipe_stops_chime_quietly() {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chime"))
        .arg("explain")
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run chime");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
