//! Text for people: humanised times, truncation on character boundaries, the job table, and the
//! plain-text forms of `show` and `status`. Everything here is pure so it can be tested exactly.
//!
//! Job fields come from webhooks and are untrusted; [`one_line`] makes them inert before they
//! reach a terminal, here and in the UI. `--raw` ([`Fields::Raw`]) and `logs` into a pipe are the
//! deliberate exceptions.

use crate::sanitize::one_line;
use microci_proto::{DaemonStatus, Job};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use unicode_width::UnicodeWidthChar;

/// Parses an RFC 3339 timestamp from the daemon.
pub fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A duration the way a person says it: `45s`, `1m20s`, `2h05m`, `3d4h`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// How long ago `ts` was: `just now`, `3m ago`, `2h ago`, `5d ago`.
pub fn age(ts: &str, now: OffsetDateTime) -> String {
    let Some(t) = parse_ts(ts) else {
        return "?".into();
    };
    let secs = (now - t).whole_seconds().max(0);
    if secs < 10 {
        "just now".into()
    } else if secs < 60 {
        format!("{secs}s ago")
    } else if secs < 3600 {
        format!("{}m ago", secs / 60)
    } else if secs < 86400 {
        format!("{}h ago", secs / 3600)
    } else {
        format!("{}d ago", secs / 86400)
    }
}

/// Run time of a job: start to finish, or start to now while it runs; `-` before it starts.
pub fn job_duration(job: &Job, now: OffsetDateTime) -> String {
    let Some(start) = job.started_at.as_deref().and_then(parse_ts) else {
        return "-".into();
    };
    let end = job.finished_at.as_deref().and_then(parse_ts).unwrap_or(now);
    human_duration((end - start).whole_seconds())
}

/// How untrusted job fields are written: cleaned (the UI, and `jobs` and `show` by default) or
/// verbatim (`--raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// Through [`one_line`]: what a terminal can safely show. The default, wherever output goes.
    Clean,
    /// Verbatim (`--raw`), for people who want the bytes and know what a terminal does with them.
    Raw,
}

impl Fields {
    /// `--raw` given or not.
    pub fn raw_if(raw: bool) -> Fields {
        if raw { Fields::Raw } else { Fields::Clean }
    }

    /// One field.
    pub fn text(self, s: &str) -> String {
        match self {
            Fields::Clean => one_line(s),
            Fields::Raw => s.to_string(),
        }
    }

    /// The first line of a commit message.
    pub fn first_line(self, s: &str) -> String {
        self.text(s.lines().next().unwrap_or("").trim_end())
    }

    /// The commit shortened to 10 characters.
    pub fn short_commit(self, c: &str) -> String {
        self.text(&c.chars().take(10).collect::<String>())
    }

    /// A ref as people say it: `refs/heads/main` is `main`; tags and others stay whole.
    pub fn short_ref(self, r: &str) -> String {
        // A pull (merge) request's head: `pr/123`.
        let pull = r
            .strip_prefix("refs/pull/")
            .or_else(|| r.strip_prefix("refs/merge-requests/"))
            .and_then(|rest| rest.strip_suffix("/head"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match pull {
            Some(n) => format!("pr/{n}"),
            None => self.text(r.strip_prefix("refs/heads/").unwrap_or(r)),
        }
    }
}

/// Display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Cuts `s` to at most `max` columns on a character boundary, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Pads `s` with spaces to `w` columns (no-op when wider).
pub fn pad(s: &str, w: usize) -> String {
    let have = width(s);
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(have)));
    out
}

const MAX_REPO: usize = 30;
const MAX_REF: usize = 24;
const MAX_MESSAGE: usize = 50;

/// The `jobs` table, newest first as given, with a header row. Column widths fit the content.
pub fn jobs_table(jobs: &[Job], now: OffsetDateTime, fields: Fields) -> String {
    let header = [
        "ID", "STATUS", "REPO", "REF", "COMMIT", "AGE", "DURATION", "MESSAGE",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    for j in jobs {
        rows.push([
            j.id.to_string(),
            j.status.to_string(),
            truncate(&fields.text(&j.repo), MAX_REPO),
            truncate(&fields.short_ref(&j.git_ref), MAX_REF),
            fields.short_commit(&j.commit),
            age(&j.created_at, now),
            job_duration(j, now),
            truncate(&fields.first_line(&j.message), MAX_MESSAGE),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i == 7 {
                line.push_str(cell);
            } else {
                line.push_str(&pad(cell, widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `show`: one job as labelled lines, then the full commit message.
pub fn job_details(job: &Job, now: OffsetDateTime, fields: Fields) -> String {
    let text = |s: &str| fields.text(s);
    let opt = |o: &Option<String>| o.as_deref().map(text).unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<10}{v}\n"));
    line("id", job.id.to_string());
    line("status", job.status.to_string());
    if let Some(r) = &job.reason {
        line("reason", text(r));
    }
    if let Some(c) = job.exit_code {
        line("exit code", c.to_string());
    }
    if let Some(w) = &job.waiting {
        line("queue", text(w));
    }
    line("repo", text(&job.repo));
    line("ref", text(&job.git_ref));
    if job.untrusted {
        line("trust", "untrusted: a fork's pull request".into());
    }
    line("commit", text(&job.commit));
    if let Some(u) = &job.commit_url {
        line("link", text(u));
    }
    if let Some(u) = &job.pull_url {
        line("pull", text(u));
    }
    line("author", text(&job.author));
    line("trigger", text(&job.trigger));
    if let Some(e) = &job.engine {
        line("engine", text(e));
    }
    for (k, v) in &job.params {
        line("param", format!("{}={}", text(k), text(v)));
    }
    line(
        "created",
        format!("{} ({})", text(&job.created_at), age(&job.created_at, now)),
    );
    line("started", opt(&job.started_at));
    line("finished", opt(&job.finished_at));
    line("duration", job_duration(job, now));
    line("log size", format!("{} bytes", job.log_size));
    if job.log_dropped > 0 {
        line(
            "log",
            format!(
                "truncated at docker.max_log, {} bytes of output dropped",
                job.log_dropped
            ),
        );
    }
    if let Some(r) = &job.status_report {
        line("forge", format!("status report: {}", text(r)));
    }
    for n in &job.notifications {
        line(
            "notify",
            format!("{} {}: {}", text(&n.target), text(&n.event), text(&n.state)),
        );
    }
    out.push('\n');
    for l in job.message.lines() {
        out.push_str("    ");
        out.push_str(&text(l));
        out.push('\n');
    }
    out
}

/// `status`: daemon health as labelled lines, then one `warning: …` line per weakening setting.
pub fn status_text(s: &DaemonStatus) -> String {
    let docker = if s.docker_reachable {
        "reachable".to_string()
    } else {
        match &s.docker_error {
            Some(e) => format!("UNREACHABLE: {}", one_line(e)),
            None => "UNREACHABLE".to_string(),
        }
    };
    let mut out = format!(
        "version   {}\nuptime    {}\nrunning   {} of {}\nqueued    {}\ndocker    {}\n",
        one_line(&s.version),
        human_duration(s.uptime_secs as i64),
        s.running,
        s.max_jobs,
        s.queued,
        docker
    );
    if !s.engines_down.is_empty() {
        let names: Vec<String> = s.engines_down.iter().map(|e| one_line(e)).collect();
        out.push_str(&format!(
            "engines   DOWN: {} (no new jobs; `microci-tui engines` says why)\n",
            names.join(", ")
        ));
    }
    if let Some(d) = &s.disk_low {
        out.push_str(&format!("disk      LOW: {}\n", one_line(d)));
    }
    if let Some(e) = &s.reload_error {
        out.push_str(&format!(
            "reload    FAILED (running on the previous configuration): {}\n",
            one_line(e)
        ));
    }
    for w in &s.warnings {
        out.push_str(&format!("warning: {}\n", one_line(w)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use microci_proto::JobStatus;
    use microci_testkit::fixtures::job;
    use time::macros::datetime;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(80), "1m20s");
        assert_eq!(human_duration(3600 + 5 * 60), "1h05m");
        assert_eq!(human_duration(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(human_duration(-5), "0s");
        let now = datetime!(2026-01-01 12:03:00 UTC);
        assert_eq!(age("2026-01-01T12:00:00Z", now), "3m ago");
        assert_eq!(age("2026-01-01T12:02:55Z", now), "just now");
        assert_eq!(age("garbage", now), "?");
        assert_eq!(job_duration(&job(1, JobStatus::Succeed), now), "1m20s");
        let mut running = job(2, JobStatus::Started);
        running.finished_at = None;
        assert_eq!(job_duration(&running, now), "2m55s");
        running.started_at = None;
        assert_eq!(job_duration(&running, now), "-");
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("héllo wörld", 20), "héllo wörld");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        // Wide characters count two columns and are never split.
        assert_eq!(truncate("日本語テキスト", 5), "日本…");
        assert_eq!(width(&truncate("日本語テキスト", 5)), 5);
        assert_eq!(truncate("🦀🦀🦀", 4), "🦀…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(Fields::Clean.short_commit("ä123456789abcdef"), "ä123456789");
    }

    #[test]
    fn control_characters_are_neutralised() {
        // The sequence goes whole, not just its ESC.
        assert_eq!(
            Fields::Clean.first_line("evil\x1b]0;pwned\x07 title\nmore"),
            "evil title"
        );
        assert_eq!(one_line("a\x1b[2Jb\u{9b}2Jc\td"), "abc\u{FFFD}d");
        assert!(
            !one_line("a\x1b[2Jb\u{9b}c\x7f")
                .chars()
                .any(|c| c.is_control())
        );
        // Bidirectional controls are shown, not obeyed, in every field.
        assert_eq!(one_line("alice\u{202E}cilA"), "alice<U+202E>cilA");
        assert_eq!(Fields::Clean.short_ref("refs/heads/\u{2066}x"), "<U+2066>x");
        assert_eq!(Fields::Clean.short_ref("refs/pull/123/head"), "pr/123");
        assert_eq!(
            Fields::Clean.short_ref("refs/merge-requests/7/head"),
            "pr/7"
        );
        assert_eq!(
            Fields::Clean.short_ref("refs/pull/x/head"),
            "refs/pull/x/head"
        );
        assert_eq!(
            Fields::Clean.first_line("evil\u{202E}txt.exe\nmore"),
            "evil<U+202E>txt.exe"
        );
    }

    #[test]
    fn table_layout() {
        let now = datetime!(2026-01-01 12:03:00 UTC);
        let mut b = job(9, JobStatus::Failed);
        b.repo = "bob/very-long-repository-name-that-goes-on".into();
        b.message = "Ünïcödé message that is rather long and will need truncation somewhere".into();
        let table = jobs_table(&[b, job(8, JobStatus::Succeed)], now, Fields::Clean);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "ID  STATUS   REPO                            REF   COMMIT      AGE     DURATION  MESSAGE"
        );
        assert_eq!(
            lines[1],
            "9   FAILED   bob/very-long-repository-name…  main  0123456789  3m ago  1m20s     Ünïcödé message that is rather long and will need…"
        );
        assert_eq!(
            lines[2],
            "8   SUCCEED  alice/app                       main  0123456789  3m ago  1m20s     Fix the thing"
        );
    }

    #[test]
    fn status_lines() {
        let s = DaemonStatus {
            uptime_secs: 80,
            running: 1,
            queued: 3,
            docker_reachable: false,
            docker_error: Some("connection refused".into()),
            ..healthy()
        };
        assert_eq!(
            status_text(&s),
            "version   0.1.0\nuptime    1m20s\nrunning   1 of 2\nqueued    3\ndocker    UNREACHABLE: connection refused\n"
        );
    }

    /// A healthy daemon's status, up 5 s, nothing running.
    fn healthy() -> DaemonStatus {
        DaemonStatus {
            version: "0.1.0".into(),
            uptime_secs: 5,
            running: 0,
            queued: 0,
            max_jobs: 2,
            docker_reachable: true,
            docker_error: None,
            warnings: Vec::new(),
            reload_error: None,
            disk_low: None,
            engines_down: Vec::new(),
        }
    }

    #[test]
    fn low_disk_is_in_the_status() {
        let s = DaemonStatus {
            disk_low: Some("waiting for disk space: 3.0 MiB free on /var/lib/microci".into()),
            engines_down: Vec::new(),
            ..healthy()
        };
        assert!(
            status_text(&s).ends_with(
                "docker    reachable\ndisk      LOW: waiting for disk space: 3.0 MiB free on \
                 /var/lib/microci\n"
            ),
            "{}",
            status_text(&s)
        );
    }

    #[test]
    fn a_failed_reload_is_in_the_status() {
        let s = DaemonStatus {
            reload_error: Some(
                "/etc/microci/config.toml: docker.max_job: unknown key\x1b[2J".into(),
            ),
            ..healthy()
        };
        assert!(
            status_text(&s).ends_with(
                "reload    FAILED (running on the previous configuration): \
                 /etc/microci/config.toml: docker.max_job: unknown key\n"
            ),
            "{}",
            status_text(&s)
        );
    }

    #[test]
    fn status_warnings_one_line_each_cleaned() {
        let s = DaemonStatus {
            warnings: vec![
                "webhook.allow_unsigned is on: anyone can start jobs".into(),
                "evil\x1b]0;t\x07\nsecond line\u{202E}".into(),
            ],
            ..healthy()
        };
        let text = status_text(&s);
        assert!(
            text.ends_with(
                "docker    reachable\nwarning: webhook.allow_unsigned is on: anyone can start jobs\n\
                 warning: evil\u{FFFD}second line<U+202E>\n"
            ),
            "{text:?}"
        );
    }

    #[test]
    fn details_say_what_a_pending_job_waits_for_and_what_started_it() {
        let now = datetime!(2026-01-01 12:03:00 UTC);
        let mut j = job(42, JobStatus::Pending);
        assert!(!job_details(&j, now, Fields::Clean).contains("queue"));
        j.waiting = Some("waiting for deploy (job 41)".into());
        j.trigger = "schedule".into();
        let text = job_details(&j, now, Fields::Clean);
        assert!(
            text.contains("\nstatus    PENDING\nqueue     waiting for deploy (job 41)\n"),
            "{text}"
        );
        assert!(text.contains("\ntrigger   schedule\n"), "{text}");
    }

    #[test]
    fn status_names_the_engines_down_and_show_the_engine_of_a_job() {
        let s = DaemonStatus {
            engines_down: vec!["b".into(), "arm\x1b[2J".into()],
            ..healthy()
        };
        assert!(
            status_text(&s).ends_with(
                "docker    reachable\nengines   DOWN: b, arm (no new jobs; `microci-tui engines` \
                 says why)\n"
            ),
            "{:?}",
            status_text(&s)
        );
        assert!(!status_text(&healthy()).contains("engines"));
        let now = datetime!(2026-01-01 12:03:00 UTC);
        let mut j = job(42, JobStatus::Started);
        assert!(!job_details(&j, now, Fields::Clean).contains("engine"));
        j.engine = Some("arm".into());
        let text = job_details(&j, now, Fields::Clean);
        assert!(text.contains("\nengine    arm\n"), "{text}");
    }

    #[test]
    fn details_show_dropped_output_and_raw_fields() {
        let now = datetime!(2026-01-01 12:03:00 UTC);
        let mut j = job(3, JobStatus::Failed);
        assert!(!job_details(&j, now, Fields::Clean).contains("truncated"));
        j.log_dropped = 1_234_567;
        j.author = "mallory\x1b]52;c;cm0=\x07\u{202E}".into();
        j.status_report = Some("retrying (HTTP 502: bad gateway)".into());
        j.notifications = vec![microci_proto::Notification {
            target: "mail".into(),
            event: "failed".into(),
            state: "gave up (the relay refused it)".into(),
        }];
        let text = job_details(&j, now, Fields::Clean);
        assert!(
            text.contains("\nforge     status report: retrying (HTTP 502: bad gateway)\n"),
            "{text}"
        );
        assert!(
            text.contains("\nnotify    mail failed: gave up (the relay refused it)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nlog       truncated at docker.max_log, 1234567 bytes of output dropped\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nauthor    mallory<U+202E>\n"), "{text}");
        let raw = job_details(&j, now, Fields::Raw);
        assert!(
            raw.contains("\nauthor    mallory\x1b]52;c;cm0=\x07\u{202E}\n"),
            "{raw}"
        );
    }
}
