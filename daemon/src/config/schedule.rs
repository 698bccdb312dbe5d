//! `[[repo]] schedule` and `[[repo]] concurrency`: cron patterns (with their time zone) checked
//! when the file is loaded, so a typo is named at `check-config` time, not at 3 in the morning.

use serde::Deserialize;

/// One `schedule` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub cron: String,
    pub branch: Option<String>,
    pub tz: Option<String>,
}

/// A validated schedule: when, in which time zone, and which branch's head it builds.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The pattern as written (its identity, with `branch` and `tz`, for the missed-run record).
    pub pattern: String,
    /// The parsed pattern.
    pub cron: croner::Cron,
    /// The branch to build; `None`: the repository's default branch.
    pub branch: Option<String>,
    /// The time zone's name as written; `None`: the server's.
    pub tz: Option<String>,
    /// The zone the pattern is read in.
    pub zone: jiff::tz::TimeZone,
}

impl Schedule {
    /// What identifies this schedule of `repo` across restarts and reloads: a schedule whose
    /// pattern, branch or zone changes is a new schedule (it does not inherit a missed run).
    pub fn key(&self, repo: &str) -> String {
        format!(
            "{repo}\n{}\n{}\n{}",
            self.pattern,
            self.branch.as_deref().unwrap_or(""),
            self.tz.as_deref().unwrap_or("")
        )
    }
}

/// Longest concurrency group name.
const MAX_GROUP: usize = 64;

/// Checks a concurrency group's name (from the config or a `.microci.json`): it is shown in
/// messages and stored, so letters, digits, `.`, `_`, `-` and `/` only.
pub fn check_group(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_GROUP {
        return Err(format!("{name:?} must be 1 to {MAX_GROUP} characters long"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        return Err(format!(
            "{name:?} has {c:?}: use letters, digits, '.', '_', '-' and '/'"
        ));
    }
    Ok(())
}

/// Parses a five-field cron pattern (minute hour day-of-month month day-of-week).
pub fn parse_cron(pattern: &str) -> Result<croner::Cron, String> {
    let fields = pattern.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "{pattern:?} has {fields} fields; a schedule has five: minute hour day-of-month \
             month day-of-week, e.g. \"0 3 * * *\""
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| format!("{pattern:?} is not a cron pattern: {e}"))
}

/// Finds a time zone by its IANA name in the system's database.
pub fn zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|_| {
        format!("{name:?} is not a time zone name known to this system (like \"Europe/Berlin\")")
    })
}

/// The server's time zone: `TZ`, else `/etc/localtime`, else UTC.
pub fn server_zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC)
}

/// Validates `[[repo]] schedule` (`key` is `repo[i]`).
pub(super) fn schedules(
    key: &str,
    raw: Option<Vec<RawSchedule>>,
) -> Result<Vec<Schedule>, super::credentials::KeyError> {
    let mut out = Vec::new();
    for (j, s) in raw.unwrap_or_default().into_iter().enumerate() {
        let at = |field: &str| format!("{key}.schedule[{j}].{field}");
        let cron = parse_cron(&s.cron).map_err(|m| (at("cron"), m))?;
        let zone_of = match &s.tz {
            Some(name) => zone(name).map_err(|m| (at("tz"), m))?,
            None => server_zone(),
        };
        if let Some(b) = &s.branch {
            let name = b.strip_prefix("refs/heads/").unwrap_or(b);
            if crate::forge::names::sanitize_branch(Some(name.to_string())).is_none() {
                return Err((at("branch"), format!("{b:?} is not a branch name")));
            }
        }
        out.push(Schedule {
            pattern: s.cron.split_whitespace().collect::<Vec<_>>().join(" "),
            cron,
            branch: s.branch,
            tz: s.tz,
            zone: zone_of,
        });
    }
    Ok(out)
}

/// Validates `[[repo]] concurrency`.
pub(super) fn concurrency(
    key: &str,
    raw: Option<String>,
) -> Result<Option<String>, super::credentials::KeyError> {
    match raw {
        None => Ok(None),
        Some(g) => {
            check_group(&g).map_err(|m| (format!("{key}.concurrency"), m))?;
            Ok(Some(g))
        }
    }
}
