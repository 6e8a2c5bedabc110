//! End to end, issue 14: `chime export argo` gives a CronWorkflow that Argo
//! Workflows v4 accepts, checked offline: against Argo's published JSON
//! schema (strict: no unknown key) and through hera's model of it (a round
//! trip that loses or changes nothing). No cluster runs it here.

mod common;
use common::*;

fn export(yaml: &str, dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let out = dir.join("wf.yaml");
    let status = chime()
        .args(["export", "argo"])
        .arg(root().join(yaml))
        .args(["--image", "registry.example/chime/trial:1", "-o"])
        .arg(&out)
        .status()
        .expect("chime export argo");
    assert!(status.success());
    let text = std::fs::read_to_string(&out).expect("the manifest");
    (out, text)
}

fn check(manifest: &std::path::Path) {
    let venv = python_tool(
        "argo-check-hera-7.1.0",
        "hera==7.1.0 jsonschema==4.26.0 PyYAML==6.0.4",
    );
    succeeds(
        std::process::Command::new(venv.join("bin/python"))
            .arg(root().join("tests/schemas/check_argo.py"))
            .arg(manifest),
    );
}

#[test]
fn the_exported_cron_workflow_is_valid_argo_and_maps_every_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, text) = export("tests/e2e/airflow_trial.yaml", dir.path());
    check(&path);
    // v4: a list of schedules, and the zone.
    assert!(
        text.contains("  schedules:\n    - \"30 6 * * *\"\n  timezone: \"Europe/Paris\""),
        "{text}"
    );
    // Each trigger rule as a `depends` expression over its upstream steps.
    for expected in [
        "depends: \"per-region.Succeeded\"",
        "depends: \"(per-region.Succeeded) && (flaky.Succeeded)\"",
        "depends: \"check.Failed || check.Errored || check.Omitted\"",
        "depends: \"(flaky.Failed || flaky.Errored) || (check.Failed || check.Errored)\"",
        "depends: \"(flaky.Succeeded) || (check.Succeeded)\"",
        "depends: \"(flaky.Succeeded || flaky.Skipped) && (check.Succeeded || check.Skipped)\"",
        "withItems:\n                - \"per_region[kr]\"\n                - \"per_region[jp]\"",
        "retryStrategy:\n          limit: \"1\"\n          retryPolicy: Always\n          backoff:\n            duration: \"1s\"",
        "- \"{{=asInt(retries) + 1}}\"",
        "onExit: exit-handler",
        "concurrencyPolicy: Forbid",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    // The same YAML gives the same bytes.
    let (_, again) = export("tests/e2e/airflow_trial.yaml", dir.path());
    assert_eq!(text, again);
}

/// Issue 17: the seven rules added to Airflow's first six, each as a
/// `depends` Argo's schema takes; `always` waits for nothing.
#[test]
fn the_newer_trigger_rules_map_to_depends() {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = dir.path().join("p.yaml");
    let mut text =
        String::from("pipeline: rules\ntasks:\n  a: { operator: noop }\n  b: { operator: noop }\n");
    for rule in [
        "all_done_setup_success",
        "one_done",
        "none_failed_min_one_success",
        "none_skipped",
        "all_skipped",
        "all_done_min_one_success",
        "always",
    ] {
        text +=
            &format!("  {rule}: {{ operator: noop, depends_on: [a, b], trigger_rule: {rule} }}\n");
    }
    std::fs::write(&yaml, text).expect("write");
    let (path, text) = export(yaml.to_str().unwrap(), dir.path());
    check(&path);
    let any = "(a.Succeeded) || (b.Succeeded)";
    let finished =
        "(a.Succeeded || a.Failed || a.Errored) && (b.Succeeded || b.Failed || b.Errored)";
    for (step, depends) in [
        ("all-done-setup-success", "(a.Succeeded || a.Failed || a.Errored || a.Skipped || a.Omitted) && (b.Succeeded || b.Failed || b.Errored || b.Skipped || b.Omitted)".to_string()),
        ("one-done", "(a.Succeeded || a.Failed || a.Errored) || (b.Succeeded || b.Failed || b.Errored)".to_string()),
        ("none-failed-min-one-success", format!("((a.Succeeded || a.Skipped) && (b.Succeeded || b.Skipped)) && ({any})")),
        ("none-skipped", finished.to_string()),
        ("all-skipped", "(a.Skipped || a.Omitted) && (b.Skipped || b.Omitted)".to_string()),
        ("all-done-min-one-success", format!("({finished}) && ({any})")),
    ] {
        let expected = format!("- name: {step}\n              template: {step}\n              depends: {depends:?}\n");
        assert!(text.contains(&expected), "missing {expected}:\n{text}");
    }
    assert!(
        text.contains("- name: always\n              template: always\n              arguments:"),
        "always has no depends:\n{text}"
    );
}

/// `timeout:` is the workflow's `activeDeadlineSeconds`.
#[test]
fn the_run_timeout_is_the_workflow_deadline() {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = dir.path().join("p.yaml");
    std::fs::write(
        &yaml,
        "pipeline: bounded\nschedule: \"0 2 * * *\"\nstart_date: 2026-01-01\ntimeout: 1h30m\ntasks:\n  a: { operator: noop }\n",
    )
    .expect("write");
    let (path, text) = export(yaml.to_str().unwrap(), dir.path());
    check(&path);
    assert!(text.contains("    activeDeadlineSeconds: 5400\n"), "{text}");
}

#[test]
fn every_example_exports_to_valid_argo() {
    for example in [
        "daily_report",
        "demand_forecast",
        "image_classify",
        "sentiment",
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let yaml = format!("examples/{example}/pipeline.yaml");
        let (path, _) = export(&yaml, dir.path());
        check(&path);
    }
}

/// Issue 17: a task with `when:` gets a step before it that evaluates it
/// (`task ID --condition`), and Argo's `when` on that step's output skips
/// the task's own; a dynamic `for_each` gets a step that makes the
/// instances, and the task's step runs over its output (`withParam`).
#[test]
fn when_and_a_dynamic_for_each_run_behind_a_step_of_their_own() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, text) = export("tests/e2e/branch.yaml", dir.path());
    check(&path);
    for expected in [
        "- name: when-publish\n              template: when-publish\n              depends: \"evaluate.Succeeded\"",
        "- name: publish\n              template: publish\n              depends: \"when-publish.Succeeded\"\n              when: \"{{tasks.when-publish.outputs.parameters.output}} == true\"",
        "- \"--engine\"\n            - \"--condition\"\n",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    let (path, text) = export("tests/e2e/fanout.yaml", dir.path());
    check(&path);
    for expected in [
        "- name: expand-per-store\n              template: expand-per-store\n              depends: \"list-stores.Succeeded\"",
        "- name: per-store\n              template: per-store\n              depends: \"expand-per-store.Succeeded\"\n              withParam: \"{{tasks.expand-per-store.outputs.parameters.output}}\"",
        "- name: report\n              template: report\n              depends: \"per-store.Succeeded\"",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
}

#[test]
fn what_argo_cannot_run_is_refused_at_export() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        (
            "pipeline: last_day\nschedule: \"0 0 L * *\"\nstart_date: 2026-01-01\ntasks:\n  a: { operator: noop }\n",
            "uses `L`, `W` or `#`",
        ),
        (
            "pipeline: odd_param\nparams:\n  \"out dir\": x\ntasks:\n  a: { operator: noop }\n",
            "param `out dir`",
        ),
        (
            "pipeline: fan\ntasks:\n  a: { operator: noop }\n  b: { operator: noop, depends_on: [a], for_each: \"{{ tasks.a.output }}\", when: \"{{ item > 1 }}\" }\n",
            "task `b` has a dynamic for_each with `when:` on its instances",
        ),
    ];
    for (yaml, expected) in cases {
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, yaml).expect("write");
        let out = chime()
            .args(["export", "argo"])
            .arg(&path)
            .args(["--image", "x", "-o"])
            .arg(dir.path().join("wf.yaml"))
            .output()
            .expect("chime export argo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!dir.path().join("wf.yaml").exists(), "nothing written");
    }
}
