//! Moving the metrics as jobs change: a start observes the queue wait, an end counts the job by
//! state and repository and observes how long it ran. The repository label is a configured
//! name, `(unlisted)`, or — with `http.metrics = "public"` — `(private)` for a repository the
//! public pages may not show, so neither webhooks nor private names reach the labels.

use super::Jobs;
use crate::config::MetricsAccess;
use crate::metrics::{PRIVATE, UNLISTED, seconds_between};
use crate::runner::Engine;
use microci_proto::{Job, JobStatus};

impl<E: Engine> Jobs<E> {
    /// Counts a state change that was just committed.
    pub(crate) async fn measure(&self, job: &Job) {
        match job.status {
            JobStatus::Started => {
                if let Some(wait) = job
                    .started_at
                    .as_deref()
                    .and_then(|s| seconds_between(&job.created_at, s))
                {
                    self.metrics.job_started(wait);
                }
            }
            s if s.is_final() => {
                let ran = match (&job.started_at, &job.finished_at) {
                    (Some(a), Some(b)) => seconds_between(a, b),
                    _ => None,
                };
                let repository = self.metric_repository(&job.repo).await;
                self.metrics.job_finished(s.as_str(), &repository, ran);
            }
            _ => {}
        }
    }

    /// The repository label for `repo`'s jobs.
    async fn metric_repository(&self, repo: &str) -> String {
        let config = self.config();
        if !config.is_listed(repo) {
            return UNLISTED.into();
        }
        match config.http.metrics {
            MetricsAccess::All => repo.to_string(),
            _ if self.is_public(repo).await.unwrap_or(false) => repo.to_string(),
            _ => PRIVATE.into(),
        }
    }
}
