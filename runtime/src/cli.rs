//! The pipeline binary's commands (SPEC §6).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, TimeZone};
use clap::{Parser, Subcommand, ValueEnum};

use crate::def::PipelineDef;
use crate::executor::{self, ExecOptions, RunOutcome, RunRequest};
use crate::operators::run::Registered;
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
        /// The logical date: 2026-11-24 (midnight in the pipeline's zone) or RFC 3339. Default: today.
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
    /// Reset tasks of a run so that `run --date` runs them again.
    Clear {
        run_id: String,
        /// Only this task (default: every task that did not succeed).
        #[arg(long)]
        task: Option<String>,
        /// With --task: its downstream tasks too.
        #[arg(long)]
        downstream: bool,
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
        } => clear(def, &state, &run_id, task.as_deref(), downstream),
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
fn interval(
    def: &PipelineDef,
    date: Option<&str>,
) -> Result<(DateTime<chrono_tz::Tz>, DateTime<chrono_tz::Tz>), String> {
    let tz = timezone(def);
    let start = match date {
        None => {
            let today = chrono::Utc::now().with_timezone(&tz).date_naive();
            midnight(tz, today)?
        }
        Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) => midnight(tz, d)?,
            Err(_) => DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    format!("--date `{text}`: expected 2026-11-24 or an RFC 3339 date-time")
                })?
                .with_timezone(&tz),
        },
    };
    let end = match def.schedule.map(crate::schedule::parse) {
        Some(Ok(cron)) => cron.find_next_occurrence(&start, false).unwrap_or(start),
        _ => start,
    };
    Ok((start, end))
}

fn midnight(tz: chrono_tz::Tz, d: NaiveDate) -> Result<DateTime<chrono_tz::Tz>, String> {
    let naive = d.and_hms_opt(0, 0, 0).ok_or("bad date")?;
    tz.from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| format!("{d} 00:00 does not exist in {tz}"))
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
    let params = parse_params(def, overrides)?;
    let mut store = open(state, def)?;
    let logical = start.to_rfc3339();
    let run_id = format!("manual__{logical}");
    if let Some(existing) = store.get_run(&run_id).map_err(|e| e.to_string())? {
        if existing.state == RunState::Success && only.is_none() {
            println!("run {run_id} already succeeded; `clear {run_id}` to run it again");
            return Ok(ExitCode::SUCCESS);
        }
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
        only,
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
    for def_task in def.tasks {
        let t = records
            .get(def_task.id)
            .map_or_else(|| untouched(def_task.id), |r| (*r).clone());
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
            (Some(o), _) => o.clone(),
            (None, Some(e)) if t.state != crate::state::TaskState::Success => e,
            _ => String::new(),
        };
        let line = format!(
            "{:<32} {:<16} {:>8} {:>10}  {detail}",
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

fn clear(
    def: &PipelineDef,
    state: &Path,
    run_id: &str,
    task: Option<&str>,
    downstream: bool,
) -> CliResult {
    use crate::state::TaskState;
    use crate::store::Change;
    let mut store = open(state, def)?;
    if store.get_run(run_id).map_err(|e| e.to_string())?.is_none() {
        return Err(format!("no run `{run_id}`"));
    }
    let records = store.task_records(run_id).map_err(|e| e.to_string())?;
    let mut selected = vec![false; def.tasks.len()];
    match task {
        Some(id) => {
            let starts: Vec<usize> = def
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.id == id || t.group == id)
                .map(|(i, _)| i)
                .collect();
            if starts.is_empty() {
                return Err(format!("no task `{id}`"));
            }
            for s in starts {
                selected[s] = true;
            }
            if downstream {
                // Tasks are in topological order: one pass forward is enough.
                for (t, def_t) in def.tasks.iter().enumerate() {
                    if def_t.upstream.iter().any(|&u| selected[u]) {
                        selected[t] = true;
                    }
                }
            }
        }
        None => {
            for (t, def_t) in def.tasks.iter().enumerate() {
                selected[t] = records
                    .iter()
                    .any(|r| r.task_id == def_t.id && r.state != TaskState::Success);
            }
        }
    }
    let mut changes = Vec::new();
    let mut names = Vec::new();
    for r in &records {
        if let Some(t) = def.tasks.iter().position(|t| t.id == r.task_id) {
            if selected[t] {
                changes.push(Change::Task {
                    run_id: run_id.into(),
                    task_id: r.task_id.clone(),
                    seq: t as u32,
                    state: TaskState::None,
                    try_number: r.try_number,
                    output: None,
                });
                names.push(r.task_id.clone());
            }
        }
    }
    changes.push(Change::Run {
        run_id: run_id.into(),
        state: RunState::Failed,
        at: String::new(),
    });
    store.apply(&changes).map_err(|e| e.to_string())?;
    println!(
        "cleared {} task(s) of {run_id}: {}; `run --date` runs them again",
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
