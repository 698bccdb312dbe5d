//! The scheduler owns every state change after PENDING: it starts the oldest pending jobs while
//! fewer than `docker.max_jobs` hold a slot, enforces timeouts (through the runner), re-attaches
//! after a restart to the containers a previous daemon left running, and on stop leaves them
//! running (or stops them, with `docker.on_stop = "cancel"`). Cancelling goes through the job
//! service's slots, which this loop fills and frees.

mod artifacts;
mod groups;
mod job;
#[cfg(test)]
mod pool_tests;
mod secrets;
mod services;
#[cfg(test)]
mod tests;

use crate::config::OnStop;
use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::store::{Run, Started, Transition};
use futures_util::FutureExt;
use microci_proto::JobStatus;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Reason recorded for jobs whose container vanished while no daemon watched it.
pub const LOST: &str = "container lost: it was removed while microci was not running";
/// Reason recorded for jobs stopped because the daemon stopped (`docker.on_stop = "cancel"`).
pub const STOPPED: &str = "canceled: the daemon stopped";
/// Said in the log of a job whose checkout starts again after a restart.
pub const RECHECKOUT: &str = "[microci] the daemon restarted during the checkout: starting again";

/// How often the loop goes round with nothing to do, only to say it is alive (the watchdog's
/// evidence): an idle daemon touches nothing else.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Starts the scheduler task: first the re-attached jobs ([`recover`]), then pending jobs in
/// arrival order, until `shutdown` fires.
pub fn spawn<E: Engine>(
    jobs: Arc<Jobs<E>>,
    reattach: Vec<Reattach>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(jobs, reattach, shutdown))
}

/// A job a previous daemon left running, to pick up.
pub struct Reattach {
    record: crate::store::JobRecord,
    run: Run,
}

/// Takes over what a previous daemon left: STARTED jobs whose container the engine still holds
/// are returned, to re-attach to (running or ended); those still in their checkout go back to
/// PENDING in their old place; those whose container is gone end ERRORED. Containers of this
/// installation that belong to no such job are removed, and so are workspaces. Call before
/// [`spawn`], while nothing runs.
pub async fn recover<E: Engine>(jobs: &Jobs<E>) -> Vec<Reattach> {
    let started = match jobs.reader.started().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot read the jobs left running: {e}");
            Vec::new()
        }
    };
    let found = match jobs.engine.containers().await {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("cannot list this installation's containers: {e}");
            None
        }
    };
    let held: HashSet<&str> = found
        .iter()
        .flatten()
        .map(|f| f.container.as_str())
        .collect();
    let mut reattach = Vec::new();
    let mut requeue = Vec::new();
    for Started { record, run } in started {
        match run {
            // Without an answer from the engine, assume the container is there: the re-attach
            // says what went wrong if it is not.
            Some(run)
                if found.is_none()
                    || held.contains(run.container.as_str())
                    || !jobs.engine.reachable(&run.container) =>
            {
                reattach.push(Reattach { record, run })
            }
            Some(_) => {
                let t = end(record.job.id, JobStatus::Errored, Some(LOST.into()), None);
                if let Err(e) = jobs.transition(t).await {
                    tracing::error!(job_id = record.job.id, "cannot record a lost job: {e}");
                }
            }
            None => requeue.push(record.job.id),
        }
    }
    if !requeue.is_empty() {
        for &id in &requeue {
            if let Ok(mut log) = jobs.logs.writer(id, 0) {
                let _ = log.line(RECHECKOUT);
            }
        }
        match jobs.writer.requeue(requeue).await {
            Ok(back) => back.iter().for_each(|j| {
                tracing::info!(
                    job_id = j.id,
                    "checkout interrupted by a restart: queued again"
                );
                jobs.publish(j);
            }),
            Err(e) => tracing::error!("cannot queue interrupted checkouts again: {e}"),
        }
    }
    // The jobs to re-attach take their places on their engines now, before the engines are
    // watched: one that answers again must not take their containers for leftovers.
    for r in &reattach {
        let _ = jobs.engine.adopt(r.record.job.id, &r.run.container);
    }
    let keep: HashSet<i64> = reattach.iter().map(|r| r.record.job.id).collect();
    let kept: HashSet<&str> = reattach.iter().map(|r| r.run.container.as_str()).collect();
    for f in found.iter().flatten() {
        // A re-attached job keeps its services: they go with it.
        let kept_service = f.service.is_some() && f.job.is_some_and(|j| keep.contains(&j));
        if kept.contains(f.container.as_str()) || kept_service {
            continue;
        }
        tracing::info!(container = %f.container, job = ?f.job, "removing a container no job runs in");
        let handle = jobs.engine.adopt(f.job.unwrap_or(0), &f.container);
        if let Err(e) = jobs.engine.teardown(&handle).await {
            tracing::warn!("cannot remove leftover container {}: {e}", f.container);
        }
        if let Some(job) = f.job.filter(|j| !keep.contains(j)) {
            jobs.engine.release(job);
        }
    }
    // What is left beside containers (a job's services' network), now that they are gone.
    if found.is_some()
        && let Err(e) = jobs.engine.sweep(&keep).await
    {
        tracing::warn!("cannot remove leftover networks: {e}");
    }
    crate::caches::sweep(jobs, &keep).await;
    let workspaces = jobs.workspaces().to_path_buf();
    let _ = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&workspaces)?;
        for entry in std::fs::read_dir(&workspaces)?.flatten() {
            let id = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok());
            if id.is_some_and(|id| keep.contains(&id)) {
                continue;
            }
            let _ = std::fs::remove_dir_all(entry.path());
        }
        Ok(())
    })
    .await;
    reattach
}

/// Pending jobs read ahead, oldest first: one read of the queue serves many starts. A job
/// cancelled meanwhile is skipped when its start finds it CANCELED.
type Ahead = std::collections::VecDeque<crate::store::JobRecord>;

/// How many pending jobs one read of the queue takes.
const READ_AHEAD: usize = 64;

async fn run<E: Engine>(jobs: Arc<Jobs<E>>, reattach: Vec<Reattach>, shutdown: CancellationToken) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut tick = tokio::time::interval(HEARTBEAT);
    let mut ahead = Ahead::new();
    for r in reattach {
        resume(&jobs, &mut tasks, r);
    }
    fill(&jobs, &mut tasks, &mut ahead).await;
    while !shutdown.is_cancelled() {
        jobs.slots.beat();
        tokio::select! {
            () = shutdown.cancelled() => break,
            // A job was queued, or a slot freed (a finished task wakes it too).
            () = jobs.slots.wake.notified() => fill(&jobs, &mut tasks, &mut ahead).await,
            // An engine came back or was undrained: there may be room now.
            () = jobs.engine.changed() => fill(&jobs, &mut tasks, &mut ahead).await,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!("a job task failed: {e}");
                }
            }
            // While the disk is low or an engine is down, the heartbeat also looks again for
            // room.
            _ = tick.tick() => if jobs.disk.low().is_some() || !jobs.engine.down().is_empty() {
                fill(&jobs, &mut tasks, &mut ahead).await;
            },
        }
    }
    // Stopping. The job tasks end here, where they are: a container keeps running, its job stays
    // STARTED, and the next daemon re-attaches to it; a checkout starts again.
    let running = jobs.slots.taken();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if running == 0 {
        return;
    }
    match jobs.config().docker.on_stop {
        OnStop::Detach => {
            tracing::info!("leaving {running} job(s) running for the next start to pick up")
        }
        OnStop::Cancel => {
            tracing::info!("stopping {running} running job(s)");
            let found = jobs.engine.containers().await.unwrap_or_default();
            let grace = jobs.config().docker.stop_grace;
            // A job's services go with its container's teardown.
            let found = found.iter().filter(|f| f.service.is_none());
            futures_util::future::join_all(found.map(|f| async {
                let handle = jobs.engine.adopt(f.job.unwrap_or(0), &f.container);
                let _ = jobs.engine.stop(&handle, grace).await;
                if let Err(e) = jobs.engine.teardown(&handle).await {
                    tracing::warn!("cannot remove container {}: {e}", f.container);
                }
            }))
            .await;
            match jobs
                .writer
                .end_started(JobStatus::Canceled, STOPPED.into())
                .await
            {
                Ok(ended) => ended.iter().for_each(|j| jobs.publish(j)),
                Err(e) => tracing::error!("cannot record stopped jobs: {e}"),
            }
        }
    }
}

/// Starts the task that sees a re-attached job to its end.
fn resume<E: Engine>(jobs: &Arc<Jobs<E>>, tasks: &mut JoinSet<()>, r: Reattach) {
    let id = r.record.job.id;
    let token = jobs.slots.take(id);
    let slot = Slot {
        jobs: jobs.clone(),
        id,
    };
    if let Some(group) = groups::group_of(&jobs.config(), &r.record) {
        let _ = jobs.slots.groups.claim(&group, id);
    }
    let hold = groups::Hold {
        jobs: jobs.clone(),
        id,
    };
    let jobs = jobs.clone();
    let span = job_span(&r.record.job);
    tasks.spawn(
        async move {
            let (end, left) = job::reattach(&jobs, &r.record, r.run, &token).await;
            match jobs.transition(end.clone()).await {
                Ok(Some(job)) => ended(&job),
                Ok(None) => {}
                Err(e) => record_end(&jobs, end, e).await,
            }
            drop(hold);
            job::clean_up(&jobs, id, left).await;
            drop(slot);
        }
        .instrument(span),
    );
}

/// The span every line about one job is logged in: under journald its fields become `JOB_ID`,
/// `REPO` and `COMMIT`.
fn job_span(job: &microci_proto::Job) -> tracing::Span {
    tracing::info_span!("job", job_id = job.id, repo = %job.repo, commit = %job.commit)
}

/// Records a job's end that the store refused (a full disk, most likely), trying again every few
/// seconds until it is in: the job keeps its slot meanwhile, so nothing new starts on a disk that
/// cannot take it, and the end is not lost.
async fn record_end<E: Engine>(jobs: &Jobs<E>, end: Transition, first: crate::store::StoreError) {
    tracing::error!("cannot record the job's end, trying again until it can be: {first}");
    loop {
        tokio::time::sleep(RECORD_RETRY).await;
        match jobs.transition(end.clone()).await {
            Ok(Some(job)) => return ended(&job),
            Ok(None) => return,
            Err(e) => tracing::debug!("still cannot record the job's end: {e}"),
        }
    }
}

/// How long [`record_end`] waits between attempts.
const RECORD_RETRY: Duration = Duration::from_secs(2);

/// Says in the daemon's log how a job ended.
fn ended(job: &microci_proto::Job) {
    match &job.reason {
        Some(reason) => tracing::info!(
            "ended {}: {}",
            job.status,
            crate::store::clean_reason(reason)
        ),
        None => tracing::info!("ended {}", job.status),
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
    let config = jobs.config();
    let taken = jobs.slots.taken();
    let mut free = config.docker.max_jobs.saturating_sub(taken);
    // The engines' own room too: a job that holds a slot but has no engine yet (in its
    // checkout) will take some of it. With every engine down or drained, jobs stay PENDING. A
    // job waiting for an engine of its labels keeps its slot (see `docker.max_jobs`).
    if let Some(room) = jobs.engine.room() {
        free = free.min(room.free.saturating_sub(taken.saturating_sub(room.settled)));
    }
    if free == 0 || !jobs.disk.check(config.retention.min_free) {
        return;
    }
    // A job went back to the queue, or jobs waiting for their group were skipped: read again.
    if jobs.slots.groups.take_stale() {
        ahead.clear();
    }
    // Newer jobs have higher ids: what is read ahead stays the oldest until it is used up. A job
    // that holds a slot, or is settling, may still read as PENDING: not again.
    if ahead.len() < free {
        let n = READ_AHEAD.max(free) + jobs.slots.groups.skipped();
        match jobs.reader.next_pending(n).await {
            Ok(p) => *ahead = p.into(),
            Err(e) => {
                tracing::error!("cannot read pending jobs: {e}");
                return;
            }
        }
    }
    ahead.retain(|r| !jobs.slots.busy(r.job.id));
    let pending = groups::pick(jobs, &config, ahead, free).await;
    for rec in pending {
        let id = rec.job.id;
        // The slot first, so a cancel arriving while the job is being marked finds it.
        let token = jobs.slots.take(id);
        let slot = Slot {
            jobs: jobs.clone(),
            id,
        };
        // Its group (if any) was claimed by `pick`, or is by its checkout; freed once its end
        // is recorded.
        let hold = groups::Hold {
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
        let span = job_span(&rec.job);
        tasks.spawn(
            async move {
                let mut start = job::Start::new(&jobs, started);
                let (end, mut left) = job::execute(&jobs, &rec, &token, &mut start).await;
                // No engine can take it now, or its group is taken: back to the queue (unless
                // cancelled meanwhile), and the slot goes to the next job.
                let back = match (left.wait_engine.take(), left.wait_for.take()) {
                    (Some(why), _) => Some((None, why)),
                    (None, Some((group, holder))) => {
                        let text = crate::jobs::waiting_text(&group, holder);
                        Some((Some(group), text))
                    }
                    (None, None) => None,
                };
                if let Some((group, text)) = back {
                    if start.confirmed().await {
                        groups::requeue(&jobs, id, group, text).await;
                    }
                    drop(hold);
                    job::clean_up(&jobs, id, left).await;
                    drop(slot);
                    return;
                }
                // The end is recorded before the workspace is cleaned: clean-up is the daemon's
                // business (bounded, see `remove_workspace`), not the job's time. It is queued after
                // the start, so it applies after it (and changes nothing if the start did not).
                let end_again = end.clone();
                let recorded = jobs.transition(end);
                // Nothing of the job runs any more: unless a helper container may still be needed
                // to clean up, its slot is free now — the next job starts while this one's start
                // and end commit — and it settles (stays out of the queue) until they have.
                let slot = if left.image_ran {
                    Some(slot)
                } else {
                    slot.settle();
                    None
                };
                start.confirmed().await;
                match recorded.await {
                    Ok(Some(job)) => ended(&job),
                    Ok(None) => {}
                    Err(e) => record_end(&jobs, end_again, e).await,
                }
                jobs.slots.settled(id);
                drop(hold);
                // Only now that the end is in does the container go (see `job::Leftovers`).
                job::clean_up(&jobs, id, left).await;
                drop(slot);
            }
            .instrument(span),
        );
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
