//! The job as every client sees it, and its states.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Where a job is in its life. The names are the first microci's and are part of the contract
/// (CLI filters, JSON output, the web page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Recorded, waiting for a free worker.
    Pending,
    /// Being cloned or running in its container.
    Started,
    /// The command exited 0.
    Succeed,
    /// The command exited non-zero, or ran out of time.
    Failed,
    /// Something that is not the command's fault went wrong.
    Errored,
    /// A person cancelled it.
    Canceled,
}

impl JobStatus {
    /// Every state, in life order; handy for filters and help texts.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Started,
        JobStatus::Succeed,
        JobStatus::Failed,
        JobStatus::Errored,
        JobStatus::Canceled,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Started => "STARTED",
            JobStatus::Succeed => "SUCCEED",
            JobStatus::Failed => "FAILED",
            JobStatus::Errored => "ERRORED",
            JobStatus::Canceled => "CANCELED",
        }
    }

    /// True once the job can never change again; followers stop here.
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::Started)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a status name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job status {0:?} (expected one of PENDING, STARTED, SUCCEED, FAILED, ERRORED, CANCELED)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    /// Case-insensitive, so `--status failed` works on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// One build. Timestamps are RFC 3339 in UTC so scripts can parse them without guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Monotonic id, assigned when the job is committed.
    pub id: i64,
    /// Full repository name as the forge sends it, e.g. `alice/app`.
    pub repo: String,
    /// The full ref that was pushed, e.g. `refs/heads/main` or `refs/tags/v1`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The 40-hex commit that is built (a Bitbucket pull request's abbreviation until the job has
    /// fetched it: see PROTOCOL.md).
    pub commit: String,
    /// The commit message (may be long; clients take the first line for lists).
    pub message: String,
    /// Who pushed or started it.
    pub author: String,
    /// Current state.
    pub status: JobStatus,
    /// One human line on why the job ended other than SUCCEED.
    pub reason: Option<String>,
    /// The command's exit code, when it ran to the end.
    pub exit_code: Option<i64>,
    /// When the job was recorded.
    pub created_at: String,
    /// When a worker picked it up.
    pub started_at: Option<String>,
    /// When it reached a final state.
    pub finished_at: Option<String>,
    /// What created it: `webhook`, `manual`, `retry` or `schedule`.
    pub trigger: String,
    /// Bytes in the job's log so far; clients page the log by offset up to here.
    pub log_size: u64,
    /// Output bytes the daemon did not store because the log reached `docker.max_log`; 0 when
    /// the log is complete. Absent from older daemons' frames.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_dropped: u64,
    /// How the job's commit statuses fared with the forge, when they are reported: `queued`,
    /// `delivered`, `retrying (HTTP 502)`, `gave up (HTTP 401: …)`. Only in `get_job`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_report: Option<String>,
    /// How the job's notifications (`[[notify]]`) fared, oldest first. Only in `get_job`; absent
    /// when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
    /// A fork's pull request: a stranger's code, built only with `pull_requests = "all"`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub untrusted: bool,
    /// The commit's page on the forge, when the webhook said where the repository lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_url: Option<String>,
    /// The pull request's page on the forge, for a pull request's job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_url: Option<String>,
    /// Extra environment a person gave a manual run (`run -e KEY=VALUE`), set in its container
    /// over the repository's own `env`; a retry keeps it. Absent when there is none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Why a PENDING job does not start although it is next: `waiting for deploy (job 41)`,
    /// its concurrency group being held by another job, or `waiting for an engine with labels
    /// arm64: arm busy (2/2)`, no engine it may run on having room. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The engine the job's container ran (or runs) on (`[[engine]] name`), once placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// One notification of a job: to which `[[notify]]` entry, about what, and how it fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The entry's name.
    pub target: String,
    /// `failed`, `errored`, `fixed`, `succeeded` or `started`.
    pub event: String,
    /// `queued`, `delivered`, `retrying (…)` or `gave up (…)`.
    pub state: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A slice of a job's log. Text is the log's bytes decoded as UTF-8 with invalid sequences
/// replaced, cut on a character boundary; `next_offset` (not `offset + data.len()`) is where the
/// next read starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// Job the chunk belongs to.
    pub id: i64,
    /// Byte offset in the log file of the chunk's first byte.
    pub offset: u64,
    /// Byte offset just past the chunk.
    pub next_offset: u64,
    /// The text.
    pub data: String,
}

/// A repository the daemon knows (configured, or seen in a webhook), for manual builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// Full name, e.g. `alice/app`.
    pub name: String,
    /// Branch a manual build uses when no ref is given.
    pub default_branch: String,
    /// Where the daemon clones it from (credentials removed).
    pub clone_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_any_case_and_rejects_others() {
        assert_eq!("failed".parse::<JobStatus>(), Ok(JobStatus::Failed));
        assert_eq!("SUCCEED".parse::<JobStatus>(), Ok(JobStatus::Succeed));
        let err = "done".parse::<JobStatus>().unwrap_err();
        assert!(err.to_string().contains("\"done\""));
    }

    #[test]
    fn status_serializes_as_contract_names() {
        let s = serde_json::to_string(&JobStatus::Canceled).unwrap();
        assert_eq!(s, "\"CANCELED\"");
        assert!(JobStatus::Errored.is_final());
        assert!(!JobStatus::Started.is_final());
    }
}
