//! `run` (one run now, or resumed) and `task` (one task of a run, for
//! external orchestrators).

use std::process::ExitCode;

use chrono::Utc;

use super::error::{CliError, CliResult};
use crate::claim;
use crate::compiled::PipelineDef;
use crate::executor::RunOutcome;
use crate::operators::registry::Registered;
use crate::runs::{self, Runs};
use crate::scheduler::{Clock, Interval, Schedule, When, day_start, parse_when};
use crate::state::{RunState, TaskState};
use crate::store::sqlite::SqliteStore;
use crate::store::{RunRecord, Store};
use crate::vocabulary::RunKind;

/// `run [--date D] [--param K=V]... [--quiet]`.
pub fn run(
    runs: &Runs,
    ops: &[Registered],
    date: Option<&str>,
    overrides: &[String],
    echo: bool,
    clock: &dyn Clock,
) -> CliResult {
    execute(runs, ops, date, overrides, None, echo, clock)
}

/// `task ID [--date D] [--param K=V]...`: its exit code is the task's,
/// whatever the rest of the run.
pub fn task(
    runs: &Runs,
    ops: &[Registered],
    id: &str,
    date: Option<&str>,
    overrides: &[String],
    clock: &dyn Clock,
) -> CliResult {
    let def = runs.def;
    let Some(t) = def.tasks.iter().position(|t| t.id == id) else {
        return Err(CliError::NoTask {
            task: id.to_string(),
            pipeline: def.name,
        });
    };
    execute(runs, ops, date, overrides, Some(vec![t]), true, clock)
}

/// The logical date of a manual run and its data interval.
///
/// A plain date (`2026-11-24`) names the run of that day: the first
/// interval of the schedule that starts on that local day, as the
/// scheduler would have run it (02:30 to 02:30 for `30 2 * * *`, not a
/// partial 00:00 to 02:30). A date on which the schedule does not fire is
/// refused. An RFC 3339 date-time starts the interval exactly there.
/// Without `--date`: the latest interval that has ended. A pipeline
/// without a schedule runs the instant given (midnight for a date, today
/// by default).
fn interval(
    def: &PipelineDef,
    date: Option<&str>,
    clock: &dyn Clock,
) -> Result<Interval, CliError> {
    // The compiler checked the name (E031).
    let tz: chrono_tz::Tz = def.timezone.parse().unwrap_or(chrono_tz::UTC);
    let now = clock.now();
    let when = match date {
        None => When::Day(now.with_timezone(&tz).date_naive()),
        Some(text) => parse_when(text).ok_or_else(|| CliError::BadDate(text.to_string()))?,
    };
    // Manual runs may lie outside start_date..end_date.
    let schedule = match def.schedule {
        Some(expr) => Some(Schedule::new(expr, tz, None, None)?),
        None => None,
    };
    let local = |i: Interval| Interval {
        start: i.start.with_timezone(&tz),
        end: i.end.with_timezone(&tz),
    };
    if let (None, Some(s)) = (date, &schedule) {
        // No --date: the latest interval that has ended, the one the
        // scheduler ran last (Airflow's manual trigger).
        let i = s
            .latest_ended(now)
            .ok_or(CliError::NothingEnded(def.schedule.unwrap_or("")))?;
        return Ok(local(i));
    }
    let no_start = |day| CliError::NoDayStart { day, tz };
    match (when, schedule) {
        (When::Instant(t), s) => {
            let start = t.with_timezone(&tz);
            let end = s
                .and_then(|s| s.fire_after(t))
                .map_or(start, |e| e.with_timezone(&tz));
            Ok(Interval { start, end })
        }
        (When::Day(d), None) => {
            let start = day_start(tz, d).ok_or_else(|| no_start(d))?;
            Ok(Interval { start, end: start })
        }
        (When::Day(d), Some(s)) => {
            let from = day_start(tz, d).ok_or_else(|| no_start(d))?;
            let next_day = d
                .succ_opt()
                .and_then(|n| day_start(tz, n))
                .ok_or_else(|| CliError::NoDayAfter(d.to_string()))?;
            match s.intervals_from(from.with_timezone(&Utc)).next() {
                Some(i) if i.start < next_day => Ok(local(i)),
                next => Err(CliError::NoRunOn {
                    schedule: def.schedule.unwrap_or(""),
                    day: d,
                    next: next.map(|i| i.start.format("%Y-%m-%d %H:%M %Z").to_string()),
                }),
            }
        }
    }
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
    store: &mut SqliteStore,
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

/// A manual run of the date (`run`), or `only` some of its tasks (`task`).
fn execute(
    runs: &Runs,
    ops: &[Registered],
    date: Option<&str>,
    overrides: &[String],
    only: Option<Vec<usize>>,
    echo: bool,
    clock: &dyn Clock,
) -> CliResult {
    let def = runs.def;
    let interval = interval(def, date, clock)?;
    let mut params = parse_params(def, overrides)?;
    let mut store = runs.open()?;
    let logical = interval.start.to_rfc3339();
    // One process executes a date at a time (held until this returns).
    let doing = claim::doing();
    let _claim = match &only {
        Some(t) => claim::task(runs.state(), &logical, def.tasks[t[0]].id, &doing, clock),
        None => claim::run(runs.state(), &logical, &doing, clock),
    }?;
    // The run of this date, whoever started it (a manual run, the scheduler,
    // a backfill); a new manual run if there is none.
    let (run_id, existing) = runs.find(&store, RunKind::Manual, &logical)?;
    if let Some(existing) = &existing {
        if existing.state == RunState::Success && only.is_none() {
            println!("run {run_id} already succeeded; `clear {run_id}` to run it again");
            return Ok(ExitCode::SUCCESS);
        }
        params = resumed_params(&mut store, existing, params, !overrides.is_empty())?;
        if echo {
            println!("resuming run {run_id} ({})", existing.state);
        }
    }
    let req = runs::request(
        run_id.clone(),
        RunKind::Manual,
        &interval,
        params,
        only.clone(),
    );
    let opts = runs.options(echo, None);
    let started = std::time::Instant::now();
    let outcome = runs::block_on(runs.execute_in(&mut store, ops, req, opts))??;
    let secs = started.elapsed().as_secs_f64();
    Ok(match outcome {
        RunOutcome::Finished(s) if only.is_some() => {
            let ids: Vec<&str> = only.iter().flatten().map(|&t| def.tasks[t].id).collect();
            let records = store.task_records(&run_id)?;
            let ok = ids.iter().all(|id| {
                records.iter().any(|r| {
                    r.task_id == *id && matches!(r.state, TaskState::Success | TaskState::Skipped)
                })
            });
            let verdict = if ok { "succeeded" } else { "did not succeed" };
            println!(
                "task {} of run {run_id} {verdict} in {secs:.2}s (run {s}; `show {run_id}` for details)",
                ids.join(", ")
            );
            ExitCode::from(if ok { 0 } else { 1 })
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
