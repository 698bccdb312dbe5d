//! Times as people read them on the pages: "3 min ago" (the exact UTC time goes in a `title`)
//! and durations such as "1m 05s".

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses a stored RFC 3339 timestamp.
pub fn parse(ts: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(ts, &Rfc3339).ok()
}

/// How long before `now` `ts` was, roughly: `just now`, `5 s ago`, `3 min ago`, `2 h ago`,
/// `4 d ago`; the stored text itself when it does not parse.
pub fn age(ts: &str, now: OffsetDateTime) -> String {
    let Some(t) = parse(ts) else {
        return ts.to_string();
    };
    let s = (now - t).whole_seconds().max(0);
    match s {
        0..=1 => "just now".into(),
        2..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// The exact time for a `title`: `2026-01-02 03:04:05 UTC`.
pub fn exact(ts: &str) -> String {
    match parse(ts) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => ts.to_string(),
    }
}

/// A job's run time: from `started` to `finished` (or `now` while it runs); `None` before it
/// started.
pub fn duration(
    started: Option<&str>,
    finished: Option<&str>,
    now: OffsetDateTime,
) -> Option<String> {
    let start = parse(started?)?;
    let end = match finished {
        Some(f) => parse(f)?,
        None => now,
    };
    Some(seconds((end - start).whole_seconds().max(0)))
}

/// `45s`, `1m 05s`, `2h 03m`.
pub fn seconds(s: i64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_durations_read_naturally() {
        let now = parse("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(age("2026-01-02T03:04:05Z", now), "just now");
        assert_eq!(age("2026-01-02T03:03:05Z", now), "1 min ago");
        assert_eq!(age("2025-12-30T03:04:05Z", now), "3 d ago");
        assert_eq!(age("nonsense", now), "nonsense");
        assert_eq!(exact("2026-01-02T03:04:05Z"), "2026-01-02 03:04:05 UTC");
        assert_eq!(
            duration(
                Some("2026-01-02T03:00:00Z"),
                Some("2026-01-02T03:01:05Z"),
                now
            )
            .as_deref(),
            Some("1m 05s")
        );
        assert_eq!(duration(None, None, now), None);
        assert_eq!(seconds(7380), "2h 03m");
    }
}
