//! What the interactive UI knows: the job list with its filter, the open job and the window of
//! its log that is kept, overlays (help, confirm, prompts, the repository picker), the connection
//! and daemon status.
//! Plain data; [`super::update`] changes it and [`super::view`] draws it.

mod log_window;

pub use log_window::LogWindow;

use super::prompt::{Confirm, Pick, Prompt};
use microci_proto::{Artifact, DaemonStatus, Job, JobQuery, JobStatus, RepoInfo, Request};

/// Jobs asked for per page of the list.
pub const PAGE: u32 = 100;
/// Bytes asked for per log read (the daemon caps reads at 256 KiB).
pub const LOG_READ: u64 = 64 * 1024;
/// Bytes of log a job view keeps; older or newer parts are dropped and re-read when needed.
pub const LOG_CAP: u64 = 1024 * 1024;
/// Rows the job view's header takes (details box).
pub const HEADER_ROWS: u16 = 6;

/// What a request was for, so its answer can be routed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// Daemon status for the status bar.
    Status,
    /// A page of the list; `generation` drops answers to a filter that has since changed.
    Jobs {
        /// The list generation the page belongs to.
        generation: u64,
        /// A page before the last job shown (appended) rather than the first (replaces).
        older: bool,
    },
    /// The `WatchJobs` subscription.
    Watch,
    /// A job's details, for the open job view.
    Job,
    /// A `FollowLog` subscription; `generation` drops events after the view moved on.
    Follow {
        /// The job-view follow generation.
        generation: u64,
    },
    /// A `ReadLog` for the part above the window.
    LogOlder {
        /// The job-view follow generation.
        generation: u64,
    },
    /// A `ReadLog` for the part below the window (when detached from the live tail).
    LogNewer {
        /// The job-view follow generation.
        generation: u64,
    },
    /// Cancel, retry or run: the answer becomes a message in the status line.
    Action,
    /// The repository list for a new run.
    Repos,
    /// An `Unsubscribe`; its answer is not shown.
    Unsubscribe,
    /// The artifact list for the `a` overlay.
    Artifacts,
}

/// What `update` asks the run loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send a request; route its answers with the tag.
    Send(Tag, Request),
    /// End the subscription(s) sent with this tag, if still open (the run loop knows the ids).
    Unsubscribe(Tag),
    /// Leave the UI.
    Quit,
}

/// The connection to the daemon as the status bar tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Conn {
    /// First connect in progress.
    #[default]
    Connecting,
    /// Greeted.
    Connected {
        /// The daemon's release from its hello.
        version: String,
    },
    /// Lost or never made; a retry is scheduled.
    Disconnected {
        /// Why.
        error: String,
        /// Seconds until the next attempt.
        retry_in: u64,
    },
}

/// List filters; the daemon applies them, and live updates are checked locally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this state (`s` cycles).
    pub status: Option<JobStatus>,
    /// Only this repository (`R`).
    pub repo: Option<String>,
    /// Free text (`/`).
    pub search: Option<String>,
}

impl Filter {
    /// The daemon query for a page before `before`.
    pub fn query(&self, before: Option<i64>) -> JobQuery {
        JobQuery {
            status: self.status,
            repo: self.repo.clone(),
            search: self.search.clone(),
            before,
            limit: PAGE,
        }
    }

    /// Whether a job changed live belongs in the list.
    pub fn matches(&self, j: &Job) -> bool {
        if self.status.is_some_and(|s| s != j.status) {
            return false;
        }
        if self.repo.as_ref().is_some_and(|r| *r != j.repo) {
            return false;
        }
        if let Some(q) = &self.search {
            let q = q.to_lowercase();
            let hay = [&j.repo, &j.git_ref, &j.commit, &j.message, &j.author];
            if !hay.iter().any(|h| h.to_lowercase().contains(&q)) {
                return false;
            }
        }
        true
    }
}

/// What a [`Prompt`] overlay's answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    /// Free-text filter.
    Search,
    /// Repository filter.
    Repo,
    /// The ref for a new run of this repository.
    Ref {
        /// Repository full name.
        repo: String,
    },
    /// The new run's parameters (`KEY=VALUE …`, shell quoting), the last step before it starts.
    Params {
        /// Repository full name.
        repo: String,
        /// The ref given in the step before (`None`: the default branch).
        git_ref: Option<String>,
    },
}

/// What sits on top of the screen, taking the keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Overlay {
    /// Nothing.
    #[default]
    None,
    /// The key list.
    Help,
    /// "Cancel job N? y/n".
    ConfirmCancel {
        /// The job to cancel on a yes.
        job: i64,
        /// The question.
        confirm: Confirm,
    },
    /// A line of text to type.
    Prompt {
        /// What the answer is for.
        kind: PromptKind,
        /// The label and the text typed so far.
        prompt: Prompt,
    },
    /// Choosing the repository for a new run, from `ListRepos` (empty while loading).
    PickRepo(Pick<RepoInfo>),
    /// The files a job kept (`a`), from `ListArtifacts` (empty while loading).
    Artifacts {
        /// The job.
        job: i64,
        /// Its artifacts.
        pick: Pick<Artifact>,
    },
}

/// The open job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    /// The job as last seen.
    pub job: Job,
    /// The kept part of its log.
    pub log: LogWindow,
    /// Stick to the end of the log.
    pub follow: bool,
    /// First line shown when not following.
    pub top: usize,
    /// Generation of the current follow subscription and reads.
    pub generation: u64,
}

/// Everything the UI shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// Connection state.
    pub conn: Conn,
    /// Last daemon status.
    pub status: Option<DaemonStatus>,
    /// Jobs shown, newest first.
    pub jobs: Vec<Job>,
    /// Highlighted row.
    pub selected: usize,
    /// Current filter.
    pub filter: Filter,
    /// Bumped when the filter changes; answers for older generations are dropped.
    pub list_generation: u64,
    /// A page is in flight.
    pub loading: bool,
    /// The daemon may have older jobs than the last one shown.
    pub more_older: bool,
    /// The open job, if any.
    pub job_view: Option<JobView>,
    /// Generations handed out to job views.
    pub follow_generation: u64,
    /// Overlay taking the keys.
    pub overlay: Overlay,
    /// One line of feedback (errors, "job 12 created").
    pub message: Option<String>,
    /// NO_COLOR is set.
    pub no_color: bool,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
}

impl Model {
    /// A fresh model for a terminal of `size`.
    pub fn new(size: (u16, u16), no_color: bool) -> Model {
        Model {
            size,
            no_color,
            more_older: true,
            ..Model::default()
        }
    }

    /// Rows available for log lines in the job view (minus details, message line, status bar).
    pub fn log_rows(&self) -> usize {
        self.size.1.saturating_sub(HEADER_ROWS + 2) as usize
    }

    /// Rows available for jobs in the list (minus title, header row, message line, status bar).
    pub fn list_rows(&self) -> usize {
        self.size.1.saturating_sub(4) as usize
    }

    /// Whether the daemon is connected.
    pub fn connected(&self) -> bool {
        matches!(self.conn, Conn::Connected { .. })
    }
}
