//! What the public web pages may show: public repositories only (unless `http.pages` says
//! otherwise), as the forge said or `[[repo]] public` overrides.

use super::Jobs;
use crate::runner::Engine;
use crate::store::{StoreError, Visible};
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
}
