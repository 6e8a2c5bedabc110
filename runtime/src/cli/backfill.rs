//! `backfill`: every interval whose logical date is in a range, in order.

use std::process::ExitCode;
use std::rc::Rc;

use chrono::Utc;

use super::error::{CliError, CliResult};
use super::launch::{Launcher, Planned, Tally, schedule};
use crate::claim;
use crate::operators::registry::Registered;
use crate::runs::{self, Runs};
use crate::scheduler::{Clock, Interval, When, day_start, parse_when};
use crate::state::RunState;

use crate::vocabulary::RunKind;

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

/// `backfill --from D --to D [--reprocess] [--dry-run]`.
///
/// As Airflow's backfill: every interval whose logical date lies in the
/// range, both ends included; a plain date covers its whole local day
/// (`--from D --to D` runs the runs of day D). Intervals are produced one
/// at a time as runs finish, so a long range of a minutely schedule costs
/// no memory up front.
pub fn backfill(
    runs: Runs,
    ops: Vec<Registered>,
    clock: Rc<dyn Clock>,
    from: &str,
    to: &str,
    reprocess: Reprocess,
    dry_run: bool,
) -> CliResult {
    let def = runs.def;
    let s = schedule(def)?;
    let when = |flag: &'static str, text: &str| {
        parse_when(text).ok_or_else(|| CliError::BadBound {
            flag,
            text: text.to_string(),
        })
    };
    let start_of = |day: chrono::NaiveDate| {
        day_start(s.tz, day)
            .map(|t| t.with_timezone(&Utc))
            .ok_or(CliError::NoDayStart { day, tz: s.tz })
    };
    let from = match when("--from", from)? {
        When::Day(d) => start_of(d)?,
        When::Instant(t) => t,
    };
    // The first instant after the range.
    let until = match when("--to", to)? {
        When::Day(d) => start_of(
            d.succ_opt()
                .ok_or_else(|| CliError::NoDayAfter("--to".into()))?,
        )?,
        When::Instant(t) => t + chrono::Duration::nanoseconds(1),
    };
    if until <= from {
        return Err(CliError::EmptyRange);
    }
    let mut store = runs.open()?;
    let params = serde_json::Value::Object(runs::default_params(def));
    let (mut total, mut skipped, mut busy) = (0usize, 0usize, 0usize);
    let doing = claim::doing();
    let mut error = None;
    let intervals = s
        .intervals_from(from)
        .take_while(|i| i.start.with_timezone(&Utc) < until);
    let mut plan = |i: Interval| -> Result<Option<Planned>, CliError> {
        let logical = i.start.to_rfc3339();
        let (run_id, existing) = runs.find(&*store, RunKind::Backfill, &logical)?;
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
        if dry_run {
            println!("would run {run_id} (interval {} .. {})", i.start, i.end);
            return Ok(None);
        }
        // Claimed before its tasks are reset: never under a running process.
        let claim = match store.claim(&logical, None, &doing, &*clock) {
            Ok(c) => c,
            Err(e) => {
                println!("not run {logical}: {e}");
                busy += 1;
                return Ok(None);
            }
        };
        if reset {
            let records = store.task_records(&run_id)?;
            runs::reset(&mut *store, &run_id, &records, false)?;
        }
        // A resumed run keeps the params it recorded.
        let params = existing
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.params).ok())
            .unwrap_or_else(|| params.clone());
        Ok(Some(Planned {
            req: runs::request(run_id, RunKind::Backfill, &i, params, None),
            interval: i,
            claim: Some(claim),
        }))
    };
    let plans = intervals.map_while(|i| match plan(i) {
        Ok(p) => Some(p),
        Err(e) => {
            error = Some(e);
            None
        }
    });
    let tally = if dry_run {
        plans.for_each(drop);
        Tally::default()
    } else {
        let launcher = Launcher {
            runs: runs.clone(),
            ops: Rc::new(ops),
            clock: clock.clone(),
            drain: None,
            wait: false,
        };
        runs::block_on(launcher.execute_all(plans.flatten()))?
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
    let Tally { ok, failed, signal } = tally;
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
