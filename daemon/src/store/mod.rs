//! The job store: SQLite (WAL) is the single source of truth for jobs and known repositories.
//! One thread owns the write connection and batches waiting writes into one transaction; readers
//! use their own connections from a small pool.

mod notices;
mod pages;
pub mod params;
mod read;
mod schema;
mod writer;

pub use notices::{Notice, NotifyRules};
pub use pages::{BranchRow, JobPage, PageQuery};
pub use read::{Reader, Visible};
pub use writer::Writer;
pub use writer::{FINAL_STATES, now_ms};

use microci_proto::{JobStatus, RepoInfo};
use std::path::Path;

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread is gone (the daemon is shutting down).
    #[error("database writer has stopped")]
    WriterGone,
    /// A blocking read task failed.
    #[error("database read task failed: {0}")]
    Task(String),
}

/// A job about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Full repository name.
    pub repo: String,
    /// Full ref.
    pub git_ref: String,
    /// 40-hex commit (shorter only for a Bitbucket pull request, until its fetch resolves it).
    pub commit: String,
    /// Commit message.
    pub message: String,
    /// Pusher or person who asked.
    pub author: String,
    /// URL to clone from (may carry no credentials: those come from config).
    pub clone_url: String,
    /// `webhook`, `manual` or `retry`.
    pub trigger: String,
    /// Forge route name, for redelivery detection.
    pub forge: Option<String>,
    /// Forge delivery id; a second delivery with the same id returns the first job.
    pub delivery_id: Option<String>,
    /// The job this one retries.
    pub retry_of: Option<i64>,
    /// Return the PENDING or STARTED job of the same repository, ref and commit instead of a new
    /// one: a replayed delivery (another delivery id, another forge route) must not multiply
    /// work. Webhooks set it; a person's retry or run does not.
    pub dedupe_active: bool,
    /// The forge route whose API hears of this job's life (commit statuses), when a token
    /// applied as it was queued.
    pub report_via: Option<String>,
    /// A fork's pull request: a stranger's code.
    pub untrusted: bool,
    /// The commit's page on the forge.
    pub commit_url: Option<String>,
    /// The pull request's page on the forge.
    pub pull_url: Option<String>,
    /// Where the commit is fetched from when the repository does not serve `git_ref`
    /// (Bitbucket pull requests): the branch, and the fork holding it (`None`: this repository).
    pub source_ref: Option<String>,
    /// See `source_ref`.
    pub source_repo: Option<String>,
    /// Extra environment a person gave a manual run (kept by its retries).
    pub params: std::collections::BTreeMap<String, String>,
}

impl NewJob {
    /// A job a person asked for (a run or a retry): no forge delivery, no commit status, never
    /// folded into another job; the caller changes what differs with struct update syntax.
    pub fn manual(repo: String, git_ref: String, commit: String, clone_url: String) -> NewJob {
        NewJob {
            repo,
            git_ref,
            commit,
            message: String::new(),
            author: String::new(),
            clone_url,
            trigger: "manual".into(),
            forge: None,
            delivery_id: None,
            retry_of: None,
            dedupe_active: false,
            report_via: None,
            untrusted: false,
            commit_url: None,
            pull_url: None,
            source_ref: None,
            source_repo: None,
            params: Default::default(),
        }
    }
}

/// A commit status waiting in the outbox, with what its delivery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The outbox row.
    pub id: i64,
    /// Which job.
    pub job_id: i64,
    /// `pending`, `running`, `success`, `failure`, `error` or `canceled`.
    pub state: String,
    /// One line for people.
    pub description: String,
    /// When it was queued (Unix ms): past a day it is given up.
    pub created_ms: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// The job's repository.
    pub repo: String,
    /// The job's commit.
    pub commit: String,
    /// The forge route it goes to.
    pub forge: String,
}

/// How one delivery attempt of a [`Report`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The forge took it.
    Delivered,
    /// Try again at `next_ms` (Unix ms).
    Retry {
        /// When.
        next_ms: i64,
        /// What went wrong, for `show`.
        error: String,
    },
    /// No more attempts.
    GaveUp {
        /// Why, for `show`.
        error: String,
    },
}

impl Delivery {
    /// The outcome as a metric label: `delivered`, `retry` or `gave_up`.
    pub fn label(&self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Retry { .. } => "retry",
            Delivery::GaveUp { .. } => "gave_up",
        }
    }
}

/// A job as stored, with what the daemon needs beyond the public view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The public view. `log_size` is the size recorded when the job ended (0 before): the job
    /// service fills in the live size of a running job's log.
    pub job: microci_proto::Job,
    /// Where to clone from.
    pub clone_url: String,
    /// The branch to fetch when the repository does not serve the job's ref (see
    /// [`NewJob::source_ref`]).
    pub source_ref: Option<String>,
    /// The fork that branch is in, fetched from the same server at the fork's path.
    pub source_repo: Option<String>,
    /// The forge route the job's commit statuses go to, if any.
    pub report_via: Option<String>,
    /// The concurrency group its `.microci.json` named, once a checkout has read it.
    pub concurrency: Option<String>,
}

/// A state change the scheduler asks for; applied only if the job is in one of `from`.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Which job.
    pub id: i64,
    /// States the job may be in for the change to apply.
    pub from: Vec<JobStatus>,
    /// The new state.
    pub to: JobStatus,
    /// Why (for anything but SUCCEED).
    pub reason: Option<String>,
    /// The command's exit code.
    pub exit_code: Option<i64>,
    /// Output bytes not stored because the log reached `docker.max_log`.
    pub log_dropped: u64,
    /// The log's size when the job ended.
    pub log_size: u64,
}

impl Transition {
    /// A change to `to` from any of `from`, with nothing else recorded.
    pub fn new(id: i64, from: &[JobStatus], to: JobStatus) -> Transition {
        Transition {
            id,
            from: from.to_vec(),
            to,
            reason: None,
            exit_code: None,
            log_dropped: 0,
            log_size: 0,
        }
    }
}

/// A STARTED job's container, recorded after it is created and before it starts, so that a daemon
/// started again finds it, re-attaches, and counts the timeout from the real start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Which job.
    pub id: i64,
    /// The engine's container id.
    pub container: String,
    /// Where the container's output starts in the job's log: the log's size minus this, plus what
    /// was dropped over the cap, is how much of the output the log already holds.
    pub output_at: u64,
    /// The job's timeout.
    pub timeout: std::time::Duration,
    /// When the container was started, in Unix milliseconds.
    pub started_ms: i64,
    /// Its `.microci.json` says a newer push to the same ref may stop it.
    pub interruptible: bool,
}

/// A job's concurrency group and why it waits for it, as `show` says it.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// Which job.
    pub id: i64,
    /// Its group, when its `.microci.json` named it (kept as it was when `None`).
    pub group: Option<String>,
    /// `waiting for deploy (job 41)`, or `None` when it no longer waits (kept only while the
    /// job is PENDING).
    pub text: Option<String>,
}

/// A job found STARTED when the daemon starts.
#[derive(Debug, Clone)]
pub struct Started {
    /// The job.
    pub record: JobRecord,
    /// Its container, when one had been created; `None` while it was still being checked out.
    pub run: Option<Run>,
}

/// Result of recording a job.
#[derive(Debug, Clone)]
pub struct Inserted {
    /// The job (the earlier one for a redelivery).
    pub job: microci_proto::Job,
    /// True when no new job was made: the delivery id was seen before, or (with
    /// [`NewJob::dedupe_active`]) the same commit is already queued or running.
    pub duplicate: bool,
}

/// A repository seen in a webhook or configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRow {
    /// Full name.
    pub name: String,
    /// Clone URL (no credentials).
    pub clone_url: String,
    /// Default branch when the forge told us.
    pub default_branch: Option<String>,
    /// Whether the forge says the repository is public; `None` keeps what it said before.
    pub public: Option<bool>,
}

impl From<RepoRow> for RepoInfo {
    fn from(r: RepoRow) -> RepoInfo {
        RepoInfo {
            name: r.name,
            default_branch: r.default_branch.unwrap_or_default(),
            clone_url: r.clone_url,
        }
    }
}

/// Opens (creating if needed) the database file `db`, brings it up to date, and starts the
/// writer thread.
pub fn open(db: &Path) -> Result<(Writer, Reader), StoreError> {
    let conn = schema::open_write(db)?;
    Ok((Writer::start(conn), Reader::new(db.to_path_buf())))
}

/// Now, as stored and sent: RFC 3339 UTC with whole seconds.
pub fn now() -> String {
    timestamp(time::OffsetDateTime::now_utc())
}

/// `t` as the store writes times (RFC 3339, whole seconds, UTC): such strings sort as times do.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A commit status's description: one line, cleaned, at most 140 characters (GitHub's limit).
pub(crate) fn status_description(text: &str) -> String {
    let one = clean_reason(text.lines().next().unwrap_or_default());
    if one.chars().count() <= 140 {
        return one;
    }
    let mut cut: String = one.chars().take(139).collect();
    cut.push('…');
    cut
}

/// A finished job retention may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prunable {
    /// Which job.
    pub id: i64,
    /// Its repository.
    pub repo: String,
    /// Its log's size when it ended.
    pub log_size: u64,
    /// When it ended.
    pub finished_at: String,
}

/// A known repository, for deciding whether its git cache is still wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoActivity {
    /// Full name.
    pub name: String,
    /// When a push (or a configuration) last named it.
    pub last_seen: String,
    /// Whether a job of it is PENDING or STARTED.
    pub busy: bool,
}

/// Makes a reason safe to store and show: one line, no control characters (a hostile git server
/// or Engine may put escape sequences into an error), bidirectional controls written as `<U+…>`.
pub fn clean_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    for c in reason.chars() {
        if crate::forge::names::is_bidi_control(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else if c.is_control() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    crate::forge::names::truncate_on_char_boundary(out.trim().to_string(), 4096)
}

#[cfg(test)]
mod tests;
