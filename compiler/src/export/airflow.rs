//! `chime export airflow`: an Airflow 3 DAG file. One Airflow task per
//! chime task (a `for_each` task is a TaskGroup of its instances), each
//! running one attempt of the pipeline's binary: `task ID --engine
//! --attempt {{ ti.try_number }} --interval-start ... --interval-end ...`.
//! Airflow owns the schedule (a CronDataIntervalTimetable: data intervals
//! as chime's), retries and trigger rules; the tasks share their state and
//! outputs in PostgreSQL; `on_failure` becomes a watcher task. A dynamic
//! `for_each` is Airflow's dynamic task mapping: a task makes the
//! instances and pushes their ids, and a mapped task `.expand()`s over
//! them, one task instance per chime instance.

use std::collections::BTreeSet;

use runtime::vocabulary::{Backoff, TriggerRule};

use super::{jinja_literal, py_literal, py_name, py_str, py_timedelta, unique_name};
use crate::ir::{Ir, Task};

pub use super::airflow_head::{Target, k8s_name};
use super::airflow_head::{header, preamble};

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
    /// For a dynamic `for_each`, the task before it that makes its
    /// instances (its variable and task id); the node itself is then the
    /// mapped task.
    expander: Option<(String, String)>,
}

/// The DAG file for `ir`, exported from `source` (the YAML path, for the
/// header).
pub fn render(ir: &Ir, source: &str, target: &Target) -> String {
    let mut out = String::new();
    header(&mut out, ir, source, target);
    preamble(&mut out, ir, target);
    out += "\n";
    dag(&mut out, ir, target, ir.schedule.is_some());
    out
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
        // Named after the task, an id of its own beside the others.
        let expander = task.expand.is_some().then(|| {
            let name = format!("expand_{}", task.id);
            (
                py_name(&name, &mut vars),
                unique_name(&name, airflow_char, '_', &mut ids),
            )
        });
        if instance && !groups.iter().any(|(g, _)| g == &task.group) {
            let gvar = py_name(&task.group, &mut vars);
            unique_name(&task.group, airflow_char, '_', &mut ids);
            groups.push((task.group.clone(), gvar));
        }
        nodes.push(Node {
            task,
            var,
            task_id,
            expander,
        });
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
        // A mapped task's upstream is the task that makes its instances.
        let first = node.expander.as_ref().map_or(&node.var, |(var, _)| var);
        match ups.len() {
            0 => {}
            1 => edges += &format!("    {} >> {}\n", ups[0], first),
            _ => edges += &format!("    [{}] >> {}\n", ups.join(", "), first),
        }
        if let Some((var, _)) = &node.expander {
            edges += &format!("    {var} >> {}\n", node.var);
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
    if let Some((var, task_id)) = &node.expander {
        expander(out, ir, task, var, task_id, target, indent);
    }
    // A dynamic `for_each`: the instances' task is mapped over the ids.
    let mapped = node.expander.is_some();
    let partial = if mapped { ".partial" } else { "" };
    *out += &format!("{i}{} = {}{partial}(\n", node.var, class(target));
    *out += &format!("{i}    task_id={},\n", py_str(&node.task_id));
    if !task.description.is_empty() {
        *out += &format!("{i}    doc={},\n", py_str(task.description.trim()));
    }
    // A mapped task's instance ids come from the task before it.
    call(out, ir, target, &task.id, (!mapped).then_some(&task.id), i);
    if mapped {
        // Each task instance is named by its chime id in Airflow's UI.
        let name = match target {
            Target::Binary { .. } => "{{ task.bash_command.split('\\n')[0][2:] }}",
            Target::Image(_) => "{{ task.env_vars[0].value }}",
        };
        *out += &format!("{i}    map_index_template={},\n", py_str(name));
    }
    // chime's exit status for a task its trigger rule skipped.
    *out += &format!("{i}    skip_on_exit_code=99,\n");
    if let Some((pool, _)) = &task.pool {
        *out += &format!("{i}    pool={},\n", py_str(pool));
    }
    // A mapped task's rule was applied to the task that made it.
    if !mapped {
        rule(out, task, i);
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
    match (&node.expander, target) {
        (None, _) => *out += &format!("{i})\n"),
        (Some((var, _)), Target::Binary { .. }) => {
            *out += &format!("{i}).expand(bash_command={var}.output.map(instance_command))\n");
        }
        (Some((var, _)), Target::Image(_)) => {
            *out += &format!("{i}).expand(env_vars={var}.output.map(instance_env))\n");
        }
    }
}

/// The operator's class for `target`.
fn class(target: &Target) -> &'static str {
    match target {
        Target::Binary { .. } => "BashOperator",
        Target::Image(_) => "KubernetesPodOperator",
    }
}

/// The arguments that make an operator call the binary's `task` for
/// chime task `id` (`None`: a mapped task's instance, named by the id its
/// mapping gives), in a pod named after Airflow task `airflow_id`.
fn call(
    out: &mut String,
    ir: &Ir,
    target: &Target,
    airflow_id: &str,
    id: Option<&String>,
    i: &str,
) {
    match target {
        Target::Binary { .. } => {
            match id {
                Some(id) => {
                    *out += &format!("{i}    bash_command=COMMAND,\n");
                    *out += &format!(
                        "{i}    env={{**ENV, \"CHIME_TASK\": {}}},\n",
                        py_str(&jinja_literal(id))
                    );
                }
                None => *out += &format!("{i}    env=ENV,\n"),
            }
            *out += &format!("{i}    append_env=True,\n");
            *out += &format!("{i}    cwd=WORKDIR,\n");
            // The output line is JSON: XCom holds it as data.
            *out += &format!("{i}    output_processor=json.loads,\n");
        }
        Target::Image(_) => {
            let id = id.map_or_else(|| "$(CHIME_TASK)".to_string(), |id| jinja_literal(id));
            *out += &format!(
                "{i}    name={},\n",
                py_str(&k8s_name(&format!("{}-{airflow_id}", ir.name)))
            );
            *out += &format!("{i}    image=IMAGE,\n");
            *out += &format!("{i}    cmds=[{}],\n", py_str(&format!("/app/{}", ir.name)));
            *out += &format!("{i}    arguments=[\"task\", {}, *ARGS],\n", py_str(&id));
            *out += &format!("{i}    secrets=[STATE],\n");
            *out += &format!("{i}    do_xcom_push=True,\n");
        }
    }
}

/// The task's trigger rule, unless Airflow's default.
fn rule(out: &mut String, task: &Task, i: &str) {
    if task.trigger_rule != TriggerRule::AllSuccess {
        *out += &format!(
            "{i}    trigger_rule={},\n",
            py_str(task.trigger_rule.as_str())
        );
    }
}

/// The task that makes the instances of `task`, a dynamic `for_each`,
/// when its trigger rule says, and pushes their ids for the mapped task.
/// It is not retried: its list is the upstreams' outputs, which a retry
/// would read again unchanged.
fn expander(
    out: &mut String,
    ir: &Ir,
    task: &Task,
    var: &str,
    task_id: &str,
    target: &Target,
    i: &str,
) {
    *out += &format!(
        "{i}# {}, a dynamic for_each: this task makes its instances and pushes\n",
        task.id
    );
    *out += &format!("{i}# their ids; the mapped task after it runs one task instance per id.\n");
    *out += &format!("{i}{var} = {}(\n", class(target));
    *out += &format!("{i}    task_id={},\n", py_str(task_id));
    call(out, ir, target, task_id, Some(&task.id), i);
    *out += &format!("{i}    skip_on_exit_code=99,\n");
    rule(out, task, i);
    *out += &format!("{i}    retries=0,\n");
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
    let mut ups = upstream_names(ir, nodes, groups, &all);
    for node in nodes {
        if let Some((var, _)) = &node.expander
            && let Some(at) = ups.iter().position(|u| u == &node.var)
        {
            ups.insert(at, var.clone());
        }
    }
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
