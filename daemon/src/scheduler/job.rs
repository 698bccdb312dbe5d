//! One job, start to end: clone the commit, read its `.microci.json`, run its container with the
//! output going to the log, and say how it ended; then clean its workspace up.

use super::end;
use crate::events::{Bus, BusEvent};
use crate::jobs::Jobs;
use crate::logs::LogWriter;
use crate::repo_config::RepoConfig;
use crate::runner::{self, Engine, JobSpec, RunOutcome};
use crate::store::{JobRecord, StoreError, Transition};
use futures_util::future::BoxFuture;
use microci_proto::{Job, JobStatus};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// A job's STARTED mark, committing while its clone runs (the clone need not wait for an fsync).
/// No container starts before the mark is confirmed: a job cancelled while it was still queued
/// never gets one, and its end, recorded from STARTED, then changes nothing.
pub(super) struct Start<'a, E: Engine> {
    jobs: &'a Jobs<E>,
    pending: Option<BoxFuture<'static, Result<Option<Job>, StoreError>>>,
    confirmed: bool,
}

impl<'a, E: Engine> Start<'a, E> {
    /// `pending` is the queued PENDING → STARTED transition.
    pub(super) fn new(
        jobs: &'a Jobs<E>,
        pending: BoxFuture<'static, Result<Option<Job>, StoreError>>,
    ) -> Self {
        Start {
            jobs,
            pending: Some(pending),
            confirmed: false,
        }
    }

    /// Waits for the mark (once) and tells subscribers; false when the job was not PENDING any
    /// more (cancelled) or the store failed.
    pub(super) async fn confirmed(&mut self) -> bool {
        if let Some(pending) = self.pending.take() {
            match pending.await {
                Ok(Some(job)) => {
                    self.jobs.publish(&job);
                    self.confirmed = true;
                }
                Ok(None) => {}
                Err(e) => tracing::error!("cannot start a job: {e}"),
            }
        }
        self.confirmed
    }
}

/// Runs one job and says how it ended, and whether a container of it ran (its workspace may then
/// hold files the daemon cannot delete itself). Never panics on the job's input; every path that
/// is not the command's own result ends ERRORED with a reason a person can act on.
pub(super) async fn execute<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    cancel: &CancellationToken,
    start: &mut Start<'_, E>,
) -> (Transition, bool) {
    let id = rec.job.id;
    let errored = |reason: String| end(id, JobStatus::Errored, Some(reason), None);
    let mut log = match jobs.logs.writer(id, jobs.config.docker.max_log) {
        Ok(l) => l,
        Err(e) => return (errored(format!("cannot create the job's log: {e}")), false),
    };
    say(
        &jobs.bus,
        &mut log,
        id,
        &format!(
            "job {id}: {} {} at {}",
            rec.job.repo, rec.job.git_ref, rec.job.commit
        ),
    );

    let workspace = jobs.workspace(id);
    let mut image_ran = false;
    let outcome = prepare_and_run(
        jobs,
        rec,
        &workspace,
        &mut log,
        cancel,
        start,
        &mut image_ran,
    )
    .await;

    let mut transition = match outcome {
        Ok(RunOutcome::Exited(0)) => end(id, JobStatus::Succeed, None, Some(0)),
        Ok(RunOutcome::Exited(code)) => end(
            id,
            JobStatus::Failed,
            Some(format!("command exited with code {code}")),
            Some(code),
        ),
        Ok(RunOutcome::TimedOut(after)) => end(
            id,
            JobStatus::Failed,
            Some(format!(
                "timed out after {}",
                humantime::format_duration(after)
            )),
            None,
        ),
        Ok(RunOutcome::Canceled) => end(id, JobStatus::Canceled, Some("canceled".into()), None),
        Ok(RunOutcome::Errored(reason)) | Err(reason) => errored(reason),
    };
    transition.log_dropped = log.dropped();
    if log.dropped() > 0 {
        let note = format!(
            "output over docker.max_log ({}): {} bytes dropped",
            bytes_text(jobs.config.docker.max_log),
            log.dropped()
        );
        say(&jobs.bus, &mut log, id, &note);
    }
    let summary = match &transition.reason {
        Some(r) => format!("{}: {}", transition.to, crate::store::clean_reason(r)),
        None => transition.to.to_string(),
    };
    say(&jobs.bus, &mut log, id, &summary);
    transition.log_size = log.size();
    (transition, image_ran)
}

/// `67108864` → `64 MiB`, for the people reading a log.
fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

async fn prepare_and_run<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    workspace: &std::path::Path,
    log: &mut LogWriter,
    cancel: &CancellationToken,
    start: &mut Start<'_, E>,
    image_ran: &mut bool,
) -> Result<RunOutcome, String> {
    let id = rec.job.id;
    let docker = &jobs.config.docker;
    let creds = jobs.config.credentials_for(&rec.job.repo);
    let (url, git_ref, commit, dest) = (
        rec.clone_url.clone(),
        rec.job.git_ref.clone(),
        rec.job.commit.clone(),
        workspace.to_path_buf(),
    );
    let fetching = format!("fetching {}", crate::git::redact_url(&url));
    say(&jobs.bus, log, id, &fetching);
    // The clone is the job's work too: it stops when the job is cancelled, and it gets at most
    // the default job timeout (a server that trickles bytes cannot hold a slot for ever).
    let clone_cancel = cancel.child_token();
    let repo = rec.job.repo.clone();
    let checkout = jobs
        .git
        .locked(&rec.job.repo, &clone_cancel, move |git, token| {
            let _ = std::fs::remove_dir_all(&dest);
            git.checkout(&repo, &url, &creds, &git_ref, &commit, &dest, token)
        });
    match tokio::time::timeout(docker.timeout, checkout).await {
        Ok(Ok(())) => {}
        Ok(Err(crate::git::GitError::Canceled)) => return Ok(RunOutcome::Canceled),
        Ok(Err(e)) => return Err(format!("clone failed: {e}")),
        Err(_) => {
            clone_cancel.cancel();
            return Err(format!(
                "clone failed: timed out after {}",
                humantime::format_duration(docker.timeout)
            ));
        }
    }
    let default_image = docker.default_image.clone();
    let ws = workspace.to_path_buf();
    let repo_config = tokio::task::spawn_blocking(move || RepoConfig::load(&ws, &default_image))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let timeout = match repo_config.timeout {
        None => docker.timeout,
        Some(t) if t <= docker.max_timeout => t,
        Some(t) => {
            return Err(format!(
                ".microci.json: \"timeout\" {} is over docker.max_timeout ({})",
                humantime::format_duration(t),
                humantime::format_duration(docker.max_timeout)
            ));
        }
    };
    let spec = JobSpec {
        id,
        image: repo_config.image.clone(),
        argv: repo_config.command.argv(),
        env: repo_config.env.into_iter().collect(),
        workspace: workspace.to_path_buf(),
    };
    let running = format!(
        "running {:?} in {} (timeout {})",
        spec.argv,
        spec.image,
        humantime::format_duration(timeout)
    );
    if !start.confirmed().await {
        return Ok(RunOutcome::Canceled);
    }
    say(&jobs.bus, log, id, &running);
    *image_ran = true;
    Ok(runner::run(
        jobs.engine.as_ref(),
        &spec,
        log,
        &jobs.bus,
        timeout,
        docker.stop_grace,
        cancel,
    )
    .await)
}

/// Writes one `[microci]` line of the daemon's own into the job's log and tells followers.
fn say(bus: &Bus, log: &mut LogWriter, id: i64, text: &str) {
    if let Ok(size) = log.line(&format!("[microci] {text}")) {
        bus.publish(BusEvent::Log { id, size });
    }
}

/// Removes a job's workspace. When the job left files the daemon may not delete (it ran as root
/// in its container, the daemon does not), they are removed from inside a helper container first
/// (the trusted `docker.helper_image`, never the job's own, with limits and a deadline).
pub(super) async fn remove_workspace<E: Engine>(
    jobs: &Jobs<E>,
    dir: &std::path::Path,
    image_ran: bool,
) {
    // A job that ended before its checkout has nothing to remove (a stat, not a thread hop).
    if std::fs::symlink_metadata(dir).is_err() {
        return;
    }
    let remove = |d: PathBuf| async move {
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    };
    match remove(dir.to_path_buf()).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && image_ran => {
            if let Err(e) = jobs.engine.scrub(dir).await {
                tracing::warn!("cannot clean workspace {}: {e}", dir.display());
            }
            if let Err(e) = remove(dir.to_path_buf()).await {
                tracing::warn!("cannot remove workspace {}: {e}", dir.display());
            }
        }
        Err(e) => tracing::warn!("cannot remove workspace {}: {e}", dir.display()),
    }
}
