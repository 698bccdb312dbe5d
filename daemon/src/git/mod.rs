//! Git access for jobs: a bare cache per repository (clone once, fetch incrementally) and checkouts of one
//! commit into a job's workspace, over git://, HTTP(S) with a token, SSH with a deploy key, or local paths.
//!
//! The operations are blocking (libgit2); the daemon runs them through [`GitCache::locked`], which holds
//! the repository's lock on the async side and runs the work on a blocking thread, so that a cancelled
//! job lets go of its repository at once (the abandoned libgit2 call stops at its next callback).
//!
//! Decisions:
//! - **Cache layout**: `<root>/<safe-name>.git`, a bare repository whose `refs/heads/*` and `refs/tags/*` mirror
//!   what was fetched from the remote. `safe-name` is the repository name reduced to `[A-Za-z0-9._-]` (`/`
//!   becomes `_`) plus `-` and the first 12 hex digits of SHA-256 of the full name, so an untrusted name can
//!   neither escape the root nor collide with another (`a/b` and `a_b` differ by hash).
//! - **Concurrency**: one async lock per cache directory serialises every operation on one cache (fetch and
//!   the copy of its objects into a checkout); different repositories proceed in parallel. This relies on one
//!   daemon owning `state_dir`, which the daemon already requires for SQLite and logs. A cancelled operation
//!   releases the lock at once; its blocking thread aborts at libgit2's next callback (progress, credentials,
//!   certificate) or at the I/O timeout, and libgit2 writes packs to temporary files before renaming them, so
//!   the next job's fetch is not disturbed.
//! - **Checkout**: the destination is a real git work tree (`.git` directory, HEAD detached at the commit,
//!   tags copied from the cache, `origin` set to the redacted URL) so `git describe`/`git log` work inside the
//!   job. Objects are *copied* from the cache (not hard-linked, not shared through alternates): the job runs
//!   untrusted code with only the workspace mounted, so alternates would point at a path absent in the
//!   container and hard links would let a job corrupt the shared cache. The cost is a copy of the cache's packs
//!   per job. Submodules are not checked out. Git LFS files stay pointer files.
//! - **Network**: the ref and all tags are fetched when the commit is not in the cache yet; a commit already in
//!   the cache needs no network at all (retries and rebuilds are fast; tags may then be slightly stale).
//!   Connect and I/O timeouts ([`Timeouts`]) are set once at start-up (`git.connect_timeout`, `git.io_timeout`).
//! - **Host keys**: with `ssh_known_hosts` set, the server's key must be listed there (plain, non-hashed host
//!   names). Without it any host key is accepted and its SHA-256 fingerprint is logged once per host and key:
//!   deploy keys are read-only and the commit id is checked, so the risk is a man in the middle reading code.

mod auth;
mod cache;
mod checkout;
mod lock;
mod origin;
mod url;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use origin::{BadHostEntry, Origin};
pub(crate) use url::split_userinfo;
pub use url::{fork_url, redact_url};

/// How to authenticate to a repository's remote (per repository, from configuration).
#[derive(Clone, Default)]
pub struct Credentials {
    /// Private key file (a deploy key) for `ssh://` and scp-like `user@host:path` URLs. The SSH user name
    /// comes from the URL (default `git`). Unencrypted keys only. RSA, ECDSA and Ed25519 keys work with the
    /// libssh2 built here (tested with Ed25519 and RSA); `KEY.pub` beside the key is used if present.
    pub ssh_key: Option<PathBuf>,
    /// OpenSSH known_hosts file the SSH host key must be listed in. `None` accepts any host key and logs its
    /// fingerprint once (see the module documentation for why).
    pub ssh_known_hosts: Option<PathBuf>,
    /// User name for HTTP(S) basic auth. Defaults to the URL's user name, else `git`: forges that take a token
    /// as the password (Gogs, Gitea, GitHub, GitLab) accept any user name with it.
    pub username: Option<String>,
    /// HTTP(S) password or access token. Never shown: not in errors, logs or `Debug` output.
    pub token: Option<String>,
    /// Where the deploy key and the token may be offered: the scheme, host and port of each. A
    /// server anywhere else (another host in a webhook's URL, a redirect target) asking for
    /// credentials gets none. Empty: they are offered nowhere.
    pub origins: Vec<Origin>,
    /// Whether the token may cross plain `http://` (cleartext); off unless the administrator
    /// says otherwise (`git.allow_insecure_http`).
    pub allow_insecure_http: bool,
}

impl Credentials {
    /// True when there is a key or a token to protect.
    pub fn is_empty(&self) -> bool {
        self.ssh_key.is_none() && self.token.is_none()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ssh_key", &self.ssh_key)
            .field("ssh_known_hosts", &self.ssh_known_hosts)
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("origins", &self.origins)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

/// Bare-repository caches under one root directory, one per repository; see the module documentation.
#[derive(Debug, Clone)]
pub struct GitCache {
    root: PathBuf,
    /// One async lock per cache directory, held by the job that uses it (see [`GitCache::locked`]).
    locks: Arc<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>>,
    /// What [`init`] is called with before the first operation through [`GitCache::locked`]
    /// (libgit2 and OpenSSL are loaded then, not when the daemon starts).
    setup: Option<Arc<(PathBuf, Timeouts)>>,
}

/// Why a git operation failed, in words a person can act on; never contains credentials.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL is not one we accept (unknown scheme, control characters, ...).
    #[error("invalid repository URL {url_redacted}: {reason}")]
    InvalidUrl {
        /// The URL without credentials.
        url_redacted: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A ref, commit id or destination given by the caller is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// The remote could not be contacted or refused to serve the repository.
    #[error("could not reach {url_redacted}: {detail}")]
    Unreachable {
        /// The URL without credentials.
        url_redacted: String,
        /// What the network layer said.
        detail: String,
    },
    /// The remote rejected our credentials, or wanted credentials we do not have.
    #[error("authentication failed for {url_redacted}: {detail}")]
    AuthFailed {
        /// The URL without credentials.
        url_redacted: String,
        /// Which credentials were rejected or missing (never their value).
        detail: String,
    },
    /// The SSH server's host key is not in the configured known_hosts file.
    #[error("host key verification failed for {url_redacted}: {detail}")]
    HostKeyRejected {
        /// The URL without credentials.
        url_redacted: String,
        /// The fingerprint offered and the file consulted.
        detail: String,
    },
    /// The commit is neither reachable from the fetched ref nor fetchable by id.
    #[error("commit {commit} not found in {url_redacted} (fetched {fetched})")]
    CommitNotFound {
        /// The commit id asked for.
        commit: String,
        /// The URL without credentials.
        url_redacted: String,
        /// The ref that was fetched looking for it.
        fetched: String,
    },
    /// No branch, tag or ref of that name exists on the remote.
    #[error("ref {reference} not found in {url_redacted}")]
    RefNotFound {
        /// The name asked for.
        reference: String,
        /// The URL without credentials.
        url_redacted: String,
    },
    /// A local file-system operation failed (cache or destination directory).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, including the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The operation was cancelled (the job was cancelled or timed out).
    #[error("canceled")]
    Canceled,
    /// Anything else libgit2 reported (already scrubbed of credentials).
    #[error("git error for {url_redacted}: {detail}")]
    Other {
        /// The URL without credentials.
        url_redacted: String,
        /// libgit2's message.
        detail: String,
    },
}

impl GitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> GitError {
        GitError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Turns a libgit2 error from a remote operation into a [`GitError`], using what the callbacks observed.
pub(crate) fn classify(
    err: &git2::Error,
    url: &str,
    creds: &Credentials,
    info: &url::UrlInfo,
    state: &auth::AuthState,
) -> GitError {
    let secrets: Vec<&str> = creds
        .token
        .iter()
        .chain(info.password.iter())
        .map(String::as_str)
        .collect();
    let url_redacted = redact_url(url);
    let detail = url::scrub(err.message(), url, &secrets);
    if let Some(msg) = &state.hostkey_rejected {
        return GitError::HostKeyRejected {
            url_redacted,
            detail: url::scrub(msg, url, &secrets),
        };
    }
    if let Some(msg) = &state.auth_failed {
        return GitError::AuthFailed {
            url_redacted,
            detail: msg.clone(),
        };
    }
    let lower = detail.to_ascii_lowercase();
    if err.code() == git2::ErrorCode::Auth
        || lower.contains("authentication")
        || lower.contains("publickey")
        || lower.contains("status code: 401")
        || lower.contains("status code: 403")
    {
        return GitError::AuthFailed {
            url_redacted,
            detail,
        };
    }
    match err.class() {
        git2::ErrorClass::Net
        | git2::ErrorClass::Os
        | git2::ErrorClass::Ssh
        | git2::ErrorClass::Http
        | git2::ErrorClass::Ssl => GitError::Unreachable {
            url_redacted,
            detail,
        },
        _ if lower.contains("failed to connect") || lower.contains("could not find repository") => {
            GitError::Unreachable {
                url_redacted,
                detail,
            }
        }
        _ => GitError::Other {
            url_redacted,
            detail,
        },
    }
}

/// How long libgit2 waits on a server: to connect, and for each read or write once connected. A
/// server that stops answering fails the clone after `io` instead of holding the job forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (TCP and TLS).
    pub connect: Duration,
    /// Each read or write on an open connection.
    pub io: Duration,
}

/// Sets libgit2's process-wide options: no system, global (`~/.gitconfig`) or XDG configuration
/// is read — jobs must not depend on the administrator's git settings (an `insteadOf` rewrite, a
/// credential helper), and a service user's unreadable or missing home must not break clones —
/// and the server timeouts apply. Called once, before any other git call of the process (a
/// configured [`GitCache`] does it on its first operation).
#[allow(unsafe_code)]
pub fn init(empty_dir: &Path, timeouts: Timeouts) -> Result<(), GitError> {
    use git2::ConfigLevel;
    let failed = |what: &str, e: git2::Error| GitError::Other {
        url_redacted: String::new(),
        detail: format!("cannot {what}: {}", e.message()),
    };
    for level in [
        ConfigLevel::System,
        ConfigLevel::Global,
        ConfigLevel::XDG,
        ConfigLevel::ProgramData,
    ] {
        // SAFETY: called once (see `GitCache::ready`), before any thread uses libgit2, so nothing
        // reads the search path while it changes.
        unsafe { git2::opts::set_search_path(level, empty_dir) }
            .map_err(|e| failed("isolate git configuration", e))?;
    }
    let millis = |d: Duration| d.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: as above: before any remote operation reads these options.
    unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(millis(timeouts.connect))
            .map_err(|e| failed("set the git connect timeout", e))?;
        git2::opts::set_server_timeout_in_milliseconds(millis(timeouts.io))
            .map_err(|e| failed("set the git I/O timeout", e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_token() {
        let c = Credentials {
            token: Some("hunter2-secret".into()),
            username: Some("bob".into()),
            ..Default::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("redacted"), "{s}");
        assert!(s.contains("bob"));
    }
}
