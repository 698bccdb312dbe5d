//! What the HTTP listener and the control socket share: the store, the bus, the scheduler handle,
//! and the few operations that create jobs (a push, a retry, a manual run) so both front doors
//! create them the same way.

use crate::config::{CloneProtocol, Config};
use crate::events::Bus;
use crate::forge::Push;
use crate::git::GitCache;
use crate::scheduler::{SchedulerHandle, credentials};
use crate::store::{Inserted, NewJob, Reader, RepoRow, StoreError, Writer};
use futures_util::future::BoxFuture;
use microci_proto::{DaemonStatus, RepoInfo};
use std::sync::Arc;
use std::time::Instant;

/// Asks the container engine whether it answers.
pub type Ping = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Shared by every request handler.
pub struct Shared {
    /// Settings.
    pub config: Arc<Config>,
    /// Durable writes.
    pub writer: Writer,
    /// Reads.
    pub reader: Reader,
    /// Change notifications.
    pub bus: Bus,
    /// The scheduler.
    pub scheduler: SchedulerHandle,
    /// Bare repository caches, for resolving manual builds.
    pub git: Arc<GitCache>,
    /// Engine health check.
    pub ping: Ping,
    /// When the daemon started.
    pub started: Instant,
}

/// Why a manual job could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Unknown job or repository.
    #[error("{0}")]
    NotFound(String),
    /// The ref could not be resolved, or another problem with the request.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Shared {
    /// Records the job for a verified push and wakes the scheduler.
    pub async fn submit_push(
        &self,
        forge: &str,
        delivery_id: Option<String>,
        push: Push,
    ) -> Result<Inserted, StoreError> {
        let clone_url = self.clone_url(&push.repo, &push.clone_url, push.ssh_url.as_deref());
        self.writer
            .upsert_repo(RepoRow {
                name: push.repo.clone(),
                clone_url: clone_url.clone(),
                default_branch: push.default_branch.clone(),
            })
            .await?;
        let inserted = self
            .writer
            .insert(NewJob {
                repo: push.repo,
                git_ref: push.git_ref,
                commit: push.commit,
                message: push.message,
                author: push.author,
                clone_url,
                trigger: "webhook".into(),
                forge: Some(forge.to_string()),
                delivery_id,
                retry_of: None,
            })
            .await?;
        if !inserted.duplicate {
            self.bus.job(&inserted.job);
            self.scheduler.wake();
        }
        Ok(inserted)
    }

    /// A new job for the same repository and commit as job `id`.
    pub async fn retry(&self, id: i64, who: &str) -> Result<i64, CreateError> {
        let rec = self
            .reader
            .job(id)
            .await?
            .ok_or_else(|| CreateError::NotFound(format!("no job {id}")))?;
        let inserted = self
            .writer
            .insert(NewJob {
                repo: rec.job.repo,
                git_ref: rec.job.git_ref,
                commit: rec.job.commit,
                message: rec.job.message,
                author: who.to_string(),
                clone_url: rec.clone_url,
                trigger: "retry".into(),
                forge: None,
                delivery_id: None,
                retry_of: Some(id),
            })
            .await?;
        self.bus.job(&inserted.job);
        self.scheduler.wake();
        Ok(inserted.job.id)
    }

    /// A manual build of a known repository at `reference` (default: its default branch).
    pub async fn run(
        &self,
        repo: &str,
        reference: Option<&str>,
        who: &str,
    ) -> Result<i64, CreateError> {
        let known = self.known_repos().await?;
        let info = known.into_iter().find(|r| r.name == repo).ok_or_else(|| {
            CreateError::NotFound(format!(
                "unknown repository {repo:?}: configure it in a [[repo]] table or push to it once"
            ))
        })?;
        if info.clone_url.is_empty() {
            return Err(CreateError::Invalid(format!(
                "repository {repo:?} has no clone URL yet: set clone_url in its [[repo]] table or push to it once"
            )));
        }
        let creds = credentials(&self.config, repo);
        let (git, name, url) = (self.git.clone(), repo.to_string(), info.clone_url.clone());
        let wanted = reference
            .map(str::to_string)
            .or_else(|| (!info.default_branch.is_empty()).then(|| info.default_branch.clone()));
        let (git_ref, commit) = tokio::task::spawn_blocking(move || {
            let reference = match wanted {
                Some(r) => r,
                None => git.default_branch(&name, &url, &creds)?,
            };
            git.resolve_ref(&name, &url, &creds, &reference)
        })
        .await
        .map_err(|e| CreateError::Invalid(e.to_string()))?
        .map_err(|e| CreateError::Invalid(format!("cannot resolve the ref: {e}")))?;
        let inserted = self
            .writer
            .insert(NewJob {
                repo: repo.to_string(),
                git_ref,
                commit,
                message: String::from("manual build"),
                author: who.to_string(),
                clone_url: info.clone_url,
                trigger: "manual".into(),
                forge: None,
                delivery_id: None,
                retry_of: None,
            })
            .await?;
        self.bus.job(&inserted.job);
        self.scheduler.wake();
        Ok(inserted.job.id)
    }

    /// Repositories from config and from webhooks, by name, as shown to clients: clone URLs
    /// without credentials.
    pub async fn repos(&self) -> Result<Vec<RepoInfo>, StoreError> {
        let mut repos = self.known_repos().await?;
        for r in &mut repos {
            r.clone_url = crate::git::redact_url(&r.clone_url);
        }
        Ok(repos)
    }

    /// Repositories from config and from webhooks, by name, with the URLs to clone from as
    /// configured (a manual build must keep credentials written into a URL).
    async fn known_repos(&self) -> Result<Vec<RepoInfo>, StoreError> {
        let mut seen: Vec<RepoInfo> = self
            .reader
            .repos()
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        for (name, r) in &self.config.repos {
            match seen.iter_mut().find(|s| &s.name == name) {
                Some(s) => {
                    if let Some(url) = &r.clone_url {
                        s.clone_url = url.clone();
                    }
                    if let Some(b) = &r.default_branch {
                        s.default_branch = b.clone();
                    }
                }
                None => seen.push(RepoInfo {
                    name: name.clone(),
                    default_branch: r.default_branch.clone().unwrap_or_default(),
                    clone_url: r.clone_url.clone().unwrap_or_default(),
                }),
            }
        }
        seen.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(seen)
    }

    /// Which URL to clone a pushed repository from: the configured one, else the forge's SSH
    /// URL when SSH is chosen (or a deploy key is set and no protocol is), else its HTTP URL.
    fn clone_url(&self, repo: &str, http: &str, ssh: Option<&str>) -> String {
        if let Some(url) = self
            .config
            .repos
            .get(repo)
            .and_then(|r| r.clone_url.clone())
        {
            return url;
        }
        let auth = self.config.auth_for(repo);
        let use_ssh = match auth.protocol {
            Some(CloneProtocol::Ssh) => true,
            Some(CloneProtocol::Http) => false,
            None => auth.ssh_key.is_some() && auth.token.is_none(),
        };
        match ssh {
            Some(s) if use_ssh && !s.is_empty() => s.to_string(),
            _ => http.to_string(),
        }
    }

    /// Daemon health for `status`.
    pub async fn status(&self) -> Result<DaemonStatus, StoreError> {
        let (queued, running) = self.reader.counts().await?;
        let docker = (self.ping)().await;
        Ok(DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: self.started.elapsed().as_secs(),
            running,
            queued,
            max_jobs: self.config.docker.max_jobs as u64,
            docker_reachable: docker.is_ok(),
            docker_error: docker.err(),
            warnings: Vec::new(),
        })
    }
}
