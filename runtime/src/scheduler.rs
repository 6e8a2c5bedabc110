//! When runs happen: data intervals from the cron schedule in the
//! pipeline's time zone, catchup, backfill ranges (Airflow's semantics: a
//! run covers an interval, its logical date is the interval's start, and
//! it starts when the interval ends).
//!
//! Everything here is a pure function of the schedule and the instants it
//! is given; the long-running loop (`cli/scheduler.rs`) asks a [`Clock`]
//! for "now" and waits for its next fire time on that clock, so tests
//! drive it through hours of fire times without sleeping.
//!
//! DST: fire times come from croner iterating in the zone. A local time
//! skipped when clocks go forward fires once, at the first valid instant
//! after it; a local time repeated when they go back fires once (the first
//! occurrence); both are covered by tests for America/New_York and
//! Europe/Berlin.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, Waker};

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A future a [`Clock`] returns.
pub type Wait<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Where the scheduler gets "now", and how it waits for a later instant.
/// The binary uses [`SystemClock`]; tests step a [`ManualClock`] through
/// days, DST changes included, without sleeping.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;

    /// Ready at `t` by this clock (at once if `t` has passed). Only with
    /// `rt`: the compiler, which shares this file, never waits.
    #[cfg(feature = "rt")]
    fn sleep_until(&self, t: DateTime<Utc>) -> Wait<'_>;

    /// Ready once this clock reads `t` or later, without moving it: a
    /// deadline (a run's `timeout`, its SLA), which a test reaches by
    /// setting the clock while the run goes on.
    #[cfg(feature = "rt")]
    fn at(&self, t: DateTime<Utc>) -> Wait<'_> {
        self.sleep_until(t)
    }
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Sleeps for real (tokio's timer: a monotonic clock).
    #[cfg(feature = "rt")]
    fn sleep_until(&self, t: DateTime<Utc>) -> Wait<'_> {
        let wait = (t - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stands still until it is moved: by [`ManualClock::set`],
/// or by waiting on it, which moves it to the instant waited for at once.
/// Tests step it through days, DST changes included, without sleeping.
#[derive(Debug)]
pub struct ManualClock {
    now: Cell<DateTime<Utc>>,
    /// Who waits in [`ManualClock::reaches`], woken when the time moves.
    waiting: RefCell<Vec<Waker>>,
}

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Cell::new(now),
            waiting: RefCell::new(Vec::new()),
        }
    }

    pub fn set(&self, now: DateTime<Utc>) {
        self.now.set(now);
        for w in self.waiting.take() {
            w.wake();
        }
    }

    /// Ready once this clock reads `t` or later, however it got there
    /// (what stops a scheduler loop under test at a given instant).
    pub fn reaches(&self, t: DateTime<Utc>) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.now() >= t {
                Poll::Ready(())
            } else {
                let mut waiting = self.waiting.borrow_mut();
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.get()
    }

    /// Moves the time to `t` (never back) when first polled, and is
    /// ready at once.
    #[cfg(feature = "rt")]
    fn sleep_until(&self, t: DateTime<Utc>) -> Wait<'_> {
        Box::pin(async move {
            if t > self.now() {
                self.set(t);
            }
        })
    }

    #[cfg(feature = "rt")]
    fn at(&self, t: DateTime<Utc>) -> Wait<'_> {
        Box::pin(self.reaches(t))
    }
}

/// One decision of the scheduler loop: the runs due now, and when to wake
/// up next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub due: Vec<Interval>,
    pub wake_at: Option<DateTime<Tz>>,
}

/// What the scheduler does at `clock.now()`, given the last recorded
/// scheduled run.
pub fn step(
    schedule: &Schedule,
    clock: &dyn Clock,
    last_logical: Option<DateTime<Utc>>,
    catchup: bool,
) -> Step {
    let now = clock.now();
    Step {
        due: schedule.due(now, last_logical, catchup),
        // The end of the next interval inside start_date..end_date: none
        // once end_date has passed (the scheduler then idles).
        wake_at: schedule.upcoming(now, 1).first().map(|i| i.end),
    }
}

/// A run's data interval: `[start, end)`; the run's logical date is `start`
/// and it is due at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Tz>,
    pub end: DateTime<Tz>,
}

/// A pipeline's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    /// The hours and minutes the pattern allows, ascending (a fast path
    /// for walking fire times; see [`Fires`]).
    hours: Vec<u32>,
    minutes: Vec<u32>,
    pub tz: Tz,
    /// First logical date (an interval never starts before it).
    pub start: Option<DateTime<Utc>>,
    /// Last logical date (no interval starts after it).
    pub end: Option<DateTime<Utc>>,
}

/// A schedule that cannot be used (the compiler checked both; a binary
/// whose data was edited by hand may still carry one).
#[derive(Debug)]
pub enum ScheduleError {
    /// Not a cron expression chime accepts.
    Cron {
        expr: String,
        error: croner::errors::CronError,
    },
    /// Not an IANA time zone name.
    TimeZone(String),
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::Cron { expr, error } => write!(f, "schedule `{expr}`: {error}"),
            ScheduleError::TimeZone(name) => write!(f, "unknown time zone {name}"),
        }
    }
}

impl std::error::Error for ScheduleError {}

/// A date (`2026-01-01`, the start of that day in `tz`) or an RFC 3339
/// date-time, in years 1 to 9999.
pub fn parse_date(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    match parse_when(text)? {
        When::Day(d) => day_start(tz, d).map(|t| t.with_timezone(&Utc)),
        When::Instant(t) => Some(t),
    }
}

/// What a `--date`, `--from` or `--to` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A calendar day in the pipeline's zone: `2026-11-24`.
    Day(NaiveDate),
    /// An exact instant: `2026-11-24T02:30:00+01:00`.
    Instant(DateTime<Utc>),
}

/// Parses a plain date or an RFC 3339 date-time; years 1 to 9999 only
/// (chrono alone accepts year 0 and `+99999-01-01`).
pub fn parse_when(text: &str) -> Option<When> {
    let text = text.trim();
    let in_range = |y: i32| (1..=9999).contains(&y);
    let four_digits = text.len() >= 4 && text.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    if !four_digits {
        return None;
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return in_range(d.year()).then_some(When::Day(d));
    }
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    in_range(t.year()).then(|| When::Instant(t.with_timezone(&Utc)))
}

/// The first instant of local day `d` in `tz`: midnight, or where a DST
/// change skips midnight (Havana, Santiago, Beirut), the first local time
/// after the gap.
pub fn day_start(tz: Tz, d: NaiveDate) -> Option<DateTime<Tz>> {
    let midnight = d.and_hms_opt(0, 0, 0)?;
    // Gaps are at most a few hours; walk them minute by minute.
    (0..24 * 60).find_map(|m| {
        tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
            .earliest()
    })
}

impl Schedule {
    /// The pipeline's schedule, or `None` when it has none.
    #[cfg(feature = "rt")]
    pub fn of(def: &crate::compiled::PipelineDef) -> Result<Option<Schedule>, ScheduleError> {
        let Some(expr) = def.schedule else {
            return Ok(None);
        };
        let tz: Tz = def
            .timezone
            .parse()
            .map_err(|_| ScheduleError::TimeZone(def.timezone.to_string()))?;
        let date = |d: Option<&str>| d.and_then(|t| parse_date(t, tz));
        Schedule::new(expr, tz, date(def.start_date), date(def.end_date)).map(Some)
    }

    pub fn new(
        expr: &str,
        tz: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Schedule, ScheduleError> {
        let cron = crate::schedule::parse(expr).map_err(|e| ScheduleError::Cron {
            expr: expr.to_string(),
            error: e,
        })?;
        let p = &cron.pattern;
        let hours = (0..24)
            .filter(|h| matches!(p.hour_match(*h), Ok(true)))
            .collect();
        let minutes = (0..60)
            .filter(|m| matches!(p.minute_match(*m), Ok(true)))
            .collect();
        Ok(Schedule {
            cron,
            hours,
            minutes,
            tz,
            start,
            end,
        })
    }

    /// Fire times strictly after `t`, in order.
    pub fn fires_after(&self, t: DateTime<Tz>) -> Fires<'_> {
        Fires {
            schedule: self,
            last: t,
        }
    }

    /// The first fire time strictly after `t`.
    pub fn fire_after(&self, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
    }

    /// Intervals in order, the first starting at the first fire time at or
    /// after `from` (or `start_date`, whichever is later).
    pub fn intervals_from(&self, from: DateTime<Utc>) -> impl Iterator<Item = Interval> + '_ {
        let from = self.start.map_or(from, |s| s.max(from));
        // The first fire time at or after `from`, found as the first one
        // after the second before it: an inclusive search misses a fire
        // time that DST moved (02:30 that happened at 03:00).
        let first = self.fire_after(from - chrono::Duration::seconds(1));
        let mut fires = first.map(|f| self.fires_after(f));
        let mut prev = first;
        std::iter::from_fn(move || {
            let start = prev?;
            let end = fires.as_mut()?.next()?;
            prev = Some(end);
            Some(Interval { start, end })
        })
        .take_while(move |i| self.end.is_none_or(|e| i.start.with_timezone(&Utc) <= e))
    }

    /// The next `n` intervals that are not yet due at `now` (for `next`).
    pub fn upcoming(&self, now: DateTime<Utc>, n: usize) -> Vec<Interval> {
        let Some(first_end) = self.fire_after(now) else {
            return Vec::new();
        };
        let Some(start) = self.cron.find_previous_occurrence(&first_end, false).ok() else {
            return Vec::new();
        };
        let from = start.with_timezone(&Utc);
        self.intervals_from(from)
            .filter(|i| i.end.with_timezone(&Utc) > now)
            .take(n)
            .collect()
    }

    /// The runs due at `now`: intervals that ended by `now` and start after
    /// the last recorded run (or at `start_date`). With `catchup`, all of
    /// them, oldest first; without, only the latest.
    pub fn due(
        &self,
        now: DateTime<Utc>,
        last_logical: Option<DateTime<Utc>>,
        catchup: bool,
    ) -> Vec<Interval> {
        let from = match last_logical {
            Some(last) => match self.fire_after(last) {
                Some(f) => f.with_timezone(&Utc),
                None => return Vec::new(),
            },
            None => match self.start {
                Some(s) => s,
                // Without a start_date nothing is owed: the latest interval only.
                None => return self.latest_ended(now).into_iter().collect(),
            },
        };
        if !catchup {
            // Only the latest interval that ended, if it is after the last run.
            return self
                .latest_ended(now)
                .filter(|i| i.start.with_timezone(&Utc) >= from)
                .into_iter()
                .collect();
        }
        self.intervals_from(from)
            .take_while(|i| i.end.with_timezone(&Utc) <= now)
            .collect()
    }

    /// The most recent interval that has ended by `now`.
    pub fn latest_ended(&self, now: DateTime<Utc>) -> Option<Interval> {
        let end = self
            .cron
            .find_previous_occurrence(&now.with_timezone(&self.tz), true)
            .ok()?;
        let start = self.cron.find_previous_occurrence(&end, false).ok()?;
        let i = Interval { start, end };
        let in_range = self.start.is_none_or(|s| start.with_timezone(&Utc) >= s)
            && self.end.is_none_or(|e| start.with_timezone(&Utc) <= e);
        in_range.then_some(i)
    }

    /// Intervals whose logical date lies in `[from, to]` (backfill).
    pub fn intervals_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
        self.intervals_from(from)
            .take_while(|i| i.start.with_timezone(&Utc) <= to)
            .collect()
    }
}

/// Fire times after a given instant: the iterator behind every interval.
///
/// croner finds each fire time by searching field by field, about a
/// microsecond apiece. Most fire times are plain local times that exist
/// once, so this walks the pattern's hours and minutes across the days
/// croner says match (`day_match` keeps its `L`, `W`, `#` and day-of-month
/// / day-of-week rules) and converts each local time to an instant. Where a
/// DST change is involved (the candidate local time is skipped or
/// repeated, or the last fire time was in a repeated hour) it asks croner,
/// so the DST behaviour is croner's exactly; a test checks both paths agree
/// over years of fire times in zones with unusual changes.
#[derive(Debug, Clone)]
pub struct Fires<'a> {
    schedule: &'a Schedule,
    last: DateTime<Tz>,
}

impl Fires<'_> {
    /// The first local time the pattern allows strictly after `after`
    /// (seconds are always 0), within ten years; `None` beyond.
    fn next_local(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let s = self.schedule;
        let (h0, m0) = (after.hour(), after.minute());
        let mut date = after.date();
        let day_ok = |d: NaiveDate| {
            let weekday =
                croner::Weekday::from_days_from_sunday(d.weekday().num_days_from_sunday());
            matches!(s.cron.pattern.month_match(d.month()), Ok(true))
                && matches!(
                    s.cron
                        .pattern
                        .day_match(d.year(), d.month(), d.day(), weekday),
                    Ok(true)
                )
        };
        if day_ok(date) {
            // Later today: the first (h, m) after (h0, m0).
            for &h in s.hours.iter().filter(|h| **h >= h0) {
                let from = if h == h0 { m0 + 1 } else { 0 };
                if let Some(&m) = s.minutes.iter().find(|m| **m >= from) {
                    return date.and_hms_opt(h, m, 0);
                }
            }
        }
        for _ in 0..3660 {
            date = date.succ_opt()?;
            if day_ok(date) {
                return date.and_hms_opt(*s.hours.first()?, *s.minutes.first()?, 0);
            }
        }
        None
    }

    /// croner's answer: the reference, used at DST changes.
    fn croner_next(&self) -> Option<DateTime<Tz>> {
        self.schedule
            .cron
            .find_next_occurrence(&self.last, false)
            .ok()
    }
}

impl Iterator for Fires<'_> {
    type Item = DateTime<Tz>;

    fn next(&mut self) -> Option<DateTime<Tz>> {
        let tz = self.schedule.tz;
        let last_local = self.last.naive_local();
        let plain = |n: NaiveDateTime| match tz.from_local_datetime(&n) {
            LocalResult::Single(t) => Some(t),
            _ => None,
        };
        let fast = plain(last_local)
            .and_then(|_| self.next_local(last_local))
            .and_then(plain)
            .filter(|t| *t > self.last);
        let next = match fast {
            Some(t) => Some(t),
            None => self.croner_next(),
        }?;
        self.last = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Offset;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(i: &Interval) -> String {
        i.start.format("%Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn daily_0230_new_york_across_both_dst_changes() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let s = Schedule::new("30 2 * * *", tz, Some(utc("2026-03-06T00:00:00Z")), None).unwrap();
        let days: Vec<String> = s
            .intervals_from(utc("2026-03-06T00:00:00Z"))
            .take(4)
            .map(|i| local(&i))
            .collect();
        // 2026-03-08 02:30 does not exist: it fires once, at 03:00 EDT; no day is skipped.
        assert_eq!(
            days,
            [
                "2026-03-06 02:30 EST",
                "2026-03-07 02:30 EST",
                "2026-03-08 03:00 EDT",
                "2026-03-09 02:30 EDT"
            ]
        );
        let autumn: Vec<String> = s
            .intervals_from(utc("2026-10-31T00:00:00Z"))
            .take(3)
            .map(|i| local(&i))
            .collect();
        assert_eq!(
            autumn,
            [
                "2026-10-31 02:30 EDT",
                "2026-11-01 02:30 EST",
                "2026-11-02 02:30 EST"
            ]
        );
    }

    #[test]
    fn hourly_berlin_never_skips_or_doubles_an_hour() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = Schedule::new("0 * * * *", tz, None, None).unwrap();
        // Spring: 02:00 local does not exist on 2026-03-29.
        let spring: Vec<String> = s
            .intervals_from(utc("2026-03-28T23:30:00Z"))
            .take(4)
            .map(|i| local(&i))
            .collect();
        assert_eq!(
            spring,
            [
                "2026-03-29 01:00 CET",
                "2026-03-29 03:00 CEST",
                "2026-03-29 04:00 CEST",
                "2026-03-29 05:00 CEST"
            ]
        );
        // Autumn: 02:00-03:00 local happens twice on 2026-10-25; every real hour fires once.
        let autumn: Vec<DateTime<Utc>> = s
            .intervals_from(utc("2026-10-24T23:00:00Z"))
            .take(5)
            .map(|i| i.start.with_timezone(&Utc))
            .collect();
        let gaps: Vec<i64> = autumn
            .windows(2)
            .map(|w| (w[1] - w[0]).num_minutes())
            .collect();
        assert!(gaps.iter().all(|g| *g == 60 || *g == 120), "{gaps:?}");
        let unique: std::collections::BTreeSet<_> = autumn.iter().collect();
        assert_eq!(unique.len(), autumn.len(), "no interval twice");
    }

    #[test]
    fn hourly_new_york_never_skips_or_doubles_an_hour() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let s = Schedule::new("0 * * * *", tz, None, None).unwrap();
        // Spring, 2026-03-08: 02:00 local does not exist.
        let spring: Vec<String> = s
            .intervals_from(utc("2026-03-08T05:30:00Z"))
            .take(3)
            .map(|i| local(&i))
            .collect();
        assert_eq!(
            spring,
            [
                "2026-03-08 01:00 EST",
                "2026-03-08 03:00 EDT",
                "2026-03-08 04:00 EDT"
            ]
        );
        // Autumn, 2026-11-01: 01:00-02:00 local happens twice; no real hour fires twice.
        let autumn: Vec<DateTime<Utc>> = s
            .intervals_from(utc("2026-11-01T03:30:00Z"))
            .take(5)
            .map(|i| i.start.with_timezone(&Utc))
            .collect();
        let unique: std::collections::BTreeSet<_> = autumn.iter().collect();
        assert_eq!(unique.len(), autumn.len(), "no interval twice");
        assert!(
            autumn.windows(2).all(|w| (w[1] - w[0]).num_minutes() >= 60),
            "{autumn:?}"
        );
    }

    #[test]
    fn daily_0230_berlin_spring_forward() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = Schedule::new("30 2 * * *", tz, None, None).unwrap();
        let days: Vec<String> = s
            .intervals_from(utc("2026-03-27T12:00:00Z"))
            .take(3)
            .map(|i| local(&i))
            .collect();
        assert_eq!(
            days,
            [
                "2026-03-28 02:30 CET",
                "2026-03-29 03:00 CEST",
                "2026-03-30 02:30 CEST"
            ]
        );
    }

    #[test]
    fn catchup_counts_end_date_and_no_catchup() {
        let tz: Tz = "UTC".parse().unwrap();
        let s = Schedule::new(
            "0 0 * * *",
            tz,
            Some(utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-10T00:00:00Z")),
        )
        .unwrap();
        let now = utc("2026-01-05T12:00:00Z");
        // Intervals 01-02, 02-03, 03-04, 04-05 have ended.
        let due = s.due(now, None, true);
        assert_eq!(due.len(), 4);
        assert_eq!(due[0].start, utc("2026-01-01T00:00:00Z"));
        // After a recorded run of 01-02, three remain.
        assert_eq!(s.due(now, Some(utc("2026-01-01T00:00:00Z")), true).len(), 3);
        // Without catchup, only the latest.
        let latest = s.due(now, None, false);
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].start, utc("2026-01-04T00:00:00Z"));
        // end_date: nothing starts after 2026-01-10.
        let late = s.due(
            utc("2026-02-01T00:00:00Z"),
            Some(utc("2026-01-05T00:00:00Z")),
            true,
        );
        assert_eq!(
            late.last().map(|i| i.start.with_timezone(&Utc)),
            Some(utc("2026-01-10T00:00:00Z"))
        );
        assert_eq!(late.len(), 5);
        // Backfill range by logical date.
        assert_eq!(
            s.intervals_between(utc("2026-01-03T00:00:00Z"), utc("2026-01-06T00:00:00Z"))
                .len(),
            4
        );
    }

    #[test]
    fn upcoming_lists_intervals_not_yet_due() {
        let tz: Tz = "Asia/Seoul".parse().unwrap();
        let s = Schedule::new("0 2 * * *", tz, Some(utc("2026-01-01T00:00:00Z")), None).unwrap();
        let next = s.upcoming(utc("2026-03-09T12:00:00Z"), 2);
        assert_eq!(next.len(), 2);
        assert_eq!(
            next[0].end.format("%Y-%m-%d %H:%M").to_string(),
            "2026-03-10 02:00"
        );
        assert_eq!(next[0].start.format("%Y-%m-%d").to_string(), "2026-03-09");
    }

    /// Drives the scheduler's decisions with a fake clock, waking exactly
    /// when each step asks, and returns the logical dates it ran.
    fn simulate(s: &Schedule, from: &str, until: &str, catchup: bool) -> Vec<String> {
        let clock = ManualClock::new(utc(from));
        let mut last = None;
        let mut ran = Vec::new();
        while clock.now() < utc(until) {
            let st = step(s, &clock, last, catchup);
            for i in &st.due {
                ran.push(local(i));
                last = Some(i.start.with_timezone(&Utc));
            }
            let Some(wake) = st.wake_at else { break };
            clock.set(wake.with_timezone(&Utc));
        }
        ran
    }

    #[test]
    fn the_loop_with_a_fake_clock_runs_each_day_once_across_dst() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let s = Schedule::new("30 2 * * *", tz, Some(utc("2026-03-06T00:00:00Z")), None).unwrap();
        let ran = simulate(&s, "2026-03-06T00:00:00Z", "2026-03-10T12:00:00Z", true);
        assert_eq!(
            ran,
            [
                "2026-03-06 02:30 EST",
                "2026-03-07 02:30 EST",
                "2026-03-08 03:00 EDT",
                "2026-03-09 02:30 EDT"
            ]
        );
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = Schedule::new("30 2 * * *", tz, Some(utc("2026-10-23T00:00:00Z")), None).unwrap();
        let ran = simulate(&s, "2026-10-23T00:00:00Z", "2026-10-27T12:00:00Z", true);
        assert_eq!(
            ran,
            [
                "2026-10-23 02:30 CEST",
                "2026-10-24 02:30 CEST",
                "2026-10-25 02:30 CEST",
                "2026-10-26 02:30 CET"
            ]
        );
    }

    /// The scheduler wakes only for intervals it will run: before
    /// start_date at the end of the first one, and not at all once
    /// end_date has passed (it used to wake at every fire time, forever,
    /// printing "next run at" for runs it would never start).
    #[test]
    fn the_scheduler_wakes_only_for_intervals_inside_its_dates() {
        let tz: Tz = "UTC".parse().unwrap();
        let s = Schedule::new(
            "0 * * * *",
            tz,
            Some(utc("2026-01-01T10:00:00Z")),
            Some(utc("2026-01-01T12:00:00Z")),
        )
        .unwrap();
        let wake = |now: &str| {
            step(&s, &ManualClock::new(utc(now)), None, true)
                .wake_at
                .map(|w| w.with_timezone(&Utc))
        };
        assert_eq!(
            wake("2026-01-01T07:30:00Z"),
            Some(utc("2026-01-01T11:00:00Z"))
        );
        assert_eq!(
            wake("2026-01-01T11:30:00Z"),
            Some(utc("2026-01-01T12:00:00Z"))
        );
        // The last interval starts at end_date, 12:00, and is due at 13:00.
        assert_eq!(
            wake("2026-01-01T12:30:00Z"),
            Some(utc("2026-01-01T13:00:00Z"))
        );
        assert_eq!(wake("2026-01-01T13:30:00Z"), None);
    }

    #[test]
    fn the_loop_catches_up_after_downtime_or_not() {
        let tz: Tz = "UTC".parse().unwrap();
        let s = Schedule::new("0 * * * *", tz, Some(utc("2026-01-01T00:00:00Z")), None).unwrap();
        // Started 5 hours late: catchup runs the 5 missed hours at once, in order.
        let clock = ManualClock::new(utc("2026-01-01T05:30:00Z"));
        let st = step(&s, &clock, None, true);
        assert_eq!(st.due.len(), 5);
        assert_eq!(
            st.wake_at.map(|w| w.with_timezone(&Utc)),
            Some(utc("2026-01-01T06:00:00Z"))
        );
        // Without catchup: only the latest hour.
        assert_eq!(step(&s, &clock, None, false).due.len(), 1);
    }

    /// The fast walk and croner agree, fire time for fire time, over years
    /// of DST changes in zones with unusual ones: a 30-minute change (Lord
    /// Howe), changes at midnight (Santiago, Havana), a skipped day (Apia,
    /// 2011), none (Kolkata), and the usual (New York, Berlin).
    #[test]
    fn fast_fire_times_match_croner_everywhere() {
        let zones = [
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "America/Santiago",
            "America/Havana",
            "Pacific/Apia",
            "Asia/Kolkata",
        ];
        let patterns = [
            "*/5 * * * *",
            "0 * * * *",
            "30 * * * *",
            "*/20 0-3 * * *",
            "30 2 * * *",
            "0 0 * * *",
            "15,45 1-3 * * 1-5",
            "0 0 L * *",
            "0 12 * * 1#2",
            "0 0 29 2 *",
            "0 0,12 1 * 1",
            "59 23 31 12 *",
            "0 9 LW * *",
        ];
        for zone in zones {
            let tz: Tz = zone.parse().unwrap();
            // Two days before each change of UTC offset in 2011 and 2026,
            // plus a quiet day.
            let mut starts = vec![utc("2026-06-15T00:00:00Z")];
            for year in [2011, 2026] {
                let mut day = utc(&format!("{year}-01-01T00:00:00Z"));
                let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
                while day.year() == year {
                    let next = day + chrono::Duration::days(1);
                    if offset(day) != offset(next) {
                        starts.push(day - chrono::Duration::days(2));
                    }
                    day = next;
                }
            }
            assert!(starts.len() > 1 || zone == "Asia/Kolkata", "{zone}");
            for pattern in patterns {
                let s = Schedule::new(pattern, tz, None, None).unwrap();
                for from in &starts {
                    let start = from.with_timezone(&tz);
                    let until = *from + chrono::Duration::days(5);
                    let window = |t: &DateTime<Tz>| t.with_timezone(&Utc) < until;
                    let n = s.cron.iter_after(start).take_while(window).count().max(3);
                    let fast: Vec<_> = s.fires_after(start).take(n).collect();
                    let reference: Vec<_> = s.cron.iter_after(start).take(n).collect();
                    let diff = (0..n).find(|i| fast.get(*i) != reference.get(*i));
                    assert_eq!(
                        diff.map(|i| (i, fast.get(i), reference.get(i))),
                        None,
                        "{zone} `{pattern}` from {from}: first difference (index, fast, croner)"
                    );
                }
            }
        }
    }

    #[test]
    fn a_hundred_thousand_fire_times() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = Schedule::new("*/5 * * * *", tz, None, None).unwrap();
        let n = s
            .intervals_from(utc("2026-01-01T00:00:00Z"))
            .take(100_000)
            .count();
        assert_eq!(n, 100_000);
    }
}
