//! The scheduler owns every state change after PENDING: it starts the oldest pending jobs while
//! fewer than `docker.max_jobs` run, cancels, enforces timeouts (through the runner), and
//! recovers after a restart. One task, so cancel, limits and restarts have one home.

use crate::config::Config;
use crate::events::Bus;
use crate::git::GitCache;
use crate::logs::LogWriter;
use crate::repo_config::RepoConfig;
use crate::runner::{self, Engine, JobSpec, RunOutcome};
use crate::store::{JobRecord, Reader, StoreError, Transition, Writer};
use microci_proto::{Job, JobStatus};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Reason recorded for jobs that were running when the daemon died.
pub const INTERRUPTED: &str = "interrupted: daemon restarted";

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
    /// The scheduler is gone (shutting down).
    #[error("the scheduler is shutting down")]
    Stopped,
}

enum Command {
    Wake,
    Cancel(i64, oneshot::Sender<Result<Job, CancelError>>),
    Counts(oneshot::Sender<usize>),
}

/// How the rest of the daemon talks to the scheduler; cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl SchedulerHandle {
    /// Something was queued: look for work.
    pub fn wake(&self) {
        let _ = self.tx.send(Command::Wake);
    }

    /// Cancels a pending job (it never starts) or a running one (its container is stopped).
    pub async fn cancel(&self, id: i64) -> Result<Job, CancelError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Cancel(id, tx))
            .map_err(|_| CancelError::Stopped)?;
        rx.await.map_err(|_| CancelError::Stopped)?
    }

    /// Jobs running now.
    pub async fn running(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Counts(tx)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }
}

/// What every job task shares.
pub struct Context<E: Engine> {
    /// Settings.
    pub config: Arc<Config>,
    /// Durable writes.
    pub writer: Writer,
    /// Reads.
    pub reader: Reader,
    /// Change notifications.
    pub bus: Bus,
    /// Where containers run.
    pub engine: Arc<E>,
    /// Bare repository caches.
    pub git: Arc<GitCache>,
}

impl<E: Engine> Context<E> {
    fn workspace(&self, id: i64) -> PathBuf {
        self.config
            .state_dir
            .join("workspaces")
            .join(id.to_string())
    }

    async fn finish(&self, t: Transition) {
        match self.writer.transition(t).await {
            Ok(Some(job)) => self.bus.job(&job),
            Ok(None) => {}
            Err(e) => tracing::error!("cannot record a job's end: {e}"),
        }
    }
}

/// Starts the scheduler task. It first ends jobs a previous run left STARTED and removes their
/// containers, then runs pending jobs in arrival order. It stops when `shutdown` fires, removing
/// the containers of jobs still running and recording them as interrupted.
pub fn spawn<E: Engine>(
    ctx: Arc<Context<E>>,
    shutdown: CancellationToken,
) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = SchedulerHandle { tx };
    let task = tokio::spawn(run(ctx, rx, shutdown));
    (handle, task)
}

/// Ends jobs left STARTED by a previous daemon and removes stray containers and workspaces.
pub async fn recover<E: Engine>(ctx: &Context<E>) {
    match ctx.writer.fail_started(INTERRUPTED.into()).await {
        Ok(jobs) => {
            for job in &jobs {
                tracing::warn!(job = job.id, "{INTERRUPTED}");
                ctx.bus.job(job);
            }
        }
        Err(e) => tracing::error!("cannot end interrupted jobs: {e}"),
    }
    match ctx.engine.reap_all().await {
        Ok(ids) if !ids.is_empty() => {
            tracing::info!(
                "removed {} leftover container(s) of jobs {ids:?}",
                ids.len()
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot remove leftover containers: {e}"),
    }
    let workspaces = ctx.config.state_dir.join("workspaces");
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(workspaces)).await;
}

async fn run<E: Engine>(
    ctx: Arc<Context<E>>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    shutdown: CancellationToken,
) {
    let mut running: HashMap<i64, CancellationToken> = HashMap::new();
    let mut tasks: JoinSet<i64> = JoinSet::new();
    fill(&ctx, &mut running, &mut tasks).await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Command::Wake) => fill(&ctx, &mut running, &mut tasks).await,
                Some(Command::Cancel(id, reply)) => {
                    let _ = reply.send(cancel(&ctx, &running, id).await);
                }
                Some(Command::Counts(reply)) => {
                    let _ = reply.send(running.len());
                }
            },
            Some(done) = tasks.join_next() => {
                match done {
                    Ok(id) => { running.remove(&id); }
                    Err(e) => {
                        tracing::error!("a job task failed: {e}");
                        running.retain(|_, t| !t.is_cancelled());
                    }
                }
                fill(&ctx, &mut running, &mut tasks).await;
            }
        }
    }
    // Shutting down: stop what runs, remove its containers, record it as interrupted.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if !running.is_empty() {
        tracing::info!("stopping {} running job(s)", running.len());
        if let Err(e) = ctx.engine.reap_all().await {
            tracing::warn!("cannot remove running containers: {e}");
        }
        match ctx
            .writer
            .fail_started("interrupted: daemon stopped".into())
            .await
        {
            Ok(jobs) => jobs.iter().for_each(|j| ctx.bus.job(j)),
            Err(e) => tracing::error!("cannot record interrupted jobs: {e}"),
        }
    }
}

async fn fill<E: Engine>(
    ctx: &Arc<Context<E>>,
    running: &mut HashMap<i64, CancellationToken>,
    tasks: &mut JoinSet<i64>,
) {
    let free = ctx.config.docker.max_jobs.saturating_sub(running.len());
    if free == 0 {
        return;
    }
    let pending = match ctx.reader.next_pending(free).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("cannot read pending jobs: {e}");
            return;
        }
    };
    for rec in pending {
        let started = ctx
            .writer
            .transition(Transition::new(
                rec.job.id,
                &[JobStatus::Pending],
                JobStatus::Started,
            ))
            .await;
        let job = match started {
            Ok(Some(job)) => job,
            Ok(None) => continue, // cancelled meanwhile
            Err(e) => {
                tracing::error!(job = rec.job.id, "cannot start job: {e}");
                continue;
            }
        };
        ctx.bus.job(&job);
        let token = CancellationToken::new();
        running.insert(job.id, token.clone());
        let ctx = ctx.clone();
        let rec = JobRecord { job, ..rec };
        tasks.spawn(async move {
            let id = rec.job.id;
            let (end, image_ran) = execute(&ctx, &rec, &token).await;
            // The job's end is recorded before its workspace is cleaned: clean-up is the
            // daemon's business (bounded, see `remove_workspace`), not the job's time.
            ctx.finish(end).await;
            remove_workspace(&ctx, &ctx.workspace(id), image_ran).await;
            id
        });
    }
}

async fn cancel<E: Engine>(
    ctx: &Context<E>,
    running: &HashMap<i64, CancellationToken>,
    id: i64,
) -> Result<Job, CancelError> {
    if let Some(token) = running.get(&id) {
        let job = ctx
            .reader
            .job(id)
            .await?
            .map(|r| r.job)
            .ok_or(CancelError::NotFound(id))?;
        // A job in its clean-up has already ended: nothing of it to cancel.
        if job.status.is_final() {
            return Err(CancelError::Finished(id, job.status));
        }
        token.cancel();
        return Ok(job);
    }
    let t = Transition {
        reason: Some("canceled before it started".into()),
        ..Transition::new(id, &[JobStatus::Pending], JobStatus::Canceled)
    };
    if let Some(job) = ctx.writer.transition(t).await? {
        ctx.bus.job(&job);
        return Ok(job);
    }
    match ctx.reader.job(id).await? {
        None => Err(CancelError::NotFound(id)),
        Some(r) => Err(CancelError::Finished(id, r.job.status)),
    }
}

fn end(id: i64, to: JobStatus, reason: Option<String>, exit_code: Option<i64>) -> Transition {
    Transition {
        reason,
        exit_code,
        ..Transition::new(id, &[JobStatus::Started], to)
    }
}

/// Runs one job and says how it ended, and whether a container of it ran (its workspace may then
/// hold files the daemon cannot delete itself). Never panics on the job's input; every path that
/// is not the command's own result ends ERRORED with a reason a person can act on.
async fn execute<E: Engine>(
    ctx: &Arc<Context<E>>,
    rec: &JobRecord,
    cancel: &CancellationToken,
) -> (Transition, bool) {
    let id = rec.job.id;
    let errored = |reason: String| end(id, JobStatus::Errored, Some(reason), None);
    let mut log = match LogWriter::open(ctx.reader.logs_dir(), id, ctx.config.docker.max_log).await
    {
        Ok(l) => l,
        Err(e) => return (errored(format!("cannot create the job's log: {e}")), false),
    };
    say(
        &ctx.bus,
        &mut log,
        id,
        &format!(
            "job {id}: {} {} at {}",
            rec.job.repo, rec.job.git_ref, rec.job.commit
        ),
    )
    .await;

    let workspace = ctx.workspace(id);
    let mut image_ran = false;
    let outcome = prepare_and_run(ctx, rec, &workspace, &mut log, cancel, &mut image_ran).await;

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
            bytes_text(ctx.config.docker.max_log),
            log.dropped()
        );
        say(&ctx.bus, &mut log, id, &note).await;
    }
    let summary = match &transition.reason {
        Some(r) => format!("{}: {}", transition.to, crate::store::clean_reason(r)),
        None => transition.to.to_string(),
    };
    say(&ctx.bus, &mut log, id, &summary).await;
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
    ctx: &Arc<Context<E>>,
    rec: &JobRecord,
    workspace: &std::path::Path,
    log: &mut LogWriter,
    cancel: &CancellationToken,
    image_ran: &mut bool,
) -> Result<RunOutcome, String> {
    let id = rec.job.id;
    let docker = &ctx.config.docker;
    let creds = ctx.config.credentials_for(&rec.job.repo);
    let (url, git_ref, commit, dest) = (
        rec.clone_url.clone(),
        rec.job.git_ref.clone(),
        rec.job.commit.clone(),
        workspace.to_path_buf(),
    );
    let fetching = format!("fetching {}", crate::git::redact_url(&url));
    say(&ctx.bus, log, id, &fetching).await;
    // The clone is the job's work too: it stops when the job is cancelled, and it gets at most
    // the default job timeout (a server that trickles bytes cannot hold a slot for ever).
    let clone_cancel = cancel.child_token();
    let repo = rec.job.repo.clone();
    let checkout = ctx
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
    say(&ctx.bus, log, id, &running).await;
    *image_ran = true;
    Ok(runner::run(
        ctx.engine.as_ref(),
        &spec,
        log,
        &ctx.bus,
        timeout,
        docker.stop_grace,
        cancel,
    )
    .await)
}

/// Writes one `[microci]` line of the daemon's own into the job's log and tells followers.
async fn say(bus: &crate::events::Bus, log: &mut LogWriter, id: i64, text: &str) {
    if let Ok(size) = log.line(&format!("[microci] {text}")).await {
        bus.publish(crate::events::BusEvent::Log { id, size });
    }
}

/// Removes a job's workspace. When the job left files the daemon may not delete (it ran as root
/// in its container, the daemon does not), they are removed from inside a helper container first
/// (the trusted `docker.helper_image`, never the job's own, with limits and a deadline).
async fn remove_workspace<E: Engine>(ctx: &Context<E>, dir: &std::path::Path, image_ran: bool) {
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
            if let Err(e) = ctx.engine.scrub(dir).await {
                tracing::warn!("cannot clean workspace {}: {e}", dir.display());
            }
            if let Err(e) = remove(dir.to_path_buf()).await {
                tracing::warn!("cannot remove workspace {}: {e}", dir.display());
            }
        }
        Err(e) => tracing::warn!("cannot remove workspace {}: {e}", dir.display()),
    }
}
