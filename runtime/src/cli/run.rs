//! `run` (one run now, or resumed) and `task` (one task of a run, for
//! external orchestrators).

use std::path::Path;
use std::process::ExitCode;

use super::error::{CliError, CliResult};
use super::interval::{self, WhichRun};
use crate::claim;
use crate::compiled::PipelineDef;
use crate::executor::{RunOutcome, instance_id, made_instances, made_of};
use crate::operators::registry::Registered;
use crate::runs::{self, Runs};
use crate::scheduler::{Clock, Interval};
use crate::secrets::mask_sealed;
use crate::state::{RunState, TaskState};
use crate::store::{RunRecord, Store, TaskRecord};
use crate::vocabulary::RunKind;

/// The exit status of a `task` call whose task its trigger rule skipped:
/// what Airflow's BashOperator reads as skipped (`skip_on_exit_code`).
pub const SKIPPED_EXIT: u8 = 99;

/// `run [--date D | --fire-time T | --interval-start S --interval-end E |
/// --latest] [--param K=V]... [--quiet]`.
pub fn run(
    runs: &Runs,
    ops: &[Registered],
    which: &WhichRun,
    overrides: &[String],
    echo: bool,
    clock: &dyn Clock,
) -> CliResult {
    execute(runs, ops, which, overrides, None, echo, clock)
}

/// `on-failure [which run]`: the pipeline's `on_failure` actions for a
/// run that exists, with its recorded params and outputs; exits 1, so that
/// an orchestrator's watcher task keeps its run failed.
pub fn on_failure(
    runs: &Runs,
    ops: &[Registered],
    which: &WhichRun,
    clock: &dyn Clock,
) -> CliResult {
    let def = runs.def;
    let interval = interval::resolve(def, which, clock)?;
    let mut store = runs.open()?;
    let logical = interval.start.to_rfc3339();
    let Some(run) = store.run_by_logical(&logical)? else {
        return Err(CliError::NoRunOf {
            logical,
            state: runs.describe(),
        });
    };
    let params = serde_json::from_str(&run.params).map_err(|error| CliError::RecordedParams {
        run_id: run.run_id.clone(),
        error,
    })?;
    let run_id = run.run_id.clone();
    let mut req = runs::resume_request(run, &interval, params);
    req.on_failure_only = true;
    let opts = runs.options(true, None, std::rc::Rc::new(crate::scheduler::SystemClock));
    runs::block_on(runs.execute_in(&mut *store, ops, req, opts))??;
    println!("ran the on_failure actions of run {run_id}");
    Ok(ExitCode::from(1))
}

/// What a `task` call asks beyond its run: for orchestrators.
#[derive(Debug, Clone, Copy)]
pub struct TaskCall<'a> {
    pub id: &'a str,
    /// `--attempt N`: exactly one attempt, numbered by the orchestrator.
    pub attempt: Option<u32>,
    /// `--engine`: the orchestrator applied the trigger rule.
    pub engine: bool,
    /// `--output-file`: where the output JSON goes instead of stdout.
    pub output_file: Option<&'a Path>,
    /// `--condition`: only evaluate the task's `when:`.
    pub condition: bool,
}

/// The task a `task` call runs: task `t` of the pipeline, or (`instance`)
/// one instance of `t`, a dynamic `for_each`, named `t[key]`.
#[derive(Debug, Clone, Copy)]
struct Named<'a> {
    t: usize,
    instance: bool,
    call: TaskCall<'a>,
}

/// `task ID [which run] [--param K=V]... [--attempt N] [--engine]
/// [--output-file PATH]`: its exit code is the task's, whatever the rest
/// of the run (0 success, 1 failed, [`SKIPPED_EXIT`] skipped).
///
/// A dynamic `for_each` task makes its instances; its output is the list
/// of their ids. Under `--engine` that is all it does (the orchestrator
/// runs each instance with `task 'ID[KEY]' --engine`); otherwise its
/// instances run too.
pub fn task(
    runs: &Runs,
    ops: &[Registered],
    call: TaskCall<'_>,
    which: &WhichRun,
    overrides: &[String],
    clock: &dyn Clock,
) -> CliResult {
    let def = runs.def;
    let index = |id: &str| def.tasks.iter().position(|t| t.id == id);
    let (t, instance) = match index(call.id) {
        Some(t) => (Some(t), false),
        None => (def.made_by(call.id).and_then(index), true),
    };
    let Some(t) = t else {
        return Err(CliError::NoTask {
            task: call.id.to_string(),
            pipeline: def.name,
        });
    };
    let named = Named { t, instance, call };
    execute(runs, ops, which, overrides, Some(named), true, clock)
}

fn parse_params(def: &PipelineDef, overrides: &[String]) -> Result<serde_json::Value, CliError> {
    let mut params = runs::default_params(def);
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else {
            return Err(CliError::ParamSyntax(o.clone()));
        };
        if !params.contains_key(k) {
            return Err(CliError::UnknownParam {
                name: k.to_string(),
                known: params.keys().cloned().collect(),
            });
        }
        // A value that parses as JSON keeps its type (7, true); anything else is a string.
        let value =
            serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        params.insert(k.to_string(), value);
    }
    Ok(serde_json::Value::Object(params))
}

/// The params a resumed run continues with: the ones it recorded. A
/// `--param` that changes them is refused while any task of the run has
/// finished with the old ones (their outputs would mix two sets of
/// params); on a run with nothing finished (new, or cleared) the new
/// params replace the recorded ones.
fn resumed_params(
    store: &mut dyn Store,
    existing: &RunRecord,
    given: serde_json::Value,
    overridden: bool,
) -> Result<serde_json::Value, CliError> {
    let recorded: serde_json::Value =
        serde_json::from_str(&existing.params).map_err(|error| CliError::RecordedParams {
            run_id: existing.run_id.clone(),
            error,
        })?;
    if !overridden || given == recorded {
        return Ok(recorded);
    }
    let finished: Vec<String> = store
        .task_records(&existing.run_id)?
        .into_iter()
        .filter(|r| r.state != TaskState::None)
        .map(|r| r.task_id)
        .collect();
    if finished.is_empty() {
        store.set_params(&existing.run_id, &given.to_string())?;
        return Ok(given);
    }
    Err(CliError::ParamsChanged {
        run_id: existing.run_id.clone(),
        recorded,
        given,
        finished,
    })
}

/// A manual run of the date (`run`), or one of its tasks (`task`).
fn execute(
    runs: &Runs,
    ops: &[Registered],
    which: &WhichRun,
    overrides: &[String],
    task: Option<Named<'_>>,
    echo: bool,
    clock: &dyn Clock,
) -> CliResult {
    let def = runs.def;
    let interval = interval::resolve(def, which, clock)?;
    let mut params = parse_params(def, overrides)?;
    let mut store = runs.open()?;
    let logical = interval.start.to_rfc3339();
    // One process executes a date at a time (held until this returns).
    let doing = claim::doing();
    let only = task.map(|n| n.call.id);
    let _claim = store.claim(&logical, only, &doing, clock)?;
    // The run of this date, whoever started it (a manual run, the scheduler,
    // a backfill); a new manual run if there is none.
    let (run_id, existing) = runs.find(&*store, RunKind::Manual, &logical)?;
    if let Some(existing) = &existing {
        if which.exact() {
            same_interval(existing, &interval)?;
        }
        // Other params than a succeeded run's are refused, not ignored.
        params = resumed_params(&mut *store, existing, params, !overrides.is_empty())?;
        if existing.state == RunState::Success && task.is_none() {
            println!("run {run_id} already succeeded; `clear {run_id}` to run it again");
            return Ok(ExitCode::SUCCESS);
        }
        if echo {
            println!("resuming run {run_id} ({})", existing.state);
        }
    }
    let mut req = runs::request(
        run_id.clone(),
        RunKind::Manual,
        &interval,
        params,
        task.map(|n| if n.instance { Vec::new() } else { vec![n.t] }),
    );
    if let Some(named) = task {
        let records = match existing {
            Some(_) => store.task_records(&run_id)?,
            None => Vec::new(),
        };
        if let Some(done) = ready(def, named, &run_id, &records)? {
            return report(def, named, &run_id, done, &records, None);
        }
        req.attempt = attempt_number(named.call.id, named.call.attempt, &records);
        req.engine = named.call.engine;
        req.instance = named.instance.then(|| named.call.id.to_string());
        req.condition_only = named.call.condition;
    }
    let opts = runs.options(echo, None, std::rc::Rc::new(crate::scheduler::SystemClock));
    let started = std::time::Instant::now();
    let outcome = runs::block_on(runs.execute_in(&mut *store, ops, req, opts))??;
    let secs = started.elapsed().as_secs_f64();
    Ok(match outcome {
        RunOutcome::Finished(_) if task.is_some() => {
            let named = task.expect("matched");
            let records = store.task_records(&run_id)?;
            if named.call.condition {
                let state = records.iter().find(|r| r.task_id == named.call.id);
                return condition(named.call, &run_id, state.map(|r| r.state));
            }
            let Some(record) = records.iter().find(|r| r.task_id == named.call.id) else {
                println!(
                    "task {} of run {run_id} did not run: its trigger rule was not decided (`show {run_id}` for details)",
                    named.call.id
                );
                return Ok(ExitCode::from(1));
            };
            return report(def, named, &run_id, record, &records, Some(secs));
        }
        RunOutcome::Finished(RunState::Success) => {
            println!("run {run_id}: success in {secs:.2}s");
            ExitCode::SUCCESS
        }
        RunOutcome::Finished(s) => {
            println!("run {run_id}: {s} in {secs:.2}s (`show {run_id}` for details)");
            ExitCode::from(1)
        }
        RunOutcome::Interrupted(sig) => ExitCode::from(128 + sig as u8),
    })
}

/// A recorded run of the logical date must cover the interval given.
fn same_interval(existing: &RunRecord, interval: &Interval) -> Result<(), CliError> {
    let instant = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let same = instant(&existing.interval_start) == Some(interval.start.fixed_offset())
        && instant(&existing.interval_end) == Some(interval.end.fixed_offset());
    if same {
        return Ok(());
    }
    Err(CliError::IntervalMismatch {
        run_id: existing.run_id.clone(),
        recorded_start: existing.interval_start.clone(),
        recorded_end: existing.interval_end.clone(),
        start: interval.start.to_rfc3339(),
        end: interval.end.to_rfc3339(),
    })
}

/// The number the attempt gets: the orchestrator's `--attempt N`, or, when
/// N is taken already (Argo's `argo retry` counts from 0 again; a clear),
/// the next free one, said on stderr.
fn attempt_number(id: &str, asked: Option<u32>, records: &[TaskRecord]) -> Option<u32> {
    let n = asked?;
    match records.iter().find(|r| r.task_id == id) {
        Some(r) if r.try_number >= n => {
            let next = r.try_number.saturating_add(1);
            eprintln!(
                "attempt {n} of task `{id}` is recorded already ({}); this one is attempt {next}",
                r.state
            );
            Some(next)
        }
        _ => Some(n),
    }
}

/// Whether the named task may run now. `Some(record)`: it must not,
/// because the attempt the orchestrator names already ended in success or
/// a skip (reported again: a duplicate call). Upstreams that are not
/// finished (unless the orchestrator decided, `--engine`) are refused; so
/// is an instance its task has not made.
fn ready<'r>(
    def: &PipelineDef,
    named: Named<'_>,
    run_id: &str,
    records: &'r [TaskRecord],
) -> Result<Option<&'r TaskRecord>, CliError> {
    let task = &def.tasks[named.t];
    let call = named.call;
    let by_id: std::collections::HashMap<&str, &'r TaskRecord> =
        records.iter().map(|r| (r.task_id.as_str(), r)).collect();
    let record = |id: &str| by_id.get(id).copied();
    if named.instance {
        let by = record(task.id);
        let Some(made) = by.and_then(made_of) else {
            return Err(CliError::NotMade {
                task: task.id,
                run_id: run_id.to_string(),
                state: by.map_or(TaskState::None, |r| r.state),
            });
        };
        if !made_instances(&made).any(|(key, _)| instance_id(task.id, key) == call.id) {
            return Err(CliError::NoInstance {
                instance: call.id.to_string(),
                task: task.id,
                run_id: run_id.to_string(),
            });
        }
    }
    if let (Some(n), Some(rec)) = (call.attempt, record(call.id))
        && rec.try_number >= n
        && matches!(rec.state, TaskState::Success | TaskState::Skipped)
    {
        return Ok(Some(rec));
    }
    // `always` waits for nothing (Airflow's meaning).
    if call.engine || task.trigger_rule == crate::compiled::TriggerRule::Always {
        return Ok(None);
    }
    // A dynamic `for_each` upstream is finished when its instances are.
    let mut ids: Vec<String> = Vec::new();
    for &u in task.upstream {
        let up = def.tasks[u].id;
        ids.push(up.to_string());
        if let Some(made) = record(up).and_then(made_of) {
            ids.extend(made_instances(&made).map(|(key, _)| instance_id(up, key)));
        }
    }
    let mut waiting: Vec<String> = ids
        .iter()
        .filter_map(|id| {
            let state = record(id).map_or(TaskState::None, |r| r.state);
            (!state.is_finished()).then(|| format!("{id} ({state})"))
        })
        .collect();
    if waiting.is_empty() {
        return Ok(None);
    }
    const NAMED: usize = 10;
    if waiting.len() > NAMED {
        let more = waiting.len() - NAMED;
        waiting.truncate(NAMED);
        waiting.push(format!("{more} more"));
    }
    Err(CliError::UpstreamsNotDone {
        task: call.id.to_string(),
        run_id: run_id.to_string(),
        waiting,
    })
}

/// What a `task` call prints, and its exit status: a line on how the task
/// ended, then its output JSON (masked: no secret in the clear) as the
/// last line of stdout, which Airflow pushes to XCom, or into
/// `--output-file`. A dynamic `for_each` task's output is the list of its
/// instances' ids, for the orchestrator to run each.
fn report(
    def: &PipelineDef,
    named: Named<'_>,
    run_id: &str,
    record: &TaskRecord,
    records: &[TaskRecord],
    secs: Option<f64>,
) -> CliResult {
    let id = named.call.id;
    let when = match secs {
        Some(s) => format!(" in {s:.2}s"),
        None => format!(" earlier (attempt {} is recorded)", record.try_number),
    };
    let task = &def.tasks[named.t];
    if task.expand.is_some() && !named.instance {
        let engine = named.call.engine;
        let made: Vec<String> = match record.state {
            TaskState::Success => {
                let output = made_of(record).unwrap_or_default();
                made_instances(&output)
                    .map(|(key, _)| instance_id(task.id, key))
                    .collect()
            }
            // Under an orchestrator no rule skips it: its list was empty.
            TaskState::Skipped if engine => Vec::new(),
            _ => return verdict(id, run_id, record, &when, named.call),
        };
        let states: std::collections::HashMap<&str, TaskState> = records
            .iter()
            .map(|r| (r.task_id.as_str(), r.state))
            .collect();
        let unfinished = made
            .iter()
            .filter(|i| {
                let state = states.get(i.as_str());
                !matches!(state, Some(TaskState::Success | TaskState::Skipped))
            })
            .count();
        let code = if engine {
            println!(
                "task {id} of run {run_id} made {} instance(s){when}; the orchestrator runs each (`task '{id}[KEY]' --engine`)",
                made.len()
            );
            0
        } else if unfinished > 0 {
            println!(
                "task {id} of run {run_id} did not succeed{when}: {unfinished} of its {} instance(s) did not (`show {run_id}` for details)",
                made.len()
            );
            return Ok(ExitCode::from(1));
        } else {
            println!(
                "task {id} of run {run_id} succeeded{when}: {} instance(s) (`show {run_id}` for details)",
                made.len()
            );
            0
        };
        let ids = serde_json::to_string(&made).expect("strings");
        write_output(named.call, &ids)?;
        return Ok(ExitCode::from(code));
    }
    verdict(id, run_id, record, &when, named.call)
}

/// What a `task --condition` call prints: whether the task may run (it
/// did not end without running: skipped, or `upstream_failed`), as its
/// output, `true` or `false`.
fn condition(call: TaskCall<'_>, run_id: &str, state: Option<TaskState>) -> CliResult {
    let run = !matches!(state, Some(TaskState::Skipped | TaskState::UpstreamFailed));
    let verdict = if run {
        "may run".to_string()
    } else {
        format!(
            "does not run: it is {} (its trigger rule, or its `when:`)",
            state.unwrap_or(TaskState::None)
        )
    };
    println!("task {} of run {run_id} {verdict}", call.id);
    write_output(call, if run { "true" } else { "false" })?;
    Ok(ExitCode::SUCCESS)
}

/// How task `id` ended, and its output.
fn verdict(
    id: &str,
    run_id: &str,
    record: &TaskRecord,
    when: &str,
    call: TaskCall<'_>,
) -> CliResult {
    let (verdict, code) = match record.state {
        TaskState::Success => ("succeeded", 0),
        TaskState::Skipped => (
            "was skipped (its trigger rule, or its `when:`)",
            SKIPPED_EXIT,
        ),
        _ => ("did not succeed", 1),
    };
    println!(
        "task {id} of run {run_id} {verdict}{when} (state {}; `show {run_id}` for details)",
        record.state
    );
    if code == 1 {
        return Ok(ExitCode::from(1));
    }
    let output = record.output.as_deref().map_or("null".into(), mask_sealed);
    write_output(call, &output)?;
    Ok(ExitCode::from(code))
}

/// A `task` call's output: the last line of stdout, or `--output-file`.
fn write_output(call: TaskCall<'_>, output: &str) -> Result<(), CliError> {
    match call.output_file {
        Some(path) => {
            std::fs::write(path, format!("{output}\n")).map_err(|error| CliError::OutputFile {
                path: path.display().to_string(),
                error,
            })
        }
        None => {
            println!("{output}");
            Ok(())
        }
    }
}
