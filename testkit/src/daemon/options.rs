//! What one daemon is run with: its binaries, clean-up label and environment, and the settings
//! written into its config file.

use super::{IMAGE, SECRET, TEST_LABEL};
use crate::repo::Repo;
use std::path::{Path, PathBuf};

/// How to configure and run one daemon.
#[derive(Clone)]
pub struct Options {
    /// The `microcid` binary: `env!("CARGO_BIN_EXE_microcid")` in the daemon's tests,
    /// `target/release/microcid` in the bench.
    pub microcid: PathBuf,
    /// The `microci-tui` binary, for [`TestDaemon::cli`](super::TestDaemon::cli) and [`crate::tmux::Tmux::tui`]; by
    /// default next to `microcid` (Cargo builds a workspace's binaries into one directory).
    pub tui: PathBuf,
    /// The label key on every job container, with the daemon's tag as value: clean-up removes
    /// exactly these, so tests and the bench never remove each other's containers.
    pub label: String,
    /// `NOTIFY_SOCKET` for the daemon, to read its sd_notify messages (`READY=1`); unset when
    /// `None`.
    pub notify_socket: Option<PathBuf>,
    /// `MICROCI_LOG` for the daemon: `debug` for tests, whose log is printed when they fail;
    /// `None` leaves the environment's (the bench measures the daemon as it ships).
    pub log_filter: Option<String>,
    /// `http.max_body`: tests use 256 KiB to reach the limit cheaply; `None` keeps the default.
    pub max_body: Option<u64>,
    /// `docker.max_jobs`.
    pub max_jobs: u32,
    /// `webhook.secret`.
    pub secret: String,
    /// `docker.timeout`.
    pub timeout: &'static str,
    /// Extra lines for the `[http]` table.
    pub http: String,
    /// Extra lines for the `[docker]` table.
    pub docker: String,
    /// Extra lines for the `[webhook]` table.
    pub webhook: String,
    /// Extra TOML tables appended to the config (e.g. `[git]`, more `[[repo]]` tables).
    pub extra: String,
    /// Whether `alice/app` has a `[[repo]]` table (most tests push it).
    pub listed: bool,
    /// Extra lines for `alice/app`'s `[[repo]]` table.
    pub repo: String,
    /// `docker.workspace`.
    pub workspace: &'static str,
    /// Clone `alice/app` from here (a `[[repo]] clone_url`), whatever the webhook says.
    pub clone_url: Option<String>,
    /// `docker.host`, when not the local Engine.
    pub docker_host: Option<String>,
    /// Run the daemon as this uid, in the `docker` group (as the packaged service runs).
    pub run_as: Option<u32>,
    /// `state_dir` (default: `state` in the daemon's temp dir), e.g. on a small file system.
    pub state_dir: Option<PathBuf>,
    /// Extra environment for the daemon (e.g. `SSL_CERT_FILE`, to trust a test CA).
    pub env: Vec<(String, String)>,
}

impl Options {
    /// The tests' defaults for the daemon at `microcid`: two jobs at a time, the test image,
    /// secret and label, debug logs, a 256 KiB body limit, `alice/app` listed.
    pub fn new(microcid: impl Into<PathBuf>) -> Options {
        let microcid = microcid.into();
        Options {
            tui: microcid.with_file_name("microci-tui"),
            microcid,
            label: TEST_LABEL.into(),
            notify_socket: None,
            log_filter: Some("debug".into()),
            max_body: Some(256 * 1024),
            max_jobs: 2,
            secret: SECRET.into(),
            timeout: "5m",
            http: String::new(),
            docker: String::new(),
            webhook: String::new(),
            extra: String::new(),
            listed: true,
            repo: String::new(),
            workspace: "bind",
            clone_url: None,
            docker_host: None,
            run_as: None,
            state_dir: None,
            env: Vec::new(),
        }
    }

    /// These options, with `alice/app` cloned from `repo`.
    pub fn for_repo(self, repo: &Repo) -> Options {
        self.for_url(&repo.url())
    }

    /// These options, with `alice/app` cloned from `url`.
    pub fn for_url(self, url: &str) -> Options {
        Options {
            clone_url: Some(url.to_string()),
            ..self
        }
    }

    /// Where the daemon in `dir` keeps its state.
    pub(super) fn state_dir(&self, dir: &Path) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| dir.join("state"))
    }

    /// The config file's text for a daemon in `dir` listening on `port`, labelling with `tag`.
    pub(super) fn config(&self, dir: &Path, port: u16, socket: &Path, tag: &str) -> String {
        let mut extra = self.extra.clone();
        if self.listed {
            extra.push_str("[[repo]]\nname = \"alice/app\"\n");
            if let Some(url) = &self.clone_url {
                extra.push_str(&format!("clone_url = \"{url}\"\n"));
            }
            extra.push_str(&self.repo);
        }
        let line = |key: &str, value: Option<String>| {
            value.map(|v| format!("{key} = {v}\n")).unwrap_or_default()
        };
        format!(
            "state_dir = \"{state}\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n{max_body}{http}\
             [control]\nsocket = \"{sock}\"\n\
             [docker]\nmax_jobs = {max}\ndefault_image = \"{IMAGE}\"\ntimeout = \"{timeout}\"\n\
             stop_grace = \"1s\"\nmemory = \"256m\"\npids = 256\nworkspace = \"{ws}\"\n\
             labels = {{ \"{label}\" = \"{tag}\" }}\n{host}{docker}\
             [webhook]\nsecret = \"{secret}\"\n{webhook}{extra}\n",
            state = self.state_dir(dir).display(),
            max_body = line("max_body", self.max_body.map(|b| b.to_string())),
            http = self.http,
            sock = socket.display(),
            max = self.max_jobs,
            timeout = self.timeout,
            ws = self.workspace,
            label = self.label,
            host = line(
                "host",
                self.docker_host.as_ref().map(|h| format!("\"{h}\""))
            ),
            docker = self.docker,
            secret = self.secret,
            webhook = self.webhook,
        )
    }
}
