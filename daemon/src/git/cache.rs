//! The per-repository bare cache: naming, locking, opening, and fetching refs or commits into it; plus the
//! public operations [`GitCache::checkout`], [`GitCache::resolve`] and [`GitCache::default_branch`].

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use git2::{AutotagOption, Direction, FetchOptions, Oid, Reference, Remote, Repository};
use sha2::{Digest, Sha256};

use super::auth::{self, AuthState};
use super::url::{self, UrlInfo};
use super::{Credentials, GitCache, GitError, Origin, checkout, classify, redact_url};
use tokio_util::sync::CancellationToken;

/// Every tag, so that `git describe` works in checkouts.
const TAGS_REFSPEC: &str = "+refs/tags/*:refs/tags/*";

/// Directory name for `repo` inside the cache root: readable, confined to one path component, collision-free.
pub(crate) fn safe_name(repo: &str) -> String {
    let mut readable: String = repo
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if readable.is_empty() {
        readable.push('_');
    }
    let digest = hex::encode(Sha256::digest(repo.as_bytes()));
    format!("{readable}-{}", &digest[..12])
}

/// `abc...` (40 lowercase hex) or `None`.
fn full_commit_id(s: &str) -> Option<Oid> {
    if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Oid::from_str(s).ok()
    } else {
        None
    }
}

/// The commit `prefix` names in `cache`: the tip of `fetched` when it starts with it (the usual
/// case: the branch has not moved since the event), else whatever object the abbreviation
/// uniquely names (the branch moved on; its older commit came with the fetch). `None` when it is
/// missing or ambiguous.
fn find_abbreviated(cache: &Repository, fetched: &str, prefix: &str) -> Option<Oid> {
    let prefix = prefix.to_ascii_lowercase();
    if let Ok(tip) = cache.refname_to_id(fetched)
        && tip.to_string().starts_with(&prefix)
    {
        return Some(tip);
    }
    let commit = cache.revparse_single(&prefix).ok()?.peel_to_commit().ok()?;
    commit
        .id()
        .to_string()
        .starts_with(&prefix)
        .then(|| commit.id())
}

/// `main` -> `refs/heads/main`; full refs are kept; anything that is not a valid ref name is refused (this also
/// keeps `:`, `*` and leading `+` out of the refspecs we build).
fn full_ref(git_ref: &str) -> Result<String, GitError> {
    let full = if git_ref.starts_with("refs/") {
        git_ref.to_string()
    } else {
        format!("refs/heads/{git_ref}")
    };
    if Reference::is_valid_name(&full) {
        Ok(full)
    } else {
        Err(GitError::InvalidInput(format!(
            "invalid git ref {:?}",
            git_ref.chars().take(200).collect::<String>()
        )))
    }
}

/// One remote operation's context: the URL libgit2 is given (without a password), what we parsed
/// from it, the credentials, the callback state and the cancellation that stops it.
struct Session<'a> {
    url: String,
    info: UrlInfo,
    creds: Credentials,
    state: Rc<RefCell<AuthState>>,
    cancel: &'a CancellationToken,
}

impl<'a> Session<'a> {
    /// A password written into the URL never reaches libgit2 inside the URL: it becomes the token
    /// (unless one is configured), offered only to that URL's own origin like any other.
    fn new(
        url: &str,
        creds: &Credentials,
        cancel: &'a CancellationToken,
    ) -> Result<Self, GitError> {
        let info = url::parse(url)?;
        let (clean, user, secret) = url::split_userinfo(url);
        let mut creds = creds.clone();
        if let Some(secret) = secret
            && creds.token.is_none()
        {
            creds.token = Some(secret);
            creds.username = creds.username.or(user);
            creds.origins.extend(Origin::of_url(&clean));
        }
        Ok(Session {
            url: clean,
            info,
            creds,
            state: Rc::default(),
            cancel,
        })
    }

    fn callbacks(&self) -> git2::RemoteCallbacks<'_> {
        self.state.borrow_mut().new_connection();
        auth::callbacks(
            &self.creds,
            &self.info,
            &self.url,
            self.state.clone(),
            self.cancel,
        )
    }

    fn fetch_options(&self) -> FetchOptions<'_> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(self.callbacks());
        fo.download_tags(AutotagOption::None);
        fo.update_fetchhead(false);
        fo
    }

    fn error(&self, err: &git2::Error) -> GitError {
        if self.cancel.is_cancelled() {
            return GitError::Canceled;
        }
        classify(
            err,
            &self.url,
            &self.creds,
            &self.info,
            &self.state.borrow(),
        )
    }

    /// Fetches `refspecs` from the remote into `repo` over a fresh connection.
    fn fetch(&self, repo: &Repository, refspecs: &[String]) -> Result<(), GitError> {
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| self.error(&e))?;
        self.fetch_with(&mut remote, refspecs)
    }

    fn fetch_with(&self, remote: &mut Remote<'_>, refspecs: &[String]) -> Result<(), GitError> {
        tracing::debug!(url = %redact_url(&self.url), ?refspecs, "git fetch");
        let mut fo = self.fetch_options();
        remote
            .fetch(refspecs, Some(&mut fo), None)
            .map_err(|e| self.error(&e))
    }
}

fn has_commit(repo: &Repository, oid: Oid) -> bool {
    repo.find_commit(oid).is_ok()
}

impl GitCache {
    /// A cache rooted at `root` (created on first use), with libgit2 as the process has it.
    pub fn new(root: PathBuf) -> GitCache {
        GitCache {
            root,
            locks: Default::default(),
            setup: None,
        }
    }

    /// The daemon's cache at `root`: before its first operation libgit2 is set up with
    /// [`super::init`] (`empty_dir` instead of the system's git configuration, `timeouts`).
    pub fn configured(root: PathBuf, empty_dir: PathBuf, timeouts: super::Timeouts) -> GitCache {
        GitCache {
            setup: Some(Arc::new((empty_dir, timeouts))),
            ..GitCache::new(root)
        }
    }

    /// The directory of every cached repository.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bare repository directory used for `repo` (it may not exist yet); exposed for tests and cleanup.
    pub fn cache_dir(&self, repo: &str) -> PathBuf {
        self.root.join(format!("{}.git", safe_name(repo)))
    }

    /// Opens the cache for `dir`, creating it (or re-creating it if it is unreadable) as a bare
    /// repository. A cache is created beside its place and renamed into it, and an unreadable one
    /// is renamed away before it is removed: a cancelled operation's thread may still be writing
    /// (the lock does not wait for it, see [`GitCache::locked`]), and the next job must neither
    /// see a half-made cache nor fail to remove one (CI once saw "Directory not empty").
    fn open_or_init(&self, dir: &Path) -> Result<Repository, GitError> {
        std::fs::create_dir_all(&self.root).map_err(|e| {
            GitError::io(
                format!("creating git cache root {}", self.root.display()),
                e,
            )
        })?;
        let nonce = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let beside = |what: &str| {
            let mut name = dir.as_os_str().to_owned();
            name.push(format!(".{what}-{nonce:x}"));
            PathBuf::from(name)
        };
        if dir.exists() {
            match Repository::open_bare(dir) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "git cache unusable; re-creating it");
                    // Ends with `.git`: should removing it fail, retention removes it later.
                    let mut aside = beside("broken").into_os_string();
                    aside.push(".git");
                    std::fs::rename(dir, &aside).map_err(|e| {
                        GitError::io(format!("moving broken git cache {}", dir.display()), e)
                    })?;
                    let _ = std::fs::remove_dir_all(&aside);
                }
            }
        }
        let fresh = beside("init");
        let made = Repository::init_bare(&fresh)
            .map_err(|e| GitError::Other {
                url_redacted: String::new(),
                detail: format!("creating git cache {}: {}", dir.display(), e.message()),
            })
            .and_then(|r| {
                drop(r);
                std::fs::rename(&fresh, dir)
                    .map_err(|e| GitError::io(format!("creating git cache {}", dir.display()), e))
            });
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&fresh);
            // Made meanwhile by a cancelled operation's thread: use it.
            return Repository::open_bare(dir).map_err(|_| e);
        }
        Repository::open_bare(dir).map_err(|e| GitError::Other {
            url_redacted: String::new(),
            detail: format!("opening git cache {}: {}", dir.display(), e.message()),
        })
    }

    /// Ensures `commit` is in the bare cache for `repo` (clone on first use, incremental fetch after), then
    /// writes a work tree with that commit checked out (detached) into `dest`, which must not exist or be
    /// empty. Fetches `git_ref` (and tags) only when the commit is not cached yet; if the commit is still missing
    /// after fetching the ref, fetches the commit by id (servers with `uploadpack.allowReachableSHA1InWant`)
    /// and otherwise fails with [`GitError::CommitNotFound`].
    // The remote (name, URL, credentials), what to check out where, and the cancellation.
    #[allow(clippy::too_many_arguments)]
    pub fn checkout(
        &self,
        repo: &str,
        url: &str,
        creds: &Credentials,
        git_ref: &str,
        commit: &str,
        dest: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), GitError> {
        let session = Session::new(url, creds, cancel)?;
        let oid = full_commit_id(commit).ok_or_else(|| {
            GitError::InvalidInput(format!(
                "not a full commit id: {:?}",
                commit.chars().take(80).collect::<String>()
            ))
        })?;
        let full = full_ref(git_ref)?;
        checkout::ensure_empty_dest(dest)?;

        let dir = self.cache_dir(repo);
        let cache = self.open_or_init(&dir)?;
        if !has_commit(&cache, oid) {
            session.fetch(
                &cache,
                &[format!("+{full}:{full}"), TAGS_REFSPEC.to_string()],
            )?;
        }
        if !has_commit(&cache, oid) {
            let by_id = format!("+{oid}:refs/microci/commits/{oid}");
            if let Err(e) = session.fetch(&cache, &[by_id]) {
                tracing::debug!(error = %e, "fetching commit by id failed");
            }
        }
        if !has_commit(&cache, oid) {
            return Err(GitError::CommitNotFound {
                commit: oid.to_string(),
                url_redacted: redact_url(url),
                fetched: full,
            });
        }
        if cancel.is_cancelled() {
            return Err(GitError::Canceled);
        }
        checkout::materialise(&dir, &cache, oid, url, dest)
    }

    /// Like [`GitCache::checkout`], for a pull request whose repository serves no ref for it
    /// (Bitbucket): fetches branch `source_ref` from `url` (the repository's, or its fork's) into
    /// `git_ref` (`refs/pull/<n>/head`, never a branch of the cache: a fork's `main` must not
    /// overwrite ours), without tags, and resolves `commit`, which may be abbreviated. Returns the
    /// full commit id. A commit already cached by its full id needs no network.
    #[allow(clippy::too_many_arguments)]
    pub fn checkout_source(
        &self,
        repo: &str,
        url: &str,
        creds: &Credentials,
        source_ref: &str,
        git_ref: &str,
        commit: &str,
        dest: &Path,
        cancel: &CancellationToken,
    ) -> Result<String, GitError> {
        let session = Session::new(url, creds, cancel)?;
        let source = full_ref(source_ref)?;
        let local = full_ref(git_ref)?;
        let abbreviated =
            (7..=40).contains(&commit.len()) && commit.bytes().all(|b| b.is_ascii_hexdigit());
        if !abbreviated {
            return Err(GitError::InvalidInput(format!(
                "not a commit id: {:?}",
                commit.chars().take(80).collect::<String>()
            )));
        }
        checkout::ensure_empty_dest(dest)?;
        let dir = self.cache_dir(repo);
        let cache = self.open_or_init(&dir)?;
        let cached = full_commit_id(commit).filter(|oid| has_commit(&cache, *oid));
        let oid = match cached {
            Some(oid) => oid,
            None => {
                session.fetch(&cache, &[format!("+{source}:{local}")])?;
                find_abbreviated(&cache, &local, commit).ok_or_else(|| {
                    GitError::CommitNotFound {
                        commit: commit.to_string(),
                        url_redacted: redact_url(url),
                        fetched: source.clone(),
                    }
                })?
            }
        };
        if cancel.is_cancelled() {
            return Err(GitError::Canceled);
        }
        checkout::materialise(&dir, &cache, oid, url, dest)?;
        Ok(oid.to_string())
    }

    /// Resolves a branch name, tag name, full ref or full commit id on the remote to a 40-hex
    /// commit id, fetching it into the cache, and names what was found: the full ref
    /// (`refs/heads/x`, `refs/tags/x`) or, for a commit id, the id itself (a manual build records
    /// it as the job's ref). Names are looked up as given if they start with `refs/` (or are
    /// `HEAD`), else as `refs/heads/NAME` then `refs/tags/NAME`.
    pub fn resolve_ref(
        &self,
        repo: &str,
        url: &str,
        creds: &Credentials,
        reference: &str,
        cancel: &CancellationToken,
    ) -> Result<(String, String), GitError> {
        let session = Session::new(url, creds, cancel)?;
        if reference.is_empty()
            || reference
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(GitError::InvalidInput(format!(
                "invalid ref {:?}",
                reference.chars().take(200).collect::<String>()
            )));
        }
        let dir = self.cache_dir(repo);
        let cache = self.open_or_init(&dir)?;

        let mut remote = cache
            .remote_anonymous(&session.url)
            .map_err(|e| session.error(&e))?;
        let (heads, head_target) = {
            let conn = remote
                .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
                .map_err(|e| session.error(&e))?;
            let heads: Vec<(String, Oid)> = conn
                .list()
                .map_err(|e| session.error(&e))?
                .iter()
                .map(|h| (h.name().to_string(), h.oid()))
                .collect();
            let head_target = conn
                .default_branch()
                .ok()
                .and_then(|b| b.as_str().ok().map(str::to_string));
            (heads, head_target)
        };
        let candidates: Vec<String> = if reference == "HEAD" {
            head_target.into_iter().collect()
        } else if reference.starts_with("refs/") {
            vec![reference.to_string()]
        } else {
            vec![
                format!("refs/heads/{reference}"),
                format!("refs/tags/{reference}"),
            ]
        };
        let found = candidates
            .into_iter()
            .find(|c| heads.iter().any(|(n, _)| n == c) && Reference::is_valid_name(c));
        if let Some(name) = found {
            session.fetch_with(
                &mut remote,
                &[format!("+{name}:{name}"), TAGS_REFSPEC.to_string()],
            )?;
            let commit = cache
                .find_reference(&name)
                .and_then(|r| r.peel_to_commit())
                .map_err(|e| GitError::Other {
                    url_redacted: redact_url(url),
                    detail: format!("{name}: {}", e.message()),
                })?;
            return Ok((name, commit.id().to_string()));
        }
        if let Some(oid) = full_commit_id(reference) {
            if !has_commit(&cache, oid) {
                let by_id = format!("+{oid}:refs/microci/commits/{oid}");
                if let Err(e) = session.fetch_with(&mut remote, &[by_id]) {
                    tracing::debug!(error = %e, "fetching commit by id failed");
                }
            }
            if has_commit(&cache, oid) {
                return Ok((oid.to_string(), oid.to_string()));
            }
            return Err(GitError::CommitNotFound {
                commit: oid.to_string(),
                url_redacted: redact_url(url),
                fetched: "the commit id".into(),
            });
        }
        Err(GitError::RefNotFound {
            reference: reference.to_string(),
            url_redacted: redact_url(url),
        })
    }

    /// The remote's default branch name (what its `HEAD` points to, without `refs/heads/`), for `run REPO`
    /// with no ref. Only lists the remote; nothing is fetched.
    pub fn default_branch(
        &self,
        url: &str,
        creds: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<String, GitError> {
        let session = Session::new(url, creds, cancel)?;
        let mut remote =
            Remote::create_detached(session.url.as_str()).map_err(|e| session.error(&e))?;
        let conn = remote
            .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
            .map_err(|e| session.error(&e))?;
        let head = conn.default_branch().map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => GitError::RefNotFound {
                reference: "HEAD".into(),
                url_redacted: redact_url(url),
            },
            _ => session.error(&e),
        })?;
        let head = head.as_str().unwrap_or_default();
        match head.strip_prefix("refs/heads/") {
            Some(b) if !b.is_empty() => Ok(b.to_string()),
            _ => Err(GitError::RefNotFound {
                reference: "HEAD".into(),
                url_redacted: redact_url(url),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_are_confined_and_distinct() {
        let evil = safe_name("../../etc");
        assert!(!evil.contains('/'));
        assert!(evil.starts_with(".._.._etc-"), "{evil}");
        assert_ne!(safe_name("a/b"), safe_name("a_b"));
        assert!(safe_name("a/b").starts_with("a_b-"));
        assert!(!safe_name("").is_empty());
        assert_ne!(safe_name(".."), "..");
        assert!(safe_name(&"x".repeat(500)).len() < 100);
        let root = PathBuf::from("/cache");
        let c = GitCache::new(root.clone());
        for name in ["../../etc", "a/b", "/abs", "..", "a\0b", "ü/ß"] {
            let d = c.cache_dir(name);
            assert_eq!(d.parent(), Some(root.as_path()), "{name}");
            assert!(
                d.file_name()
                    .is_some_and(|f| f.to_string_lossy().ends_with(".git"))
            );
        }
    }

    #[test]
    fn a_half_made_cache_is_moved_aside_and_made_again_whole() {
        let root = tempfile::tempdir().unwrap();
        let c = GitCache::new(root.path().to_path_buf());
        let dir = c.cache_dir("a/b");
        // What a cancelled clone's thread leaves while it still writes: not yet a repository.
        std::fs::create_dir_all(dir.join("objects/pack")).unwrap();
        std::fs::write(dir.join("objects/pack/tmp_pack_x"), b"partial").unwrap();
        let repo = c.open_or_init(&dir).unwrap();
        assert!(repo.is_bare());
        assert!(!dir.join("objects/pack/tmp_pack_x").exists());
        // Nothing else is left beside it: the fresh one was renamed into place, the broken one
        // removed.
        let names: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![dir.file_name().unwrap().to_string_lossy().into_owned()]
        );
        // And a whole one is opened as it is.
        drop(repo);
        std::fs::write(dir.join("marker"), b"kept").unwrap();
        c.open_or_init(&dir).unwrap();
        assert!(dir.join("marker").exists());
    }

    #[test]
    fn refs_are_validated() {
        assert_eq!(full_ref("main").ok().as_deref(), Some("refs/heads/main"));
        assert_eq!(
            full_ref("refs/tags/v1").ok().as_deref(),
            Some("refs/tags/v1")
        );
        assert!(full_ref("a:b").is_err());
        assert!(full_ref("refs/heads/*").is_err());
        assert!(full_ref("..").is_err());
        assert!(full_commit_id("0123").is_none());
        assert!(full_commit_id(&"g".repeat(40)).is_none());
        assert!(full_commit_id(&"a".repeat(40)).is_some());
    }
}
