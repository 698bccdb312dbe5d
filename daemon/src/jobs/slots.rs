//! Who holds a slot: the jobs the scheduler started (cloning, running, or cleaning up) and how to
//! stop each; the scheduler's wake-up call and heartbeat; and cancelling, which must win whether
//! the job is still queued, just being started, or running.

use super::Jobs;
use crate::runner::Engine;
use crate::store::{StoreError, Transition};
use microci_proto::{Job, JobStatus};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Why a cancel was refused.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// No such job.
    #[error("no job {0}")]
    NotFound(i64),
    /// It already ended.
    #[error("job {0} already ended {1}")]
    Finished(i64, JobStatus),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The slots; the scheduler takes and frees them, cancel reads them.
pub(crate) struct Slots {
    held: Mutex<HashMap<i64, CancellationToken>>,
    /// Jobs that gave their slot back while their end is still being committed: they may still
    /// read as PENDING for a moment and must not be taken from the queue again.
    settling: Mutex<std::collections::HashSet<i64>>,
    /// Why a started job was stopped, when not at a person's request (it was superseded).
    reasons: Mutex<HashMap<i64, String>>,
    /// Something may be startable: a job was queued or cancelled, or a slot freed.
    pub(crate) wake: Notify,
    /// Which job holds each concurrency group.
    pub(crate) groups: super::groups::Groups,
    /// When the scheduler's loop last went round, in ms after `epoch`: the watchdog's evidence.
    beat: AtomicU64,
    epoch: Instant,
}

impl Default for Slots {
    fn default() -> Self {
        Slots {
            held: Mutex::default(),
            settling: Mutex::default(),
            reasons: Mutex::default(),
            wake: Notify::new(),
            groups: Default::default(),
            beat: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Slots {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for job `id`, before it is marked STARTED (so a cancel arriving meanwhile
    /// finds it); returns what stops it.
    pub(crate) fn take(&self, id: i64) -> CancellationToken {
        self.held().entry(id).or_default().clone()
    }

    /// Frees job `id`'s slot.
    pub(crate) fn free(&self, id: i64) {
        self.held().remove(&id);
    }

    /// Slots taken.
    pub(crate) fn taken(&self) -> usize {
        self.held().len()
    }

    /// Whether job `id` holds a slot, or gave it back and is still settling: either way it is
    /// not to be taken from the queue.
    pub(crate) fn busy(&self, id: i64) -> bool {
        self.held().contains_key(&id) || self.settling().contains(&id)
    }

    fn settling(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.settling.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Job `id` gives its slot back before its end is committed.
    pub(crate) fn settle(&self, id: i64) {
        self.settling().insert(id);
        self.free(id);
    }

    /// Job `id`'s end is committed.
    pub(crate) fn settled(&self, id: i64) {
        self.settling().remove(&id);
        self.reasons().remove(&id);
    }

    fn reasons(&self) -> std::sync::MutexGuard<'_, HashMap<i64, String>> {
        self.reasons.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records why started job `id` stops, for its end.
    pub(crate) fn note_reason(&self, id: i64, why: String) {
        self.reasons().insert(id, why);
    }

    /// Why started job `id` was canceled, if not by a person.
    pub(crate) fn cancel_reason(&self, id: i64) -> Option<String> {
        self.reasons().get(&id).cloned()
    }

    fn token(&self, id: i64) -> Option<CancellationToken> {
        self.held().get(&id).cloned()
    }

    /// The scheduler's loop went round.
    pub(crate) fn beat(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.beat.store(ms, Ordering::Relaxed);
    }

    /// How long ago the scheduler's loop last went round.
    pub(crate) fn since_beat(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.beat.load(Ordering::Relaxed)))
    }
}

impl<E: Engine> Jobs<E> {
    /// Cancels a queued job (it never starts) or a started one (its clone or container is
    /// stopped and it ends CANCELED shortly after); returns the job as it is now.
    pub async fn cancel(&self, id: i64) -> Result<Job, CancelError> {
        self.cancel_because(id, "canceled before it started").await
    }

    /// Cancels the jobs job `by` supersedes (queued, or running and interruptible), each with
    /// the reason "canceled: superseded by job N"; returns those it canceled.
    pub async fn supersede(&self, ids: &[i64], by: i64) -> Vec<i64> {
        let why = format!("canceled: superseded by job {by}");
        let mut canceled = Vec::new();
        for &id in ids {
            self.slots.reasons().insert(id, why.clone());
            match self.cancel_because(id, &why).await {
                Ok(job) => {
                    // Dequeued: it has ended already, and never reads the reason.
                    if job.status.is_final() {
                        self.slots.reasons().remove(&id);
                    }
                    tracing::info!(job_id = id, by, "superseded");
                    canceled.push(id);
                }
                Err(e) => {
                    self.slots.reasons().remove(&id);
                    tracing::debug!(job_id = id, "not superseded: {e}");
                }
            }
        }
        canceled
    }

    /// [`Jobs::cancel`], with the reason a PENDING job ends with.
    pub async fn cancel_because(&self, id: i64, why: &str) -> Result<Job, CancelError> {
        let dequeue = Transition {
            reason: Some(why.into()),
            ..Transition::new(id, &[JobStatus::Pending], JobStatus::Canceled)
        };
        // Queued — or just taken by the scheduler, whose start then finds it CANCELED: its clone
        // (which may have begun) stops, and no container starts.
        if let Some(job) = self.transition(dequeue).await? {
            if let Some(token) = self.slots.token(id) {
                token.cancel();
            }
            return Ok(job);
        }
        let job = self.job(id).await?.ok_or(CancelError::NotFound(id))?;
        match self.slots.token(id) {
            // A job in its clean-up has already ended: nothing of it to cancel.
            Some(token) if !job.status.is_final() => {
                token.cancel();
                Ok(job)
            }
            _ if job.status.is_final() => Err(CancelError::Finished(id, job.status)),
            // STARTED but holding no slot: the scheduler is between marking it and taking it.
            _ => Ok(job),
        }
    }
}
