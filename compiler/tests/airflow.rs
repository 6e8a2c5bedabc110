//! End to end, issue 14: `chime export airflow` run by a real Airflow 3
//! (`airflow dags test`, the pinned version from PyPI) with PostgreSQL
//! state: every task ends in the state the binary's own `run` gives it,
//! outputs pass from task to task (and show as XCom), a failed run fails
//! in Airflow too and runs `on_failure` once.

use std::path::Path;

mod common;
use common::airflow::Airflow;
use common::pg::Postgres;
use common::*;

const DAG: &str = "airflow_trial";
/// 06:30 in Paris on 2026-11-25. Airflow 3 gives a manual run (as `dags
/// test` makes) the latest interval that ended by its logical date: the
/// 24th's, 06:30 to 06:30.
const LOGICAL: &str = "2026-11-25T05:30:00+00:00";

/// chime's `show` states with Airflow's task ids (`per_region[kr]` is
/// `per_region.kr` in its TaskGroup).
fn as_airflow(states: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = states
        .into_iter()
        .map(|(t, s)| (t.replace('[', ".").replace(']', ""), s))
        .collect();
    out.sort();
    out
}

/// A log's lines in order: tasks that run in parallel, or in any order
/// (Airflow's mapped task instances), write theirs in any order.
fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.sort();
    lines
}

/// The binary's own run of the day, in `dir` on SQLite state.
fn own_run(bin: &Path, dir: &Path, params: &[&str]) -> (i32, Vec<(String, String)>) {
    let trial = [("TRIAL_DIR", dir.to_str().expect("utf-8"))];
    let mut args = vec!["run", "--date", "2026-11-24"];
    args.extend_from_slice(params);
    let r = run_env(bin, dir, &args, &trial);
    let id = "manual__2026-11-24T06:30:00+01:00";
    let show = run_env(bin, dir, &["show", id], &trial).stdout;
    (r.code, as_airflow(states(&show)))
}

/// `chime export airflow YAML ARGS... -o DAG`; returns the DAG file.
fn export_to(yaml: &Path, args: &[&std::ffi::OsStr], dag: &Path) -> String {
    succeeds(
        chime()
            .args(["export", "airflow"])
            .arg(yaml)
            .args(args)
            .arg("-o")
            .arg(dag),
    );
    std::fs::read_to_string(dag).expect("the DAG file")
}

/// The DAG file of `tests/e2e/{dag}.yaml`, its tasks run in `workdir`.
fn export(dag: &str, bin: &Path, af: &Airflow, workdir: &Path) -> String {
    let yaml = root().join(format!("tests/e2e/{dag}.yaml"));
    let args = [
        "--binary".as_ref(),
        bin.as_os_str(),
        "--workdir".as_ref(),
        workdir.as_os_str(),
    ];
    export_to(&yaml, &args, &af.dags().join(format!("{dag}.py")))
}

#[test]
fn airflow_runs_the_exported_dag_as_the_binary_runs_the_pipeline() {
    let server = Postgres::start();
    let url = server.db_url("state");
    let bin = build_with(DAG, &["--postgres-state"]);
    for fail in ["no", "yes"] {
        let af = Airflow::new();
        // Tasks hand each other a relative file: one working directory.
        let trial = tempfile::tempdir().expect("tmp");
        let text = export(DAG, &bin, &af, trial.path());
        assert!(
            text.contains("CronDataIntervalTimetable(\"30 6 * * *\", timezone=\"Europe/Paris\")"),
            "{text}"
        );
        let own = tempfile::tempdir().expect("tmp");
        let param = format!("fail={fail}");
        let (code, expected) = own_run(&bin, own.path(), &["--param", &param]);

        let db = format!("state_{fail}");
        let url = if fail == "no" {
            url.clone()
        } else {
            server.db_url(&db)
        };
        let conf = format!("{{\"fail\": \"{fail}\"}}");
        let out = af.test(
            DAG,
            LOGICAL,
            Some(&conf),
            &[
                ("CHIME_STATE", &url),
                ("TRIAL_DIR", trial.path().to_str().expect("utf-8")),
            ],
        );
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        // `airflow dags test` exits 1 when the DAG run fails, as `run` does.
        assert_eq!(out.status.code(), Some(code), "fail={fail}: {log}");
        let mut airflow = af.states(DAG);
        airflow.retain(|(t, _)| t != "on_failure");
        assert_eq!(airflow, expected, "fail={fail}: {log}");
        // The same work: the interval, the retry, outputs across tasks.
        let calls = read(trial.path(), "calls.log");
        assert_eq!(
            sorted(&calls),
            sorted(&read(own.path(), "calls.log")),
            "fail={fail}"
        );
        assert!(
            calls.contains("extract 2026-11-24T06:30:00+01:00 2026-11-25T06:30:00+01:00"),
            "{calls}"
        );
        assert!(calls.contains("report kr,jp from extract"), "{calls}");
        assert_eq!(
            calls.matches("on_failure").count(),
            usize::from(fail == "yes"),
            "{calls}"
        );
        // XCom holds the output as data, not as a string of JSON.
        let xcom = af.xcom(DAG, "extract").unwrap_or_default();
        assert_eq!(xcom, "{\"rows\": 42}", "XCom of extract");
    }
}

/// Issue 17: a branch on an upstream's output (`when:`), its join
/// (`none_failed_min_one_success`) and each of the 13 trigger rules over
/// a skipped, a succeeded and a maybe-failed upstream end in Airflow as
/// in the binary's own run: the branch one way with every upstream
/// succeeding, and the other way with one failing.
#[test]
fn a_branch_and_its_join_end_as_in_airflow() {
    let server = Postgres::start();
    let bin = build_with("branch", &["--postgres-state"]);
    for (n, (accuracy, fail)) in [("0.95", "no"), ("0.5", "yes")].into_iter().enumerate() {
        let af = Airflow::new();
        let trial = tempfile::tempdir().expect("tmp");
        export("branch", &bin, &af, trial.path());
        let own = tempfile::tempdir().expect("tmp");
        let params = [
            "--param",
            &format!("accuracy={accuracy}"),
            "--param",
            &format!("fail={fail}"),
        ];
        let (code, expected) = own_run(&bin, own.path(), &params);
        let conf = format!("{{\"accuracy\": \"{accuracy}\", \"fail\": \"{fail}\"}}");
        let url = server.db_url(&format!("branch_{n}"));
        let out = af.test(
            "branch",
            LOGICAL,
            Some(&conf),
            &[
                ("CHIME_STATE", &url),
                ("TRIAL_DIR", trial.path().to_str().expect("utf-8")),
            ],
        );
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{accuracy} {fail}: {log}");
        assert_eq!(af.states("branch"), expected, "{accuracy} {fail}: {log}");
        // The branch taken did its work, once, in both.
        let taken = if n == 0 {
            "publish announce join"
        } else {
            "hold_back join"
        };
        let want = sorted(&taken.replace(' ', "\n"));
        assert_eq!(sorted(&read(trial.path(), "calls.log")), want, "Airflow");
        assert_eq!(sorted(&read(own.path(), "calls.log")), want, "chime");
    }
}

/// chime's task states as Airflow's dynamic task mapping names them: a
/// dynamic `for_each` task is `expand_ID` (success when it made its
/// instances, or none) and its instances `ID[map index]`, in item order;
/// over an empty list, the mapped task is one skipped task instance.
fn as_mapped(states: Vec<(String, String)>, dynamic: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (task, state) in states {
        if dynamic.contains(&task.as_str()) {
            let made = state != "skipped";
            let expand = if made { state } else { "success".to_string() };
            out.push((format!("expand_{task}"), expand));
            if !made {
                out.push((task, "skipped".to_string()));
            }
        } else if let Some((by, _)) = task.split_once('[') {
            let index = out
                .iter()
                .filter(|(t, _): &&(String, String)| t.starts_with(&format!("{by}[")))
                .count();
            out.push((format!("{by}[{index}]"), state));
        } else {
            out.push((task, state));
        }
    }
    out.sort();
    out
}

/// Issue 17: a dynamic `for_each` runs in Airflow as a mapped task over
/// the ids its task pushes: every instance ends as in the binary's own run
/// (one skipped by its `when`, one failed), the report reads their
/// outputs, and a `for_each` over an empty list skips what follows.
#[test]
fn a_dynamic_for_each_runs_as_airflows_task_mapping() {
    let server = Postgres::start();
    let bin = build_with("fanout_airflow", &["--postgres-state"]);
    let af = Airflow::new();
    let trial = tempfile::tempdir().expect("tmp");
    let text = export("fanout_airflow", &bin, &af, trial.path());
    assert!(
        text.contains(").expand(bash_command=expand_per_store.output.map(instance_command))"),
        "{text}"
    );
    let own = tempfile::tempdir().expect("tmp");
    let trial_dir = [("TRIAL_DIR", own.path().to_str().expect("utf-8"))];
    let r = run_env(
        &bin,
        own.path(),
        &["run", "--date", "2026-11-24"],
        &trial_dir,
    );
    let id = "manual__2026-11-24T06:30:00+01:00";
    let show = run_env(&bin, own.path(), &["show", id], &trial_dir).stdout;
    let expected = as_mapped(states(&show), &["per_store", "per_nothing"]);
    assert_eq!(expected.len(), 12, "{show}");
    let out = af.test(
        "fanout_airflow",
        LOGICAL,
        None,
        &[
            ("CHIME_STATE", &server.db_url("fanout")),
            ("TRIAL_DIR", trial.path().to_str().expect("utf-8")),
        ],
    );
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(r.code), "{log}");
    assert_eq!(
        af.mapped_states("fanout_airflow"),
        expected,
        "{show}\n{log}"
    );
    let calls = read(trial.path(), "calls.log");
    assert_eq!(sorted(&calls), sorted(&read(own.path(), "calls.log")));
    assert!(
        calls.contains("report [{\"sales\": 10}, {\"sales\": 20}, null, null, {\"sales\": 50}]"),
        "{calls}"
    );
    // Airflow's UI names each task instance by its chime id.
    let names: Vec<String> = (1..=5).map(|i| format!("per_store[store_{i}]")).collect();
    assert_eq!(af.map_names("fanout_airflow", "per_store"), names);
    // The ids Airflow mapped over are its XCom.
    let xcom = af
        .xcom("fanout_airflow", "expand_per_store")
        .unwrap_or_default();
    assert!(xcom.starts_with("[\"per_store[store_1]\""), "{xcom}");
}

/// Text from the YAML (a description with quotes and backslashes, odd
/// item labels) gives a DAG file Python reads, whatever it holds.
#[test]
fn odd_text_gives_a_dag_file_python_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = dir.path().join("p.yaml");
    std::fs::write(
        &yaml,
        "pipeline: odd\ndescription: 'ends in \"\"\"\" and C:\\Users\\x'\ntasks:\n  a:\n    operator: noop\n    for_each: [\"{{ x }}\", \"q'uote\"]\n",
    )
    .expect("write");
    let dag = dir.path().join("odd_dag.py");
    let text = export_to(&yaml, &[], &dag);
    succeeds(
        std::process::Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(&dag),
    );
    // The item that looks like a template reaches Airflow as a literal.
    assert!(
        text.contains(r#""CHIME_TASK": "{{ 'a[{{ x }}]' }}""#),
        "{text}"
    );
}

/// `timeout:` is the DAG's `dagrun_timeout`.
#[test]
fn the_run_timeout_is_the_dagrun_timeout() {
    let af = Airflow::new();
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = dir.path().join("p.yaml");
    std::fs::write(
        &yaml,
        "pipeline: bounded\nschedule: \"0 2 * * *\"\nstart_date: 2026-01-01\ntimeout: 1h30m\ntasks:\n  a: { operator: noop }\n",
    )
    .expect("write");
    let dag = af.dags().join("bounded.py");
    export_to(&yaml, &[], &dag);
    assert_eq!(af.load(&dag, "print(dag.dagrun_timeout)"), "1:30:00\n");
}

/// `--image`: KubernetesPodOperator tasks, loaded by Airflow with its
/// Kubernetes provider (no cluster runs them here).
#[test]
fn the_kubernetes_pod_form_loads_in_airflow() {
    let af = Airflow::new();
    let dag = af.dags().join("pods.py");
    let yaml = root().join(format!("tests/e2e/{DAG}.yaml"));
    export_to(
        &yaml,
        &["--image".as_ref(), "registry.example/trial:1".as_ref()],
        &dag,
    );
    let shown = af.load(
        &dag,
        "t = dag.get_task('per_region.kr')\n\
         print(type(t).__name__, t.image, t.cmds, t.arguments[:3], t.skip_on_exit_code, t.do_xcom_push)\n\
         print(sorted(s.deploy_target for s in t.secrets), len(dag.tasks))",
    );
    assert_eq!(
        shown,
        "KubernetesPodOperator registry.example/trial:1 ['/app/airflow_trial'] ['task', 'per_region[kr]', '--engine'] [99] True\n['CHIME_STATE'] 13\n"
    );
    // A dynamic for_each: each mapped pod gets its instance's id in its
    // environment, which Kubernetes puts in its arguments.
    let dag = af.dags().join("fanout.py");
    let yaml = root().join("tests/e2e/fanout_airflow.yaml");
    export_to(
        &yaml,
        &["--image".as_ref(), "registry.example/trial:1".as_ref()],
        &dag,
    );
    // An id is data: one that looks like a template reaches the pod as
    // it is, as Airflow renders a mapped pod's fields.
    let shown = af.load(
        &dag,
        "import jinja2\n\
         t = dag.get_task('per_store')\n\
         print(type(t).__name__, t.partial_kwargs['arguments'][:2], list(t.expand_input.value))\n\
         print([u.task_id for u in t.upstream_list], dag.get_task('expand_per_store').arguments[:2])\n\
         env = m.instance_env('per_store[{{ 6*7 }}]')\n\
         op = t.unmap({'env_vars': env})\n\
         op._do_render_template_fields(op, ['env_vars'], {}, jinja2.Environment(), {id(env)})\n\
         print([(e.name, e.value) for e in op.env_vars])\n\
         print(jinja2.Environment().from_string(t.partial_kwargs['map_index_template']).render(task=op))",
    );
    assert_eq!(
        shown,
        "MappedOperator ['task', '$(CHIME_TASK)'] ['env_vars']\n['expand_per_store'] ['task', 'per_store']\n[('CHIME_TASK', 'per_store[{{ 6*7 }}]')]\nper_store[{{ 6*7 }}]\n"
    );
}
