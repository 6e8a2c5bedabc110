//! `scheduler`: fires runs on the schedule until SIGTERM. One scheduler
//! per state store, by a lease it renews; every "now" it reads comes from
//! its [`Clock`], so tests drive its decisions with a [`ManualClock`].
//!
//! [`ManualClock`]: crate::scheduler::ManualClock

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::error::{CliError, CliResult};
use super::launch::{Launcher, Planned, schedule, stamp};
use crate::operators::registry::Registered;
use crate::runs::{self, Runs};
use crate::scheduler::{Clock, Interval, Schedule, parse_date};
use crate::spec::RunKind;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// How long a scheduler's lease lasts without renewal: a crashed
/// scheduler blocks its successor for at most this long.
pub const LEASE_TTL: i64 = 30;
/// How often a running scheduler renews its lease.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How long running tasks may take to finish after SIGTERM.
const GRACE: Duration = Duration::from_secs(60);

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
        Some(pid) if their_host == my_host => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// The scheduler: whose it is, what it runs, its clock.
struct Scheduler {
    launcher: Launcher,
    schedule: Schedule,
    /// The lease holder's name: `pid N on HOST`.
    me: String,
}

/// `scheduler`: fires runs on the schedule until SIGTERM.
pub fn scheduler(runs: Runs, ops: Vec<Registered>, clock: Rc<dyn Clock>) -> CliResult {
    let def = runs.def;
    let s = schedule(def)?;
    let me = holder();
    let mut store = runs.open()?;
    let now = clock.now().timestamp();
    let mut refused = store.acquire_lease(&me, now, now + LEASE_TTL)?;
    if let Some((other, _)) = &refused
        && holder_is_dead(other)
    {
        // The holder ran on this machine and its process is gone: no need
        // to wait for the lease to expire.
        eprintln!(
            "{} the previous scheduler ({other}) is gone; taking over its lease",
            stamp(&*clock)
        );
        store.release_lease(other)?;
        refused = store.acquire_lease(&me, now, now + LEASE_TTL)?;
    }
    if let Some((holder, until)) = refused {
        let until = DateTime::from_timestamp(until, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        return Err(CliError::LeaseHeld {
            holder,
            state: runs.state().display().to_string(),
            until,
        });
    }
    eprintln!(
        "{} scheduler for `{}` ({} in {}), state {}",
        stamp(&*clock),
        def.name,
        def.schedule.unwrap_or(""),
        s.tz,
        runs.state().display()
    );
    let scheduler = Scheduler {
        launcher: Launcher {
            runs: runs.clone(),
            ops: Rc::new(ops),
            clock: clock.clone(),
            drain: Some(GRACE),
            wait: true,
        },
        schedule: s,
        me,
    };
    let result = runs::block_on(scheduler.run()).map_err(CliError::from);
    if let Ok(mut store) = runs.open() {
        let _ = store.release_lease(&scheduler.me);
    }
    eprintln!("{} scheduler stopped", stamp(&*clock));
    result?
}

impl Scheduler {
    fn clock(&self) -> &dyn Clock {
        &*self.launcher.clock
    }

    /// Renews the lease (every 10 s) for as long as the scheduler lives,
    /// runs in progress included, so a long run never lets it lapse.
    async fn run(&self) -> CliResult {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let renewer = {
            let (runs, me, clock) = (
                self.launcher.runs.clone(),
                self.me.clone(),
                self.launcher.clock.clone(),
            );
            tokio::task::spawn_local(async move {
                loop {
                    tokio::time::sleep(LEASE_RENEW).await;
                    let t = clock.now().timestamp();
                    match runs
                        .open()
                        .and_then(|mut s| s.acquire_lease(&me, t, t + LEASE_TTL))
                    {
                        Ok(None) => {}
                        Ok(Some((other, _))) => {
                            eprintln!("{} warning: the lease is held by {other}", stamp(&*clock))
                        }
                        Err(e) => {
                            eprintln!("{} warning: renewing the lease: {e}", stamp(&*clock))
                        }
                    }
                }
            })
        };
        let result = self.steps(&mut sigterm, &mut sigint).await;
        renewer.abort();
        result
    }

    /// Runs a crash or a signal left unfinished.
    fn unfinished(&self, store: &SqliteStore) -> Result<Vec<Planned>, CliError> {
        let tz = self.schedule.tz;
        let default = serde_json::Value::Object(runs::default_params(self.launcher.runs.def));
        Ok(store
            .unfinished_runs()?
            .into_iter()
            .filter_map(|r| {
                let start = DateTime::parse_from_rfc3339(&r.interval_start)
                    .ok()?
                    .with_timezone(&tz);
                let end = DateTime::parse_from_rfc3339(&r.interval_end)
                    .ok()?
                    .with_timezone(&tz);
                eprintln!(
                    "{} resuming unfinished run {}",
                    stamp(self.clock()),
                    r.run_id
                );
                let params = serde_json::from_str(&r.params).unwrap_or_else(|_| default.clone());
                Some(Planned {
                    req: crate::executor::RunRequest {
                        ds: start.format("%Y-%m-%d").to_string(),
                        params,
                        only: None,
                        run: r,
                    },
                    interval: Interval { start, end },
                    claim: None,
                })
            })
            .collect())
    }

    /// One decision at the clock's "now": the lease is renewed (or lost),
    /// the runs due since the last scheduled one are planned, and the next
    /// fire time after that "now" is when to look again.
    fn due(
        &self,
        store: &mut SqliteStore,
    ) -> Result<(Vec<Planned>, Option<DateTime<Tz>>), CliError> {
        let s = &self.schedule;
        let def = self.launcher.runs.def;
        let t = self.clock().now().timestamp();
        if let Some((other, _)) = store.acquire_lease(&self.me, t, t + LEASE_TTL)? {
            return Err(CliError::LeaseLost(other));
        }
        let last = store.latest_scheduled()?.and_then(|l| parse_date(&l, s.tz));
        let decision = crate::scheduler::step(s, self.clock(), last, def.catchup);
        let params = serde_json::Value::Object(runs::default_params(def));
        let due = decision
            .due
            .iter()
            .map(|i| {
                let logical = i.start.to_rfc3339();
                Planned {
                    req: runs::request(
                        RunKind::Scheduled.run_id(&logical),
                        RunKind::Scheduled,
                        i,
                        params.clone(),
                        None,
                    ),
                    interval: *i,
                    claim: None,
                }
            })
            .collect();
        Ok((due, decision.wake_at))
    }

    async fn steps(
        &self,
        sigterm: &mut tokio::signal::unix::Signal,
        sigint: &mut tokio::signal::unix::Signal,
    ) -> CliResult {
        // 1. Runs a crash or a signal left unfinished.
        let resumed = self.unfinished(&self.launcher.runs.open()?)?;
        if !resumed.is_empty() {
            let tally = self.launcher.execute_all(resumed.into_iter()).await;
            if tally.signal.is_some() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        // 2. Catch up, then fire on the schedule.
        loop {
            let (due, wake_at) = self.due(&mut self.launcher.runs.open()?)?;
            if !due.is_empty() {
                let tally = self.launcher.execute_all(due.into_iter()).await;
                if tally.signal.is_some() {
                    return Ok(ExitCode::SUCCESS);
                }
                continue;
            }
            let Some(next) = wake_at else {
                eprintln!(
                    "{} no fire time left (end_date passed); idle until stopped",
                    stamp(self.clock())
                );
                tokio::select! {
                    _ = sigterm.recv() => return Ok(ExitCode::SUCCESS),
                    _ = sigint.recv() => return Ok(ExitCode::SUCCESS),
                }
            };
            let wait = (next.with_timezone(&Utc) - self.clock().now())
                .to_std()
                .unwrap_or_default();
            eprintln!(
                "{} next run at {} (in {}s)",
                stamp(self.clock()),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::PipelineDef;
    use crate::scheduler::ManualClock;

    static HOURLY: PipelineDef = PipelineDef {
        name: "hourly",
        description: "",
        schedule: Some("0 * * * *"),
        timezone: "UTC",
        start_date: Some("2026-01-01"),
        end_date: None,
        catchup: true,
        max_active_runs: 1,
        max_active_tasks: None,
        params: "{\"n\": 1}",
        connections: &[],
        on_failure: &[],
        tasks: &[],
    };

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn scheduler(runs: &Runs, clock: &Rc<ManualClock>) -> Scheduler {
        Scheduler {
            launcher: Launcher {
                runs: runs.clone(),
                ops: Rc::new(Vec::new()),
                clock: clock.clone(),
                drain: None,
                wait: true,
            },
            schedule: schedule(runs.def).unwrap(),
            me: "pid 1 on test".into(),
        }
    }

    fn ids(due: &[Planned]) -> Vec<&str> {
        due.iter().map(|p| p.req.run.run_id.as_str()).collect()
    }

    /// The scheduler's decisions read the injected clock only: stepped by
    /// hand, it catches up the hours owed since start_date, then plans
    /// only the hours that ended after the runs it recorded.
    #[test]
    fn the_runs_due_follow_the_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::new(&HOURLY, &dir.path().join("hourly.state.db"));
        let clock = Rc::new(ManualClock::new(utc("2026-01-01T02:30:00Z")));
        let s = scheduler(&runs, &clock);
        let mut store = runs.open().unwrap();
        let (due, wake) = s.due(&mut store).unwrap();
        assert_eq!(
            ids(&due),
            [
                "scheduled__2026-01-01T00:00:00+00:00",
                "scheduled__2026-01-01T01:00:00+00:00"
            ]
        );
        assert_eq!(due[0].req.params, serde_json::json!({"n": 1}));
        assert_eq!(due[0].req.ds, "2026-01-01");
        assert_eq!(
            wake.map(|w| w.with_timezone(&Utc)),
            Some(utc("2026-01-01T03:00:00Z"))
        );
        for p in &due {
            store.create_run(&p.req.run).unwrap();
        }
        // Nothing new until the next hour ends.
        assert!(s.due(&mut store).unwrap().0.is_empty());
        clock.set(utc("2026-01-01T04:00:00Z"));
        let (due, _) = s.due(&mut store).unwrap();
        assert_eq!(
            ids(&due),
            [
                "scheduled__2026-01-01T02:00:00+00:00",
                "scheduled__2026-01-01T03:00:00+00:00"
            ]
        );
    }

    /// The lease is renewed at the clock's time; another holder's live
    /// lease stops the scheduler.
    #[test]
    fn a_lease_taken_by_another_scheduler_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::new(&HOURLY, &dir.path().join("hourly.state.db"));
        let clock = Rc::new(ManualClock::new(utc("2026-01-01T02:30:00Z")));
        let s = scheduler(&runs, &clock);
        let mut store = runs.open().unwrap();
        let now = clock.now().timestamp();
        assert_eq!(
            store
                .acquire_lease("pid 2 on other", now, now + LEASE_TTL)
                .unwrap(),
            None
        );
        let e = s.due(&mut store).map(|_| ()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lost the scheduler lease to pid 2 on other; stopping"
        );
        // Once that lease has expired, by the clock, it is taken over.
        clock.set(utc("2026-01-01T02:31:00Z"));
        assert!(s.due(&mut store).is_ok());
    }
}
