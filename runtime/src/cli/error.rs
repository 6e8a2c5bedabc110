//! Why a command of the pipeline binary failed (exit code 2, printed as
//! `error: ...` by `cli::main`).

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::claim::ClaimError;
use crate::executor::ExecError;
use crate::scheduler::ScheduleError;
use crate::state::TaskState;
use crate::store::StoreError;

/// A command's failure: the user's input, the state store, or the
/// environment.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{0}")]
    Claim(ClaimError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The async runtime or a signal listener could not be made.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Format(#[from] chrono::format::ParseError),

    #[error("no task `{task}` in pipeline `{pipeline}`")]
    NoTask {
        task: String,
        pipeline: &'static str,
    },
    #[error("no run `{run_id}` in {state}; `runs` lists them")]
    NoRun { run_id: String, state: String },
    #[error("no run of {logical} in {state}; its tasks must have run first")]
    NoRunOf { logical: String, state: String },
    #[error("no attempt of task `{task}` in run `{run_id}`")]
    NoAttempts { task: String, run_id: String },
    #[error("task `{task}` has no attempt {attempt}")]
    NoAttempt { task: String, attempt: u32 },
    #[error(
        "this binary of `{0}` was built without the status page: add `ui: {{}}` to its pipeline.yaml and build it again (docs/monitoring.md)"
    )]
    NoUi(&'static str),
    #[cfg(feature = "ui")]
    #[error(transparent)]
    Ui(#[from] crate::ui::UiError),
    #[error(
        "task `{task}` has not made its instances in run {run_id} (it is {state}); run `task {task}` first"
    )]
    NotMade {
        task: &'static str,
        run_id: String,
        state: TaskState,
    },
    #[error(
        "task `{task}` made no instance `{instance}` in run {run_id}; `show {run_id}` lists those it made"
    )]
    NoInstance {
        instance: String,
        task: &'static str,
        run_id: String,
    },
    #[error(
        "`{instance}` of run {run_id} was removed: `{task}` no longer makes it. `clear {run_id} --task {task}` makes its instances again"
    )]
    Removed {
        instance: String,
        task: &'static str,
        run_id: String,
    },
    #[error("pipeline `{0}` has no schedule; `run --date D` runs one date")]
    NoSchedule(&'static str),

    #[error(
        "--date `{0}`: expected a date such as 2026-11-24 or an RFC 3339 date-time such as 2026-11-24T02:30:00+01:00 (years 1 to 9999)"
    )]
    BadDate(String),
    /// `--from` or `--to` of a backfill.
    #[error(
        "{flag} `{text}`: expected a date such as 2026-11-24 or an RFC 3339 date-time (years 1 to 9999)"
    )]
    BadBound { flag: &'static str, text: String },
    #[error("--to is before --from")]
    EmptyRange,
    #[error("{day} has no start in {tz}")]
    NoDayStart { day: NaiveDate, tz: Tz },
    /// The day after the named one does not exist (year 9999).
    #[error("{0}: no day after it")]
    NoDayAfter(String),
    #[error("no interval of the schedule `{0}` has ended yet; pass --date")]
    NothingEnded(&'static str),
    #[error(
        "the schedule `{schedule}` has no run on {day}{}; pass that date, or an RFC 3339 date-time to start an interval at an exact instant",
        .next.as_ref().map(|n| format!(" (the next is {n})")).unwrap_or_default()
    )]
    NoRunOn {
        schedule: &'static str,
        day: NaiveDate,
        /// The next interval's start, `2026-11-25 02:30 CET`.
        next: Option<String>,
    },

    #[error(
        "{flag} `{text}`: expected an RFC 3339 date-time such as 2026-11-24T06:30:00Z (years 1 to 9999)"
    )]
    BadInstant { flag: &'static str, text: String },
    #[error("--interval-end `{end}` is before --interval-start `{start}`")]
    IntervalBackwards { start: String, end: String },
    #[error(
        "run {run_id} covers {recorded_start} to {recorded_end}, not {start} to {end}; the same logical date cannot name two intervals. `clear` does not change a run's interval: use another start, or a new state"
    )]
    IntervalMismatch {
        run_id: String,
        recorded_start: String,
        recorded_end: String,
        start: String,
        end: String,
    },
    #[error(
        "task `{task}` of run {run_id} cannot run yet: its upstreams are not finished ({}). Run them first, or pass --engine if an orchestrator has applied the trigger rule",
        .waiting.join(", ")
    )]
    UpstreamsNotDone {
        task: String,
        run_id: String,
        /// `gather (none)`.
        waiting: Vec<String>,
    },
    #[error("--output-file {path}: {error}")]
    OutputFile { path: String, error: std::io::Error },

    #[error("--param `{0}`: expected NAME=VALUE")]
    ParamSyntax(String),
    #[error("--param `{name}`: the pipeline declares no such param (params: {})", .known.join(", "))]
    UnknownParam { name: String, known: Vec<String> },
    #[error("run {run_id}: its recorded params are not JSON ({error}); `clear` it and run again")]
    RecordedParams {
        run_id: String,
        error: serde_json::Error,
    },
    #[error(
        "run {run_id} was started with params {recorded}; --param would change them to {given} while tasks ({}) already ran with the old ones. Resume without --param, or `clear {run_id}` first to run every task with the new params",
        .finished.join(", ")
    )]
    ParamsChanged {
        run_id: String,
        recorded: serde_json::Value,
        given: serde_json::Value,
        finished: Vec<String>,
    },

    #[error(
        "another scheduler ({holder}) holds the lease of {state} until {until}; one scheduler per state store. If it crashed, its lease expires by then"
    )]
    LeaseHeld {
        holder: String,
        state: String,
        until: String,
    },
    #[error("lost the scheduler lease to {0}; stopping")]
    LeaseLost(String),
}

impl From<ClaimError> for CliError {
    fn from(e: ClaimError) -> CliError {
        CliError::Claim(e)
    }
}

/// What a command gives: the process's exit code, or why it failed.
pub type CliResult = Result<std::process::ExitCode, CliError>;
