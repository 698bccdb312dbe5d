//! The daemon's configuration file (`config.toml`): parsing, defaults, systemd directory
//! variables, and validation with messages that name the offending key.

use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// TOML syntax, an unknown key, or a value of the wrong type (toml's message names the key
    /// and the line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's explanation.
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

/// The file as written. Every table rejects unknown keys: a typo must not silently fall back to a
/// default.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<PathBuf>,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    control: RawControl,
    #[serde(default)]
    docker: RawDocker,
    #[serde(default)]
    webhook: RawWebhook,
    #[serde(default)]
    git: GitAuth,
    #[serde(default)]
    repo: Vec<RepoSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
    max_body: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    socket: Option<PathBuf>,
    group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    max_jobs: Option<u32>,
    default_image: Option<String>,
    host: Option<String>,
    workspace: Option<WorkspaceMode>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids: Option<i64>,
    timeout: Option<String>,
    stop_grace: Option<String>,
    network: Option<String>,
    labels: Option<HashMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    secret: Option<String>,
}

/// How the checkout reaches the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceMode {
    /// Bind-mount the workspace directory at `/repo` (the Engine shares our filesystem).
    Bind,
    /// Copy the checkout in through the Engine's archive API (a remote Engine).
    Copy,
}

/// Credentials for cloning, globally (`[git]`) or per repository.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitAuth {
    /// Private key (deploy key) for SSH clone URLs.
    pub ssh_key: Option<PathBuf>,
    /// OpenSSH known_hosts file the server's key must be in; unset accepts any host key.
    pub known_hosts: Option<PathBuf>,
    /// User name for HTTP(S) basic authentication.
    pub username: Option<String>,
    /// Token or password for HTTP(S).
    pub token: Option<String>,
    /// Clone over `ssh` (the webhook's `ssh_url`) or `http` (its `clone_url`).
    pub protocol: Option<CloneProtocol>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("ssh_key", &self.ssh_key)
            .field("known_hosts", &self.known_hosts)
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("protocol", &self.protocol)
            .finish()
    }
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

/// Per-repository settings (`[[repo]]`).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSettings {
    /// Full name as the forge sends it, e.g. `alice/app`.
    pub name: String,
    /// Webhook secret for this repository; overrides `webhook.secret`.
    pub secret: Option<String>,
    /// Clone from here instead of the URL in the webhook.
    pub clone_url: Option<String>,
    /// Branch `run REPO` builds when no ref is given (else the remote's HEAD).
    pub default_branch: Option<String>,
    /// Deploy key for this repository; unset fields here fall back to `[git]`.
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file for this repository.
    pub known_hosts: Option<PathBuf>,
    /// HTTP user name for this repository.
    pub username: Option<String>,
    /// HTTP token for this repository.
    pub token: Option<String>,
    /// Clone protocol for this repository.
    pub protocol: Option<CloneProtocol>,
}

impl std::fmt::Debug for RepoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoSettings")
            .field("name", &self.name)
            .field("clone_url", &self.clone_url)
            .field("default_branch", &self.default_branch)
            .finish_non_exhaustive()
    }
}

/// Limits and placement for job containers.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// Jobs running at once.
    pub max_jobs: usize,
    /// Image when `.microci.json` names none.
    pub default_image: String,
    /// Engine address (`unix:///…`, `tcp://…`); unset uses `DOCKER_HOST` or the local socket.
    pub host: Option<String>,
    /// Bind mount or archive copy.
    pub workspace: WorkspaceMode,
    /// Memory limit in bytes (0 = none).
    pub memory: i64,
    /// CPU limit in nano-CPUs (0 = none).
    pub nano_cpus: i64,
    /// Process limit (0 = none).
    pub pids: i64,
    /// Default job timeout.
    pub timeout: Duration,
    /// How long a cancelled job gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// Docker network mode for jobs (unset: the Engine's default bridge).
    pub network: Option<String>,
    /// Extra labels on every job container (for the operator's own tooling).
    pub labels: HashMap<String, String>,
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for messages).
    pub path: PathBuf,
    /// Database, logs, git cache and workspaces live here.
    pub state_dir: PathBuf,
    /// Webhook and status page listener.
    pub listen: SocketAddr,
    /// Largest webhook body accepted.
    pub max_body: u64,
    /// Control socket path.
    pub socket: PathBuf,
    /// Group given ownership of the control socket, when it exists.
    pub socket_group: String,
    /// Job containers.
    pub docker: DockerSettings,
    /// Default webhook secret (empty: deliveries are not verified unless a repo sets one).
    pub webhook_secret: Secret,
    /// Default clone credentials.
    pub git: GitAuth,
    /// Per-repository settings by full name.
    pub repos: HashMap<String, RepoSettings>,
}

/// A secret string whose `Debug` never shows it, so a logged config cannot leak it.
#[derive(Clone, Default)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<none>"
        } else {
            "<redacted>"
        })
    }
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };

        let state_dir = raw
            .state_dir
            .map(&resolve)
            .or_else(|| dirs.state.clone())
            .unwrap_or_else(|| PathBuf::from("/var/lib/microci"));
        let listen_text = raw.http.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().map_err(|_| {
            invalid(
                "http.listen",
                format!("{listen_text:?} is not an address like 127.0.0.1:8080"),
            )
        })?;
        let socket = raw
            .control
            .socket
            .map(&resolve)
            .or_else(|| dirs.runtime.as_ref().map(|d| d.join("control.sock")))
            .unwrap_or_else(|| PathBuf::from("/run/microci/control.sock"));

        let d = raw.docker;
        let max_jobs = d.max_jobs.unwrap_or(2);
        if max_jobs == 0 {
            return Err(invalid("docker.max_jobs", "must be at least 1".into()));
        }
        let memory = match d.memory.as_deref() {
            None => 2 * 1024 * 1024 * 1024,
            Some(m) => parse_bytes(m).ok_or_else(|| {
                invalid(
                    "docker.memory",
                    format!("{m:?} is not a size like \"512m\" or \"2g\""),
                )
            })?,
        };
        let cpus = d.cpus.unwrap_or(1.0);
        if !(0.0..=1024.0).contains(&cpus) {
            return Err(invalid("docker.cpus", format!("{cpus} is out of range")));
        }
        let pids = d.pids.unwrap_or(1024);
        if pids < 0 {
            return Err(invalid("docker.pids", "must not be negative".into()));
        }
        let duration = |key: &str, value: Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(v) => humantime::parse_duration(&v)
                .map_err(|e| invalid(key, format!("{v:?} is not a duration like \"30m\": {e}"))),
        };
        let timeout = duration("docker.timeout", d.timeout, Duration::from_secs(3600))?;
        let stop_grace = duration("docker.stop_grace", d.stop_grace, Duration::from_secs(10))?;

        let labels = d.labels.unwrap_or_default();
        if let Some(k) = labels.keys().find(|k| k.starts_with("microci.")) {
            return Err(invalid(
                "docker.labels",
                format!("{k:?}: labels starting with \"microci.\" are the daemon's own"),
            ));
        }
        let mut repos = HashMap::new();
        for (i, r) in raw.repo.into_iter().enumerate() {
            if r.name.is_empty() {
                return Err(invalid(
                    &format!("repo[{i}].name"),
                    "must not be empty".into(),
                ));
            }
            if repos.contains_key(&r.name) {
                return Err(invalid(
                    &format!("repo[{i}].name"),
                    format!("{:?} is configured twice", r.name),
                ));
            }
            repos.insert(r.name.clone(), r);
        }

        Ok(Config {
            path: path.to_path_buf(),
            state_dir,
            listen,
            max_body: raw.http.max_body.unwrap_or(1024 * 1024),
            socket,
            socket_group: raw.control.group.unwrap_or_else(|| "microci".into()),
            docker: DockerSettings {
                max_jobs: max_jobs as usize,
                default_image: d
                    .default_image
                    .unwrap_or_else(|| "debian:stable-slim".into()),
                host: d.host,
                workspace: d.workspace.unwrap_or(WorkspaceMode::Bind),
                memory,
                nano_cpus: (cpus * 1e9) as i64,
                pids,
                timeout,
                stop_grace,
                network: d.network,
                labels,
            },
            webhook_secret: Secret(raw.webhook.secret.unwrap_or_default()),
            git: raw.git,
            repos,
        })
    }

    /// The secret that applies to a repository's webhooks (may be empty: none).
    pub fn secret_for(&self, repo: Option<&str>) -> &str {
        repo.and_then(|r| self.repos.get(r))
            .and_then(|r| r.secret.as_deref())
            .unwrap_or(&self.webhook_secret.0)
    }

    /// Clone credentials for a repository: its own fields, falling back to `[git]`.
    pub fn auth_for(&self, repo: &str) -> GitAuth {
        let g = &self.git;
        match self.repos.get(repo) {
            None => g.clone(),
            Some(r) => GitAuth {
                ssh_key: r.ssh_key.clone().or_else(|| g.ssh_key.clone()),
                known_hosts: r.known_hosts.clone().or_else(|| g.known_hosts.clone()),
                username: r.username.clone().or_else(|| g.username.clone()),
                token: r.token.clone().or_else(|| g.token.clone()),
                protocol: r.protocol.or(g.protocol),
            },
        }
    }
}

/// Parses `"512m"`, `"2g"`, `"1048576"` (binary units) into bytes.
fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(
            Path::new("/etc/microci/config.toml"),
            text,
            &SystemdDirs::default(),
        )
    }

    #[test]
    fn defaults_fill_an_empty_file() {
        let c = parse("").unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/microci"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.socket, PathBuf::from("/run/microci/control.sock"));
        assert_eq!(c.docker.max_jobs, 2);
        assert_eq!(c.docker.default_image, "debian:stable-slim");
        assert_eq!(c.docker.workspace, WorkspaceMode::Bind);
    }

    #[test]
    fn typo_names_the_key() {
        let err = parse("[docker]\nmax_job = 3\n").unwrap_err().to_string();
        assert!(err.contains("max_job"), "{err}");
        let err = parse("stat_dir = \"/x\"\n").unwrap_err().to_string();
        assert!(err.contains("stat_dir"), "{err}");
        let err = parse("[[repo]]\nname = \"a/b\"\nsecrte = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("secrte"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = parse("[http]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.listen"), "{err}");
        let err = parse("[docker]\ntimeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker.timeout"), "{err}");
        let err = parse("[docker]\nmax_jobs = 0\n").unwrap_err().to_string();
        assert!(err.contains("docker.max_jobs"), "{err}");
        let err = parse("[docker]\nmemory = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker.memory"), "{err}");
    }

    #[test]
    fn systemd_directories_apply_when_file_is_silent() {
        let dirs = SystemdDirs {
            state: Some("/var/lib/microci-x".into()),
            runtime: Some("/run/microci-x".into()),
            configuration: Some("/etc/microci-x".into()),
        };
        let c = Config::parse(Path::new("/c.toml"), "", &dirs).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/microci-x"));
        assert_eq!(c.socket, PathBuf::from("/run/microci-x/control.sock"));
        assert_eq!(
            dirs.config_path(None),
            PathBuf::from("/etc/microci-x/config.toml")
        );
        let c = Config::parse(Path::new("/c.toml"), "state_dir = \"/s\"", &dirs).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/s"));
    }

    #[test]
    fn repo_settings_override_globals() {
        let c = parse(
            "[webhook]\nsecret = \"g\"\n[git]\ntoken = \"t\"\nusername = \"u\"\n\
             [[repo]]\nname = \"a/b\"\nsecret = \"r\"\nusername = \"v\"\n",
        )
        .unwrap();
        assert_eq!(c.secret_for(Some("a/b")), "r");
        assert_eq!(c.secret_for(Some("x/y")), "g");
        let auth = c.auth_for("a/b");
        assert_eq!(auth.username.as_deref(), Some("v"));
        assert_eq!(auth.token.as_deref(), Some("t"));
        assert!(!format!("{auth:?}").contains("\"t\""));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("x"), None);
    }
}
