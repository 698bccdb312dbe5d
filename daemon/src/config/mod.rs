//! The daemon's configuration file (`config.toml`): parsing, defaults, systemd directory
//! variables, and validation with messages that name the offending key and never repeat a
//! secret. The webhook policy, credentials and container limits each have their own file.

mod credentials;
mod docker;
mod engine_entries;
mod engines;
mod filter;
mod notify;
mod raw;
mod retention;
mod schedule;
mod secrets;
mod status;
mod toml_error;
mod webhook;

pub use credentials::{GitSettings, RepoSettings};
pub use docker::{DockerSettings, OnStop, WorkspaceMode};
pub use engines::{EngineHost, EngineSettings, IMPLICIT_ENGINE, TlsFiles, check_label};
pub use filter::{BuildFilter, PullRequests, skips_ci};
pub use notify::{Command, Email, Event, Notify, NotifyKind, Webhook, WebhookFormat};
pub use retention::RetentionSettings;
pub use schedule::{Schedule, check_group, parse_cron, server_zone, zone};
pub use secrets::RepoSecrets;
pub use status::{ForgeApi, Reporter, StatusApi};
pub use webhook::{MIN_SECRET, Secret, WebhookSettings};

use crate::git::{Origin, Timeouts};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings a reload cannot change (they are read once, at start), named as in the file, that
/// differ between `old` and `new`.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("state_dir", old.state_dir != new.state_dir);
    check("http.listen", old.http.listen != new.http.listen);
    check(
        "http.header_timeout",
        old.http.header_timeout != new.http.header_timeout,
    );
    check(
        "http.max_connections",
        old.http.max_connections != new.http.max_connections,
    );
    check("control.socket", old.socket != new.socket);
    check("control.group", old.socket_group != new.socket_group);
    check("docker.host", old.docker.host != new.docker.host);
    // The implicit engine follows docker.max_jobs, which a reload may change.
    let explicit = |c: &Config| c.engines != engines::implicit(&c.docker);
    check(
        "[[engine]]",
        (explicit(old) || explicit(new)) && old.engines != new.engines,
    );
    check(
        "git.connect_timeout / git.io_timeout",
        old.git.timeouts != new.git.timeouts,
    );
    changed
}

/// Where the config is read from when neither `--config` nor `MICROCI_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/microci/config.toml";

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type, by line and key (the text
    /// that was there is never repeated: it may be a secret).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line, key and what is wrong.
        message: String,
    },
    /// A value parsed but makes no sense.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `docker.max_jobs`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Which of the forge's two clone URLs to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloneProtocol {
    /// The SSH URL, with a deploy key.
    Ssh,
    /// The HTTP(S) URL, with a token when one is set.
    Http,
}

/// What the public web pages show (`http.pages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pages {
    /// Jobs of public repositories only (the forge said `private: false`, or `[[repo]] public`).
    Public,
    /// Every job: put authentication in front (see the nginx example).
    All,
    /// No pages at all; webhooks and `/healthz` still answer.
    Off,
}

/// Whether `GET /metrics` answers, and which repository names its labels carry
/// (`http.metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Served; jobs of repositories the public pages may not show count as `(private)`.
    Public,
    /// Served with every configured repository's name (restrict who may scrape).
    All,
    /// Not served (404).
    Off,
}

/// `[http]`: the webhook and page listener and its bounds against slow or greedy clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Largest webhook body accepted.
    pub max_body: u64,
    /// How long a client may take to send a request's headers (also bounds idle keep-alive).
    pub header_timeout: Duration,
    /// How long a client may take to send a webhook's body.
    pub body_timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// What the pages show.
    pub pages: Pages,
    /// Where people reach the pages (`https://ci.example.com`), for links in commit statuses.
    pub public_url: Option<String>,
    /// The sub-path the pages are served under behind a proxy (`/ci`), or empty: every link
    /// and asset URL the pages write starts with it, so they work wherever nginx mounts them.
    pub base_path: String,
    /// Whether `/metrics` answers and with which repository names.
    pub metrics: MetricsAccess,
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for messages).
    pub path: PathBuf,
    /// Database, logs, git cache and workspaces live here.
    pub state_dir: PathBuf,
    /// Webhook and status page listener.
    pub http: HttpSettings,
    /// Control socket path.
    pub socket: PathBuf,
    /// Group given ownership of the control socket, when it exists.
    pub socket_group: String,
    /// Job containers.
    pub docker: DockerSettings,
    /// `[[engine]]`: where jobs run; never empty (without entries, one engine `local` from
    /// `[docker]`).
    pub engines: Vec<EngineSettings>,
    /// Who may enqueue builds.
    pub webhook: WebhookSettings,
    /// Default clone credentials and git timeouts.
    pub git: GitSettings,
    /// Per-repository settings by full name.
    pub repos: HashMap<String, RepoSettings>,
    /// `[retention]`: pruning and the free space jobs need.
    pub retention: RetentionSettings,
    /// `[forge.<name>]`: where commit statuses go, by forge route name.
    pub forges: HashMap<String, ForgeApi>,
    /// `[[notify]]`: who hears of which jobs, and how.
    pub notify: Vec<Notify>,
    /// Settings that weaken the daemon, one sentence each: logged at every start and shown by
    /// `status`.
    pub warnings: Vec<String>,
}

/// The systemd directory variables, passed in so tests need not touch the process environment.
#[derive(Debug, Clone, Default)]
pub struct SystemdDirs {
    /// `$STATE_DIRECTORY`.
    pub state: Option<PathBuf>,
    /// `$RUNTIME_DIRECTORY`.
    pub runtime: Option<PathBuf>,
    /// `$CONFIGURATION_DIRECTORY`.
    pub configuration: Option<PathBuf>,
}

impl SystemdDirs {
    /// Reads the variables; systemd may pass several colon-separated paths, the first is ours.
    pub fn from_env() -> SystemdDirs {
        let first = |name: &str| {
            std::env::var_os(name).and_then(|v| {
                v.to_str()
                    .and_then(|s| s.split(':').next())
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
        };
        SystemdDirs {
            state: first("STATE_DIRECTORY"),
            runtime: first("RUNTIME_DIRECTORY"),
            configuration: first("CONFIGURATION_DIRECTORY"),
        }
    }

    /// The config path: explicit, else `$CONFIGURATION_DIRECTORY/config.toml`, else the default.
    pub fn config_path(&self, explicit: Option<&Path>) -> PathBuf {
        match (explicit, &self.configuration) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(dir)) => dir.join("config.toml"),
            (None, None) => PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path, dirs: &SystemdDirs) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text, dirs)
    }

    /// Validates config text; `path` is only used in messages and to resolve relative paths.
    pub fn parse(path: &Path, text: &str, dirs: &SystemdDirs) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: toml_error::describe(text, &e),
        })?;
        // Keys and messages may quote the file (a URL, a repository's name): one line, always.
        let invalid = |(key, message): credentials::KeyError| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: toml_error::escape_controls(&key),
            message: toml_error::escape_controls(&message),
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };

        let state_dir = raw
            .state_dir
            .map(&resolve)
            .or_else(|| dirs.state.clone())
            .unwrap_or_else(|| PathBuf::from("/var/lib/microci"));
        let http = http_settings(raw.http).map_err(invalid)?;
        let socket = raw
            .control
            .socket
            .map(&resolve)
            .or_else(|| dirs.runtime.as_ref().map(|d| d.join("control.sock")))
            .unwrap_or_else(|| PathBuf::from("/run/microci/control.sock"));
        let docker_host_written = raw.docker.host.is_some();
        let docker_max_jobs_written = raw.docker.max_jobs.is_some();
        let (mut docker, dangerous_caps) = docker::docker_settings(raw.docker).map_err(invalid)?;
        let engines = if raw.engine.is_empty() {
            engines::implicit(&docker)
        } else {
            if docker_host_written {
                return Err(invalid((
                    "docker.host".into(),
                    "with [[engine]] entries, write each engine's address as its host                      (e.g. host = \"unix:///run/docker.sock\") and remove docker.host"
                        .into(),
                )));
            }
            let engines = engine_entries::engine_entries(raw.engine, &resolve).map_err(invalid)?;
            // Unwritten, the global bound is what the engines take together.
            if !docker_max_jobs_written {
                docker.max_jobs = engines.iter().map(|e| e.max_jobs).sum();
            }
            engines
        };

        let timeouts = Timeouts {
            connect: docker::duration(
                "git.connect_timeout",
                raw.git.connect_timeout.clone(),
                Duration::from_secs(10),
            )
            .map_err(invalid)?,
            io: docker::duration(
                "git.io_timeout",
                raw.git.io_timeout.clone(),
                Duration::from_secs(60),
            )
            .map_err(invalid)?,
        };
        let git = credentials::git_settings(raw.git, timeouts).map_err(invalid)?;

        let w = raw.webhook;
        let webhook = WebhookSettings {
            secret: Secret::new(w.secret.unwrap_or_default()),
            allow_unsigned: w.allow_unsigned.unwrap_or(false),
            allow_unlisted: w.allow_unlisted.unwrap_or(false),
            clone_hosts: Origin::parse_list(&w.clone_hosts.unwrap_or_default())
                .map_err(|e| invalid(("webhook.clone_hosts".into(), e.to_string())))?,
        };
        if webhook.allow_unlisted && webhook.clone_hosts.is_empty() {
            return Err(invalid((
                "webhook.clone_hosts".into(),
                "webhook.allow_unlisted needs the hosts unlisted repositories may be cloned from, \
                 e.g. clone_hosts = [\"git.example.com\"]"
                    .into(),
            )));
        }

        let mut repos = HashMap::new();
        let mut unverified = Vec::new();
        for (i, r) in raw.repo.into_iter().enumerate() {
            let key = format!("repo[{i}]");
            let r = credentials::repo_settings(&key, r, &git).map_err(invalid)?;
            if repos.contains_key(&r.name) {
                return Err(invalid((
                    format!("{key}.name"),
                    format!("{:?} is configured twice", r.name),
                )));
            }
            let (secret, secret_key) = match &r.secret {
                Some(s) => (s, format!("{key}.secret")),
                None => (&webhook.secret, "webhook.secret".to_string()),
            };
            if let Some(why) = secret.weakness() {
                if !webhook.allow_unsigned {
                    return Err(invalid((secret_key, weak_message(why, &r.name))));
                }
                unverified.push(r.name.clone());
            }
            repos.insert(r.name.clone(), r);
        }
        let global_weakness = webhook.secret.weakness();
        match global_weakness {
            Some(why) if !webhook.allow_unsigned && webhook.allow_unlisted => {
                return Err(invalid((
                    "webhook.secret".into(),
                    weak_message(why, "every unlisted repository"),
                )));
            }
            Some(why) if !webhook.allow_unsigned && !webhook.secret.expose().is_empty() => {
                return Err(invalid((
                    "webhook.secret".into(),
                    format!(
                        "{why}: generate one with `openssl rand -hex 32` (or remove it and give \
                         every [[repo]] its own secret)"
                    ),
                )));
            }
            _ => {}
        }
        if webhook.allow_unlisted && global_weakness.is_some() {
            unverified.push("every unlisted repository".into());
        }

        let mut config = Config {
            path: path.to_path_buf(),
            state_dir,
            http,
            socket,
            socket_group: raw.control.group.unwrap_or_else(|| "microci".into()),
            engines,
            docker,
            webhook,
            git,
            repos,
            retention: retention::retention_settings(raw.retention).map_err(invalid)?,
            forges: status::forge_apis(raw.forge).map_err(invalid)?,
            notify: notify::notify_entries(raw.notify).map_err(invalid)?,
            warnings: Vec::new(),
        };
        config.check_status_reporting().map_err(invalid)?;
        config.warnings = config.weaknesses(&unverified, dangerous_caps);
        Ok(config)
    }

    /// The sentences `status` shows and every start logs.
    fn weaknesses(&self, unverified: &[String], dangerous_caps: bool) -> Vec<String> {
        let mut w = Vec::new();
        if !unverified.is_empty() {
            w.push(format!(
                "webhook.allow_unsigned = true: deliveries for {} are not verified; anyone who \
                 can reach /hooks/ can start their builds",
                unverified.join(", ")
            ));
        }
        if self.webhook.allow_unlisted {
            let hosts: Vec<String> = self
                .webhook
                .clone_hosts
                .iter()
                .map(Origin::to_string)
                .collect();
            w.push(format!(
                "webhook.allow_unlisted = true: any holder of webhook.secret can build any \
                 repository on {}",
                hosts.join(", ")
            ));
        }
        if self.repos.is_empty() && !self.webhook.allow_unlisted {
            w.push("no [[repo]] is configured: every webhook is refused (403)".into());
        }
        if self.git.allow_insecure_http {
            w.push(
                "git.allow_insecure_http = true: tokens may cross the network in cleartext".into(),
            );
        }
        let ssh_unpinned = self.git.known_hosts.is_none()
            && (self.git.ssh_key.is_some()
                || self
                    .repos
                    .values()
                    .any(|r| r.ssh_key.is_some() && r.known_hosts.is_none()));
        if ssh_unpinned {
            w.push(
                "git.known_hosts is not set: SSH host keys are accepted without verification"
                    .into(),
            );
        }
        if self.http.pages == Pages::All {
            w.push(
                "http.pages = \"all\": private repositories' jobs and logs are on the web pages; \
                 put authentication in front of them"
                    .into(),
            );
        }
        if dangerous_caps {
            w.push(format!(
                "docker.allow_dangerous_caps = true: jobs get {}",
                self.docker.cap_add.join(", ")
            ));
        }
        w
    }

    /// Where the statuses of a job of `repo` delivered through `forge`'s route are reported, when
    /// a token applies.
    pub fn reporter(&self, repo: &str, forge: &str) -> Option<Reporter> {
        let repo_token = self.repos.get(repo).and_then(|r| r.status_token.as_ref());
        status::reporter(&self.forges, repo_token, forge)
    }

    /// The `[[notify]]` entry named `name`.
    pub fn notify_named(&self, name: &str) -> Option<&Notify> {
        self.notify.iter().find(|n| n.name == name)
    }

    /// Which pull requests of `repo` build (unlisted repositories: the default).
    pub fn pull_requests(&self, repo: &str) -> PullRequests {
        self.repos
            .get(repo)
            .map_or(PullRequests::default(), |r| r.pull_requests)
    }

    /// The concurrency group `[[repo]] concurrency` puts every job of `repo` in.
    pub fn concurrency(&self, repo: &str) -> Option<&str> {
        self.repos.get(repo).and_then(|r| r.concurrency.as_deref())
    }

    /// Whether a new push to `git_ref` of `repo` cancels the older jobs of that ref still queued
    /// (and those running that are `"interruptible"`): `[[repo]] cancel_superseded`, by default
    /// yes for branches and pull requests and no for tags.
    pub fn cancel_superseded(&self, repo: &str, git_ref: &str) -> bool {
        self.repos
            .get(repo)
            .and_then(|r| r.cancel_superseded)
            .unwrap_or(!git_ref.starts_with("refs/tags/"))
    }

    /// Whether a token for commit statuses is configured anywhere.
    pub fn reports_statuses(&self) -> bool {
        self.forges.values().any(|f| f.token.is_some())
            || self.repos.values().any(|r| r.status_token.is_some())
    }

    /// Bitbucket refuses a status without a link: with its token set, `http.public_url` must be.
    fn check_status_reporting(&self) -> Result<(), credentials::KeyError> {
        let bitbucket = self
            .forges
            .get("bitbucket")
            .is_some_and(|f| f.token.is_some());
        if bitbucket && self.http.public_url.is_none() {
            return Err((
                "http.public_url".into(),
                "Bitbucket statuses need a link to the job page: set the address people reach \
                 the pages at, e.g. \"https://ci.example.com\""
                    .into(),
            ));
        }
        Ok(())
    }

    /// The secret that applies to a repository's webhooks (may be empty: none).
    pub fn secret_for(&self, repo: Option<&str>) -> &Secret {
        repo.and_then(|r| self.repos.get(r))
            .and_then(|r| r.secret.as_ref())
            .unwrap_or(&self.webhook.secret)
    }

    /// Whether a repository has a `[[repo]]` table.
    pub fn is_listed(&self, repo: &str) -> bool {
        self.repos.contains_key(repo)
    }
}

fn weak_message(why: &str, whom: &str) -> String {
    format!(
        "{why}, so deliveries for {whom} could not be verified: generate one with \
         `openssl rand -hex 32` (or set webhook.allow_unsigned = true to accept unverified builds)"
    )
}

/// Validates `[http]`.
fn http_settings(h: raw::RawHttp) -> Result<HttpSettings, credentials::KeyError> {
    let listen_text = h.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = listen_text.parse().map_err(|_| {
        (
            "http.listen".to_string(),
            format!("{listen_text:?} is not an address like 127.0.0.1:8080"),
        )
    })?;
    let max_connections = h.max_connections.unwrap_or(512);
    if max_connections == 0 {
        return Err(("http.max_connections".into(), "must be at least 1".into()));
    }
    Ok(HttpSettings {
        listen,
        max_body: h.max_body.unwrap_or(1024 * 1024),
        header_timeout: docker::duration(
            "http.header_timeout",
            h.header_timeout,
            Duration::from_secs(10),
        )?,
        body_timeout: docker::duration(
            "http.body_timeout",
            h.body_timeout,
            Duration::from_secs(10),
        )?,
        max_connections,
        pages: h.pages.unwrap_or(Pages::Public),
        metrics: h.metrics.unwrap_or(MetricsAccess::Public),
        public_url: match h.public_url {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                status::check_url("http.public_url", &u)?;
                Some(u)
            }
            None => None,
        },
        base_path: base_path(h.base_path)?,
    })
}

/// `http.base_path`: empty, or `/` followed by path segments of URL-safe characters, without a
/// trailing `/` (`"/ci/"` is read as `"/ci"`). It is written into every link of the pages, so
/// nothing that would need escaping in a URL or in HTML is accepted.
fn base_path(raw: Option<String>) -> Result<String, (String, String)> {
    let Some(p) = raw else {
        return Ok(String::new());
    };
    let p = p.trim_end_matches('/');
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if p.is_empty() {
        return Ok(String::new());
    }
    if !p.starts_with('/') || p.contains("//") || !p.chars().all(ok_char) {
        return Err((
            "http.base_path".into(),
            "must be a path such as \"/ci\": starting with /, of letters, digits, -, ., _, ~ and /"
                .into(),
        ));
    }
    if p.split('/').any(|seg| seg == "." || seg == "..") {
        return Err((
            "http.base_path".into(),
            "must not contain . or .. segments".into(),
        ));
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod notify_tests;

#[cfg(test)]
mod engine_tests;
