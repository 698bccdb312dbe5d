//! What the public web pages may show: public repositories only (unless `http.pages` says
//! otherwise), as the forge said or `[[repo]] public` overrides.

use super::Jobs;
use crate::config::Pages;
use crate::runner::Engine;
use crate::store::{BranchRow, JobPage, PageQuery, StoreError, Visible};
use microci_proto::{Job, JobQuery};

impl<E: Engine> Jobs<E> {
    /// Whether the public web pages may show a repository's jobs: its `[[repo]] public` when set,
    /// else what the forge last said; unknown means private.
    pub async fn is_public(&self, repo: &str) -> Result<bool, StoreError> {
        if let Some(p) = self.config().repos.get(repo).and_then(|r| r.public) {
            return Ok(p);
        }
        Ok(self
            .reader
            .forge_public(repo.to_string())
            .await?
            .unwrap_or(false))
    }

    /// The `[[repo]] public` settings, for listing what the public pages may show.
    pub fn visible(&self) -> Visible {
        let mut v = Visible::default();
        for r in self.config().repos.values() {
            match r.public {
                Some(true) => v.also.push(r.name.clone()),
                Some(false) => v.never.push(r.name.clone()),
                None => {}
            }
        }
        v
    }

    /// Newest first, filtered, only jobs of repositories the public pages may show.
    pub async fn list_public(&self, q: JobQuery) -> Result<Vec<Job>, StoreError> {
        let jobs = self.reader.list_visible(q, self.visible()).await?;
        Ok(jobs.into_iter().map(|j| self.live(j)).collect())
    }

    /// The repositories the pages may list under `http.pages`: `None` for every one (`all`).
    pub fn page_filter(&self) -> Option<Visible> {
        match self.config().http.pages {
            Pages::All => None,
            Pages::Public | Pages::Off => Some(self.visible()),
        }
    }

    /// One page of jobs for the web pages (`q.visible` already set by the caller).
    pub async fn page(&self, q: PageQuery) -> Result<JobPage, StoreError> {
        let mut page = self.reader.page(q).await?;
        page.jobs = page.jobs.into_iter().map(|j| self.live(j)).collect();
        Ok(page)
    }

    /// The newest job of each branch the pages may show (of one repository with `repo`).
    pub async fn branches(
        &self,
        repo: Option<String>,
        limit: u32,
    ) -> Result<Vec<BranchRow>, StoreError> {
        let rows = self
            .reader
            .branches(repo, self.page_filter(), limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| BranchRow {
                job: self.live(r.job),
            })
            .collect())
    }

    /// The job a badge shows: the newest finished job of `branch`, or, without one, of the
    /// default branch: `[[repo]] default_branch`, else what the forge last named, else the
    /// newer of `main`'s and `master`'s. Also returns the branch name used.
    pub async fn badge_job(
        &self,
        repo: &str,
        branch: Option<String>,
    ) -> Result<Option<Job>, StoreError> {
        let branch = match branch {
            Some(b) => Some(b),
            None => match self
                .config()
                .repos
                .get(repo)
                .and_then(|r| r.default_branch.clone())
            {
                Some(b) => Some(b),
                None => self.reader.forge_default_branch(repo.to_string()).await?,
            },
        };
        let refs = match branch.filter(|b| !b.is_empty()) {
            Some(b) if b.starts_with("refs/") => vec![b],
            Some(b) => vec![format!("refs/heads/{b}")],
            None => vec!["refs/heads/main".into(), "refs/heads/master".into()],
        };
        self.reader.latest_finished(repo.to_string(), refs).await
    }
}
