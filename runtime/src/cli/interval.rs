//! Which run `run` and `task` mean: a day, an instant, the schedule's fire
//! time, an exact interval (as an orchestrator gives it), or the latest
//! interval that has ended.

use chrono::{DateTime, Utc};

use super::error::CliError;
use crate::compiled::PipelineDef;
use crate::scheduler::{Clock, Interval, Schedule, When, day_start, parse_when};

/// The flags that name a run's data interval (one of them at most).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WhichRun {
    /// The schedule's run of a day (2026-11-24), or the interval starting at an RFC 3339 instant.
    #[arg(long, value_name = "D")]
    pub date: Option<String>,
    /// The run a scheduler firing at this RFC 3339 instant starts: the latest interval that has ended by then (Argo's `scheduledTime`).
    #[arg(long, value_name = "T", conflicts_with_all = ["date", "latest", "interval_start"])]
    pub fire_time: Option<String>,
    /// The data interval's start, exactly (RFC 3339; Airflow's `data_interval_start`). Needs --interval-end.
    #[arg(long, value_name = "T", requires = "interval_end", conflicts_with_all = ["date", "latest"])]
    pub interval_start: Option<String>,
    /// The data interval's end, exactly (RFC 3339; Airflow's `data_interval_end`).
    #[arg(long, value_name = "T", requires = "interval_start")]
    pub interval_end: Option<String>,
    /// The latest interval that has ended, the one a scheduler firing now would run (the default).
    #[arg(long, conflicts_with = "date")]
    pub latest: bool,
}

impl WhichRun {
    /// `--date D`, for callers that name a day.
    pub fn date(text: &str) -> WhichRun {
        WhichRun {
            date: Some(text.to_string()),
            ..WhichRun::default()
        }
    }

    /// Whether the interval was given exactly (`--fire-time`,
    /// `--interval-start`): a recorded run of that logical date must cover
    /// the same interval.
    pub fn exact(&self) -> bool {
        self.fire_time.is_some() || self.interval_start.is_some()
    }
}

/// The data interval a manual run (or a task of one) covers.
///
/// A plain date (`2026-11-24`) names the run of that day: the first
/// interval of the schedule that starts on that local day, as the
/// scheduler would have run it (02:30 to 02:30 for `30 2 * * *`, not a
/// partial 00:00 to 02:30). A date on which the schedule does not fire is
/// refused. An RFC 3339 date-time starts the interval exactly there.
/// `--fire-time T` is the latest interval that has ended by T (the one
/// ending at T when T is a fire time). `--interval-start/--interval-end` are taken as given. Without any:
/// the latest interval that has ended. A pipeline without a schedule runs
/// the instant given (midnight for a date, today by default).
pub fn resolve(
    def: &PipelineDef,
    which: &WhichRun,
    clock: &dyn Clock,
) -> Result<Interval, CliError> {
    // The compiler checked the name (E031).
    let tz: chrono_tz::Tz = def.timezone.parse().unwrap_or(chrono_tz::UTC);
    let now = clock.now();
    // Manual runs may lie outside start_date..end_date.
    let schedule = match def.schedule {
        Some(expr) => Some(Schedule::new(expr, tz, None, None)?),
        None => None,
    };
    let local = |i: Interval| Interval {
        start: i.start.with_timezone(&tz),
        end: i.end.with_timezone(&tz),
    };
    if let Some(text) = &which.fire_time {
        let t = instant("--fire-time", text)?;
        let s = schedule.ok_or(CliError::NoSchedule(def.name))?;
        // At a fire time, the interval that ends there; later (a manual
        // submission, a late start), the one a scheduler would run then.
        return s
            .latest_ended(t)
            .map(local)
            .ok_or(CliError::NothingEnded(def.schedule.unwrap_or("")));
    }
    if let (Some(start), Some(end)) = (&which.interval_start, &which.interval_end) {
        let (s, e) = (
            instant("--interval-start", start)?,
            instant("--interval-end", end)?,
        );
        if e < s {
            return Err(CliError::IntervalBackwards {
                start: start.clone(),
                end: end.clone(),
            });
        }
        return Ok(Interval {
            start: s.with_timezone(&tz),
            end: e.with_timezone(&tz),
        });
    }
    let date = which.date.as_deref();
    let when = match date {
        None => When::Day(now.with_timezone(&tz).date_naive()),
        Some(text) => parse_when(text).ok_or_else(|| CliError::BadDate(text.to_string()))?,
    };
    if let (None, Some(s)) = (date, &schedule) {
        // No --date (or --latest): the latest interval that has ended, the
        // one the scheduler ran last (Airflow's manual trigger).
        let i = s
            .latest_ended(now)
            .ok_or(CliError::NothingEnded(def.schedule.unwrap_or("")))?;
        return Ok(local(i));
    }
    let no_start = |day| CliError::NoDayStart { day, tz };
    match (when, schedule) {
        (When::Instant(t), s) => {
            let start = t.with_timezone(&tz);
            let end = s
                .and_then(|s| s.fire_after(t))
                .map_or(start, |e| e.with_timezone(&tz));
            Ok(Interval { start, end })
        }
        (When::Day(d), None) => {
            let start = day_start(tz, d).ok_or_else(|| no_start(d))?;
            Ok(Interval { start, end: start })
        }
        (When::Day(d), Some(s)) => {
            let from = day_start(tz, d).ok_or_else(|| no_start(d))?;
            let next_day = d
                .succ_opt()
                .and_then(|n| day_start(tz, n))
                .ok_or_else(|| CliError::NoDayAfter(d.to_string()))?;
            match s.intervals_from(from.with_timezone(&Utc)).next() {
                Some(i) if i.start < next_day => Ok(local(i)),
                next => Err(CliError::NoRunOn {
                    schedule: def.schedule.unwrap_or(""),
                    day: d,
                    next: next.map(|i| i.start.format("%Y-%m-%d %H:%M %Z").to_string()),
                }),
            }
        }
    }
}

/// An RFC 3339 instant (a plain date is refused: it names no instant).
fn instant(flag: &'static str, text: &str) -> Result<DateTime<Utc>, CliError> {
    match parse_when(text) {
        Some(When::Instant(t)) => Ok(t),
        _ => Err(CliError::BadInstant {
            flag,
            text: text.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::{WhichRun, resolve};
    use crate::cli::CliError;
    use crate::compiled::PipelineDef;
    use crate::scheduler::ManualClock;

    /// 06:30 in Paris every day: an interval is 06:30 to 06:30 the next day.
    const PARIS: PipelineDef = PipelineDef {
        name: "paris",
        schedule: Some("30 6 * * *"),
        timezone: "Europe/Paris",
        ..PipelineDef::BLANK
    };

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).expect("instant").to_utc()
    }

    /// The interval as `start end`, in the pipeline's zone.
    fn interval(which: WhichRun, now: &str) -> Result<String, String> {
        let clock = ManualClock::new(at(now));
        resolve(&PARIS, &which, &clock)
            .map(|i| format!("{} {}", i.start.to_rfc3339(), i.end.to_rfc3339()))
            .map_err(|e| e.to_string())
    }

    const NOV_24: &str = "2026-11-24T06:30:00+01:00 2026-11-25T06:30:00+01:00";

    #[test]
    fn each_flag_names_the_interval_an_orchestrator_means() {
        let now = "2026-11-25T05:31:00Z"; // 06:31 in Paris, just after a fire
        let which = |f: fn(&mut WhichRun)| {
            let mut w = WhichRun::default();
            f(&mut w);
            w
        };
        // The day's run starts at the schedule's time, not at midnight.
        assert_eq!(
            interval(WhichRun::date("2026-11-24"), now).as_deref(),
            Ok(NOV_24)
        );
        // What a CronJob firing at 06:30 means: the interval that just ended.
        let latest = which(|w| w.latest = true);
        assert_eq!(interval(latest.clone(), now).as_deref(), Ok(NOV_24));
        assert_eq!(interval(WhichRun::default(), now).as_deref(), Ok(NOV_24));
        // A minute before that fire, the latest is the day before's.
        assert_eq!(
            interval(latest, "2026-11-25T05:29:00Z").as_deref(),
            Ok("2026-11-23T06:30:00+01:00 2026-11-24T06:30:00+01:00")
        );
        // Argo's scheduledTime: the interval ending at the fire time.
        let fire = which(|w| w.fire_time = Some("2026-11-25T05:30:00Z".into()));
        assert_eq!(interval(fire, now).as_deref(), Ok(NOV_24));
        // Airflow's data interval, taken as given.
        let exact = which(|w| {
            w.interval_start = Some("2026-11-24T05:30:00Z".into());
            w.interval_end = Some("2026-11-25T05:30:00Z".into());
        });
        assert_eq!(interval(exact, now).as_deref(), Ok(NOV_24));
    }

    #[test]
    fn a_late_fire_time_names_the_latest_run_and_a_backwards_interval_is_refused() {
        let now = "2026-11-26T00:00:00Z";
        // 07:00 in Paris, half an hour after the fire (a manual submission).
        let fire = WhichRun {
            fire_time: Some("2026-11-25T06:00:00Z".into()),
            ..WhichRun::default()
        };
        assert_eq!(interval(fire, now).as_deref(), Ok(NOV_24));
        let day = WhichRun {
            fire_time: Some("2026-11-25".into()),
            ..WhichRun::default()
        };
        let e = interval(day, now).expect_err("a day is no instant");
        assert!(
            e.starts_with("--fire-time `2026-11-25`: expected an RFC 3339"),
            "{e}"
        );
        let backwards = WhichRun {
            interval_start: Some("2026-11-25T05:30:00Z".into()),
            interval_end: Some("2026-11-24T05:30:00Z".into()),
            ..WhichRun::default()
        };
        let e = interval(backwards, now).expect_err("backwards");
        assert!(e.contains("is before --interval-start"), "{e}");
        // Without a schedule there is no fire time.
        static NONE: PipelineDef = PipelineDef {
            schedule: None,
            ..PARIS
        };
        let fire = WhichRun {
            fire_time: Some("2026-11-25T05:30:00Z".into()),
            ..WhichRun::default()
        };
        let clock = ManualClock::new(at(now));
        assert!(matches!(
            resolve(&NONE, &fire, &clock),
            Err(CliError::NoSchedule("paris"))
        ));
    }
}
