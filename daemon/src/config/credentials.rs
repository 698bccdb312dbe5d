//! Clone credentials and where they may go. A `[[repo]]`'s key or token belongs to the scheme,
//! host and port of its `clone_url`; `[git]`'s to the hosts listed in `git.hosts`. A repository
//! with credentials of its own never falls back to the global ones, and a token never crosses
//! plain `http://` unless `git.allow_insecure_http` says so.

use super::raw::{RawGit, RawRepo};
use super::webhook::Secret;
use super::{CloneProtocol, Config};
use crate::git::{Credentials, Origin, Timeouts, redact_url};
use std::path::PathBuf;

/// `[git]`: default credentials and how libgit2 talks to servers.
#[derive(Clone)]
pub struct GitSettings {
    /// Deploy key for SSH clone URLs.
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file SSH host keys must be listed in; unset accepts any (and logs it).
    pub known_hosts: Option<PathBuf>,
    /// HTTP user name.
    pub username: Option<String>,
    /// HTTP token.
    pub token: Option<String>,
    /// Which of the forge's URLs to clone.
    pub protocol: Option<CloneProtocol>,
    /// Where the key and token above may be sent.
    pub hosts: Vec<Origin>,
    /// Whether tokens may cross plain `http://`.
    pub allow_insecure_http: bool,
    /// libgit2's connect and I/O timeouts.
    pub timeouts: Timeouts,
}

/// Per-repository settings (`[[repo]]`), validated.
#[derive(Clone, Default)]
pub struct RepoSettings {
    /// Full name as the forge sends it, e.g. `alice/app`.
    pub name: String,
    /// Webhook secret for this repository; overrides `webhook.secret`.
    pub secret: Option<Secret>,
    /// Clone from here instead of the URL in the webhook; stored and shown without credentials
    /// (a user name or password written in the file moved to `username`/`token`).
    pub clone_url: Option<String>,
    /// Branch `run REPO` builds when no ref is given (else the remote's HEAD).
    pub default_branch: Option<String>,
    /// Deploy key.
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file; falls back to `[git]`'s (it holds no secret).
    pub known_hosts: Option<PathBuf>,
    /// HTTP user name.
    pub username: Option<String>,
    /// HTTP token (or the password from `clone_url`).
    pub token: Option<String>,
    /// Clone protocol; falls back to `[git]`'s.
    pub protocol: Option<CloneProtocol>,
    /// Shown on the public web pages whatever the forge says (`Some(false)`: never).
    pub public: Option<bool>,
    /// Which pushes build (`branches`, `tags`, `paths`).
    pub filter: super::filter::BuildFilter,
    /// Token for reporting commit statuses to the forge (wins over `[forge.<name>] token`).
    pub status_token: Option<Secret>,
    /// Which pull requests build.
    pub pull_requests: super::PullRequests,
    /// Whether a push cancels the queued (and interruptible running) jobs of the same ref;
    /// `None`: branches and pull requests yes, tags no.
    pub cancel_superseded: Option<bool>,
    /// Secrets jobs may ask for (`secrets`, `secret_branches`); sources only, never values.
    pub secrets: super::RepoSecrets,
    /// The concurrency group every job of the repository is in (wins over `.microci.json`'s).
    pub concurrency: Option<String>,
    /// When jobs start without a push (`schedule`).
    pub schedules: Vec<super::schedule::Schedule>,
}

impl RepoSettings {
    /// A key or token of its own: then `[git]`'s are never used for it.
    pub fn has_credentials(&self) -> bool {
        self.ssh_key.is_some() || self.token.is_some()
    }
}

impl std::fmt::Debug for RepoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoSettings")
            .field("name", &self.name)
            .field("clone_url", &self.clone_url)
            .field("default_branch", &self.default_branch)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSettings")
            .field("ssh_key", &self.ssh_key)
            .field("known_hosts", &self.known_hosts)
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("hosts", &self.hosts)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

/// A problem with one key: `(dotted key, message)`.
pub(super) type KeyError = (String, String);

/// Validates `[git]`.
pub(super) fn git_settings(raw: RawGit, timeouts: Timeouts) -> Result<GitSettings, KeyError> {
    let hosts = Origin::parse_list(&raw.hosts.unwrap_or_default())
        .map_err(|e| ("git.hosts".to_string(), e.to_string()))?;
    let has_secret = raw.ssh_key.is_some() || raw.token.is_some();
    if has_secret && hosts.is_empty() {
        return Err((
            "git.hosts".into(),
            "[git] has a key or token but no hosts to send it to: list your forge, e.g. \
             hosts = [\"git.example.com\"] (credentials go nowhere else)"
                .into(),
        ));
    }
    Ok(GitSettings {
        ssh_key: raw.ssh_key,
        known_hosts: raw.known_hosts,
        username: raw.username,
        token: raw.token,
        protocol: raw.protocol,
        hosts,
        allow_insecure_http: raw.allow_insecure_http.unwrap_or(false),
        timeouts,
    })
}

/// Validates one `[[repo]]` (`key` is `repo[i]`, for messages): a password in `clone_url` moves
/// to `token`, and credentials need a network `clone_url` to belong to.
pub(super) fn repo_settings(
    key: &str,
    raw: RawRepo,
    git: &GitSettings,
) -> Result<RepoSettings, KeyError> {
    let err = |field: &str, message: String| (format!("{key}.{field}"), message);
    if !crate::forge::names::is_valid_repo_name(&raw.name, true) {
        return Err(err(
            "name",
            format!(
                "{:?} is not a repository full name like \"owner/name\"",
                raw.name
            ),
        ));
    }
    let mut username = raw.username;
    let mut token = raw.token;
    let clone_url = match raw.clone_url {
        None => None,
        Some(url) => {
            let (clean, user, password) = crate::git::split_userinfo(&url);
            if password.is_some() {
                if token.is_some() {
                    return Err(err(
                        "token",
                        "set either token or a password in clone_url, not both".into(),
                    ));
                }
                token = password;
                username = username.or(user);
            }
            Some(clean)
        }
    };
    let has_credentials = raw.ssh_key.is_some() || token.is_some();
    if has_credentials {
        let Some(url) = clone_url.as_deref() else {
            return Err(err(
                "clone_url",
                "the repository has its own key or token: set clone_url, the only place \
                 they are sent"
                    .into(),
            ));
        };
        let Some(origin) = Origin::of_url(url) else {
            return Err(err(
                "clone_url",
                format!(
                    "{} is not a network URL, so its key or token has nowhere to go",
                    redact_url(url)
                ),
            ));
        };
        if origin.scheme == "http" && token.is_some() && !git.allow_insecure_http {
            return Err(err(
                "clone_url",
                format!(
                    "{} is plain http://: the token would cross the network in cleartext \
                     (use https://, or set git.allow_insecure_http = true)",
                    redact_url(url)
                ),
            ));
        }
    }
    Ok(RepoSettings {
        name: raw.name,
        secret: raw.secret.map(Secret::new),
        clone_url,
        default_branch: raw.default_branch,
        ssh_key: raw.ssh_key,
        known_hosts: raw.known_hosts,
        username,
        token,
        protocol: raw.protocol,
        public: raw.public,
        filter: super::filter::BuildFilter::parse(key, raw.branches, raw.tags, raw.paths)?,
        status_token: raw.status_token.map(Secret::new),
        pull_requests: raw.pull_requests.unwrap_or_default(),
        cancel_superseded: raw.cancel_superseded,
        secrets: super::secrets::repo_secrets(key, raw.secrets, raw.secret_branches)?,
        concurrency: super::schedule::concurrency(key, raw.concurrency)?,
        schedules: super::schedule::schedules(key, raw.schedule)?,
    })
}

impl Config {
    /// Clone credentials for a repository, each bound to where it may be offered: the
    /// repository's own (to its `clone_url`'s origin), else `[git]`'s (to `git.hosts`).
    pub fn credentials_for(&self, repo: &str) -> Credentials {
        let g = &self.git;
        let own = self.repos.get(repo);
        let known_hosts = own
            .and_then(|r| r.known_hosts.clone())
            .or_else(|| g.known_hosts.clone());
        match own {
            Some(r) if r.has_credentials() => Credentials {
                ssh_key: r.ssh_key.clone(),
                ssh_known_hosts: known_hosts,
                username: r.username.clone(),
                token: r.token.clone(),
                origins: r
                    .clone_url
                    .as_deref()
                    .and_then(Origin::of_url)
                    .into_iter()
                    .collect(),
                allow_insecure_http: g.allow_insecure_http,
            },
            _ => Credentials {
                ssh_key: g.ssh_key.clone(),
                ssh_known_hosts: known_hosts,
                username: own
                    .and_then(|r| r.username.clone())
                    .or_else(|| g.username.clone()),
                token: g.token.clone(),
                origins: g.hosts.clone(),
                allow_insecure_http: g.allow_insecure_http,
            },
        }
    }

    /// Which URL to clone a pushed repository from, without credentials: the configured one,
    /// else the forge's SSH URL when SSH is chosen (or a deploy key is set and no protocol is),
    /// else its HTTP URL.
    pub fn clone_url_for(&self, repo: &str, http: &str, ssh: Option<&str>) -> String {
        let own = self.repos.get(repo);
        if let Some(url) = own.and_then(|r| r.clone_url.clone()) {
            return url;
        }
        let creds = self.credentials_for(repo);
        let protocol = own.and_then(|r| r.protocol).or(self.git.protocol);
        let use_ssh = match protocol {
            Some(CloneProtocol::Ssh) => true,
            Some(CloneProtocol::Http) => false,
            None => creds.ssh_key.is_some() && creds.token.is_none(),
        };
        let url = match ssh {
            Some(s) if use_ssh && !s.is_empty() => s,
            _ => http,
        };
        redact_url(url)
    }
}
