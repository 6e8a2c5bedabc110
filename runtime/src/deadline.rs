//! A run's SLA deadline (`sla:`, docs/monitoring.md#deadlines): shared
//! with the compiler, which checks `finish_by` with [`parse_finish_by`].

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `finish_by: "08:00"`: a local time of day, `HH:MM` on a 24-hour clock.
pub fn parse_finish_by(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// When a run fired at `fire` (its interval's end) misses its SLA: `max`
/// after the fire time, or the first `finish_by` local time in `tz` after
/// it, whichever comes first. A local time that a DST change skips is
/// read as the first instant after the gap; one it repeats, as the first
/// of the two.
pub fn sla_deadline(
    fire: DateTime<Utc>,
    tz: Tz,
    max: Option<Duration>,
    finish_by: Option<NaiveTime>,
) -> Option<DateTime<Utc>> {
    let by_duration = max.and_then(|d| fire.checked_add_signed(d));
    let by_clock = finish_by.and_then(|time| {
        let local = fire.with_timezone(&tz).date_naive();
        // Today's, else tomorrow's (a day later at most: 48 h covers any
        // DST change).
        (0..3).find_map(|days| {
            let day = local + chrono::Days::new(days);
            let at = resolve(tz, day.and_time(time))?;
            (at > fire).then_some(at)
        })
    });
    match (by_duration, by_clock) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A local date-time in `tz` as an instant: the earlier of two in a fold,
/// the first minute after a gap.
fn resolve(tz: Tz, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=180).find_map(|minutes| {
        tz.from_local_datetime(&(local + Duration::minutes(minutes)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn finish_by_is_hh_mm() {
        assert_eq!(parse_finish_by("08:00"), NaiveTime::from_hms_opt(8, 0, 0));
        assert_eq!(parse_finish_by("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
        for bad in ["8:00", "24:00", "08:60", "0800", "08:00:00", "ab:cd", ""] {
            assert_eq!(parse_finish_by(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_earlier_of_the_duration_and_the_local_time() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // Fired 06:30 Paris (05:30 UTC in winter).
        let fire = utc("2026-11-24T05:30:00Z");
        let eight = parse_finish_by("08:00");
        assert_eq!(
            sla_deadline(fire, paris, None, eight),
            Some(utc("2026-11-24T07:00:00Z"))
        );
        assert_eq!(
            sla_deadline(fire, paris, Some(Duration::hours(1)), eight),
            Some(utc("2026-11-24T06:30:00Z"))
        );
        assert_eq!(
            sla_deadline(fire, paris, Some(Duration::hours(3)), eight),
            Some(utc("2026-11-24T07:00:00Z"))
        );
        // Fired after 08:00: tomorrow's 08:00.
        assert_eq!(
            sla_deadline(utc("2026-11-24T09:00:00Z"), paris, None, eight),
            Some(utc("2026-11-25T07:00:00Z"))
        );
        assert_eq!(sla_deadline(fire, paris, None, None), None);
        // A duration past chrono's range is no deadline (no panic).
        assert_eq!(sla_deadline(fire, paris, Some(Duration::MAX), None), None);
    }

    #[test]
    fn a_local_time_skipped_by_dst_is_the_first_instant_after_the_gap() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // 2026-03-29: 02:00 -> 03:00 in Paris; 02:30 does not exist.
        let fire = utc("2026-03-29T00:00:00Z");
        assert_eq!(
            sla_deadline(fire, paris, None, parse_finish_by("02:30")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // 2026-10-25: 03:00 -> 02:00; 02:30 happens twice: the first.
        let fire = utc("2026-10-24T22:00:00Z");
        assert_eq!(
            sla_deadline(fire, paris, None, parse_finish_by("02:30")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }
}
