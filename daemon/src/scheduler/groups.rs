//! Concurrency groups in the scheduler. A job whose group is known before it starts
//! (`[[repo]] concurrency`, or its `.microci.json`'s group read by an earlier checkout) stays
//! PENDING while another job holds the group, without taking a `max_jobs` slot: other
//! repositories keep running meanwhile. A job whose group only its checkout reveals holds a slot
//! for that checkout; finding the group taken, it goes back to the queue in its old place (with
//! the group recorded) and gives the slot back. The queue is taken oldest first, so the jobs of a
//! group run in job order. After a restart, re-attached jobs claim their groups before anything
//! new starts; a waiting job is PENDING in the database, so it is neither lost nor run twice.

use super::Ahead;
use crate::config::Config;
use crate::jobs::{Jobs, waiting_text};
use crate::runner::Engine;
use crate::store::{JobRecord, Waiting};
use std::sync::Arc;

/// The group job `rec` runs in, as far as is known before its checkout: the config's
/// `[[repo]] concurrency` (the operator's word wins), else what its `.microci.json` said.
pub(super) fn group_of(config: &Config, rec: &JobRecord) -> Option<String> {
    config
        .concurrency(&rec.job.repo)
        .map(str::to_string)
        .or_else(|| rec.concurrency.clone())
}

/// Takes up to `free` jobs from the front of `ahead` that may start now, claiming their groups;
/// the jobs left waiting for a group are recorded as such (`show` says for which job) and stay
/// queued.
pub(super) async fn pick<E: Engine>(
    jobs: &Arc<Jobs<E>>,
    config: &Config,
    ahead: &mut Ahead,
    free: usize,
) -> Vec<JobRecord> {
    let mut picked = Vec::new();
    let mut skipped = 0;
    while picked.len() < free {
        let Some(rec) = ahead.pop_front() else { break };
        // Sent back for want of an engine, and still no engine of its labels has room.
        if !jobs.engine.ready(rec.job.id) {
            skipped += 1;
            continue;
        }
        let Some(group) = group_of(config, &rec) else {
            picked.push(rec);
            continue;
        };
        match jobs.slots.groups.claim(&group, rec.job.id) {
            Ok(()) => picked.push(rec),
            Err(holder) => {
                skipped += 1;
                let text = waiting_text(&group, holder);
                if rec.job.waiting.as_deref() != Some(text.as_str()) {
                    note_waiting(jobs, rec.job.id, None, text).await;
                }
            }
        }
    }
    jobs.slots.groups.set_skipped(skipped);
    if skipped > 0 {
        // The skipped jobs are read again next time, in their place.
        ahead.clear();
    }
    picked
}

/// Records (and publishes) why job `id` waits, with its group when newly learnt.
async fn note_waiting<E: Engine>(jobs: &Jobs<E>, id: i64, group: Option<String>, text: String) {
    let w = Waiting {
        id,
        group,
        text: Some(text),
    };
    match jobs.writer.waiting(w).await {
        Ok(Some(job)) => jobs.publish(&job),
        Ok(None) => {}
        Err(e) => tracing::warn!(job_id = id, "cannot record why the job waits: {e}"),
    }
}

/// After its checkout, job `rec`'s `.microci.json` named `group` (and the config names none):
/// takes it, recording it for a restart, or says which job holds it.
pub(super) async fn claim_after_checkout<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    group: &str,
) -> Result<(), i64> {
    let id = rec.job.id;
    jobs.slots.groups.claim(group, id)?;
    let w = Waiting {
        id,
        group: Some(group.to_string()),
        text: None,
    };
    if let Err(e) = jobs.writer.waiting(w).await {
        tracing::warn!(
            job_id = id,
            "cannot record the job's concurrency group: {e}"
        );
    }
    Ok(())
}

/// Puts started job `id` back in the queue, in its old place, waiting for what `text` says
/// (shown by `show`): a concurrency group held by another job (`group`, recorded so the queue
/// knows it from now on), or an engine with room (the queue passes it over until one has).
pub(super) async fn requeue<E: Engine>(
    jobs: &Jobs<E>,
    id: i64,
    group: Option<String>,
    text: String,
) {
    match jobs.writer.requeue(vec![id]).await {
        Ok(back) if !back.is_empty() => {
            tracing::info!("{text}: queued again");
            note_waiting(jobs, id, group, text).await;
        }
        Ok(_) => {}
        Err(e) => tracing::error!(job_id = id, "cannot queue the job again: {e}"),
    }
    jobs.slots.groups.touch();
}

/// Holds a job's concurrency group until dropped (after the job's end is recorded, or if its
/// task panics), then wakes the scheduler so the next job of the group can start.
pub(super) struct Hold<E: Engine> {
    pub(super) jobs: Arc<Jobs<E>>,
    pub(super) id: i64,
}

impl<E: Engine> Drop for Hold<E> {
    fn drop(&mut self) {
        if self.jobs.slots.groups.release(self.id) {
            self.jobs.slots.wake.notify_one();
        }
    }
}
