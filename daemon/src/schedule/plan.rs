//! When a schedule fires, as pure functions of a clock reading: the next planned time after a
//! moment, and which run (at most one) is due at a moment, including the one missed while the
//! daemon was down. Nothing here sleeps or reads the real time, so tests pass any `now`.

use crate::config::Schedule;
use jiff::{SignedDuration, Timestamp};

/// A run missed while the daemon was down still runs at start if it is less late than this.
pub const CATCH_UP: SignedDuration = SignedDuration::from_hours(24);

/// Where "now" comes from: the system's clock, or a test's.
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The first planned time strictly after `after`, read in the schedule's zone; `None` if the
/// pattern never matches again (say, February 30th).
pub fn next_after(s: &Schedule, after: Timestamp) -> Option<Timestamp> {
    let zoned = after.to_zoned(s.zone.clone());
    s.cron
        .find_next_occurrence(&zoned, false)
        .ok()
        .map(|z| z.timestamp())
}

/// The latest planned time in `(last, now]`, if any.
pub fn latest_in(s: &Schedule, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let zoned = now.to_zoned(s.zone.clone());
    let prev = s
        .cron
        .find_previous_occurrence(&zoned, true)
        .ok()?
        .timestamp();
    (prev > last).then_some(prev)
}

/// What to do about one schedule now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Start a job for the run planned at this time.
    Run(Timestamp),
    /// A run was planned at this time but it is too late (over [`CATCH_UP`]): skip it.
    TooLate(Timestamp),
    /// Nothing to do.
    Nothing,
}

/// Which run is due at `now`, given that every planned time up to `last` has been handled. Several
/// planned times in `(last, now]` (a daemon down for days, a suspended machine) make one run, of
/// the latest; a run more than [`CATCH_UP`] late is skipped.
pub fn due(s: &Schedule, last: Timestamp, now: Timestamp) -> Due {
    match latest_in(s, last, now) {
        None => Due::Nothing,
        Some(at) if now.duration_since(at) < CATCH_UP => Due::Run(at),
        Some(at) => Due::TooLate(at),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{parse_cron, zone};

    fn schedule(cron: &str, tz: &str) -> Schedule {
        Schedule {
            pattern: cron.into(),
            cron: parse_cron(cron).unwrap(),
            branch: Some("main".into()),
            tz: Some(tz.into()),
            zone: zone(tz).unwrap(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_run_is_read_in_the_schedules_zone() {
        let s = schedule("0 3 * * *", "Europe/Berlin");
        // 03:00 in Berlin in winter is 02:00 UTC.
        assert_eq!(
            next_after(&s, at("2026-12-01T12:00:00Z")),
            Some(at("2026-12-02T02:00:00Z"))
        );
        // Strictly after: the planned time itself gives the next day's.
        assert_eq!(
            next_after(&s, at("2026-12-02T02:00:00Z")),
            Some(at("2026-12-03T02:00:00Z"))
        );
        let utc = schedule("0 3 * * *", "UTC");
        assert_eq!(
            next_after(&utc, at("2026-12-01T12:00:00Z")),
            Some(at("2026-12-02T03:00:00Z"))
        );
        // In summer Berlin is UTC+2.
        assert_eq!(
            next_after(&s, at("2026-07-01T12:00:00Z")),
            Some(at("2026-07-02T01:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_changes_give_one_run_a_day() {
        // Berlin, 2026-03-29: 02:00 jumps to 03:00, so 02:30 does not exist that day.
        let s = schedule("30 2 * * *", "Europe/Berlin");
        let mut t = at("2026-03-27T12:00:00Z");
        let mut runs = Vec::new();
        for _ in 0..4 {
            t = next_after(&s, t).unwrap();
            runs.push(t);
        }
        let days: Vec<_> = runs
            .iter()
            .map(|r| r.to_zoned(s.zone.clone()).date().to_string())
            .collect();
        // The 29th's run is not dropped: it moves into the hour after the jump (like
        // Vixie cron), and no day has two.
        assert_eq!(
            days,
            ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"],
            "{runs:?}"
        );
        assert_eq!(runs[0], at("2026-03-28T01:30:00Z"));
        assert_eq!(runs[2], at("2026-03-30T00:30:00Z"));
        // 2026-10-25: 03:00 goes back to 02:00, so 02:30 happens twice: one run only.
        let mut t = at("2026-10-24T12:00:00Z");
        let mut runs = Vec::new();
        for _ in 0..3 {
            t = next_after(&s, t).unwrap();
            runs.push(t);
        }
        assert_eq!(
            runs,
            [
                at("2026-10-25T00:30:00Z"),
                at("2026-10-26T01:30:00Z"),
                at("2026-10-27T01:30:00Z")
            ]
        );
    }

    #[test]
    fn a_run_missed_less_than_a_day_ago_runs_once() {
        let s = schedule("0 3 * * *", "UTC");
        let last = at("2026-11-30T03:00:00Z");
        // Down from before 03:00 until 09:00: the 03:00 run is due, once.
        assert_eq!(
            due(&s, last, at("2026-12-01T09:00:00Z")),
            Due::Run(at("2026-12-01T03:00:00Z"))
        );
        // Handled: nothing more until the next planned time.
        let last = at("2026-12-01T03:00:00Z");
        assert_eq!(due(&s, last, at("2026-12-01T09:00:00Z")), Due::Nothing);
        assert_eq!(
            due(&s, last, at("2026-12-02T03:00:00Z")),
            Due::Run(at("2026-12-02T03:00:00Z"))
        );
    }

    #[test]
    fn a_run_missed_a_day_or_more_ago_is_skipped() {
        let s = schedule("0 3 * * *", "UTC");
        let last = at("2026-11-30T03:00:00Z");
        // 03:00 on the 1st was missed; at 03:00 on the 2nd it is exactly a day late, but the
        // 2nd's own run is due then.
        assert_eq!(
            due(&s, last, at("2026-12-02T03:00:00Z")),
            Due::Run(at("2026-12-02T03:00:00Z"))
        );
        // A weekly schedule missed 25 hours ago: skipped.
        let weekly = schedule("0 3 * * 1", "UTC");
        let monday = at("2026-11-30T03:00:00Z");
        assert_eq!(
            due(
                &weekly,
                at("2026-11-23T03:00:00Z"),
                at("2026-12-01T04:00:00Z")
            ),
            Due::TooLate(monday)
        );
        assert_eq!(
            due(
                &weekly,
                at("2026-11-23T03:00:00Z"),
                at("2026-12-01T02:59:00Z")
            ),
            Due::Run(monday)
        );
    }

    #[test]
    fn many_missed_runs_make_one() {
        // Every 10 minutes, down for an hour: one run, of the latest planned time.
        let s = schedule("*/10 * * * *", "UTC");
        assert_eq!(
            due(&s, at("2026-12-01T10:00:00Z"), at("2026-12-01T11:05:00Z")),
            Due::Run(at("2026-12-01T11:00:00Z"))
        );
    }

    /// A test's clock: what the daemon's loop uses instead of the system's.
    struct Fixed(Timestamp);
    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    #[test]
    fn clocks_are_injectable() {
        let c: Box<dyn Clock> = Box::new(Fixed(at("2026-12-01T00:00:00Z")));
        assert_eq!(c.now(), at("2026-12-01T00:00:00Z"));
        assert!(SystemClock.now() > at("2026-01-01T00:00:00Z"));
    }
}
