//! The pipeline binary's commands (README.md, "The pipeline binary"): the
//! command line, and the one place that prints a command's error and maps
//! it to the exit code. Each command is a file of its own: `run.rs` (`run`,
//! `task`), `show.rs` (`runs`, `show`, `logs`), `clear.rs`, `graph.rs`
//! (`graph`, `describe`), `scheduler.rs`, `backfill.rs`, `next.rs`; they
//! share `launch.rs` (many runs at once) and `runs.rs` (one run's life
//! cycle), and fail with a [`CliError`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Parser, Subcommand};

use crate::compiled::PipelineDef;
use crate::operators::registry::Registered;
use crate::runs::{Runs, StateLocation};
use crate::scheduler::SystemClock;

mod backfill;
mod clear;
mod error;
mod graph;
mod interval;
mod launch;
mod next;
mod run;
mod scheduler;
mod show;

pub use backfill::Reprocess;
pub use error::{CliError, CliResult};
pub use graph::GraphFormat;
pub use interval::WhichRun;

#[derive(Debug, Parser)]
#[command(about = None, long_about = None)]
struct Cli {
    /// The state: a SQLite file, or a postgres:// URL shared by every machine that runs tasks (default: $CHIME_STATE, else ./<pipeline>.state.db).
    #[arg(long, global = true, value_name = "PATH|URL")]
    state: Option<std::ffi::OsString>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One run now; exit 0 iff the run succeeded. Resumes the run if it exists.
    Run {
        #[command(flatten)]
        which: WhichRun,
        /// Override a run parameter (repeatable): --param horizon_days=7.
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// Print only the summary, not each task's start, end and output.
        #[arg(long, short)]
        quiet: bool,
        /// Then write the pipeline's Prometheus metrics to this file (for node_exporter's textfile collector).
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf>,
    },
    /// Run one task of a run (for external orchestrators); its upstreams must be finished. Exit 0 success, 1 failed, 99 skipped.
    Task {
        id: String,
        #[command(flatten)]
        which: WhichRun,
        /// Override a run parameter (repeatable): --param horizon_days=7.
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// The orchestrator's try number: run exactly this one attempt (no retries of chime's own; the orchestrator retries with N+1).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        attempt: Option<u32>,
        /// The orchestrator applied the trigger rule and runs this task now: do not wait for or judge its upstreams.
        #[arg(long)]
        engine: bool,
        /// Write the task's output JSON here instead of as stdout's last line.
        #[arg(long, value_name = "PATH")]
        output_file: Option<PathBuf>,
        /// Do not run the task: evaluate its `when:` and output true or false (false records it as skipped), for an orchestrator that skips the task's own step on false.
        #[arg(long, conflicts_with = "attempt")]
        condition: bool,
    },
    /// Run the pipeline's on_failure actions for a run, and exit 1 (an orchestrator's watcher task, run when one of its tasks failed).
    OnFailure {
        #[command(flatten)]
        which: WhichRun,
    },
    /// Fire on the schedule until SIGTERM or SIGINT: catch up, then start each run when its interval ends.
    Scheduler {
        /// Serve the status page and /metrics too, on ADDR (default 127.0.0.1:8080; another address than loopback needs CHIME_UI_TOKEN).
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_UI)]
        ui: Option<String>,
    },
    /// Serve the status page and /metrics over the state until SIGTERM or SIGINT (beside a scheduler, or alone).
    Ui {
        /// Where to listen (another address than loopback needs CHIME_UI_TOKEN).
        #[arg(default_value = DEFAULT_UI)]
        addr: String,
    },
    /// Every interval whose logical date is in [--from, --to], in order, max_active_runs at once.
    Backfill {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Which existing runs to run again.
        #[arg(long, value_enum, default_value_t = Reprocess::Failed)]
        reprocess: Reprocess,
        /// Print the runs it would start, start none.
        #[arg(long)]
        dry_run: bool,
        /// Then write the pipeline's Prometheus metrics to this file (for node_exporter's textfile collector).
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf>,
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

/// `--metrics-file PATH`: the metrics after the command, whatever its
/// outcome (a failed run is what the file must show). Not written is a
/// warning: the run's own exit status stands, and a freshness alert on
/// the file's samples still fires.
fn write_metrics(runs: &Runs, path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    let now = chrono::Utc::now().timestamp();
    let written = runs
        .open()
        .map_err(|e| e.to_string())
        .and_then(|store| crate::metrics::write_file(runs.def.name, &*store, path, now));
    if let Err(e) = written {
        eprintln!(
            "warning: --metrics-file {}: metrics not written: {e}",
            path.display()
        );
    }
}

/// Where the status page listens by default.
const DEFAULT_UI: &str = "127.0.0.1:8080";

/// Starts the status page: beside the scheduler (on a thread of its own),
/// or alone (`ui`, until SIGTERM or SIGINT).
#[cfg(feature = "ui")]
fn status_page(runs: &Runs, addr: &str, scheduler: bool) -> Result<(), CliError> {
    let bound = crate::ui::bind(runs.clone(), addr, scheduler)?;
    eprintln!(
        "status page of `{}` at http://{}/ (metrics at /metrics)",
        runs.def.name,
        bound.addr()
    );
    if scheduler {
        bound.spawn()?;
    } else {
        bound.serve_until(scheduler::signals)?;
    }
    Ok(())
}

#[cfg(not(feature = "ui"))]
fn status_page(runs: &Runs, _addr: &str, _scheduler: bool) -> Result<(), CliError> {
    Err(CliError::NoUi(runs.def.name))
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

fn dispatch(def: &'static PipelineDef, ops: &[Registered], cli: Cli) -> CliResult {
    // A URL with a password is best passed in the environment: a command
    // line is visible to every user of the machine (`ps`).
    let state = match cli.state.or_else(|| std::env::var_os("CHIME_STATE")) {
        Some(text) if !text.is_empty() => StateLocation::parse(&text),
        _ => StateLocation::File(PathBuf::from(format!("{}.state.db", def.name))),
    };
    let runs = Runs::new(def, state);
    match cli.command {
        Command::Graph { format } => graph::graph(def, format),
        Command::Describe => graph::describe(def),
        Command::Run {
            which,
            params,
            quiet,
            metrics_file,
        } => {
            let result = run::run(&runs, ops, &which, &params, !quiet, &SystemClock);
            write_metrics(&runs, metrics_file.as_deref());
            result
        }
        Command::Task {
            id,
            which,
            params,
            attempt,
            engine,
            output_file,
            condition,
        } => {
            let call = run::TaskCall {
                id: &id,
                attempt,
                engine,
                output_file: output_file.as_deref(),
                condition,
            };
            run::task(&runs, ops, call, &which, &params, &SystemClock)
        }
        Command::OnFailure { which } => run::on_failure(&runs, ops, &which, &SystemClock),
        Command::Scheduler { ui } => {
            if let Some(addr) = ui {
                status_page(&runs, &addr, true)?;
            }
            scheduler::scheduler(runs, ops.to_vec(), Rc::new(SystemClock))
        }
        Command::Ui { addr } => {
            status_page(&runs, &addr, false)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backfill {
            from,
            to,
            reprocess,
            dry_run,
            metrics_file,
        } => {
            let result = backfill::backfill(
                runs.clone(),
                ops.to_vec(),
                Rc::new(SystemClock),
                &from,
                &to,
                reprocess,
                dry_run,
            );
            write_metrics(&runs, metrics_file.as_deref());
            result
        }
        Command::Next { count, quiet } => next::next(def, count, quiet, &SystemClock),
        Command::Runs { limit } => show::runs(&runs, limit),
        Command::Show { run_id } => show::show(&runs, &run_id),
        Command::Logs {
            run_id,
            task,
            attempt,
        } => show::logs(&runs, &run_id, &task, attempt),
        Command::Clear {
            run_id,
            task,
            downstream,
            only_failed,
        } => clear::clear(&runs, &run_id, task.as_deref(), downstream, only_failed),
    }
}
