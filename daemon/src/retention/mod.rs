//! Retention: what `[retention]` says may go — finished jobs (rows, logs, workspaces) past
//! `max_age`, past `keep_per_repo` or past `max_log_bytes` together, git caches of repositories
//! gone quiet or unconfigured, and containers of this installation that run no job — removed at
//! start and then hourly, in small batches that leave room for webhooks. Never a PENDING or
//! STARTED job, never the latest job of a branch.

#[cfg(test)]
mod tests;

use crate::jobs::Jobs;
use crate::runner::{Engine, Found};
use crate::store::{Prunable, StoreError};
use microci_proto::PruneReport;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often retention runs after the first run at start.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Jobs deleted per database command: small enough that a webhook's insert queued behind one
/// waits a millisecond or two at most.
pub const BATCH: usize = 100;

/// The pause between two batches, in which the webhooks and jobs waiting behind one go first.
const PAUSE: Duration = Duration::from_millis(10);

/// What one prune removes.
#[derive(Debug, Default)]
pub struct Plan {
    jobs: Vec<Prunable>,
    caches: Vec<(String, PathBuf)>,
    containers: Vec<Found>,
}

/// Decides what goes now, without removing anything.
pub async fn plan<E: Engine>(jobs: &Jobs<E>) -> Result<Plan, StoreError> {
    let config = jobs.config();
    let r = &config.retention;
    let now = time::OffsetDateTime::now_utc();
    let cutoff = crate::store::timestamp(now - r.max_age);
    let prunable = jobs
        .reader
        .prunable(cutoff.clone(), r.keep_per_repo, r.max_log_bytes)
        .await?;

    // Git caches: by directory name, which repository each belongs to.
    let activity = jobs.reader.repo_activity().await?;
    let mut wanted: HashSet<PathBuf> = HashSet::new();
    let mut known: BTreeMap<PathBuf, String> = BTreeMap::new();
    for a in &activity {
        let dir = jobs.git.cache_dir(&a.name);
        let configured = config.repos.contains_key(&a.name);
        let may_build = configured || config.webhook.allow_unlisted;
        if a.busy || (may_build && a.last_seen >= cutoff) {
            wanted.insert(dir.clone());
        }
        known.insert(dir, a.name.clone());
    }
    for name in config.repos.keys() {
        let dir = jobs.git.cache_dir(name);
        // Configured but never seen in a push: kept until it has been quiet for `max_age`.
        if let std::collections::btree_map::Entry::Vacant(e) = known.entry(dir.clone()) {
            e.insert(name.clone());
            wanted.insert(dir);
        }
    }
    let root = jobs.git.root().to_path_buf();
    let dirs = tokio::task::spawn_blocking(move || -> Vec<PathBuf> {
        std::fs::read_dir(&root)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default();
    let caches = dirs
        .into_iter()
        .filter(|d| d.extension().is_some_and(|e| e == "git") && !wanted.contains(d))
        .map(|d| {
            let name = known.get(&d).cloned().unwrap_or_else(|| {
                d.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            (name, d)
        })
        .collect();

    // Containers: those whose job is finished or gone (a job's container is created after its
    // row, so one whose job is PENDING or STARTED is never taken).
    let found = jobs.engine.containers().await.unwrap_or_else(|e| {
        tracing::warn!("retention: cannot list containers: {e}");
        Vec::new()
    });
    let ids: Vec<i64> = found.iter().filter_map(|f| f.job).collect();
    let idle: HashSet<i64> = jobs
        .reader
        .finished_or_gone(ids)
        .await?
        .into_iter()
        .collect();
    let containers = found
        .into_iter()
        .filter(|f| f.job.is_some_and(|j| idle.contains(&j)))
        .collect();
    Ok(Plan {
        jobs: prunable,
        caches,
        containers,
    })
}

impl Plan {
    /// What the plan removes, as the control protocol reports it.
    pub fn report(&self, dry_run: bool) -> PruneReport {
        let mut by_repo: BTreeMap<&str, u64> = BTreeMap::new();
        for j in &self.jobs {
            *by_repo.entry(&j.repo).or_default() += 1;
        }
        let ended = |pick: fn(&str, &str) -> bool| {
            self.jobs
                .iter()
                .map(|j| j.finished_at.as_str())
                .reduce(|a, b| if pick(a, b) { a } else { b })
                .map(str::to_string)
        };
        PruneReport {
            dry_run,
            jobs: self.jobs.len() as u64,
            log_bytes: self.jobs.iter().map(|j| j.log_size).sum(),
            oldest: ended(|a, b| a <= b),
            newest: ended(|a, b| a >= b),
            by_repo: by_repo
                .into_iter()
                .map(|(r, n)| (r.to_string(), n))
                .collect(),
            caches: self.caches.iter().map(|(n, _)| n.clone()).collect(),
            containers: self.containers.len() as u64,
        }
    }
}

/// Removes what `plan` names, in batches; returns what was removed. A job's log and workspace go
/// before its row: a prune cut short leaves rows that the next one removes, never stray files.
pub async fn apply<E: Engine>(jobs: &Jobs<E>, plan: Plan) -> PruneReport {
    let mut done = Plan::default();
    for batch in plan.jobs.chunks(BATCH) {
        let ids: Vec<i64> = batch.iter().map(|j| j.id).collect();
        let (logs, workspaces) = (jobs.logs.clone(), jobs.workspaces().to_path_buf());
        let artifacts = jobs.artifacts.clone();
        let files = ids.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for id in files {
                logs.remove(id);
                artifacts.remove(id);
                let _ = std::fs::remove_dir_all(workspaces.join(id.to_string()));
            }
        })
        .await;
        match jobs.writer.delete(ids).await {
            Ok(deleted) => {
                let deleted: HashSet<i64> = deleted.into_iter().collect();
                done.jobs
                    .extend(batch.iter().filter(|j| deleted.contains(&j.id)).cloned());
            }
            Err(e) => {
                tracing::error!("retention: cannot delete jobs: {e}");
                break;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
    for (name, dir) in plan.caches {
        let token = CancellationToken::new();
        let target = dir.clone();
        let removed = jobs
            .git
            .locked(&name, &token, move |_, _| {
                std::fs::remove_dir_all(&target).map_err(|e| {
                    crate::git::GitError::io(format!("removing {}", target.display()), e)
                })
            })
            .await;
        match removed {
            Ok(()) => done.caches.push((name, dir)),
            Err(e) => tracing::warn!("retention: cannot remove the git cache of {name}: {e}"),
        }
    }
    for f in plan.containers {
        let handle = jobs.engine.adopt(f.job.unwrap_or(0), &f.container);
        let removed = jobs.engine.teardown(&handle).await;
        if let Some(job) = f.job {
            jobs.engine.release(job);
        }
        match removed {
            Ok(()) => done.containers.push(f),
            Err(e) => tracing::warn!("retention: cannot remove container {}: {e}", f.container),
        }
    }
    done.report(false)
}

/// One prune (or, with `dry_run`, its report only). Prunes never overlap.
pub async fn prune<E: Engine>(jobs: &Jobs<E>, dry_run: bool) -> Result<PruneReport, StoreError> {
    let _one_at_a_time = jobs.pruning.lock().await;
    let plan = plan(jobs).await?;
    if dry_run {
        return Ok(plan.report(true));
    }
    let report = apply(jobs, plan).await;
    if report.jobs + report.caches.len() as u64 + report.containers > 0 {
        tracing::info!(
            "retention removed {} job(s) ({} bytes of logs), {} git cache(s), {} container(s)",
            report.jobs,
            report.log_bytes,
            report.caches.len(),
            report.containers
        );
    }
    Ok(report)
}

/// Prunes at start, then every [`EVERY`], until `shutdown`.
pub fn spawn<E: Engine>(
    jobs: Arc<Jobs<E>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        let mut first = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            // A stop cuts a prune short safely: files go before rows.
            tokio::select! {
                done = prune(&jobs, false) => {
                    if let Err(e) = done {
                        tracing::error!("retention: {e}");
                    }
                }
                () = shutdown.cancelled() => return,
            }
            // The first prune is start-up work: the code it ran need not stay resident.
            if std::mem::take(&mut first) {
                crate::memory::release_startup_pages();
            }
        }
    })
}
