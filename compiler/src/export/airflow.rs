//! `chime export airflow`: an Airflow 3 DAG file. One Airflow task per
//! chime task (a `for_each` task is a TaskGroup of its instances), each
//! running one attempt of the pipeline's binary: `task ID --engine
//! --attempt {{ ti.try_number }} --interval-start ... --interval-end ...`.
//! Airflow owns the schedule (a CronDataIntervalTimetable: data intervals
//! as chime's), retries and trigger rules; the tasks share their state and
//! outputs in PostgreSQL; `on_failure` becomes a watcher task.

use std::collections::BTreeSet;

use runtime::vocabulary::{Backoff, TriggerRule};

use super::{
    jinja_literal, jinja_str, py_doc, py_literal, py_name, py_str, py_timedelta, unique_name,
};
use crate::ir::{Ir, Task};

/// Where the tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// BashOperator on Airflow's workers, with the binary at `binary`, each
    /// task run in `workdir` (its relative paths and `logs/` resolve
    /// there, as for the binary's own run).
    Binary { binary: String, workdir: String },
    /// KubernetesPodOperator, with the binary at /app/<pipeline> in this image.
    Image(String),
}

/// The task ids Airflow allows: letters, digits, `_`, `-`, `.` (a `.`
/// nests in TaskGroups, so not in a task's own id).
fn airflow_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// An Airflow task of the DAG: its chime task and its names.
struct Node<'a> {
    task: &'a Task,
    /// The Python variable.
    var: String,
    /// Its Airflow task id (within its TaskGroup, for an instance).
    task_id: String,
}

/// The DAG file for `ir`, exported from `source` (the YAML path, for the
/// header).
pub fn render(ir: &Ir, source: &str, target: &Target) -> String {
    let mut out = String::new();
    header(&mut out, ir, source, target);
    let scheduled = ir.schedule.is_some();
    let (interval_start, interval_end) = if scheduled {
        (
            "{{ data_interval_start.isoformat() }}",
            "{{ data_interval_end.isoformat() }}",
        )
    } else {
        // A DAG without a schedule has no data interval: the run's time.
        (
            "{{ (data_interval_start or dag_run.run_after).isoformat() }}",
            "{{ (data_interval_end or dag_run.run_after).isoformat() }}",
        )
    };
    let params: Vec<String> = match &ir.params {
        serde_json::Value::Object(map) => map
            .keys()
            .map(|k| {
                format!(
                    "{}{{{{ params[{}] | tojson }}}}",
                    jinja_literal(&format!("{k}=")),
                    jinja_str(k)
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    match target {
        Target::Binary { .. } => {
            out += "# One attempt of chime task $CHIME_TASK over Airflow's data interval,\n";
            out += "# numbered by Airflow's try; Airflow applied the trigger rule (--engine).\n";
            out += "# Every value reaches the binary through the environment, never as shell\n";
            out += "# code. CHIME_STATE comes from the worker's own environment.\n";
            out += "COMMAND = (\n";
            out += "    '\"$CHIME_BINARY\" task \"$CHIME_TASK\" --engine --attempt \"$CHIME_ATTEMPT\"'\n";
            out += "    ' --interval-start \"$CHIME_INTERVAL_START\" --interval-end \"$CHIME_INTERVAL_END\"'\n";
            for i in 0..params.len() {
                out += &format!("    ' --param \"$CHIME_PARAM_{i}\"'\n");
            }
            out += ")\n";
            out += "ENV = {\n";
            out += "    \"CHIME_BINARY\": BINARY,\n";
            out += "    \"CHIME_ATTEMPT\": \"{{ ti.try_number }}\",\n";
            out += &format!(
                "    \"CHIME_INTERVAL_START\": {},\n",
                py_str(interval_start)
            );
            out += &format!("    \"CHIME_INTERVAL_END\": {},\n", py_str(interval_end));
            for (i, p) in params.iter().enumerate() {
                out += &format!("    \"CHIME_PARAM_{i}\": {},\n", py_str(p));
            }
            out += "}\n";
        }
        Target::Image(_) => {
            out += "# After `task ID`: one attempt over Airflow's data interval, numbered by\n";
            out += "# Airflow's try; Airflow applied the trigger rule (--engine). The output\n";
            out += "# goes where the pod's XCom sidecar reads it.\n";
            out += "INTERVAL = [\n";
            out += "    \"--interval-start\",\n";
            out += &format!("    {},\n", py_str(interval_start));
            out += "    \"--interval-end\",\n";
            out += &format!("    {},\n", py_str(interval_end));
            out += "]\n";
            out += "ARGS = [\n";
            out += "    \"--engine\",\n";
            out += "    \"--attempt\",\n";
            out += "    \"{{ ti.try_number }}\",\n";
            out += "    *INTERVAL,\n";
            for p in &params {
                out += &format!("    \"--param\",\n    {},\n", py_str(p));
            }
            out += "    \"--output-file\",\n";
            out += "    \"/airflow/xcom/return.json\",\n";
            out += "]\n";
        }
    }
    out += "\n";
    dag(&mut out, ir, target, scheduled);
    out
}

fn header(out: &mut String, ir: &Ir, source: &str, target: &Target) {
    let title = if ir.description.is_empty() {
        ir.name.clone()
    } else {
        format!("{}: {}", ir.name, ir.description.trim())
    };
    *out += &format!("\"\"\"{}\n\n", py_doc(&title));
    *out += &format!(
        "Generated by `chime export airflow {}` (chime {}).\n\n",
        py_doc(source),
        env!("CARGO_PKG_VERSION")
    );
    *out += "An Airflow 3 DAG whose tasks each run one attempt of a task of the\n";
    *out += "pipeline's binary. Airflow owns the schedule, retries and trigger rules;\n";
    *out += "the binary does the work; the tasks share their state and outputs in\n";
    *out += "PostgreSQL, so every task needs CHIME_STATE=postgres://... in its\n";
    *out += "environment. Do not edit: change the pipeline and export again\n";
    *out += "(docs/scale-out.md).\n";
    let pools = super::pools(ir);
    if !pools.is_empty() {
        *out += "\nAirflow keeps pools in its database: create the pipeline's before its\n";
        *out += "first run (a task in a missing pool never starts):\n\n";
        for (name, size) in &pools {
            *out += &format!("    airflow pools set {name} {size} \"chime pool\"\n");
        }
    }
    *out += "\"\"\"\n\n";
    *out += "from __future__ import annotations\n\n";
    *out += "import datetime\n";
    if matches!(target, Target::Binary { .. }) {
        *out += "import json\n";
    }
    *out += "\n";
    *out += "import pendulum\n";
    match target {
        Target::Binary { .. } => {
            *out += "from airflow.providers.standard.operators.bash import BashOperator\n";
        }
        Target::Image(_) => {
            *out += "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n";
            *out += "from airflow.providers.cncf.kubernetes.secret import Secret\n";
        }
    }
    *out += "from airflow.sdk import DAG, TaskGroup\n";
    if ir.schedule.is_some() {
        *out += "from airflow.timetables.interval import CronDataIntervalTimetable\n";
    }
    *out += "\n";
    match target {
        Target::Binary { binary, workdir } => {
            *out += "# The pipeline's binary (`chime build --postgres-state`), at this path on\n";
            *out += "# every worker.\n";
            *out += &format!("BINARY = {}\n", py_str(binary));
            *out += "# Where every task runs (not a temporary directory per task): the\n";
            *out += "# pipeline's relative paths and logs/ resolve here, as they do for the\n";
            *out += "# binary's own run. Tasks on different workers share only what this\n";
            *out += "# directory shares (docs/scale-out.md).\n";
            *out += &format!("WORKDIR = {}\n\n", py_str(&jinja_literal(workdir)));
        }
        Target::Image(image) => {
            *out += &format!(
                "# An image with the pipeline's binary (`chime build --postgres-state`) at\n# /app/{}.\n",
                ir.name
            );
            *out += &format!("IMAGE = {}\n", py_str(image));
            *out += &format!(
                "# CHIME_STATE from the Kubernetes secret `{}-state` (key `url`).\n",
                k8s_name(&ir.name)
            );
            *out += &format!(
                "STATE = Secret(\"env\", \"CHIME_STATE\", {}, \"url\")\n\n",
                py_str(&format!("{}-state", k8s_name(&ir.name)))
            );
        }
    }
}

/// A Kubernetes object name: lowercase letters, digits and `-`.
pub fn k8s_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_string()
}

/// A date or RFC 3339 instant as a pendulum datetime in `tz`.
fn py_datetime(text: &str, tz: &str) -> String {
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => {
            use chrono::Datelike;
            format!(
                "pendulum.datetime({}, {}, {}, tz={})",
                d.year(),
                d.month(),
                d.day(),
                py_str(tz)
            )
        }
        Err(_) => format!("pendulum.parse({})", py_str(text)),
    }
}

fn dag(out: &mut String, ir: &Ir, target: &Target, scheduled: bool) {
    *out += "with DAG(\n";
    *out += &format!("    dag_id={},\n", py_str(&ir.name));
    if !ir.description.is_empty() {
        *out += &format!("    description={},\n", py_str(ir.description.trim()));
    }
    match &ir.schedule {
        Some(cron) => {
            *out += &format!(
                "    schedule=CronDataIntervalTimetable({}, timezone={}),\n",
                py_str(cron),
                py_str(&ir.timezone)
            );
        }
        None => *out += "    schedule=None,\n",
    }
    if let Some(start) = &ir.start_date {
        *out += &format!("    start_date={},\n", py_datetime(start, &ir.timezone));
    } else if scheduled {
        *out += "    start_date=None,\n";
    }
    if let Some(end) = &ir.end_date {
        *out += &format!("    end_date={},\n", py_datetime(end, &ir.timezone));
    }
    *out += &format!(
        "    catchup={},\n",
        if ir.catchup { "True" } else { "False" }
    );
    *out += &format!("    max_active_runs={},\n", ir.max_active_runs);
    // `timeout:` is Airflow's own: the run fails, unfinished tasks skip.
    if let Some(ms) = ir.timeout_ms {
        *out += &format!("    dagrun_timeout=datetime.timedelta(milliseconds={ms}),\n");
    }
    if let Some(m) = ir.max_active_tasks {
        *out += &format!("    max_active_tasks={m},\n");
    }
    if matches!(&ir.params, serde_json::Value::Object(m) if !m.is_empty()) {
        *out += &format!("    params={},\n", py_literal(&ir.params));
    }
    *out += "    tags=[\"chime\"],\n";
    *out += ") as dag:\n";

    let mut vars = BTreeSet::new();
    let mut nodes: Vec<Node<'_>> = Vec::new();
    let mut groups: Vec<(String, String)> = Vec::new(); // (group, var)
    let mut ids = BTreeSet::new();
    let mut group_ids: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for task in &ir.tasks {
        let instance = task.item.is_some();
        let task_id = if instance {
            let label =
                crate::ir::item_label(task.item.as_ref().unwrap_or(&serde_json::Value::Null));
            unique_name(
                &label,
                airflow_char,
                '_',
                group_ids.entry(task.group.clone()).or_default(),
            )
        } else {
            unique_name(&task.id, airflow_char, '_', &mut ids)
        };
        let var = py_name(&task.id, &mut vars);
        if instance && !groups.iter().any(|(g, _)| g == &task.group) {
            let gvar = py_name(&task.group, &mut vars);
            unique_name(&task.group, airflow_char, '_', &mut ids);
            groups.push((task.group.clone(), gvar));
        }
        nodes.push(Node { task, var, task_id });
    }
    if nodes.is_empty() {
        *out += "    pass\n";
    }
    let mut open_group: Option<&str> = None;
    for node in &nodes {
        let task = node.task;
        let group = task.item.is_some().then_some(task.group.as_str());
        if group != open_group {
            if open_group.is_some() {
                *out += "\n";
            }
            if let Some(g) = group {
                let gvar = &groups.iter().find(|(n, _)| n == g).expect("registered").1;
                *out += &format!(
                    "\n    with TaskGroup({}) as {gvar}:\n",
                    py_str(&unique_airflow(g))
                );
            }
            open_group = group;
        }
        let indent = if group.is_some() { "        " } else { "    " };
        operator(out, ir, node, target, indent);
    }
    // Dependencies: a whole `for_each` group by its TaskGroup.
    let mut edges = String::new();
    for (t, node) in nodes.iter().enumerate() {
        let ups = upstream_names(ir, &nodes, &groups, &ir.tasks[t].upstream);
        match ups.len() {
            0 => {}
            1 => edges += &format!("    {} >> {}\n", ups[0], node.var),
            _ => edges += &format!("    [{}] >> {}\n", ups.join(", "), node.var),
        }
    }
    if !ir.on_failure.is_empty() {
        watcher(out, ir, &nodes, &groups, target, &mut edges, &ids);
    }
    if !edges.is_empty() {
        *out += "\n";
        *out += &edges;
    }
}

/// A group's TaskGroup id (its task id, with Airflow's characters).
fn unique_airflow(group: &str) -> String {
    group
        .chars()
        .map(|c| if airflow_char(c) { c } else { '_' })
        .collect()
}

/// The variables of `upstream` tasks, a complete `for_each` group as its
/// TaskGroup, in pipeline order without repeats.
fn upstream_names(
    ir: &Ir,
    nodes: &[Node<'_>],
    groups: &[(String, String)],
    upstream: &[usize],
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for &u in upstream {
        let task = &ir.tasks[u];
        let name = match groups.iter().find(|(g, _)| g == &task.group) {
            Some((g, gvar))
                if task.item.is_some()
                    && ir
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.item.is_some() && &t.group == g)
                        .all(|(i, _)| upstream.contains(&i)) =>
            {
                gvar.clone()
            }
            _ => nodes[u].var.clone(),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn operator(out: &mut String, ir: &Ir, node: &Node<'_>, target: &Target, indent: &str) {
    let task = node.task;
    let i = indent;
    match target {
        Target::Binary { .. } => {
            *out += &format!("{i}{} = BashOperator(\n", node.var);
            *out += &format!("{i}    task_id={},\n", py_str(&node.task_id));
            if !task.description.is_empty() {
                *out += &format!("{i}    doc={},\n", py_str(task.description.trim()));
            }
            *out += &format!("{i}    bash_command=COMMAND,\n");
            *out += &format!(
                "{i}    env={{**ENV, \"CHIME_TASK\": {}}},\n",
                py_str(&jinja_literal(&task.id))
            );
            *out += &format!("{i}    append_env=True,\n");
            *out += &format!("{i}    cwd=WORKDIR,\n");
            // The output line is JSON: XCom holds it as data.
            *out += &format!("{i}    output_processor=json.loads,\n");
        }
        Target::Image(_) => {
            *out += &format!("{i}{} = KubernetesPodOperator(\n", node.var);
            *out += &format!("{i}    task_id={},\n", py_str(&node.task_id));
            if !task.description.is_empty() {
                *out += &format!("{i}    doc={},\n", py_str(task.description.trim()));
            }
            *out += &format!(
                "{i}    name={},\n",
                py_str(&k8s_name(&format!("{}-{}", ir.name, task.id)))
            );
            *out += &format!("{i}    image=IMAGE,\n");
            *out += &format!("{i}    cmds=[{}],\n", py_str(&format!("/app/{}", ir.name)));
            *out += &format!(
                "{i}    arguments=[\"task\", {}, *ARGS],\n",
                py_str(&jinja_literal(&task.id))
            );
            *out += &format!("{i}    secrets=[STATE],\n");
            *out += &format!("{i}    do_xcom_push=True,\n");
        }
    }
    // chime's exit status for a task its trigger rule skipped.
    *out += &format!("{i}    skip_on_exit_code=99,\n");
    if let Some((pool, _)) = &task.pool {
        *out += &format!("{i}    pool={},\n", py_str(pool));
    }
    if task.trigger_rule != TriggerRule::AllSuccess {
        *out += &format!(
            "{i}    trigger_rule={},\n",
            py_str(task.trigger_rule.as_str())
        );
    }
    *out += &format!("{i}    retries={},\n", task.retries);
    if task.retries > 0 {
        *out += &format!(
            "{i}    retry_delay={},\n",
            py_timedelta(task.retry_delay_ms)
        );
        if task.retry_backoff == Backoff::Exponential {
            *out += &format!("{i}    retry_exponential_backoff=2.0,\n");
        }
        if let Some(max) = task.max_retry_delay_ms {
            *out += &format!("{i}    max_retry_delay={},\n", py_timedelta(max));
        }
    }
    if let Some(t) = task.timeout_ms {
        *out += &format!("{i}    execution_timeout={},\n", py_timedelta(t));
    }
    *out += &format!("{i})\n");
}

/// The pipeline's `on_failure` actions as a watcher task: downstream of
/// every task, run when one failed (`one_failed`); it fails itself, so the
/// DAG run stays failed (Airflow's watcher pattern).
fn watcher(
    out: &mut String,
    ir: &Ir,
    nodes: &[Node<'_>],
    groups: &[(String, String)],
    target: &Target,
    edges: &mut String,
    ids: &BTreeSet<String>,
) {
    let mut used = ids.clone();
    let task_id = unique_name("on_failure", airflow_char, '_', &mut used);
    *out += "\n    # The pipeline's on_failure actions, run when a task failed; the task then\n";
    *out += "    # fails itself so that the DAG run stays failed.\n";
    match target {
        Target::Binary { .. } => {
            *out += "    on_failure = BashOperator(\n";
            *out += &format!("        task_id={},\n", py_str(&task_id));
            *out += "        bash_command=(\n";
            *out += "            '\"$CHIME_BINARY\" on-failure'\n";
            *out += "            ' --interval-start \"$CHIME_INTERVAL_START\" --interval-end \"$CHIME_INTERVAL_END\"'\n";
            *out += "        ),\n";
            *out += "        env=ENV,\n";
            *out += "        append_env=True,\n";
            *out += "        cwd=WORKDIR,\n";
        }
        Target::Image(_) => {
            *out += "    on_failure = KubernetesPodOperator(\n";
            *out += &format!("        task_id={},\n", py_str(&task_id));
            *out += &format!(
                "        name={},\n",
                py_str(&k8s_name(&format!("{}-on-failure", ir.name)))
            );
            *out += "        image=IMAGE,\n";
            *out += &format!("        cmds=[{}],\n", py_str(&format!("/app/{}", ir.name)));
            *out += "        arguments=[\"on-failure\", *INTERVAL],\n";
            *out += "        secrets=[STATE],\n";
        }
    }
    *out += "        trigger_rule=\"one_failed\",\n";
    // Once per failed run: a retry would run the actions again.
    *out += "        retries=0,\n";
    *out += "    )\n";
    let all: Vec<usize> = (0..ir.tasks.len()).collect();
    let ups = upstream_names(ir, nodes, groups, &all);
    let line = format!("    [{}] >> on_failure\n", ups.join(", "));
    if line.len() <= 89 {
        *edges += &line;
    } else {
        *edges += "    [\n";
        for u in &ups {
            *edges += &format!("        {u},\n");
        }
        *edges += "    ] >> on_failure\n";
    }
}
