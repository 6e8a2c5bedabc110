//! `scheduler`: fires runs on the schedule until SIGTERM or SIGINT. One
//! scheduler per state store, by a lease it renews. The loop runs on its
//! [`Clock`]: every "now" it reads and every wait for a fire time, and
//! what stops it is given to it ([`serve`]): signals in the binary, an
//! instant of a [`ManualClock`] in tests, which drive the whole loop
//! through hours of fire times without sleeping.
//!
//! [`ManualClock`]: crate::scheduler::ManualClock

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::error::{CliError, CliResult};
use super::launch::{Launcher, Listeners, Planned, next_signal, schedule, stamp};
use crate::operators::registry::Registered;
use crate::runs::{self, Runs};
use crate::scheduler::{Clock, Interval, Schedule, parse_date};
use crate::store::Store;
use crate::vocabulary::RunKind;

/// How long a scheduler's lease lasts without renewal: a crashed
/// scheduler blocks its successor for at most this long.
pub const LEASE_TTL: i64 = 30;
/// How often a running scheduler renews its lease.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How long running tasks may take to finish after SIGTERM or SIGINT.
const GRACE: Duration = Duration::from_secs(60);

fn holder() -> String {
    crate::claim::this_process()
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

/// `scheduler`: fires runs on the schedule until SIGTERM or SIGINT, then
/// exits 0.
pub fn scheduler(runs: Runs, ops: Vec<Registered>, clock: Rc<dyn Clock>) -> CliResult {
    serve(runs, ops, clock, signals)
}

/// What stops the binary's scheduler: the next SIGTERM or SIGINT, both
/// listened to from the moment the loop starts (made inside its runtime).
pub(super) fn signals() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut listen: Listeners = (
        Some(signal(SignalKind::terminate())?),
        Some(signal(SignalKind::interrupt())?),
    );
    Ok(async move {
        next_signal(&mut listen).await;
    })
}

/// The scheduler on `clock` until the future `stop` makes is ready (made
/// once its runtime is up): takes the lease, runs the loop, releases the
/// lease.
fn serve<F: Future<Output = ()>>(
    runs: Runs,
    ops: Vec<Registered>,
    clock: Rc<dyn Clock>,
    stop: impl FnOnce() -> std::io::Result<F>,
) -> CliResult {
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
            state: runs.describe(),
            until,
        });
    }
    eprintln!(
        "{} scheduler for `{}` ({} in {}), state {}",
        stamp(&*clock),
        def.name,
        def.schedule.unwrap_or(""),
        s.tz,
        runs.describe()
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
    let result = runs::block_on(scheduler.run(stop)).map_err(CliError::from);
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
    async fn run<F: Future<Output = ()>>(
        &self,
        stop: impl FnOnce() -> std::io::Result<F>,
    ) -> CliResult {
        let stop = std::pin::pin!(stop()?);
        // The renewer waits in real time, not on the clock: it is a
        // keep-alive for other processes, which read the lease's expiry
        // against their own clocks, not a decision of this loop (the
        // lease's instants are the clock's). A ManualClock's wait returns
        // at once, so waiting on it here would spin.
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
        let result = self.steps(stop).await;
        renewer.abort();
        result
    }

    /// Runs a crash or a signal left unfinished.
    fn unfinished(&self, store: &dyn Store) -> Result<Vec<Planned>, CliError> {
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
                let interval = Interval { start, end };
                Some(Planned {
                    req: runs::resume_request(r, &interval, params),
                    interval,
                    claim: None,
                })
            })
            .collect())
    }

    /// One decision at the clock's "now": the lease is renewed (or lost),
    /// the runs due since the last scheduled one are planned, and the next
    /// fire time after that "now" is when to look again.
    fn due(&self, store: &mut dyn Store) -> Result<(Vec<Planned>, Option<DateTime<Tz>>), CliError> {
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

    /// The loop: resume what was left unfinished, then run what is due and
    /// wait on the clock for the next fire time, until `stop` is ready
    /// (exit 0). A stop that comes while runs execute is the launcher's:
    /// SIGTERM and SIGINT reach it and its runs' executors directly.
    async fn steps(&self, mut stop: Pin<&mut dyn Future<Output = ()>>) -> CliResult {
        // 1. Runs a crash or a signal left unfinished.
        let resumed = self.unfinished(&*self.launcher.runs.open()?)?;
        if !resumed.is_empty() {
            let tally = self.launcher.execute_all(resumed.into_iter()).await;
            if tally.signal.is_some() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        // 2. Catch up, then fire on the schedule.
        loop {
            let (due, wake_at) = self.due(&mut *self.launcher.runs.open()?)?;
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
                stop.await;
                return Ok(ExitCode::SUCCESS);
            };
            let next_utc = next.with_timezone(&Utc);
            let wait = (next_utc - self.clock().now()).to_std().unwrap_or_default();
            eprintln!(
                "{} next run at {} (in {}s)",
                stamp(self.clock()),
                next.format("%Y-%m-%d %H:%M %Z"),
                wait.as_secs()
            );
            // Wait for the fire time on the clock (the renewer keeps the
            // lease); a stop already due wins.
            tokio::select! {
                biased;
                () = stop.as_mut() => return Ok(ExitCode::SUCCESS),
                () = self.clock().sleep_until(next_utc) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiled::{PipelineDef, TaskDef};
    use crate::operators::registry::builtins;
    use crate::runs::StateLocation;
    use crate::scheduler::ManualClock;
    use crate::state::{RunState, TaskState};
    use crate::store::RunRecord;

    static HOURLY: PipelineDef = HOURLY_DEF;

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
        let runs = Runs::new(
            &HOURLY,
            StateLocation::File(dir.path().join("hourly.state.db")),
        );
        let clock = Rc::new(ManualClock::new(utc("2026-01-01T02:30:00Z")));
        let s = scheduler(&runs, &clock);
        let mut store = runs.open().unwrap();
        let (due, wake) = s.due(&mut *store).unwrap();
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
        assert!(s.due(&mut *store).unwrap().0.is_empty());
        clock.set(utc("2026-01-01T04:00:00Z"));
        let (due, _) = s.due(&mut *store).unwrap();
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
        let runs = Runs::new(
            &HOURLY,
            StateLocation::File(dir.path().join("hourly.state.db")),
        );
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
        let e = s.due(&mut *store).map(|_| ()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "lost the scheduler lease to pid 2 on other; stopping"
        );
        // Once that lease has expired, by the clock, it is taken over.
        clock.set(utc("2026-01-01T02:31:00Z"));
        assert!(s.due(&mut *store).is_ok());
    }

    const fn noop(id: &'static str, upstream: &'static [usize]) -> TaskDef {
        TaskDef::test(id, "noop", "{}", upstream)
    }

    const HOURLY_DEF: PipelineDef = PipelineDef {
        name: "hourly",
        schedule: Some("0 * * * *"),
        start_date: Some("2026-01-01"),
        catchup: true,
        params: "{\"n\": 1}",
        ..PipelineDef::BLANK
    };
    /// Hourly noop tasks `a` then `b`, from 2026-01-01 00:00 to 04:00 UTC
    /// (the last logical date), with catchup.
    const HOURS: PipelineDef = PipelineDef {
        name: "hours",
        end_date: Some("2026-01-01T04:00:00Z"),
        tasks: &[noop("a", &[]), noop("b", &[0])],
        ..HOURLY_DEF
    };
    static CATCHUP: PipelineDef = HOURS;
    static LATEST: PipelineDef = PipelineDef {
        catchup: false,
        end_date: None,
        ..HOURS
    };

    /// Runs `f` on a thread of its own and fails if it takes 5 s: the loop
    /// under test waits for fire times hours apart, which a real sleep
    /// would take hours to reach.
    fn in_5s(f: impl FnOnce() + Send + 'static) {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = done.send(());
        });
        match finished.recv_timeout(Duration::from_secs(5)) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("the scheduler loop waited in real time")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the scheduler loop panicked")
            }
        }
    }

    /// The whole scheduler (lease, loop, release) on `clock` until it
    /// reads `stop_at`; the runs it recorded, oldest first.
    fn serve_until(runs: &Runs, clock: &Rc<ManualClock>, stop_at: &str) -> Vec<RunRecord> {
        let stop_at = utc(stop_at);
        let code = serve(runs.clone(), builtins(), clock.clone(), || {
            Ok(clock.reaches(stop_at))
        })
        .unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let mut store = runs.open().unwrap();
        // The lease is given up.
        let t = clock.now().timestamp();
        assert_eq!(
            store.acquire_lease("pid 2 on other", t, t + 1).unwrap(),
            None
        );
        store.release_lease("pid 2 on other").unwrap();
        let mut recorded = store.runs(100).unwrap();
        recorded.reverse();
        for r in &recorded {
            assert_eq!((r.kind, r.state), (RunKind::Scheduled, RunState::Success));
            let tasks = store.task_records(&r.run_id).unwrap();
            assert_eq!(tasks.len(), 2, "{}", r.run_id);
            assert!(tasks.iter().all(|t| t.state == TaskState::Success));
        }
        // One after the other, in the order of their intervals.
        for w in recorded.windows(2) {
            assert!(w[0].ended_at <= w[1].started_at, "{w:?}");
        }
        recorded
    }

    fn starts(recorded: &[RunRecord]) -> Vec<&str> {
        recorded.iter().map(|r| r.interval_start.as_str()).collect()
    }

    /// The whole loop on a ManualClock, nothing slept for real: it resumes
    /// the run a crash left unfinished, catches up the hours owed since
    /// start_date, waits on the clock for each following hour, idles after
    /// end_date, and stops when told.
    #[test]
    fn the_whole_loop_runs_on_the_injected_clock() {
        in_5s(|| {
            let dir = tempfile::tempdir().unwrap();
            let runs = Runs::new(
                &CATCHUP,
                StateLocation::File(dir.path().join("hours.state.db")),
            );
            // Left running by a crash, with params of its own.
            let tz = chrono_tz::UTC;
            let first = Interval {
                start: utc("2026-01-01T00:00:00Z").with_timezone(&tz),
                end: utc("2026-01-01T01:00:00Z").with_timezone(&tz),
            };
            let logical = first.start.to_rfc3339();
            let req = runs::request(
                RunKind::Scheduled.run_id(&logical),
                RunKind::Scheduled,
                &first,
                serde_json::json!({"n": 7}),
                None,
            );
            runs.open().unwrap().create_run(&req.run).unwrap();
            let clock = Rc::new(ManualClock::new(utc("2026-01-01T02:30:00Z")));
            let recorded = serve_until(&runs, &clock, "2026-01-01T05:00:00Z");
            assert_eq!(
                starts(&recorded),
                [
                    "2026-01-01T00:00:00+00:00",
                    "2026-01-01T01:00:00+00:00",
                    "2026-01-01T02:00:00+00:00",
                    "2026-01-01T03:00:00+00:00",
                    "2026-01-01T04:00:00+00:00",
                ]
            );
            assert_eq!(recorded[0].run_id, req.run.run_id);
            assert_eq!(recorded[4].interval_end, "2026-01-01T05:00:00+00:00");
            // The resumed run kept its params; the others have the defaults.
            let params: Vec<serde_json::Value> = recorded
                .iter()
                .map(|r| serde_json::from_str(&r.params).unwrap())
                .collect();
            assert_eq!(params[0], serde_json::json!({"n": 7}));
            assert!(
                params[1..]
                    .iter()
                    .all(|p| *p == serde_json::json!({"n": 1}))
            );
            // The last interval was due at 05:00; past end_date the loop
            // wakes no more and idles until stopped.
            assert_eq!(clock.now(), utc("2026-01-01T05:00:00Z"));
        });
    }

    /// Without catchup, the hours owed since start_date are not run: only
    /// the latest that ended, then each hour as it ends.
    #[test]
    fn without_catchup_the_loop_runs_only_the_latest_interval() {
        in_5s(|| {
            let dir = tempfile::tempdir().unwrap();
            let runs = Runs::new(
                &LATEST,
                StateLocation::File(dir.path().join("latest.state.db")),
            );
            let clock = Rc::new(ManualClock::new(utc("2026-01-01T05:30:00Z")));
            let recorded = serve_until(&runs, &clock, "2026-01-01T05:30:00Z");
            assert_eq!(starts(&recorded), ["2026-01-01T04:00:00+00:00"]);
            let recorded = serve_until(&runs, &clock, "2026-01-01T07:00:00Z");
            assert_eq!(
                starts(&recorded),
                [
                    "2026-01-01T04:00:00+00:00",
                    "2026-01-01T05:00:00+00:00",
                    "2026-01-01T06:00:00+00:00",
                ]
            );
        });
    }
}
