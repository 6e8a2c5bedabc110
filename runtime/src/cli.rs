//! The pipeline binary's commands (README.md, "The pipeline binary").

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::DateTime;
use clap::{Parser, Subcommand, ValueEnum};

use crate::claim;
use crate::def::PipelineDef;
use crate::executor::{self, ExecOptions, RunOutcome, RunRequest};
use crate::operators::registry::Registered;
use crate::state::RunState;
use crate::store::sqlite::SqliteStore;
use crate::store::{RunRecord, Store};

#[derive(Debug, Parser)]
#[command(about = None, long_about = None)]
struct Cli {
    /// The state database (default: ./<pipeline>.state.db).
    #[arg(long, global = true, value_name = "PATH")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One run now; exit 0 iff the run succeeded. Resumes the run if it exists.
    Run {
        /// The run of a day (2026-11-24) or an interval starting at an RFC 3339 instant. Default: the latest interval that has ended (today, without a schedule).
        #[arg(long)]
        date: Option<String>,
        /// Override a run parameter (repeatable): --param horizon_days=7.
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// Print only the summary, not each task's start, end and output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run one task of a run (for external orchestrators); its upstreams must be finished.
    Task {
        id: String,
        #[arg(long)]
        date: Option<String>,
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
    },
    /// Fire on the schedule until SIGTERM: catch up, then start each run when its interval ends.
    Scheduler,
    /// Every interval whose logical date is in [--from, --to], in order, max_active_runs at once.
    Backfill {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Which existing runs to run again.
        #[arg(long, value_enum, default_value_t = crate::scheduler_cli::Reprocess::Failed)]
        reprocess: crate::scheduler_cli::Reprocess,
        /// Print the runs it would start, start none.
        #[arg(long)]
        dry_run: bool,
    },
    /// The next fire times and the data intervals they run.
    Next {
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Compute the fire times, print only how many (for benchmarks).
        #[arg(long, hide = true)]
        quiet: bool,
    },
    /// Recent runs and their states.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// A run's tasks: state, attempts, duration, output.
    Show { run_id: String },
    /// A task's log.
    Logs {
        run_id: String,
        task: String,
        /// The attempt (default: the last).
        #[arg(long)]
        attempt: Option<u32>,
    },
    /// Reset a run's tasks (all, or --task / --only-failed) so that `run --date` runs them again.
    Clear {
        run_id: String,
        /// Only this task (default: every task that did not succeed).
        #[arg(long)]
        task: Option<String>,
        /// With --task: its downstream tasks too.
        #[arg(long)]
        downstream: bool,
        /// Only tasks that did not succeed or skip (default: all of them).
        #[arg(long)]
        only_failed: bool,
    },
    /// The DAG as Mermaid or Graphviz dot.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// The compiled pipeline as JSON.
    Describe,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

/// The binary's entry point.
pub fn main(def: &'static PipelineDef, ops: Vec<Registered>) -> ExitCode {
    crate::broken_pipe::exit_quietly();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(def, &ops, cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

type CliResult = Result<ExitCode, String>;

fn dispatch(def: &'static PipelineDef, ops: &[Registered], cli: Cli) -> CliResult {
    let state = cli
        .state
        .unwrap_or_else(|| PathBuf::from(format!("{}.state.db", def.name)));
    match cli.command {
        Command::Graph { format } => {
            print!("{}", graph(def, format));
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe => {
            println!("{}", describe(def));
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            date,
            params,
            quiet,
        } => run(def, ops, &state, date, &params, None, !quiet),
        Command::Task { id, date, params } => {
            let Some(t) = def.tasks.iter().position(|t| t.id == id) else {
                return Err(format!("no task `{id}` in pipeline `{}`", def.name));
            };
            run(def, ops, &state, date, &params, Some(vec![t]), true)
        }
        Command::Scheduler => crate::scheduler_cli::scheduler(def, ops.to_vec(), &state),
        Command::Backfill {
            from,
            to,
            reprocess,
            dry_run,
        } => crate::scheduler_cli::backfill(
            def,
            ops.to_vec(),
            &state,
            &from,
            &to,
            reprocess,
            dry_run,
        ),
        Command::Next { count, quiet } => crate::scheduler_cli::next(def, count, quiet),
        Command::Runs { limit } => {
            let store = open(&state, def)?;
            let runs = store.runs(limit).map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{:<48} {:<10} {:<25} {:<25}",
                "RUN ID", "STATE", "STARTED", "ENDED"
            );
            for r in runs {
                let _ = writeln!(
                    out,
                    "{:<48} {:<10} {:<25} {:<25}",
                    r.run_id,
                    r.state.as_str(),
                    r.started_at.unwrap_or_default(),
                    r.ended_at.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { run_id } => show(def, &state, &run_id),
        Command::Logs {
            run_id,
            task,
            attempt,
        } => logs(def, &state, &run_id, &task, attempt),
        Command::Clear {
            run_id,
            task,
            downstream,
            only_failed,
        } => clear(
            def,
            &state,
            &run_id,
            task.as_deref(),
            downstream,
            only_failed,
        ),
    }
}

fn open(state: &Path, def: &PipelineDef) -> Result<SqliteStore, String> {
    SqliteStore::open(&state.display().to_string(), def.name).map_err(|e| e.to_string())
}

fn timezone(def: &PipelineDef) -> chrono_tz::Tz {
    // The compiler checked the name (E031).
    def.timezone.parse().unwrap_or(chrono_tz::UTC)
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
) -> Result<(DateTime<chrono_tz::Tz>, DateTime<chrono_tz::Tz>), String> {
    use crate::scheduler::{Schedule, When, day_start, parse_when};
    let tz = timezone(def);
    let now = chrono::Utc::now();
    let when = match date {
        None => When::Day(now.with_timezone(&tz).date_naive()),
        Some(text) => parse_when(text).ok_or_else(|| {
            format!(
                "--date `{text}`: expected a date such as 2026-11-24 or an RFC 3339 date-time such as 2026-11-24T02:30:00+01:00 (years 1 to 9999)"
            )
        })?,
    };
    // Manual runs may lie outside start_date..end_date.
    let schedule = match def.schedule {
        Some(expr) => Some(Schedule::new(expr, tz, None, None)?),
        None => None,
    };
    if let (None, Some(s)) = (date, &schedule) {
        // No --date: the latest interval that has ended, the one the
        // scheduler ran last (Airflow's manual trigger).
        let i = s.latest_ended(now).ok_or_else(|| {
            format!(
                "no interval of the schedule `{}` has ended yet; pass --date",
                def.schedule.unwrap_or("")
            )
        })?;
        return Ok((i.start.with_timezone(&tz), i.end.with_timezone(&tz)));
    }
    match (when, schedule) {
        (When::Instant(t), s) => {
            let start = t.with_timezone(&tz);
            let end = s
                .and_then(|s| s.fire_after(t))
                .map_or(start, |e| e.with_timezone(&tz));
            Ok((start, end))
        }
        (When::Day(d), None) => {
            let start = day_start(tz, d).ok_or_else(|| format!("{d} has no start in {tz}"))?;
            Ok((start, start))
        }
        (When::Day(d), Some(s)) => {
            let from = day_start(tz, d).ok_or_else(|| format!("{d} has no start in {tz}"))?;
            let next_day = d
                .succ_opt()
                .and_then(|n| day_start(tz, n))
                .ok_or_else(|| format!("{d}: no day after it"))?;
            match s.intervals_from(from.with_timezone(&chrono::Utc)).next() {
                Some(i) if i.start < next_day => {
                    Ok((i.start.with_timezone(&tz), i.end.with_timezone(&tz)))
                }
                next => Err(format!(
                    "the schedule `{}` has no run on {d}{}; pass that date, or an RFC 3339 date-time to start an interval at an exact instant",
                    def.schedule.unwrap_or(""),
                    next.map(|i| format!(" (the next is {})", i.start.format("%Y-%m-%d %H:%M %Z")))
                        .unwrap_or_default()
                )),
            }
        }
    }
}

fn parse_params(def: &PipelineDef, overrides: &[String]) -> Result<serde_json::Value, String> {
    let mut params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(def.params).unwrap_or_default();
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else {
            return Err(format!("--param `{o}`: expected NAME=VALUE"));
        };
        if !params.contains_key(k) {
            let known: Vec<&str> = params.keys().map(String::as_str).collect();
            return Err(format!(
                "--param `{k}`: the pipeline declares no such param (params: {})",
                known.join(", ")
            ));
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
) -> Result<serde_json::Value, String> {
    let recorded: serde_json::Value = serde_json::from_str(&existing.params).map_err(|e| {
        format!(
            "run {}: its recorded params are not JSON ({e}); `clear` it and run again",
            existing.run_id
        )
    })?;
    if !overridden || given == recorded {
        return Ok(recorded);
    }
    let finished: Vec<String> = store
        .task_records(&existing.run_id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.state != crate::state::TaskState::None)
        .map(|r| r.task_id)
        .collect();
    if finished.is_empty() {
        store
            .set_params(&existing.run_id, &given.to_string())
            .map_err(|e| e.to_string())?;
        return Ok(given);
    }
    Err(format!(
        "run {} was started with params {recorded}; --param would change them to {given} while tasks ({}) already ran with the old ones. Resume without --param, or `clear {}` first to run every task with the new params",
        existing.run_id,
        finished.join(", "),
        existing.run_id
    ))
}

fn run(
    def: &'static PipelineDef,
    ops: &[Registered],
    state: &Path,
    date: Option<String>,
    overrides: &[String],
    only: Option<Vec<usize>>,
    echo: bool,
) -> CliResult {
    let (start, end) = interval(def, date.as_deref())?;
    let mut params = parse_params(def, overrides)?;
    let mut store = open(state, def)?;
    let logical = start.to_rfc3339();
    // One process executes a date at a time (held until this returns).
    let doing = crate::claim::doing();
    let _claim = match &only {
        Some(t) => claim::task(state, &logical, def.tasks[t[0]].id, &doing),
        None => claim::run(state, &logical, &doing),
    }
    .map_err(|e| e.to_string())?;
    // The run of this date, whoever started it (a manual run, the scheduler,
    // a backfill); a new manual run if there is none.
    let existing = store.run_by_logical(&logical).map_err(|e| e.to_string())?;
    let run_id = existing
        .as_ref()
        .map_or_else(|| format!("manual__{logical}"), |r| r.run_id.clone());
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
    let record = RunRecord {
        run_id: run_id.clone(),
        logical_date: logical,
        interval_start: start.to_rfc3339(),
        interval_end: end.to_rfc3339(),
        kind: "manual".into(),
        state: RunState::Running,
        params: params.to_string(),
        started_at: None,
        ended_at: None,
    };
    let opts = ExecOptions {
        log_dir: state.parent().unwrap_or(Path::new(".")).join("logs"),
        max_active_tasks: def.max_active_tasks.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            |m| m as usize,
        ),
        echo,
        drain: None,
    };
    let req = RunRequest {
        run: record,
        ds: start.format("%Y-%m-%d").to_string(),
        params,
        only: only.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let outcome = rt.block_on(executor::execute(def, ops, &mut store, req, opts));
    // An operator abandoned at its timeout may still hold a blocking
    // thread; the process does not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    let outcome = outcome.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    Ok(match outcome {
        // `task`: its exit code is the task's, whatever the rest of the run.
        RunOutcome::Finished(s) if only.is_some() => {
            let ids: Vec<&str> = only.iter().flatten().map(|&t| def.tasks[t].id).collect();
            let records = store.task_records(&run_id).map_err(|e| e.to_string())?;
            let ok = ids.iter().all(|id| {
                records.iter().any(|r| {
                    r.task_id == *id
                        && matches!(
                            r.state,
                            crate::state::TaskState::Success | crate::state::TaskState::Skipped
                        )
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

fn show(def: &PipelineDef, state: &Path, run_id: &str) -> CliResult {
    let store = open(state, def)?;
    let Some(run) = store.get_run(run_id).map_err(|e| e.to_string())? else {
        return Err(format!(
            "no run `{run_id}` in {}; `runs` lists them",
            state.display()
        ));
    };
    let tasks = store.task_records(run_id).map_err(|e| e.to_string())?;
    let attempts = store.attempts(run_id).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "run {}  state {}  logical date {}",
        run.run_id, run.state, run.logical_date
    );
    let _ = writeln!(
        out,
        "{:<32} {:<16} {:>8} {:>10}  OUTPUT / ERROR",
        "TASK", "STATE", "ATTEMPTS", "DURATION"
    );
    // Every task of the pipeline, in order; one never touched is `none`.
    let records: std::collections::HashMap<&str, &crate::store::TaskRecord> =
        tasks.iter().map(|r| (r.task_id.as_str(), r)).collect();
    let untouched = |id: &str| crate::store::TaskRecord {
        task_id: id.to_string(),
        state: crate::state::TaskState::None,
        try_number: 0,
        output: None,
    };
    // Then tasks a run of an older build had and this build does not.
    let known: std::collections::HashSet<&str> = def.tasks.iter().map(|t| t.id).collect();
    let gone = tasks.iter().filter(|r| !known.contains(r.task_id.as_str()));
    let rows = def
        .tasks
        .iter()
        .map(|d| {
            records
                .get(d.id)
                .map_or_else(|| untouched(d.id), |r| (*r).clone())
        })
        .map(|t| (t, ""))
        .chain(gone.map(|r| (r.clone(), "(no longer in the pipeline) ")));
    for (t, note) in rows {
        let mine: Vec<_> = attempts.iter().filter(|a| a.task_id == t.task_id).collect();
        let last = mine.last();
        let duration = last
            .and_then(|a| {
                let s = DateTime::parse_from_rfc3339(&a.started_at).ok()?;
                let e = DateTime::parse_from_rfc3339(a.ended_at.as_deref()?).ok()?;
                Some(format!(
                    "{:.2}s",
                    (e - s).num_milliseconds() as f64 / 1000.0
                ))
            })
            .unwrap_or_default();
        let detail = match (&t.output, last.and_then(|a| a.error.clone())) {
            // Outputs are stored with their secrets sealed: shown as `***`.
            (Some(o), _) => crate::secrets::mask_sealed(o).into_owned(),
            (None, Some(e)) if t.state != crate::state::TaskState::Success => e,
            _ => String::new(),
        };
        let line = format!(
            "{:<32} {:<16} {:>8} {:>10}  {note}{detail}",
            t.task_id,
            t.state.as_str(),
            t.try_number,
            duration
        );
        // Outputs and errors are the tasks' text: escaped, piped or not.
        let _ = writeln!(out, "{}", crate::terminal::escape_controls(&line));
    }
    Ok(ExitCode::SUCCESS)
}

fn logs(
    def: &PipelineDef,
    state: &Path,
    run_id: &str,
    task: &str,
    attempt: Option<u32>,
) -> CliResult {
    let store = open(state, def)?;
    let attempts = store.attempts(run_id).map_err(|e| e.to_string())?;
    let mine: Vec<_> = attempts.iter().filter(|a| a.task_id == task).collect();
    if mine.is_empty() {
        return Err(format!("no attempt of task `{task}` in run `{run_id}`"));
    }
    let chosen = match attempt {
        Some(n) => mine
            .iter()
            .find(|a| a.attempt == n)
            .ok_or_else(|| format!("task `{task}` has no attempt {n}"))?,
        None => mine[mine.len() - 1],
    };
    let mut out = std::io::stdout().lock();
    // On a terminal the task's text is shown escaped; into a pipe or a
    // file (`logs ... > file`) it is the log as written.
    let terminal = std::io::IsTerminal::is_terminal(&out);
    let shown = |text: &str| -> String {
        if terminal {
            crate::terminal::escape_controls(text).into_owned()
        } else {
            text.to_string()
        }
    };
    let _ = writeln!(
        out,
        "{}",
        shown(&format!(
            "== {task} attempt {} ({}{})",
            chosen.attempt,
            if chosen.outcome.is_empty() {
                "running"
            } else {
                &chosen.outcome
            },
            chosen
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ))
    );
    match std::fs::File::open(&chosen.log_path) {
        Ok(file) if terminal => {
            // Streamed a piece at a time (a line, or 128 KiB of a longer
            // one in a log written before lines were cut), never whole.
            // Bytes that are not UTF-8 (older logs) are shown as U+FFFD.
            use std::io::{BufRead, Read};
            let mut file = std::io::BufReader::new(file);
            let mut piece = Vec::new();
            loop {
                piece.clear();
                match (&mut file).take(128 * 1024).read_until(b'\n', &mut piece) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = out.write_all(shown(&String::from_utf8_lossy(&piece)).as_bytes());
                    }
                }
            }
        }
        Ok(mut file) => {
            let _ = std::io::copy(&mut file, &mut out);
        }
        Err(_) => {
            let _ = writeln!(out, "(no output)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `clear RUN [--task ID [--downstream]] [--only-failed]`, as Airflow's
/// clear: the chosen task instances go back to `none` (outputs dropped,
/// attempts kept in the history) and the run to `queued`; `run --date` (or
/// the scheduler when it next starts) runs them again.
fn clear(
    def: &PipelineDef,
    state: &Path,
    run_id: &str,
    task: Option<&str>,
    downstream: bool,
    only_failed: bool,
) -> CliResult {
    use crate::state::TaskState;
    use crate::store::Change;
    let mut store = open(state, def)?;
    let Some(run) = store.get_run(run_id).map_err(|e| e.to_string())? else {
        return Err(format!(
            "no run `{run_id}` in {}; `runs` lists them",
            state.display()
        ));
    };
    // Not while a process executes this run.
    let doing = crate::claim::doing();
    let _claim = claim::run(state, &run.logical_date, &doing).map_err(|e| e.to_string())?;
    let records = store.task_records(run_id).map_err(|e| e.to_string())?;
    let mut selected: std::collections::HashSet<&str> = match task {
        Some(id) => {
            let starts: Vec<&str> = def
                .tasks
                .iter()
                .filter(|t| t.id == id || t.group == id)
                .map(|t| t.id)
                .collect();
            if starts.is_empty() {
                return Err(format!("no task `{id}` in pipeline `{}`", def.name));
            }
            starts.into_iter().collect()
        }
        // Every task the run has a record of, this build's or an older one's.
        None => records.iter().map(|r| r.task_id.as_str()).collect(),
    };
    if task.is_some() && downstream {
        // Tasks are in topological order: one pass forward is enough.
        for t in def.tasks {
            if t.upstream
                .iter()
                .any(|&u| selected.contains(def.tasks[u].id))
            {
                selected.insert(t.id);
            }
        }
    }
    let mut changes = Vec::new();
    let mut names = Vec::new();
    for r in &records {
        let failed = !matches!(r.state, TaskState::Success | TaskState::Skipped);
        if r.state != TaskState::None
            && selected.contains(r.task_id.as_str())
            && (!only_failed || failed)
        {
            changes.push(Change::Task {
                run_id: run_id.into(),
                task_id: r.task_id.clone(),
                state: TaskState::None,
                try_number: r.try_number,
                output: None,
            });
            names.push(r.task_id.clone());
        }
    }
    if names.is_empty() {
        println!(
            "nothing to clear in {run_id} (state {}): no task matched",
            run.state
        );
        return Ok(ExitCode::SUCCESS);
    }
    changes.push(Change::Run {
        run_id: run_id.into(),
        state: RunState::Queued,
        at: executor::now(),
    });
    store.apply(&changes).map_err(|e| e.to_string())?;
    let date = DateTime::parse_from_rfc3339(&run.logical_date)
        .map(|d| d.to_rfc3339())
        .unwrap_or(run.logical_date.clone());
    println!(
        "cleared {} task(s) of {run_id}: {}; the run is queued: `run --date {date}` runs them again (a scheduler does when it next starts)",
        names.len(),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn graph(def: &PipelineDef, format: GraphFormat) -> String {
    let mut out = String::new();
    match format {
        GraphFormat::Mermaid => {
            out += "flowchart LR\n";
            for (i, t) in def.tasks.iter().enumerate() {
                out += &format!("    t{i}[\"{}<br/><i>{}</i>\"]\n", t.id, t.operator);
            }
            for (i, t) in def.tasks.iter().enumerate() {
                for u in t.upstream {
                    out += &format!("    t{u} --> t{i}\n");
                }
            }
        }
        GraphFormat::Dot => {
            out += &format!(
                "digraph {} {{\n    rankdir=LR;\n    node [shape=box];\n",
                def.name
            );
            for t in def.tasks {
                out += &format!("    \"{}\" [label=\"{}\\n{}\"];\n", t.id, t.id, t.operator);
            }
            for t in def.tasks {
                for &u in t.upstream {
                    out += &format!("    \"{}\" -> \"{}\";\n", def.tasks[u].id, t.id);
                }
            }
            out += "}\n";
        }
    }
    out
}

fn describe(def: &PipelineDef) -> String {
    let tasks: Vec<serde_json::Value> = def
        .tasks
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id,
                "group": t.group,
                "operator": t.operator,
                "upstream": t.upstream.iter().map(|&u| def.tasks[u].id).collect::<Vec<_>>(),
                "trigger_rule": t.trigger_rule.as_str(),
                "retries": t.retries,
                "retry_delay_ms": t.retry_delay_ms,
                "timeout_ms": t.timeout_ms,
                "params": serde_json::from_str::<serde_json::Value>(t.params).unwrap_or_default(),
                "item": t.item.and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok()),
            })
        })
        .collect();
    let v = serde_json::json!({
        "pipeline": def.name,
        "description": def.description,
        "schedule": def.schedule,
        "timezone": def.timezone,
        "start_date": def.start_date,
        "end_date": def.end_date,
        "catchup": def.catchup,
        "max_active_runs": def.max_active_runs,
        "max_active_tasks": def.max_active_tasks,
        "params": serde_json::from_str::<serde_json::Value>(def.params).unwrap_or_default(),
        "tasks": tasks,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
