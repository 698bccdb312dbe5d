//! The configuration file as written: serde types only. Every table refuses unknown keys, so a
//! typo never silently falls back to a default. [`super::Config::parse`] validates them.

use super::{CloneProtocol, OnStop, Pages, WorkspaceMode};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub control: RawControl,
    #[serde(default)]
    pub docker: RawDocker,
    #[serde(default)]
    pub webhook: RawWebhook,
    #[serde(default)]
    pub git: RawGit,
    #[serde(default)]
    pub repo: Vec<RawRepo>,
    #[serde(default)]
    pub retention: super::retention::RawRetention,
    #[serde(default)]
    pub forge: HashMap<String, super::status::RawForgeApi>,
    #[serde(default)]
    pub notify: Vec<super::notify::RawNotify>,
    #[serde(default)]
    pub engine: Vec<RawEngine>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub listen: Option<String>,
    pub max_body: Option<u64>,
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub pages: Option<Pages>,
    pub metrics: Option<super::MetricsAccess>,
    pub public_url: Option<String>,
    pub base_path: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub socket: Option<PathBuf>,
    pub group: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocker {
    pub max_jobs: Option<u32>,
    pub default_image: Option<String>,
    pub helper_image: Option<String>,
    pub helper_timeout: Option<String>,
    pub host: Option<String>,
    pub workspace: Option<WorkspaceMode>,
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub timeout: Option<String>,
    pub max_timeout: Option<String>,
    pub stop_grace: Option<String>,
    pub engine_ping: Option<String>,
    pub engine_down_timeout: Option<String>,
    pub on_stop: Option<OnStop>,
    pub max_log: Option<String>,
    pub max_artifacts: Option<String>,
    pub network: Option<String>,
    pub labels: Option<HashMap<String, String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub allow_dangerous_caps: Option<bool>,
    pub cache_max: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub secret: Option<String>,
    pub allow_unsigned: Option<bool>,
    pub allow_unlisted: Option<bool>,
    pub clone_hosts: Option<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGit {
    pub ssh_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub username: Option<String>,
    pub token: Option<String>,
    pub protocol: Option<CloneProtocol>,
    pub hosts: Option<Vec<String>>,
    pub allow_insecure_http: Option<bool>,
    pub connect_timeout: Option<String>,
    pub io_timeout: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRepo {
    pub name: String,
    pub secret: Option<String>,
    pub clone_url: Option<String>,
    pub default_branch: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub username: Option<String>,
    pub token: Option<String>,
    pub protocol: Option<CloneProtocol>,
    pub public: Option<bool>,
    pub branches: Option<Vec<String>>,
    pub tags: Option<bool>,
    pub paths: Option<Vec<String>>,
    pub status_token: Option<String>,
    pub pull_requests: Option<super::PullRequests>,
    pub cancel_superseded: Option<bool>,
    pub secrets: Option<std::collections::BTreeMap<String, String>>,
    pub secret_branches: Option<Vec<String>>,
    pub concurrency: Option<String>,
    pub schedule: Option<Vec<super::schedule::RawSchedule>>,
}

/// One `[[engine]]` as written; `engine_entries` validates it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    pub name: Option<String>,
    pub host: Option<String>,
    pub max_jobs: Option<u32>,
    pub labels: Option<Vec<String>>,
    pub workspace: Option<WorkspaceMode>,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub ssh_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}
