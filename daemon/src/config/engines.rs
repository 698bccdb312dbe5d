//! `[[engine]]`: the Docker (or Podman) Engines jobs run on — where each is and how it is
//! reached, how many jobs it takes, its labels, and how the checkout gets to it. Without any
//! entry, `[docker]` describes one implicit engine named `local`.

use super::WorkspaceMode;
use std::path::PathBuf;

/// One engine of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// Unique; `[A-Za-z0-9._-]{1,64}` (no `/`: a recorded container is `<name>/<id>`).
    pub name: String,
    /// Where it is and how it is reached.
    pub host: EngineHost,
    /// Jobs it runs at once (`docker.max_jobs` still bounds them all).
    pub max_jobs: usize,
    /// What `.microci.json` `"runs_on"` matches: a job runs only where every label it names is.
    pub labels: Vec<String>,
    /// Bind-mount the checkout (an engine on this machine) or copy it in (a remote one).
    pub workspace: WorkspaceMode,
}

/// How an engine is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineHost {
    /// `DOCKER_HOST`, else the local socket (the implicit engine without `docker.host`).
    Default,
    /// `unix:///path` (Docker's or Podman's socket).
    Unix(PathBuf),
    /// `tcp://host:port`: mutual TLS with `tls`, or plain HTTP (`insecure = true`, loopback only).
    Tcp {
        /// `host:port` as written (a name, an IPv4 address or a bracketed IPv6 one).
        addr: String,
        /// The client certificate and the CA the engine's certificate must chain to.
        tls: Option<TlsFiles>,
    },
    /// `ssh://[user@]host[:port]`: the system's `ssh` runs `docker system dial-stdio` there.
    Ssh {
        /// `[user@]host` as `ssh` takes it.
        destination: String,
        /// The port, when not 22.
        port: Option<u16>,
        /// The private key (`ssh_key`).
        key: PathBuf,
        /// The engine host's key must be in this file (`known_hosts`); no other is accepted.
        known_hosts: PathBuf,
    },
}

/// Mutual TLS for a `tcp://` engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM of the CA that signed the engine's certificate (the only one trusted).
    pub ca: PathBuf,
    /// PEM of this daemon's client certificate.
    pub cert: PathBuf,
    /// PEM of its private key.
    pub key: PathBuf,
}

impl EngineHost {
    /// The address as a person wrote it, without secrets (there are none in it: keys are files).
    pub fn display(&self) -> String {
        match self {
            EngineHost::Default => "default".into(),
            EngineHost::Unix(p) => format!("unix://{}", p.display()),
            EngineHost::Tcp { addr, .. } => format!("tcp://{addr}"),
            EngineHost::Ssh {
                destination, port, ..
            } => match port {
                Some(p) => format!("ssh://{destination}:{p}"),
                None => format!("ssh://{destination}"),
            },
        }
    }
}

/// Whether `label` may name an engine's label (or one `"runs_on"` asks for): 1 to 64 of
/// `A-Z a-z 0-9 . _ -`. The error reads after the label's context, e.g. `label "a b" is …`.
pub fn check_label(label: &str) -> Result<(), String> {
    let fine = !label.is_empty()
        && label.len() <= 64
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "label {:?} is not 1 to 64 letters, digits, '.', '_' or '-'",
            label.chars().take(80).collect::<String>()
        ))
    }
}

/// The one engine `[docker]` describes when there is no `[[engine]]`: named `local`, at
/// `docker.host`, taking `docker.max_jobs` jobs, without labels.
pub(super) fn implicit(docker: &super::DockerSettings) -> Vec<EngineSettings> {
    let host = match docker.host.as_deref() {
        None => EngineHost::Default,
        Some(h) if h.starts_with("unix://") || h.starts_with('/') => {
            EngineHost::Unix(PathBuf::from(h.trim_start_matches("unix://")))
        }
        Some(h) => EngineHost::Tcp {
            addr: h
                .trim_start_matches("tcp://")
                .trim_start_matches("http://")
                .to_string(),
            tls: None,
        },
    };
    vec![EngineSettings {
        name: IMPLICIT_ENGINE.into(),
        host,
        max_jobs: docker.max_jobs,
        labels: Vec::new(),
        workspace: docker.workspace,
    }]
}

/// The name of the engine `[docker]` describes alone.
pub const IMPLICIT_ENGINE: &str = "local";
