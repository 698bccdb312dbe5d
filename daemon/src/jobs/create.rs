//! Creating jobs: a verified push, a retry, a manual build — the same way whichever door asked.

use super::Jobs;
use crate::forge::Push;
use crate::runner::Engine;
use crate::store::{Inserted, NewJob, RepoRow, StoreError};
use microci_proto::RepoInfo;
use std::collections::BTreeMap;

/// Most parameters one run takes.
const MAX_PARAMS: usize = 64;

/// Why a job could not be created.
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

impl<E: Engine> Jobs<E> {
    /// Records the job for a verified push and wakes the scheduler.
    pub async fn submit_push(
        &self,
        forge: &str,
        delivery_id: Option<String>,
        push: Push,
    ) -> Result<Inserted, StoreError> {
        let clone_url =
            self.config()
                .clone_url_for(&push.repo, &push.clone_url, push.ssh_url.as_deref());
        // Both queued at once: the writer usually commits them together (one fsync to wait for).
        let remembered = self.writer.upsert_repo(RepoRow {
            name: push.repo.clone(),
            clone_url: clone_url.clone(),
            default_branch: push.default_branch.clone(),
            public: push.public,
        });
        let report_via = self
            .config()
            .reporter(&push.repo, forge)
            .map(|_| forge.to_string());
        let (commit_url, pull_url) = match &push.web_url {
            Some(web) => {
                let (c, p) =
                    crate::forge::links(forge, web, &push.commit, push.pull.map(|p| p.number));
                (Some(c), p)
            }
            None => (None, None),
        };
        let (source_ref, source_repo) = match push.source {
            Some(s) => (Some(s.git_ref), s.repo),
            None => (None, None),
        };
        let recorded = self.writer.insert(NewJob {
            report_via,
            source_ref,
            source_repo,
            commit_url,
            pull_url,
            untrusted: push.pull.is_some_and(|p| p.fork),
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
            dedupe_active: true,
            params: BTreeMap::new(),
        });
        remembered.await?;
        let inserted = recorded.await?;
        if !inserted.duplicate {
            self.publish(&inserted.job);
            self.slots.wake.notify_one();
        }
        Ok(inserted)
    }

    /// A new job for the same repository and commit as job `id`. Its life is reported to the
    /// forge as the first job's was (while a status token still applies): a retry that passes
    /// turns the commit's mark green.
    pub async fn retry(&self, id: i64, who: &str) -> Result<i64, CreateError> {
        let rec = self
            .record(id)
            .await?
            .ok_or_else(|| CreateError::NotFound(format!("no job {id}")))?;
        let report_via = rec
            .report_via
            .filter(|forge| self.config().reporter(&rec.job.repo, forge).is_some());
        let inserted = self
            .writer
            .insert(NewJob {
                message: rec.job.message,
                author: who.to_string(),
                trigger: "retry".into(),
                retry_of: Some(id),
                untrusted: rec.job.untrusted,
                commit_url: rec.job.commit_url,
                pull_url: rec.job.pull_url,
                source_ref: rec.source_ref,
                source_repo: rec.source_repo,
                params: rec.job.params,
                report_via,
                ..NewJob::manual(rec.job.repo, rec.job.git_ref, rec.job.commit, rec.clone_url)
            })
            .await?;
        self.publish(&inserted.job);
        self.slots.wake.notify_one();
        Ok(inserted.job.id)
    }

    /// A manual build of a known repository at `reference` (default: its default branch), with
    /// `params` as extra environment for its container.
    pub async fn run(
        &self,
        repo: &str,
        reference: Option<&str>,
        params: BTreeMap<String, String>,
        who: &str,
    ) -> Result<i64, CreateError> {
        self.run_as(repo, reference, params, who, "manual").await
    }

    /// [`Jobs::run`], recording what asked for it as the job's `trigger` (`manual`, or
    /// `schedule` for `[[repo]] schedule`).
    pub async fn run_as(
        &self,
        repo: &str,
        reference: Option<&str>,
        params: BTreeMap<String, String>,
        who: &str,
        trigger: &str,
    ) -> Result<i64, CreateError> {
        check_params(&params).map_err(CreateError::Invalid)?;
        let known = self.repos().await?;
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
        let creds = self.config().credentials_for(repo);
        let (name, url) = (repo.to_string(), info.clone_url.clone());
        let wanted = reference
            .map(str::to_string)
            .or_else(|| (!info.default_branch.is_empty()).then(|| info.default_branch.clone()));
        // A person waits for this answer: bound it like a clone, by the default job timeout.
        let cancel = tokio_util::sync::CancellationToken::new();
        let _stop = cancel.clone().drop_guard();
        let resolve = self.git.locked(repo, &cancel, move |git, cancel| {
            let reference = match wanted {
                Some(r) => r,
                None => git.default_branch(&url, &creds, cancel)?,
            };
            git.resolve_ref(&name, &url, &creds, &reference, cancel)
        });
        let (git_ref, commit) = tokio::time::timeout(self.config().docker.timeout, resolve)
            .await
            .map_err(|_| CreateError::Invalid("resolving the ref timed out".into()))?
            .map_err(|e| CreateError::Invalid(format!("cannot resolve the ref: {e}")))?;
        let inserted = self
            .writer
            .insert(NewJob {
                message: format!("{trigger} build"),
                author: who.to_string(),
                params,
                trigger: trigger.to_string(),
                ..NewJob::manual(repo.to_string(), git_ref, commit, info.clone_url)
            })
            .await?;
        self.publish(&inserted.job);
        self.slots.wake.notify_one();
        Ok(inserted.job.id)
    }

    /// Repositories from config and from webhooks, by name, with the URLs they are cloned from
    /// (never carrying credentials: those stay in the config).
    pub async fn repos(&self) -> Result<Vec<RepoInfo>, StoreError> {
        let mut seen: Vec<RepoInfo> = self
            .reader
            .repos()
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        for (name, r) in &self.config().repos {
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
}

/// Whether a run's parameters can be given to its container: a bounded handful of variables
/// with names a job could set in its own `env`, and values without NUL (which no environment
/// can hold).
fn check_params(params: &BTreeMap<String, String>) -> Result<(), String> {
    if params.len() > MAX_PARAMS {
        return Err(format!(
            "{} parameters: at most {MAX_PARAMS} are taken",
            params.len()
        ));
    }
    let size: usize = params.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > crate::store::params::MAX_PARAMS_BYTES {
        return Err(format!(
            "parameters are {size} bytes: at most {} are taken",
            crate::store::params::MAX_PARAMS_BYTES
        ));
    }
    for (key, value) in params {
        crate::repo_config::check_variable(key).map_err(|e| format!("parameter {e}"))?;
        if value.contains('\0') {
            return Err(format!("parameter {key:?}: the value holds a NUL byte"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked() {
        assert!(check_params(&params(&[("DEPLOY_TO", "staging"), ("X", "")])).is_ok());
        let e = check_params(&params(&[("MICROCI_JOB", "7")])).unwrap_err();
        assert!(
            e.contains("parameter \"MICROCI_JOB\"") && e.contains("reserved"),
            "{e}"
        );
        let e = check_params(&params(&[("A=B", "1")])).unwrap_err();
        assert!(e.contains("not a variable name"), "{e}");
        let e = check_params(&params(&[("A", "x\0y")])).unwrap_err();
        assert!(e.contains("NUL"), "{e}");
        let many: BTreeMap<_, _> = (0..65).map(|i| (format!("K{i}"), String::new())).collect();
        assert!(check_params(&many).unwrap_err().contains("at most 64"));
        let big = params(&[("K", &"x".repeat(20_000))]);
        assert!(check_params(&big).unwrap_err().contains("bytes"));
    }
}
