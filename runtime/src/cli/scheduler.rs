//! The binary's `next`, `backfill` and `scheduler` commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::def::PipelineDef;
use crate::executor::{self, ExecOptions, RunOutcome, RunRequest};
use crate::operators::registry::Registered;
use crate::scheduler::{Interval, Schedule, parse_date};
use crate::state::{RunState, TaskState};
use crate::store::sqlite::SqliteStore;
use crate::store::{Change, RunRecord, Store};

/// How long a scheduler's lease lasts without renewal: a crashed
/// scheduler blocks its successor for at most this long.
pub const LEASE_TTL: i64 = 30;
/// How often a running scheduler renews its lease.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How long running tasks may take to finish after SIGTERM.
const GRACE: Duration = Duration::from_secs(60);

/// Which existing runs a backfill runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reprocess {
    /// Skip every interval that already has a run.
    None,
    /// Skip intervals that succeeded; resume failed or interrupted ones.
    Failed,
    /// Run every interval again, succeeded ones from scratch.
    All,
}

fn open(state: &Path, def: &PipelineDef) -> Result<SqliteStore, String> {
    SqliteStore::open(&state.display().to_string(), def.name).map_err(|e| e.to_string())
}

fn schedule(def: &PipelineDef) -> Result<Schedule, String> {
    Schedule::of(def)?.ok_or_else(|| {
        format!(
            "pipeline `{}` has no schedule; `run --date D` runs one date",
            def.name
        )
    })
}

fn stamp() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `next [--count N]`.
pub fn next(def: &PipelineDef, count: usize, quiet: bool) -> Result<ExitCode, String> {
    use std::io::Write;
    let s = schedule(def)?;
    if quiet {
        // Compute only (the benchmark of fire times without printing them).
        let n = s.upcoming(Utc::now(), count).len();
        println!("{n} intervals");
        return Ok(ExitCode::SUCCESS);
    }
    // Formats parsed once, output buffered: 100,000 lines stay cheap.
    let fire = chrono::format::StrftimeItems::new("%Y-%m-%d %H:%M %Z")
        .parse()
        .map_err(|e| e.to_string())?;
    let minute = chrono::format::StrftimeItems::new("%Y-%m-%d %H:%M")
        .parse()
        .map_err(|e| e.to_string())?;
    let day = chrono::format::StrftimeItems::new("%Y-%m-%d")
        .parse()
        .map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in s.upcoming(Utc::now(), count) {
        let _ = writeln!(
            out,
            "{}  runs the interval {} .. {}  (logical date {})",
            i.end.format_with_items(fire.iter()),
            i.start.format_with_items(minute.iter()),
            i.end.format_with_items(minute.iter()),
            i.start.format_with_items(day.iter())
        );
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// One run to execute: its record and interval.
struct Planned {
    record: RunRecord,
    interval: Interval,
    /// The claim on its logical date, when taken while planning.
    claim: Option<crate::claim::Claim>,
}

fn planned(run_id: String, kind: &str, i: &Interval, params: &serde_json::Value) -> Planned {
    Planned {
        record: RunRecord {
            run_id,
            logical_date: i.start.to_rfc3339(),
            interval_start: i.start.to_rfc3339(),
            interval_end: i.end.to_rfc3339(),
            kind: kind.into(),
            state: RunState::Running,
            params: params.to_string(),
            started_at: None,
            ended_at: None,
        },
        interval: *i,
        claim: None,
    }
}

fn default_params(def: &PipelineDef) -> serde_json::Value {
    serde_json::from_str(def.params).unwrap_or_else(|_| serde_json::json!({}))
}

/// Runs `plans` (taken one at a time, so a long backfill never holds them
/// all), at most `max_active_runs` at once; stops launching on an
/// interrupt. Each run first claims its logical date (`claim.rs`): with
/// `wait` (the scheduler) it waits for a process that holds it, otherwise
/// (backfill) that run is refused and counted as not run. Returns
/// (succeeded, failed, interrupted-by-signal).
async fn execute_all(
    def: &'static PipelineDef,
    ops: Rc<Vec<Registered>>,
    state: PathBuf,
    plans: impl Iterator<Item = Planned>,
    echo: bool,
    drain: Option<Duration>,
    wait: bool,
) -> (usize, usize, Option<i32>) {
    let max = def.max_active_runs.max(1) as usize;
    let mut queue = plans;
    let mut running = tokio::task::JoinSet::new();
    let (mut ok, mut failed, mut signal) = (0, 0, None);
    let doing = crate::claim::doing();
    let mut listen = listeners();
    loop {
        while signal.is_none() && running.len() < max {
            let Some(p) = queue.next() else { break };
            let (ops, state, doing) = (ops.clone(), state.clone(), doing.clone());
            let log_dir = state.parent().unwrap_or(Path::new(".")).join("logs");
            let opts = ExecOptions {
                log_dir,
                max_active_tasks: def.max_active_tasks.map_or_else(
                    || std::thread::available_parallelism().map_or(2, |n| n.get()),
                    |m| m as usize,
                ),
                echo,
                drain,
            };
            let params: serde_json::Value =
                serde_json::from_str(&p.record.params).unwrap_or_else(|_| default_params(def));
            let req = RunRequest {
                ds: p.interval.start.format("%Y-%m-%d").to_string(),
                params,
                only: None,
                run: p.record,
            };
            running.spawn_local(async move {
                let id = req.run.run_id.clone();
                let _claim = match p.claim {
                    Some(c) => c,
                    None => match claim_date(&state, &req.run.logical_date, &doing, wait).await {
                        Ok(Some(c)) => c,
                        Ok(None) => return (id, Ok(RunOutcome::Interrupted(15))),
                        Err(e) => return (id, Err(e)),
                    },
                };
                eprintln!(
                    "{} starting run {} (interval {} .. {})",
                    stamp(),
                    req.run.run_id,
                    p.interval.start,
                    p.interval.end
                );
                let mut store = match open(&state, def) {
                    Ok(s) => s,
                    Err(e) => return (id, Err(e)),
                };
                (
                    id,
                    executor::execute(def, &ops, &mut store, req, opts)
                        .await
                        .map_err(|e| e.to_string()),
                )
            });
        }
        // A signal between two runs (no executor listening) stops the
        // launching too; one during a run also reaches its executor.
        let done = tokio::select! {
            done = running.join_next() => done,
            sig = next_signal(&mut listen), if signal.is_none() => {
                signal = Some(sig);
                eprintln!("{} stopping: no new runs are started", stamp());
                continue;
            }
        };
        let Some(done) = done else {
            break;
        };
        match done {
            Ok((id, Ok(RunOutcome::Finished(RunState::Success)))) => {
                ok += 1;
                eprintln!("{} run {id}: success", stamp());
            }
            Ok((id, Ok(RunOutcome::Finished(s)))) => {
                failed += 1;
                eprintln!("{} run {id}: {s}", stamp());
            }
            Ok((id, Ok(RunOutcome::Interrupted(sig)))) => {
                signal = Some(sig);
                eprintln!("{} run {id}: interrupted; it resumes next time", stamp());
            }
            Ok((id, Err(e))) => {
                failed += 1;
                eprintln!("{} run {id}: error: {e}", stamp());
            }
            Err(e) => {
                failed += 1;
                eprintln!("{} a run panicked: {e}", stamp());
            }
        }
    }
    (ok, failed, signal)
}

/// SIGTERM and SIGINT listeners (`None` where one cannot be made).
type Listeners = (
    Option<tokio::signal::unix::Signal>,
    Option<tokio::signal::unix::Signal>,
);

fn listeners() -> Listeners {
    use tokio::signal::unix::{SignalKind, signal};
    (
        signal(SignalKind::terminate()).ok(),
        signal(SignalKind::interrupt()).ok(),
    )
}

/// The next SIGTERM (15) or SIGINT (2).
async fn next_signal(l: &mut Listeners) -> i32 {
    let term = async {
        match &mut l.0 {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    let int = async {
        match &mut l.1 {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => 15,
        _ = int => 2,
    }
}

/// Claims a run's logical date; with `wait`, polls (once a second) until
/// the holder lets go, or returns `None` on SIGTERM/SIGINT.
async fn claim_date(
    state: &Path,
    logical: &str,
    doing: &str,
    wait: bool,
) -> Result<Option<crate::claim::Claim>, String> {
    let mut told = false;
    let mut listen = listeners();
    loop {
        match crate::claim::run(state, logical, doing) {
            Ok(c) => return Ok(Some(c)),
            Err(crate::claim::ClaimError::Busy(b)) if wait => {
                if !told {
                    eprintln!("{} waiting: {b}", stamp());
                    told = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = next_signal(&mut listen) => return Ok(None),
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn local_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// `backfill --from D --to D [--reprocess] [--dry-run]`.
///
/// As Airflow's backfill: every interval whose logical date lies in the
/// range, both ends included; a plain date covers its whole local day
/// (`--from D --to D` runs the runs of day D). Intervals are produced one
/// at a time as runs finish, so a long range of a minutely schedule costs
/// no memory up front.
pub fn backfill(
    def: &'static PipelineDef,
    ops: Vec<Registered>,
    state: &Path,
    from: &str,
    to: &str,
    reprocess: Reprocess,
    dry_run: bool,
) -> Result<ExitCode, String> {
    use crate::scheduler::{When, day_start, parse_when};
    let s = schedule(def)?;
    let when = |flag: &str, t: &str| {
        parse_when(t).ok_or_else(|| {
            format!("{flag} `{t}`: expected a date such as 2026-11-24 or an RFC 3339 date-time (years 1 to 9999)")
        })
    };
    let start_of = |d: chrono::NaiveDate| {
        day_start(s.tz, d)
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{d} has no start in {}", s.tz))
    };
    let from = match when("--from", from)? {
        When::Day(d) => start_of(d)?,
        When::Instant(t) => t,
    };
    // The first instant after the range.
    let until = match when("--to", to)? {
        When::Day(d) => start_of(d.succ_opt().ok_or("--to: no day after it")?)?,
        When::Instant(t) => t + chrono::Duration::nanoseconds(1),
    };
    if until <= from {
        return Err("--to is before --from".into());
    }
    let mut store = open(state, def)?;
    let params = default_params(def);
    let (mut total, mut skipped, mut busy) = (0usize, 0usize, 0usize);
    let doing = crate::claim::doing();
    let mut error = None;
    let intervals = s
        .intervals_from(from)
        .take_while(|i| i.start.with_timezone(&Utc) < until);
    let mut plan = |i: Interval| -> Result<Option<Planned>, String> {
        let logical = i.start.to_rfc3339();
        let existing = store.run_by_logical(&logical).map_err(|e| e.to_string())?;
        let (run, reset) = match (&existing, reprocess) {
            (None, _) => (true, false),
            (Some(r), Reprocess::None) => {
                println!("skip {logical}: run {} exists ({})", r.run_id, r.state);
                (false, false)
            }
            (Some(r), Reprocess::Failed) if r.state == RunState::Success => {
                println!("skip {logical}: run {} succeeded", r.run_id);
                (false, false)
            }
            (Some(r), Reprocess::All) => (true, r.state == RunState::Success),
            (Some(_), Reprocess::Failed) => (true, false),
        };
        if !run {
            skipped += 1;
            return Ok(None);
        }
        total += 1;
        let run_id = existing
            .as_ref()
            .map_or_else(|| format!("backfill__{logical}"), |r| r.run_id.clone());
        if dry_run {
            println!("would run {run_id} (interval {} .. {})", i.start, i.end);
            return Ok(None);
        }
        // Claimed before its tasks are reset: never under a running process.
        let claim = match crate::claim::run(state, &logical, &doing) {
            Ok(c) => c,
            Err(e) => {
                println!("not run {logical}: {e}");
                busy += 1;
                return Ok(None);
            }
        };
        if reset {
            let records = store.task_records(&run_id).map_err(|e| e.to_string())?;
            let changes: Vec<Change> = records
                .iter()
                .map(|r| Change::Task {
                    run_id: run_id.clone(),
                    task_id: r.task_id.clone(),
                    state: TaskState::None,
                    try_number: r.try_number,
                    output: None,
                })
                .collect();
            store.apply(&changes).map_err(|e| e.to_string())?;
        }
        // A resumed run keeps the params it recorded.
        let params = existing
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.params).ok())
            .unwrap_or_else(|| params.clone());
        let mut p = planned(run_id, "backfill", &i, &params);
        p.claim = Some(claim);
        Ok(Some(p))
    };
    let plans = intervals.map_while(|i| match plan(i) {
        Ok(p) => Some(p),
        Err(e) => {
            error = Some(e);
            None
        }
    });
    let (ok, failed, signal) = if dry_run {
        plans.for_each(drop);
        (0, 0, None)
    } else {
        let rt = local_runtime()?;
        let local = tokio::task::LocalSet::new();
        let result = local.block_on(
            &rt,
            execute_all(
                def,
                Rc::new(ops),
                state.to_path_buf(),
                plans.flatten(),
                true,
                None,
                false,
            ),
        );
        rt.shutdown_timeout(Duration::from_millis(200));
        result
    };
    if let Some(e) = error {
        return Err(e);
    }
    if total + skipped == 0 {
        println!(
            "backfill: the schedule `{}` has no interval whose logical date is in {} .. {}; nothing to do",
            def.schedule.unwrap_or(""),
            from.with_timezone(&s.tz).format("%Y-%m-%d %H:%M %Z"),
            (until - chrono::Duration::nanoseconds(1))
                .with_timezone(&s.tz)
                .format("%Y-%m-%d %H:%M %Z"),
        );
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        println!("backfill --dry-run: would run {total}, skip {skipped}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "backfill: {ok} succeeded, {failed} failed, {} not run, of {total} ({skipped} skipped)",
        total - ok - failed
    );
    Ok(match signal {
        Some(sig) => ExitCode::from(128 + sig as u8),
        None if failed > 0 || busy > 0 => ExitCode::from(1),
        None => ExitCode::SUCCESS,
    })
}

fn holder() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("pid {} on {host}", std::process::id())
}

/// Whether a lease holder (`pid N on HOST`) was a process of this machine
/// that no longer exists.
fn holder_is_dead(holder: &str) -> bool {
    let mine = self::holder();
    let (Some(their_host), Some(my_host)) =
        (holder.split(" on ").nth(1), mine.split(" on ").nth(1))
    else {
        return false;
    };
    let pid = holder
        .strip_prefix("pid ")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if their_host == my_host => !Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// `scheduler`: fires runs on the schedule until SIGTERM.
pub fn scheduler(
    def: &'static PipelineDef,
    ops: Vec<Registered>,
    state: &Path,
) -> Result<ExitCode, String> {
    let s = schedule(def)?;
    let me = holder();
    let mut store = open(state, def)?;
    let now = Utc::now().timestamp();
    let mut refused = store
        .acquire_lease(&me, now, now + LEASE_TTL)
        .map_err(|e| e.to_string())?;
    if let Some((other, _)) = &refused
        && holder_is_dead(other)
    {
        // The holder ran on this machine and its process is gone: no need
        // to wait for the lease to expire.
        eprintln!(
            "{} the previous scheduler ({other}) is gone; taking over its lease",
            stamp()
        );
        store.release_lease(other).map_err(|e| e.to_string())?;
        refused = store
            .acquire_lease(&me, now, now + LEASE_TTL)
            .map_err(|e| e.to_string())?;
    }
    if let Some((other, until)) = refused {
        let until = DateTime::from_timestamp(until, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        return Err(format!(
            "another scheduler ({other}) holds the lease of {} until {until}; one scheduler per state store. If it crashed, its lease expires by then",
            state.display()
        ));
    }
    eprintln!(
        "{} scheduler for `{}` ({} in {}), state {}",
        stamp(),
        def.name,
        def.schedule.unwrap_or(""),
        s.tz,
        state.display()
    );
    let ops = Rc::new(ops);
    let rt = local_runtime()?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, scheduler_loop(def, ops, state.to_path_buf(), s, &me));
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Ok(mut store) = open(state, def) {
        let _ = store.release_lease(&me);
    }
    eprintln!("{} scheduler stopped", stamp());
    result
}

async fn scheduler_loop(
    def: &'static PipelineDef,
    ops: Rc<Vec<Registered>>,
    state: PathBuf,
    s: Schedule,
    me: &str,
) -> Result<ExitCode, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    // The lease is renewed every 10 s for as long as the scheduler lives,
    // runs in progress included, so a long run never lets it lapse.
    let renewer = {
        let (state, me) = (state.clone(), me.to_string());
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(LEASE_RENEW).await;
                let t = Utc::now().timestamp();
                match open(&state, def).and_then(|mut s| {
                    s.acquire_lease(&me, t, t + LEASE_TTL)
                        .map_err(|e| e.to_string())
                }) {
                    Ok(None) => {}
                    Ok(Some((other, _))) => {
                        eprintln!("{} warning: the lease is held by {other}", stamp())
                    }
                    Err(e) => eprintln!("{} warning: renewing the lease: {e}", stamp()),
                }
            }
        })
    };
    let result = scheduler_steps(def, ops, state, s, me, &mut sigterm, &mut sigint).await;
    renewer.abort();
    result
}

async fn scheduler_steps(
    def: &'static PipelineDef,
    ops: Rc<Vec<Registered>>,
    state: PathBuf,
    s: Schedule,
    me: &str,
    sigterm: &mut tokio::signal::unix::Signal,
    sigint: &mut tokio::signal::unix::Signal,
) -> Result<ExitCode, String> {
    // 1. Runs a crash or a signal left unfinished.
    let unfinished = open(&state, def)?
        .unfinished_runs()
        .map_err(|e| e.to_string())?;
    let resumed: Vec<Planned> = unfinished
        .into_iter()
        .filter_map(|r| {
            let start = DateTime::parse_from_rfc3339(&r.interval_start)
                .ok()?
                .with_timezone(&s.tz);
            let end = DateTime::parse_from_rfc3339(&r.interval_end)
                .ok()?
                .with_timezone(&s.tz);
            eprintln!("{} resuming unfinished run {}", stamp(), r.run_id);
            Some(Planned {
                interval: Interval { start, end },
                record: r,
                claim: None,
            })
        })
        .collect();
    if !resumed.is_empty() {
        let (_, _, sig) = execute_all(
            def,
            ops.clone(),
            state.clone(),
            resumed.into_iter(),
            true,
            Some(GRACE),
            true,
        )
        .await;
        if sig.is_some() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    // 2. Catch up, then fire on the schedule.
    loop {
        let now = Utc::now();
        {
            let mut store = open(&state, def)?;
            let t = now.timestamp();
            if let Some((other, _)) = store
                .acquire_lease(me, t, t + LEASE_TTL)
                .map_err(|e| e.to_string())?
            {
                return Err(format!("lost the scheduler lease to {other}; stopping"));
            }
            let last = store
                .latest_scheduled()
                .map_err(|e| e.to_string())?
                .and_then(|l| parse_date(&l, s.tz));
            let decision =
                crate::scheduler::step(&s, &crate::scheduler::SystemClock, last, def.catchup);
            let due: Vec<Planned> = decision
                .due
                .iter()
                .map(|i| {
                    planned(
                        format!("scheduled__{}", i.start.to_rfc3339()),
                        "scheduled",
                        i,
                        &default_params(def),
                    )
                })
                .collect();
            drop(store);
            if !due.is_empty() {
                let (_, _, sig) = execute_all(
                    def,
                    ops.clone(),
                    state.clone(),
                    due.into_iter(),
                    true,
                    Some(GRACE),
                    true,
                )
                .await;
                if sig.is_some() {
                    return Ok(ExitCode::SUCCESS);
                }
                continue;
            }
        }
        let Some(next) = s.fire_after(now) else {
            eprintln!(
                "{} no fire time left (end_date passed); idle until stopped",
                stamp()
            );
            tokio::select! {
                _ = sigterm.recv() => return Ok(ExitCode::SUCCESS),
                _ = sigint.recv() => return Ok(ExitCode::SUCCESS),
            }
        };
        let wait = (next.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or_default();
        eprintln!(
            "{} next run at {} (in {}s)",
            stamp(),
            next.format("%Y-%m-%d %H:%M %Z"),
            wait.as_secs()
        );
        // Sleep until the fire time (the renewer keeps the lease).
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = sigterm.recv() => return Ok(ExitCode::SUCCESS),
            _ = sigint.recv() => return Ok(ExitCode::SUCCESS),
        }
    }
}
