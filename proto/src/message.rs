//! Requests, replies and events: what travels inside each frame.

use crate::artifact::{Artifact, ArtifactChunk};
use crate::job::{Job, JobStatus, LogChunk, RepoInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client's frame: a request with an id the client chooses. The daemon echoes the id in its
/// reply (and in every event of a subscription) so a client can keep several requests in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Chosen by the client; echoed back.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub request: Request,
}

/// Filters for a job listing. Paging goes backwards in time: pass the smallest id you have as
/// `before` to get the next older page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobQuery {
    /// Only jobs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// Only jobs of this repository (exact full name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Only jobs whose repo, ref, commit, message or author contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Only jobs with an id below this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    /// At most this many jobs (the daemon caps it at 1000).
    pub limit: u32,
}

/// Everything a client can ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Daemon version, uptime, queue and Docker state.
    Status,
    /// Newest jobs first, filtered.
    ListJobs(JobQuery),
    /// One job.
    GetJob {
        /// Job id.
        job: i64,
    },
    /// Up to `max` bytes of a job's log from `offset` (the daemon caps `max` at 256 KiB).
    ReadLog {
        /// Job id.
        job: i64,
        /// First byte wanted.
        offset: u64,
        /// Most bytes wanted.
        max: u32,
    },
    /// Stream a job's log from `offset` as `log` events, then its final state as a `job` event,
    /// then `end`.
    FollowLog {
        /// Job id.
        job: i64,
        /// First byte wanted.
        offset: u64,
    },
    /// Stream every job change as `job` events until the connection closes.
    WatchJobs,
    /// Stop a pending or running job.
    Cancel {
        /// Job id.
        job: i64,
    },
    /// A new job for the same repository and commit.
    Retry {
        /// Job id.
        job: i64,
    },
    /// A manual build of a known repository; `git_ref` defaults to its default branch.
    Run {
        /// Full repository name.
        repo: String,
        /// Branch, tag, full ref or commit.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        git_ref: Option<String>,
        /// Extra environment for the job's container (see [`Job::params`](crate::Job::params)).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
    },
    /// The repositories the daemon knows.
    ListRepos,
    /// Runs retention now (`[retention]`), or with `dry_run` only says what it would remove.
    Prune {
        /// Only report; remove nothing.
        #[serde(default)]
        dry_run: bool,
    },
    /// The files a job kept (its `.microci.json` `"artifacts"`), by name.
    ListArtifacts {
        /// Job id.
        job: i64,
    },
    /// Up to `max` bytes (capped at `MAX_ARTIFACT_READ`) of one artifact from `offset`.
    ReadArtifact {
        /// Job id.
        job: i64,
        /// The artifact's name, as `list_artifacts` gives it.
        name: String,
        /// First byte wanted.
        offset: u64,
        /// Most bytes wanted.
        max: u32,
    },
    /// The saved job caches (`"cache"` in `.microci.json`), of every repository or of one.
    ListCaches {
        /// Only this repository's (exact full name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repo: Option<String>,
    },
    /// Removes a repository's saved caches (or only its branch `branch`'s): the next job starts
    /// with an empty cache; a job running meanwhile does not save what it copied before.
    ClearCache {
        /// Full repository name.
        repo: String,
        /// Only the per-branch cache of this branch (a name like `main`, or a full ref).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// The engines jobs run on, with their health, load, labels and version.
    ListEngines,
    /// Engine `engine` takes no new jobs; those running on it finish. Idempotent.
    Drain {
        /// The engine's name (`[[engine]] name`).
        engine: String,
    },
    /// Engine `engine` takes new jobs again. Idempotent.
    Undrain {
        /// The engine's name.
        engine: String,
    },
    /// Ends the `follow_log` or `watch_jobs` subscription opened on this connection by request
    /// id `subscription`. Its `done` reply comes after the subscription's last event: nothing
    /// with that id follows it.
    Unsubscribe {
        /// The id of the request that opened the subscription.
        subscription: u64,
    },
}

/// The daemon's frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame on every connection.
    Hello {
        /// `PROTOCOL_VERSION` of the daemon.
        protocol: u32,
        /// The daemon's release, for `status` and bug reports.
        server_version: String,
    },
    /// A request succeeded.
    Ok {
        /// The request's id.
        id: u64,
        /// The answer.
        reply: Reply,
    },
    /// A request failed; the connection stays usable unless `code` is `bad_frame`.
    Error {
        /// The request's id (0 when the frame could not be read at all).
        id: u64,
        /// Machine-readable class.
        code: ErrorCode,
        /// One human sentence.
        message: String,
    },
    /// Something happened in a subscription opened by request `id`.
    Event {
        /// The subscribing request's id.
        id: u64,
        /// What happened.
        event: Event,
    },
}

/// Successful answers, one shape per request kind.
// One reply per request, built once and serialised at once: boxing the job would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// For `status`.
    Status(DaemonStatus),
    /// For `list_jobs`, newest first.
    Jobs {
        /// The page.
        jobs: Vec<Job>,
    },
    /// For `get_job` and `cancel` (the job after the change).
    Job {
        /// The job.
        job: Job,
    },
    /// For `read_log`.
    Log(LogChunk),
    /// For `retry` and `run`.
    Created {
        /// The new job's id.
        job: i64,
    },
    /// For `follow_log` and `watch_jobs`: events follow.
    Subscribed,
    /// For `list_repos`.
    Repos {
        /// Known repositories, by name.
        repos: Vec<RepoInfo>,
    },
    /// For `unsubscribe`: carried out, nothing to return.
    Done,
    /// For `prune`: what was removed (or, with `dry_run`, would be).
    Pruned(PruneReport),
    /// For `list_artifacts`.
    Artifacts {
        /// Job id.
        job: i64,
        /// Its kept files, by name.
        artifacts: Vec<Artifact>,
    },
    /// For `read_artifact`.
    ArtifactChunk(ArtifactChunk),
    /// For `list_caches`, by repository then branch.
    Caches {
        /// The saved caches.
        caches: Vec<CacheInfo>,
    },
    /// For `clear_cache`: how many caches were removed.
    Cleared {
        /// Caches removed (0: there was none).
        caches: u64,
    },
    /// For `list_engines`, `drain` and `undrain` (every engine, after the change), in the
    /// configuration's order.
    Engines {
        /// The engines.
        engines: Vec<EngineInfo>,
    },
}

/// One engine of the pool as the daemon sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `[[engine]] name` (`local` for the engine `[docker]` describes alone).
    pub name: String,
    /// Where it is: `unix:///…`, `tcp://host:port`, `ssh://user@host`, or `default`.
    pub host: String,
    /// Whether it answered its last ping.
    pub healthy: bool,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Since when it has not answered (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_since: Option<String>,
    /// Taking no new jobs (`drain`).
    pub drained: bool,
    /// Jobs placed on it now.
    pub running: u64,
    /// Its `max_jobs`.
    pub max_jobs: u64,
    /// Its labels (what `"runs_on"` matches).
    pub labels: Vec<String>,
    /// `bind` or `copy`.
    pub workspace: String,
    /// The engine's product and version as it reports them (`Docker 28.2.2`, `Podman 5.4.2`),
    /// once it has answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One saved job cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// The repository's full name.
    pub repo: String,
    /// The ref of a per-branch cache (`"cache_scope": "branch"`); none for a repository's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The directories it holds, as the job mounts them.
    pub paths: Vec<String>,
    /// Bytes on disk (what `docker.cache_max` counts).
    pub size: u64,
    /// When it was saved (RFC 3339 UTC): the least recently saved go first at the cap.
    pub saved_at: String,
    /// The job that saved it.
    pub job: i64,
}

/// What a prune removed or, for a dry run, would remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Nothing was removed: this is what would be.
    pub dry_run: bool,
    /// Finished jobs (their rows, logs and workspaces).
    pub jobs: u64,
    /// Bytes of their logs.
    pub log_bytes: u64,
    /// When the oldest and newest of them ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// See `oldest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// How many per repository, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_repo: Vec<(String, u64)>,
    /// Repositories whose git cache goes (not pushed for `max_age`, or no longer configured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caches: Vec<String>,
    /// Containers of this installation that run no job.
    pub containers: u64,
}

/// Things pushed to a subscriber.
// Events are built, sent and dropped one at a time; boxing the job would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A job was created or changed.
    Job {
        /// The job as it is now.
        job: Job,
    },
    /// More log text.
    Log(LogChunk),
    /// The subscriber fell behind and missed events; re-read what it shows.
    Lagged,
    /// The subscription is over (a followed job ended).
    End,
    /// The daemon is stopping (a restart, an upgrade): this subscription ends and the connection
    /// closes. Jobs keep running; connect again and subscribe from the offset you have.
    Stopping,
}

/// Daemon health for `status` and the TUI's status bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// The daemon's release.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Jobs STARTED now.
    pub running: u64,
    /// Jobs PENDING now.
    pub queued: u64,
    /// `docker.max_jobs`.
    pub max_jobs: u64,
    /// Whether the Docker Engine answered a ping.
    pub docker_reachable: bool,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_error: Option<String>,
    /// Settings an administrator should know are weakening the daemon (for example
    /// `webhook.allow_unsigned`), one sentence each; empty when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the last reload (SIGHUP) was refused, when it was: the daemon runs on with the
    /// configuration it had. Cleared by the next reload that succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_error: Option<String>,
    /// While free space on the state directory's file system is under `retention.min_free`:
    /// how much is free. New jobs wait PENDING meanwhile and start when space returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_low: Option<String>,
    /// Engines that do not answer now, by name: they get no new jobs, and their running jobs
    /// wait for them (up to `docker.engine_down_timeout`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engines_down: Vec<String>,
}

/// Error classes a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The job or repository does not exist.
    NotFound,
    /// The request is well-formed but not possible now (e.g. cancel a finished job).
    Conflict,
    /// A field is wrong.
    Invalid,
    /// The frame could not be read; the daemon closes the connection after this.
    BadFrame,
    /// The daemon failed; see the message.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_shape_is_flat() {
        let msg = ClientMessage {
            id: 7,
            request: Request::Run {
                repo: "alice/app".into(),
                git_ref: Some("main".into()),
                env: BTreeMap::new(),
            },
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            text,
            r#"{"id":7,"type":"run","repo":"alice/app","ref":"main"}"#
        );
        assert_eq!(serde_json::from_str::<ClientMessage>(&text).unwrap(), msg);
        // A run's parameters travel as one object; older clients send none.
        let with: ClientMessage =
            serde_json::from_str(r#"{"id":8,"type":"run","repo":"a/b","env":{"K":"v"}}"#).unwrap();
        assert!(matches!(with.request, Request::Run { env, .. } if env["K"] == "v"));
    }

    #[test]
    fn list_jobs_defaults_optional_filters() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"id":1,"type":"list_jobs","limit":50}"#).unwrap();
        assert_eq!(
            msg.request,
            Request::ListJobs(JobQuery {
                limit: 50,
                ..JobQuery::default()
            })
        );
    }

    #[test]
    fn unsubscribe_wire_shape() {
        let msg = ClientMessage {
            id: 12,
            request: Request::Unsubscribe { subscription: 9 },
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(text, r#"{"id":12,"type":"unsubscribe","subscription":9}"#);
        assert_eq!(serde_json::from_str::<ClientMessage>(&text).unwrap(), msg);
        let ok = ServerMessage::Ok {
            id: 12,
            reply: Reply::Done,
        };
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(text, r#"{"type":"ok","id":12,"reply":{"type":"done"}}"#);
        assert_eq!(serde_json::from_str::<ServerMessage>(&text).unwrap(), ok);
        // A subscription id is required.
        assert!(serde_json::from_str::<ClientMessage>(r#"{"id":1,"type":"unsubscribe"}"#).is_err());
    }

    #[test]
    fn unknown_request_type_is_an_error() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"id":1,"type":"rm_rf"}"#).is_err());
    }

    #[test]
    fn server_messages_round_trip() {
        let msgs = vec![
            ServerMessage::Hello {
                protocol: 1,
                server_version: "0.1.0".into(),
            },
            ServerMessage::Ok {
                id: 3,
                reply: Reply::Created { job: 9 },
            },
            ServerMessage::Error {
                id: 4,
                code: ErrorCode::NotFound,
                message: "no job 4".into(),
            },
            ServerMessage::Event {
                id: 5,
                event: Event::Log(LogChunk {
                    id: 1,
                    offset: 0,
                    next_offset: 3,
                    data: "hé".into(),
                }),
            },
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<ServerMessage>(&text).unwrap(), m);
        }
    }
}
