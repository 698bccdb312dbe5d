//! The scheduler owns every state change after PENDING: it starts the oldest pending jobs while
//! fewer than `docker.max_jobs` hold a slot, enforces timeouts (through the runner), recovers
//! after a restart, and stops what runs when the daemon stops. Cancelling goes through the job
//! service's slots, which this loop fills and frees.

mod job;
#[cfg(test)]
mod tests;

use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::store::Transition;
use futures_util::FutureExt;
use microci_proto::JobStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Reason recorded for jobs that were running when the daemon died.
pub const INTERRUPTED: &str = "interrupted: daemon restarted";
/// Reason recorded for jobs that were running when the daemon was stopped.
pub const STOPPED: &str = "interrupted: daemon stopped";

/// How often the loop goes round with nothing to do, only to say it is alive (the watchdog's
/// evidence): an idle daemon touches nothing else.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Starts the scheduler task: pending jobs run in arrival order until `shutdown` fires; then the
/// containers of jobs still running are removed and those jobs recorded as interrupted.
pub fn spawn<E: Engine>(
    jobs: Arc<Jobs<E>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(jobs, shutdown))
}

/// Ends jobs left STARTED by a previous daemon and removes its containers and workspaces. Call
/// before [`spawn`], while nothing runs.
pub async fn recover<E: Engine>(jobs: &Jobs<E>) {
    match jobs.writer.fail_started(INTERRUPTED.into()).await {
        Ok(ended) => {
            for job in &ended {
                tracing::warn!(job = job.id, "{INTERRUPTED}");
                jobs.publish(job);
            }
        }
        Err(e) => tracing::error!("cannot end interrupted jobs: {e}"),
    }
    match jobs.engine.reap_all().await {
        Ok(ids) if !ids.is_empty() => {
            tracing::info!(
                "removed {} leftover container(s) of jobs {ids:?}",
                ids.len()
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot remove leftover containers: {e}"),
    }
    let workspaces = jobs.workspaces().to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(&workspaces);
        std::fs::create_dir_all(&workspaces)
    })
    .await;
}

/// Pending jobs read ahead, oldest first: one read of the queue serves many starts. A job
/// cancelled meanwhile is skipped when its start finds it CANCELED.
type Ahead = std::collections::VecDeque<crate::store::JobRecord>;

/// How many pending jobs one read of the queue takes.
const READ_AHEAD: usize = 64;

async fn run<E: Engine>(jobs: Arc<Jobs<E>>, shutdown: CancellationToken) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut tick = tokio::time::interval(HEARTBEAT);
    let mut ahead = Ahead::new();
    fill(&jobs, &mut tasks, &mut ahead).await;
    while !shutdown.is_cancelled() {
        jobs.slots.beat();
        tokio::select! {
            () = shutdown.cancelled() => break,
            // A job was queued, or a slot freed (a finished task wakes it too).
            () = jobs.slots.wake.notified() => fill(&jobs, &mut tasks, &mut ahead).await,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!("a job task failed: {e}");
                }
            }
            _ = tick.tick() => {}
        }
    }
    // Stopping: stop what runs, remove its containers, record it as interrupted.
    let running = jobs.slots.taken();
    jobs.slots.cancel_all();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if running > 0 {
        tracing::info!("stopping {running} running job(s)");
        if let Err(e) = jobs.engine.reap_all().await {
            tracing::warn!("cannot remove running containers: {e}");
        }
        match jobs.writer.fail_started(STOPPED.into()).await {
            Ok(ended) => ended.iter().for_each(|j| jobs.publish(j)),
            Err(e) => tracing::error!("cannot record interrupted jobs: {e}"),
        }
    }
}

/// Frees a job's slot when its task ends, however it ends (a panic included), and wakes the loop.
struct Slot<E: Engine> {
    jobs: Arc<Jobs<E>>,
    id: i64,
}

impl<E: Engine> Slot<E> {
    /// Gives the slot back early; the job settles until its end is committed
    /// ([`crate::jobs::Slots::settled`]).
    fn settle(self) {
        self.jobs.slots.settle(self.id);
        // Drop frees (again: harmless) and wakes the loop.
    }
}

impl<E: Engine> Drop for Slot<E> {
    fn drop(&mut self) {
        self.jobs.slots.free(self.id);
        self.jobs.slots.wake.notify_one();
    }
}

/// Starts the oldest pending jobs while slots are free.
async fn fill<E: Engine>(jobs: &Arc<Jobs<E>>, tasks: &mut JoinSet<()>, ahead: &mut Ahead) {
    let free = jobs
        .config
        .docker
        .max_jobs
        .saturating_sub(jobs.slots.taken());
    if free == 0 {
        return;
    }
    // Newer jobs have higher ids: what is read ahead stays the oldest until it is used up. A job
    // that holds a slot, or is settling, may still read as PENDING: not again.
    if ahead.len() < free {
        match jobs.reader.next_pending(READ_AHEAD.max(free)).await {
            Ok(p) => *ahead = p.into(),
            Err(e) => {
                tracing::error!("cannot read pending jobs: {e}");
                return;
            }
        }
    }
    ahead.retain(|r| !jobs.slots.busy(r.job.id));
    let pending: Vec<_> = ahead.drain(..free.min(ahead.len())).collect();
    for rec in pending {
        let id = rec.job.id;
        // The slot first, so a cancel arriving while the job is being marked finds it.
        let token = jobs.slots.take(id);
        let slot = Slot {
            jobs: jobs.clone(),
            id,
        };
        // Queued now (the starts of every free slot share a commit); the clone runs meanwhile.
        let started = jobs
            .writer
            .transition(Transition::new(
                id,
                &[JobStatus::Pending],
                JobStatus::Started,
            ))
            .boxed();
        let jobs = jobs.clone();
        tasks.spawn(async move {
            let mut start = job::Start::new(&jobs, started);
            let (end, image_ran) = job::execute(&jobs, &rec, &token, &mut start).await;
            // The end is recorded before the workspace is cleaned: clean-up is the daemon's
            // business (bounded, see `remove_workspace`), not the job's time. It is queued after
            // the start, so it applies after it (and changes nothing if the start did not).
            let recorded = jobs.transition(end);
            // Nothing of the job runs any more: unless a helper container may still be needed
            // to clean up, its slot is free now — the next job starts while this one's start
            // and end commit — and it settles (stays out of the queue) until they have.
            let slot = if image_ran {
                Some(slot)
            } else {
                slot.settle();
                None
            };
            start.confirmed().await;
            if let Err(e) = recorded.await {
                tracing::error!(job = id, "cannot record a job's end: {e}");
            }
            jobs.slots.settled(id);
            job::remove_workspace(&jobs, &jobs.workspace(id), image_ran).await;
            drop(slot);
        });
    }
}

/// A change from STARTED to a final state.
fn end(id: i64, to: JobStatus, reason: Option<String>, exit_code: Option<i64>) -> Transition {
    Transition {
        reason,
        exit_code,
        ..Transition::new(id, &[JobStatus::Started], to)
    }
}
