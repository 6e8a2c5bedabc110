//! Many runs at once, for `backfill` and `scheduler`: each claims its
//! logical date, at most `max_active_runs` run together, and SIGTERM or
//! SIGINT stops the launching.

use std::rc::Rc;
use std::time::Duration;

use super::error::CliError;
use crate::claim::{self, Claim, ClaimError};
use crate::compiled::PipelineDef;
use crate::executor::{RunOutcome, RunRequest};
use crate::operators::registry::Registered;
use crate::runs::Runs;
use crate::scheduler::{Clock, Interval, Schedule};
use crate::state::RunState;
use crate::store::Store;

/// The pipeline's schedule; commands that need one fail without it.
pub fn schedule(def: &PipelineDef) -> Result<Schedule, CliError> {
    Schedule::of(def)?.ok_or(CliError::NoSchedule(def.name))
}

/// The time at the start of each line these commands print.
pub fn stamp(clock: &dyn Clock) -> String {
    clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One run to execute: what the executor is asked, and its interval.
pub struct Planned {
    pub req: RunRequest,
    pub interval: Interval,
    /// The claim on its logical date, when taken while planning.
    pub claim: Option<Claim>,
}

/// Runs runs: what they share.
pub struct Launcher {
    pub runs: Runs,
    pub ops: Rc<Vec<Registered>>,
    pub clock: Rc<dyn Clock>,
    /// On SIGTERM, how long running tasks may take to finish (`None`: they
    /// are stopped at once).
    pub drain: Option<Duration>,
    /// Whether a run whose date another process holds is waited for (the
    /// scheduler) or refused and counted as not run (backfill).
    pub wait: bool,
}

/// How many runs succeeded and failed, and the signal that stopped them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    pub signal: Option<i32>,
}

impl Launcher {
    /// Runs `plans` (taken one at a time, so a long backfill never holds
    /// them all), at most `max_active_runs` at once; stops launching on an
    /// interrupt. Each run first claims its logical date (`claim.rs`).
    pub async fn execute_all(&self, plans: impl Iterator<Item = Planned>) -> Tally {
        let max = self.runs.def.max_active_runs.max(1) as usize;
        let mut queue = plans;
        let mut running = tokio::task::JoinSet::new();
        let mut tally = Tally::default();
        let doing = claim::doing();
        let mut listen = listeners();
        let clock = &*self.clock;
        loop {
            while tally.signal.is_none() && running.len() < max {
                let Some(p) = queue.next() else { break };
                let opts = self.runs.options(true, self.drain, self.clock.clone());
                let (runs, ops, clock, doing) = (
                    self.runs.clone(),
                    self.ops.clone(),
                    self.clock.clone(),
                    doing.clone(),
                );
                let wait = self.wait;
                running.spawn_local(async move {
                    let req = p.req;
                    let id = req.run.run_id.clone();
                    let mut store = match runs.open() {
                        Ok(s) => s,
                        Err(e) => return (id, Err(CliError::from(e))),
                    };
                    let _claim = match p.claim {
                        Some(c) => c,
                        None => {
                            match claim_date(&*store, &req.run.logical_date, &doing, wait, &*clock)
                                .await
                            {
                                Ok(Some(c)) => c,
                                Ok(None) => return (id, Ok(RunOutcome::Interrupted(15))),
                                Err(e) => return (id, Err(CliError::from(e))),
                            }
                        }
                    };
                    eprintln!(
                        "{} starting run {} (interval {} .. {})",
                        stamp(&*clock),
                        req.run.run_id,
                        p.interval.start,
                        p.interval.end
                    );
                    (
                        id,
                        runs.execute_in(&mut *store, &ops, req, opts)
                            .await
                            .map_err(CliError::from),
                    )
                });
            }
            // A signal between two runs (no executor listening) stops the
            // launching too; one during a run also reaches its executor.
            let done = tokio::select! {
                done = running.join_next() => done,
                sig = next_signal(&mut listen), if tally.signal.is_none() => {
                    tally.signal = Some(sig);
                    eprintln!("{} stopping: no new runs are started", stamp(clock));
                    continue;
                }
            };
            let Some(done) = done else {
                break;
            };
            match done {
                Ok((id, Ok(RunOutcome::Finished(RunState::Success)))) => {
                    tally.ok += 1;
                    eprintln!("{} run {id}: success", stamp(clock));
                }
                Ok((id, Ok(RunOutcome::Finished(s)))) => {
                    tally.failed += 1;
                    eprintln!("{} run {id}: {s}", stamp(clock));
                }
                Ok((id, Ok(RunOutcome::Interrupted(sig)))) => {
                    tally.signal = Some(sig);
                    eprintln!(
                        "{} run {id}: interrupted; it resumes next time",
                        stamp(clock)
                    );
                }
                Ok((id, Err(e))) => {
                    tally.failed += 1;
                    eprintln!("{} run {id}: error: {e}", stamp(clock));
                }
                Err(e) => {
                    tally.failed += 1;
                    eprintln!("{} a run panicked: {e}", stamp(clock));
                }
            }
        }
        tally
    }
}

/// SIGTERM and SIGINT listeners (`None` where one cannot be made).
pub type Listeners = (
    Option<tokio::signal::unix::Signal>,
    Option<tokio::signal::unix::Signal>,
);

pub fn listeners() -> Listeners {
    use tokio::signal::unix::{SignalKind, signal};
    (
        signal(SignalKind::terminate()).ok(),
        signal(SignalKind::interrupt()).ok(),
    )
}

/// The next SIGTERM (15) or SIGINT (2).
pub async fn next_signal(l: &mut Listeners) -> i32 {
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
/// the holder lets go, or returns `None` on SIGTERM/SIGINT. The poll is in
/// real time, not on the clock: it waits for another process, not for an
/// instant (a ManualClock's wait returns at once and would make it spin).
async fn claim_date(
    store: &dyn Store,
    logical: &str,
    doing: &str,
    wait: bool,
    clock: &dyn Clock,
) -> Result<Option<Claim>, ClaimError> {
    let mut told = false;
    let mut listen = listeners();
    loop {
        match store.claim(logical, None, doing, clock) {
            Ok(c) => return Ok(Some(c)),
            Err(ClaimError::Busy(b)) if wait => {
                if !told {
                    eprintln!("{} waiting: {b}", stamp(clock));
                    told = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = next_signal(&mut listen) => return Ok(None),
                }
            }
            Err(e) => return Err(e),
        }
    }
}
