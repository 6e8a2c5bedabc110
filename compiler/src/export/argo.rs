//! `chime export argo`: an Argo Workflows CronWorkflow (v4: a
//! `schedules:` list and a time zone). The workflow is one DAG template
//! with a step per chime task (a `for_each` task is one step over
//! `withItems`), each a container running one attempt of the pipeline's
//! binary: `task ID --engine --attempt N --fire-time
//! {{workflow.scheduledTime}}`. Argo owns the schedule, the retries
//! (`retryStrategy`) and the trigger rules (each a `depends` expression);
//! the steps share their state and outputs in PostgreSQL; `on_failure` is
//! an exit handler.
//!
//! Two kinds of step run before the step of their task, under its
//! trigger rule: for a task with `when:`, one evaluates it (`task ID
//! --condition`), and Argo's `when` on its output skips the task's step;
//! for a dynamic `for_each`, one makes the instances and outputs their
//! ids, and the task's step runs one item per id (`withParam`).

use std::collections::BTreeSet;

use runtime::vocabulary::{Backoff, TriggerRule};

use super::airflow::k8s_name;
use super::{py_doc, unique_name};
use crate::ir::{Ir, Task};

/// The longest CronWorkflow name Argo takes (its workflows get a suffix).
const MAX_NAME: usize = 52;

/// What Argo cannot run, said before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgoError {
    /// A schedule with `L`, `W` or `#`.
    Cron(String),
    /// A param whose name Argo does not take.
    Param(String),
    /// A dynamic `for_each` with `when:` on its instances (each would need
    /// a step of its own to evaluate it).
    When(String),
}

impl std::fmt::Display for ArgoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgoError::Cron(c) => write!(
                f,
                "the schedule `{c}` uses `L`, `W` or `#`, which Argo's cron does not read; use a schedule Argo reads, or run this pipeline with Airflow or its own scheduler"
            ),
            ArgoError::Param(p) => write!(
                f,
                "param `{p}`: Argo parameter names are letters, digits, `_` and `-`; rename it to export to Argo"
            ),
            ArgoError::When(t) => write!(
                f,
                "task `{t}` has a dynamic for_each with `when:` on its instances, which the Argo export does not map (an Argo step cannot skip itself, and each instance would need a step to evaluate it); gate the whole fan-out on an upstream's `when:`, or export it to Airflow"
            ),
        }
    }
}

/// A YAML scalar for `s`: a double-quoted string (JSON's escapes are
/// YAML's), so no value is read as a number, a boolean or a comment.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A duration for Argo: whole seconds, as `30s`.
fn seconds(ms: u64) -> String {
    format!("{}s", ms.div_ceil(1000))
}

/// A step of the DAG: one chime task, or one `for_each` group.
struct Step<'a> {
    /// The DAG task's name (and its template's).
    name: String,
    /// The chime tasks it runs: one, or a group's instances.
    tasks: Vec<&'a Task>,
    /// Indices in `ir.tasks` of its tasks (none for a gate: downstream
    /// steps wait for the step it gates).
    members: Vec<usize>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A task, or a static `for_each` (`withItems`).
    Task,
    /// Runs before its task's step, under its trigger rule: evaluates its
    /// `when:` (`Condition`) or makes its instances (`Expand`).
    Gate(Gate),
    /// A task's step after its gate (named), which its gate's output
    /// skips (`Condition`) or lists the items of (`Expand`).
    Gated(Gate, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Condition,
    Expand,
}

impl Step<'_> {
    fn first(&self) -> &Task {
        self.tasks[0]
    }

    /// A step of several items: a `for_each`.
    fn is_group(&self) -> bool {
        self.first().item.is_some() || matches!(self.kind, Kind::Gated(Gate::Expand, _))
    }
}

/// The CronWorkflow for `ir`, exported from `source`, running `image`.
pub fn render(ir: &Ir, source: &str, image: &str) -> Result<String, ArgoError> {
    if let Some(cron) = &ir.schedule
        && cron.contains(['L', 'W', '#'])
    {
        return Err(ArgoError::Cron(cron.clone()));
    }
    if let serde_json::Value::Object(params) = &ir.params
        && let Some(bad) = params.keys().find(|k| {
            k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    {
        return Err(ArgoError::Param(bad.clone()));
    }
    if let Some(t) = ir
        .tasks
        .iter()
        .find(|t| t.when.is_some() && t.expand.is_some())
    {
        return Err(ArgoError::When(t.id.clone()));
    }
    let mut name = k8s_name(&ir.name);
    name.truncate(MAX_NAME);
    let name = name.trim_end_matches('-').to_string();
    let steps = steps(ir);
    let mut out = String::new();
    out += &format!(
        "# Generated by `chime export argo {}` (chime {}).\n",
        py_doc(source),
        env!("CARGO_PKG_VERSION")
    );
    out += "#\n";
    out += "# An Argo Workflows CronWorkflow whose steps each run one attempt of a\n";
    out += &format!(
        "# task of the pipeline's binary (/app/{} in the image).\n",
        ir.name
    );
    out += "# Argo owns the schedule, the retries and the trigger rules (`depends`);\n";
    out += "# the steps share their state and outputs in PostgreSQL: CHIME_STATE\n";
    out += &format!("# comes from the secret `{name}-state` (key `url`).\n");
    out += "# Do not edit: change the pipeline and export again (docs/scale-out.md).\n";
    let pools = super::pools(ir);
    if !pools.is_empty() {
        out += "# Pools are semaphores over the ConfigMap `chime-pools`, shared by\n";
        out += "# every workflow of the namespace; before the first run, make it (once)\n";
        out += "# and set this pipeline's pools in it:\n";
        let data: Vec<String> = pools
            .iter()
            .map(|(name, size)| format!("\"{name}\": \"{size}\""))
            .collect();
        out += "#   kubectl create configmap chime-pools\n";
        out += &format!(
            "#   kubectl patch configmap chime-pools --type merge -p '{{\"data\": {{{}}}}}'\n",
            data.join(", ")
        );
    }
    out += "apiVersion: argoproj.io/v1alpha1\n";
    out += "kind: CronWorkflow\n";
    out += "metadata:\n";
    out += &format!("  name: {}\n", q(&name));
    out += "spec:\n";
    out += "  schedules:\n";
    // A pipeline without a schedule still needs one here: suspended.
    out += &format!(
        "    - {}\n",
        q(ir.schedule.as_deref().unwrap_or("0 0 * * *"))
    );
    if ir.schedule.is_none() {
        out += "  # The pipeline has no schedule: submit runs by hand\n";
        out += &format!("  # (argo submit --from cronwf/{name}).\n");
        out += "  suspend: true\n";
    }
    out += &format!("  timezone: {}\n", q(&ir.timezone));
    // max_active_runs: one run at a time forbids a second.
    let policy = if ir.max_active_runs <= 1 {
        "Forbid"
    } else {
        "Allow"
    };
    out += &format!("  concurrencyPolicy: {policy}\n");
    out += "  workflowSpec:\n";
    out += "    entrypoint: main\n";
    if !ir.on_failure.is_empty() {
        out += "    onExit: exit-handler\n";
    }
    if let Some(m) = ir.max_active_tasks {
        out += &format!("    parallelism: {m}\n");
    }
    // `timeout:`: the workflow fails past it, its running pods stopped.
    if let Some(ms) = ir.timeout_ms {
        out += &format!("    activeDeadlineSeconds: {}\n", ms.div_ceil(1000));
    }
    if let serde_json::Value::Object(params) = &ir.params
        && !params.is_empty()
    {
        out += "    arguments:\n";
        out += "      parameters:\n";
        for (k, v) in params {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out += &format!("        - name: {}\n", q(k));
            out += &format!("          value: {}\n", q(&text));
        }
    }
    out += "    templates:\n";
    out += "      - name: main\n";
    out += "        dag:\n";
    out += "          # Every step runs when its rule says, whatever failed before it.\n";
    out += "          failFast: false\n";
    out += "          tasks:\n";
    for step in &steps {
        dag_task(&mut out, &steps, step);
    }
    for step in &steps {
        template(&mut out, ir, step, image);
    }
    if !ir.on_failure.is_empty() {
        exit_handler(&mut out, ir, image);
    }
    Ok(out)
}

/// The steps: each task alone, each `for_each` group as one step.
fn steps(ir: &Ir) -> Vec<Step<'_>> {
    let mut used = BTreeSet::from([
        "main".to_string(),
        "exit-handler".to_string(),
        "on-failure".to_string(),
    ]);
    let mut out: Vec<Step<'_>> = Vec::new();
    for (i, task) in ir.tasks.iter().enumerate() {
        if task.item.is_some()
            && let Some(step) = out
                .iter_mut()
                .find(|s| s.is_group() && s.first().group == task.group)
        {
            step.tasks.push(task);
            step.members.push(i);
            continue;
        }
        let base = if task.item.is_some() {
            &task.group
        } else {
            &task.id
        };
        let mut name = |base: &str| {
            let lower = base.to_ascii_lowercase().replace('_', "-");
            unique_name(
                &lower,
                |c| c.is_ascii_alphanumeric() || c == '-',
                '-',
                &mut used,
            )
        };
        let gate = match (&task.expand, &task.when) {
            (Some(_), _) => Some((Gate::Expand, "expand")),
            (None, Some(_)) => Some((Gate::Condition, "when")),
            (None, None) => None,
        };
        let mut kind = Kind::Task;
        if let Some((gate, prefix)) = gate {
            let gate_name = name(&format!("{prefix}-{base}"));
            kind = Kind::Gated(gate, gate_name.clone());
            out.push(Step {
                name: gate_name,
                tasks: vec![task],
                members: Vec::new(),
                kind: Kind::Gate(gate),
            });
        }
        out.push(Step {
            name: name(base),
            tasks: vec![task],
            members: vec![i],
            kind,
        });
    }
    out
}

/// The `depends` expression of a step: its trigger rule over its upstream
/// steps' outcomes. A step that Argo did not run (its own rule was not
/// met) is `Omitted`, which counts as chime's `upstream_failed` or
/// `skipped`.
fn depends(steps: &[Step<'_>], step: &Step<'_>) -> Option<String> {
    // The task's rule was applied to its gate.
    if let Kind::Gated(_, gate) = &step.kind {
        return Some(format!("{gate}.Succeeded"));
    }
    let mut ups: Vec<&Step<'_>> = Vec::new();
    for &u in &step.first().upstream {
        let s = steps
            .iter()
            .find(|s| s.members.contains(&u))
            .expect("every task is in a step");
        if !ups.iter().any(|x| x.name == s.name) {
            ups.push(s);
        }
    }
    if ups.is_empty() {
        return None;
    }
    let each = |f: &dyn Fn(&Step<'_>) -> String, join: &str| {
        let parts: Vec<String> = ups.iter().map(|s| f(s)).collect();
        if parts.len() == 1 {
            parts[0].clone()
        } else {
            parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(join)
        }
    };
    // A `for_each` step is Failed when any of its items failed.
    // A dynamic `for_each` whose expansion failed is failed (as chime
    // records it), though Argo omits its step.
    let failed = |s: &Step<'_>| match &s.kind {
        Kind::Gated(Gate::Expand, gate) => {
            format!(
                "{0}.Failed || {0}.Errored || {gate}.Failed || {gate}.Errored",
                s.name
            )
        }
        _ => format!("{0}.Failed || {0}.Errored", s.name),
    };
    let succeeded_or_skipped = |s: &Step<'_>| format!("{0}.Succeeded || {0}.Skipped", s.name);
    let any_succeeded = |s: &Step<'_>| {
        if s.is_group() {
            format!("{}.AnySucceeded", s.name)
        } else {
            format!("{}.Succeeded", s.name)
        }
    };
    let expr = match step.first().trigger_rule {
        TriggerRule::AllSuccess => each(&|s| format!("{}.Succeeded", s.name), " && "),
        TriggerRule::AllFailed => each(
            &|s| {
                if s.is_group() {
                    format!("{0}.AllFailed || {0}.Errored || {0}.Omitted", s.name)
                } else {
                    format!("{0}.Failed || {0}.Errored || {0}.Omitted", s.name)
                }
            },
            " && ",
        ),
        TriggerRule::AllDone | TriggerRule::AllDoneSetupSuccess => each(
            &|s| {
                format!(
                    "{0}.Succeeded || {0}.Failed || {0}.Errored || {0}.Skipped || {0}.Omitted",
                    s.name
                )
            },
            " && ",
        ),
        TriggerRule::OneSuccess => each(&any_succeeded, " || "),
        TriggerRule::OneFailed => each(&failed, " || "),
        TriggerRule::NoneFailed => each(&succeeded_or_skipped, " && "),
        TriggerRule::OneDone => each(
            &|s| format!("{} || {}", any_succeeded(s), failed(s)),
            " || ",
        ),
        TriggerRule::NoneFailedMinOneSuccess => format!(
            "({}) && ({})",
            each(&succeeded_or_skipped, " && "),
            each(&any_succeeded, " || ")
        ),
        TriggerRule::NoneSkipped => each(
            &|s| format!("{0}.Succeeded || {1}", s.name, failed(s)),
            " && ",
        ),
        TriggerRule::AllSkipped => each(&|s| format!("{0}.Skipped || {0}.Omitted", s.name), " && "),
        TriggerRule::AllDoneMinOneSuccess => format!(
            "({}) && ({})",
            each(
                &|s| format!("{0}.Succeeded || {1}", s.name, failed(s)),
                " && "
            ),
            each(&any_succeeded, " || ")
        ),
        // Airflow's `always` waits for nothing; nor does a step without
        // `depends`.
        TriggerRule::Always => return None,
    };
    Some(expr)
}

fn dag_task(out: &mut String, steps: &[Step<'_>], step: &Step<'_>) {
    *out += &format!("            - name: {}\n", step.name);
    *out += &format!("              template: {}\n", step.name);
    if let Some(d) = depends(steps, step) {
        *out += &format!("              depends: {}\n", q(&d));
    }
    let output = |gate: &str| format!("{{{{tasks.{gate}.outputs.parameters.output}}}}");
    match &step.kind {
        Kind::Gated(Gate::Expand, gate) => {
            *out += &format!("              withParam: {}\n", q(&output(gate)));
        }
        Kind::Gated(Gate::Condition, gate) => {
            *out += &format!(
                "              when: {}\n",
                q(&format!("{} == true", output(gate)))
            );
        }
        _ if step.is_group() => {
            *out += "              withItems:\n";
            for t in &step.tasks {
                *out += &format!("                - {}\n", q(&t.id));
            }
        }
        _ => {}
    }
    *out += "              arguments:\n";
    *out += "                parameters:\n";
    *out += "                  - name: task\n";
    let value = if step.is_group() {
        "{{item}}".to_string()
    } else {
        step.first().id.clone()
    };
    *out += &format!("                    value: {}\n", q(&value));
}

/// The container of a step's template (and of the exit handler's).
fn container(out: &mut String, ir: &Ir, image: &str, args: &[String]) {
    *out += "        container:\n";
    *out += &format!("          image: {}\n", q(image));
    *out += &format!("          command: [{}]\n", q(&format!("/app/{}", ir.name)));
    *out += "          args:\n";
    for a in args {
        *out += &format!("            - {}\n", q(a));
    }
    *out += "          env:\n";
    *out += "            - name: CHIME_STATE\n";
    *out += "              valueFrom:\n";
    *out += "                secretKeyRef:\n";
    *out += &format!(
        "                  name: {}\n",
        q(&format!("{}-state", k8s_name(&ir.name)))
    );
    *out += "                  key: url\n";
}

/// The run's arguments: which run (the interval), and the params.
fn run_args(ir: &Ir) -> Vec<String> {
    let mut args: Vec<String> = if ir.schedule.is_some() {
        // The latest interval ended by the fire time (by the submission
        // time for `argo submit --from cronwf/...`).
        vec!["--fire-time".into(), "{{workflow.scheduledTime}}".into()]
    } else {
        // No schedule, no interval: the run of the workflow's creation.
        let t = "{{workflow.creationTimestamp.RFC3339}}".to_string();
        vec![
            "--interval-start".into(),
            t.clone(),
            "--interval-end".into(),
            t,
        ]
    };
    if let serde_json::Value::Object(params) = &ir.params {
        for (k, v) in params {
            args.push("--param".into());
            // Argo's parameters are text, and `--param` reads JSON: a
            // string param goes as a JSON string, so "7" stays a string.
            args.push(if v.is_string() {
                format!("{k}={{{{=toJson(workflow.parameters['{k}'])}}}}")
            } else {
                format!("{k}={{{{workflow.parameters.{k}}}}}")
            });
        }
    }
    args
}

fn template(out: &mut String, ir: &Ir, step: &Step<'_>, image: &str) {
    let task = step.first();
    *out += &format!("      - name: {}\n", step.name);
    *out += "        inputs:\n";
    *out += "          parameters:\n";
    *out += "            - name: task\n";
    let mut args: Vec<String> = ["task", "{{inputs.parameters.task}}", "--engine"]
        .map(String::from)
        .to_vec();
    match step.kind {
        // A gate is one call, not retried: it reads only its upstreams'
        // outputs. Its output: the instances' ids.
        Kind::Gate(Gate::Expand) => args.extend(["--attempt".to_string(), "1".to_string()]),
        // Its output: `true`, or `false` (the task is then recorded as
        // skipped).
        Kind::Gate(Gate::Condition) => args.push("--condition".to_string()),
        _ => {
            limits(out, task);
            // Argo counts retries from 0; chime's attempts from 1.
            let attempt = if task.retries > 0 {
                "{{=asInt(retries) + 1}}"
            } else {
                "1"
            };
            args.extend(["--attempt".to_string(), attempt.to_string()]);
        }
    }
    args.extend(run_args(ir));
    args.extend(["--output-file".to_string(), "/tmp/output.json".to_string()]);
    container(out, ir, image, &args);
    output_parameter(out);
}

/// A task's step's retries, deadline and pool.
fn limits(out: &mut String, task: &Task) {
    if task.retries > 0 {
        *out += "        retryStrategy:\n";
        // Integers or strings (IntOrString); Argo's published schema says
        // strings.
        *out += &format!("          limit: \"{}\"\n", task.retries);
        // A failed attempt, and one whose pod or node was lost.
        *out += "          retryPolicy: Always\n";
        *out += "          backoff:\n";
        *out += &format!(
            "            duration: {}\n",
            q(&seconds(task.retry_delay_ms))
        );
        if task.retry_backoff == Backoff::Exponential {
            *out += "            factor: \"2\"\n";
        }
        if let Some(cap) = task.max_retry_delay_ms {
            *out += &format!("            cap: {}\n", q(&seconds(cap)));
        }
    }
    if let Some(t) = task.timeout_ms {
        *out += &format!("        activeDeadlineSeconds: \"{}\"\n", t.div_ceil(1000));
    }
    if let Some((pool, _)) = &task.pool {
        *out += "        synchronization:\n";
        *out += "          semaphores:\n";
        *out += "            - configMapKeyRef:\n";
        *out += "                name: chime-pools\n";
        *out += &format!("                key: {}\n", q(pool));
    }
}

/// The output parameter of a step: what its `task` call wrote.
fn output_parameter(out: &mut String) {
    *out += "        outputs:\n";
    *out += "          parameters:\n";
    *out += "            - name: output\n";
    *out += "              valueFrom:\n";
    *out += "                path: /tmp/output.json\n";
    *out += "                default: \"null\"\n";
}

/// `on_failure`: run by the exit handler when the workflow did not succeed.
fn exit_handler(out: &mut String, ir: &Ir, image: &str) {
    *out += "      - name: exit-handler\n";
    *out += "        steps:\n";
    *out += "          - - name: on-failure\n";
    *out += "              template: on-failure\n";
    *out += "              when: \"{{workflow.status}} != Succeeded\"\n";
    *out += "      - name: on-failure\n";
    let mut args = vec!["on-failure".to_string()];
    args.extend(run_args(ir).into_iter().take_while(|a| a != "--param"));
    container(out, ir, image, &args);
}
