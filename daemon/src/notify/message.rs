//! What a notification says, whatever carries it: the job document (JSON, for webhooks and
//! commands), a subject line, a plain text body and an HTML body with the job's state,
//! repository, branch, commit, message, author, duration, the last lines of its log and a link
//! to its page. Log text is a stranger's: terminal escapes are removed (by
//! `microci_proto::sanitize`, the vte parser the TUI and the pages share), other controls
//! dropped, bidirectional controls spelled out, and the HTML body (maud) escapes everything.

use maud::{DOCTYPE, html};
use microci_proto::Job;

/// How many log lines a message ends with.
pub const TAIL_LINES: usize = 30;
/// How many bytes from the end of the log are read for them.
pub const TAIL_BYTES: u32 = 64 * 1024;

/// Everything a notification is made from.
#[derive(Debug, Clone)]
pub struct Message {
    /// `failed`, `errored`, `fixed`, `succeeded` or `started`.
    pub event: String,
    /// The job as `show --json` has it.
    pub job: Job,
    /// The job's page, with `http.public_url`.
    pub url: Option<String>,
    /// The last lines of its log, cleaned.
    pub tail: Vec<String>,
}

impl Message {
    /// A message about `job`, with `log_end` (the end of its log, as read) cut to its last lines.
    pub fn new(event: &str, job: Job, public_url: Option<&str>, log_end: &str) -> Message {
        let url = public_url.map(|u| format!("{u}/jobs/{}", job.id));
        let clean = clean_log(log_end);
        let lines: Vec<&str> = clean.lines().collect();
        // The first line read may be cut in the middle when the log is longer than the window.
        let skip = lines.len().saturating_sub(TAIL_LINES);
        Message {
            event: event.to_string(),
            tail: lines[skip..].iter().map(|l| l.to_string()).collect(),
            job,
            url,
        }
    }

    /// The branch, tag or pull request in short (`main`, `v1`, `pr/3`).
    pub fn branch(&self) -> String {
        let r = &self.job.git_ref;
        if let Some(b) = r.strip_prefix("refs/heads/") {
            return b.to_string();
        }
        if let Some(t) = r.strip_prefix("refs/tags/") {
            return t.to_string();
        }
        let pr = r
            .strip_prefix("refs/pull/")
            .or_else(|| r.strip_prefix("refs/merge-requests/"))
            .and_then(|rest| rest.strip_suffix("/head"));
        match pr {
            Some(n) => format!("pr/{n}"),
            None => r.clone(),
        }
    }

    /// The commit in short.
    pub fn short_commit(&self) -> &str {
        self.job.commit.get(..10).unwrap_or(&self.job.commit)
    }

    /// What happened, in words: "failed", "errored", "is fixed", "succeeded", "started".
    pub fn verb(&self) -> &str {
        match self.event.as_str() {
            "fixed" => "is fixed",
            e => e,
        }
    }

    /// The subject: `[microci] alice/app main failed (#42)`.
    pub fn subject(&self) -> String {
        one_line(&format!(
            "[microci] {} {} {} (#{})",
            self.job.repo,
            self.branch(),
            self.verb(),
            self.job.id
        ))
    }

    /// How long the job ran, when it has started (`1m 5s`).
    pub fn duration(&self) -> Option<String> {
        let start = self.job.started_at.as_deref()?;
        let end = self
            .job
            .finished_at
            .clone()
            .unwrap_or_else(crate::store::now);
        let secs = crate::metrics::seconds_between(start, &end)?;
        Some(humantime::format_duration(std::time::Duration::from_secs(secs as u64)).to_string())
    }

    /// The facts as (label, value) pairs, in order, values cleaned to one line.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let j = &self.job;
        let mut f = vec![
            ("State", j.status.as_str().to_string()),
            ("Repository", one_line(&j.repo)),
            ("Branch", one_line(&self.branch())),
            ("Commit", j.commit.clone()),
            (
                "Message",
                one_line(j.message.lines().next().unwrap_or_default()),
            ),
            ("Author", one_line(&j.author)),
        ];
        if let Some(d) = self.duration() {
            f.push(("Duration", d));
        }
        if let Some(r) = &j.reason {
            f.push(("Reason", one_line(r)));
        }
        f
    }

    /// The plain text body.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.subject());
        for (k, v) in self.facts() {
            out.push_str(&format!("{k:<11} {v}\n"));
        }
        if let Some(u) = &self.url {
            out.push_str(&format!("{:<11} {u}\n", "Job"));
        }
        if !self.tail.is_empty() {
            out.push_str(&format!("\nLast {} lines of the log:\n\n", self.tail.len()));
            for l in &self.tail {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// The HTML body: every value escaped (maud escapes by default).
    pub fn html(&self) -> String {
        html! {
            (DOCTYPE)
            html { body {
                h2 { (self.subject()) }
                table { @for (k, v) in self.facts() {
                    tr { th align="left" { (k) } td { (v) } }
                } }
                @if let Some(u) = &self.url { p { a href=(u) { (u) } } }
                @if !self.tail.is_empty() {
                    p { "Last " (self.tail.len()) " lines of the log:" }
                    pre { @for l in &self.tail { (l) "\n" } }
                }
            } }
        }
        .into_string()
    }

    /// A one-line HTML summary (Matrix's `formatted_body`): the subject and the job's link.
    pub fn html_line(&self) -> String {
        html! {
            b { (self.subject()) }
            @if let Some(u) = &self.url { " " a href=(u) { (u) } }
        }
        .into_string()
    }

    /// The job document webhooks (`format = "json"`) and commands get.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "event": self.event,
            "job": self.job,
            "branch": self.branch(),
            "url": self.url,
            "log_tail": self.tail,
        })
    }
}

/// Text for one line: controls become spaces, bidirectional controls `<U+…>`.
fn one_line(s: &str) -> String {
    crate::store::clean_reason(s)
}

/// Log text with every escape sequence removed (colours too), a carriage return ending the
/// line, other controls but tab and newline dropped, bidirectional controls spelled out.
pub fn clean_log(raw: &str) -> String {
    use microci_proto::sanitize::{Control, Scanner, Sgr, Sink, Style};
    struct Collect(String);
    impl Sink for Collect {
        fn print(&mut self, c: char) {
            self.0.push(c);
        }
        fn control(&mut self, c: Control) {
            self.0.push(match c {
                Control::LineFeed | Control::CarriageReturn => '\n',
                Control::Tab => '\t',
            });
        }
        fn style(&mut self, _: &Style) {}
    }
    let mut out = Collect(String::with_capacity(raw.len()));
    Scanner::new(Sgr::Drop).feed(&raw.replace("\r\n", "\n"), &mut out);
    out.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_removed_and_bidi_spelled_out() {
        let raw = "\x1b[31mred\x1b[0m \x1b]0;title\x07ok\x1b[2J\u{202e}x\x08\n";
        assert_eq!(clean_log(raw), "red ok<U+202E>x\n");
        assert_eq!(clean_log("a\r\nb\rc"), "a\nb\nc");
    }

    #[test]
    fn the_tail_is_the_last_thirty_lines_and_html_is_escaped() {
        let mut job = microci_testkit::fixtures::job(42, microci_proto::JobStatus::Failed);
        job.message = "<script>alert(1)</script>\nbody".into();
        let log: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let m = Message::new("failed", job, Some("https://ci.example.com"), &log);
        assert_eq!(m.tail.len(), 30);
        assert_eq!(m.tail[0], "line 11");
        assert_eq!(m.subject(), "[microci] alice/app main failed (#42)");
        assert_eq!(m.duration().as_deref(), Some("1m 20s"));
        let html = m.html();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(m.text().contains("line 40\n"));
        assert!(m.text().contains("https://ci.example.com/jobs/"));
    }
}
