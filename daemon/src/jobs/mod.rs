//! The job service: the one place the HTTP listener, the control socket and the scheduler go to
//! for jobs. It creates them (a push, a retry, a manual run), reads them with their logs' live
//! sizes, cancels them, and publishes every change once, over the store, the log store, the event
//! bus, the git cache and the engine it owns.

mod create;
mod groups;
mod measure;
mod slots;
mod visibility;

pub use create::CreateError;
pub(crate) use groups::waiting_text;
pub use slots::CancelError;
pub(crate) use slots::Slots;

use crate::config::Config;
use crate::events::Bus;
use crate::git::GitCache;
use crate::logs::{LogError, LogStore};
use crate::runner::Engine;
use crate::state_dir::StateDir;
use crate::store::{JobRecord, Reader, StoreError, Transition, Writer};
use microci_proto::{DaemonStatus, Job, JobQuery, LogChunk};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Why a log could not be read for a client.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such job.
    #[error("no job {0}")]
    NotFound(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log file could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The service; one per daemon, shared as `Arc<Jobs<E>>`.
pub struct Jobs<E: Engine> {
    /// Settings; replaced whole by a reload, so each user reads one consistent snapshot.
    config: RwLock<Arc<Config>>,
    /// Why the last reload was refused (shown by `status`).
    reload_error: RwLock<Option<String>>,
    pub(crate) writer: Writer,
    pub(crate) reader: Reader,
    /// The job logs.
    pub logs: LogStore,
    /// The files jobs kept (`.microci.json` `"artifacts"`).
    pub artifacts: crate::artifacts::ArtifactStore,
    /// Change notifications: every job change and log growth, published once.
    pub bus: Bus,
    pub(crate) git: GitCache,
    pub(crate) engine: Arc<E>,
    workspaces: PathBuf,
    started: Instant,
    /// Jobs holding a slot, and the scheduler's wake-up and heartbeat.
    pub(crate) slots: Slots,
    /// Held while retention runs: prunes never overlap.
    pub(crate) pruning: tokio::sync::Mutex<()>,
    /// Free space on the state directory's file system.
    pub disk: crate::disk::Disk,
    /// Woken on every job change: a commit status may be waiting in the outbox.
    pub(crate) reports: tokio::sync::Notify,
    /// Woken on every job change: a notification may be waiting in the outbox.
    pub(crate) notices: tokio::sync::Notify,
    /// The Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// The Docker Engine's last answer, cached for health checks.
    pub health: crate::health::Health,
    /// The job caches' lock and the generations running jobs use.
    pub(crate) caches: crate::caches::Caches,
    /// Woken by a reload: the schedules are planned again.
    pub(crate) replan: tokio::sync::Notify,
}

impl<E: Engine> Jobs<E> {
    /// The service over an open store, in `state`'s directories, running jobs on `engine`.
    pub fn new(
        config: Arc<Config>,
        state: &StateDir,
        (writer, reader): (Writer, Reader),
        engine: Arc<E>,
    ) -> Jobs<E> {
        writer.set_notify(crate::notify::rules(&config));
        Jobs {
            git: GitCache::configured(state.git(), state.git_config(), config.git.timeouts),
            logs: LogStore::new(state.logs()),
            artifacts: crate::artifacts::ArtifactStore::new(state.artifacts()),
            workspaces: state.workspaces(),
            config: RwLock::new(config),
            reload_error: RwLock::new(None),
            writer,
            reader,
            bus: Bus::new(),
            engine,
            started: Instant::now(),
            slots: Slots::default(),
            pruning: tokio::sync::Mutex::new(()),
            disk: crate::disk::Disk::new(state.root().to_path_buf()),
            reports: tokio::sync::Notify::new(),
            notices: tokio::sync::Notify::new(),
            metrics: crate::metrics::Metrics::new(),
            health: crate::health::Health::default(),
            caches: crate::caches::Caches::default(),
            replan: tokio::sync::Notify::new(),
        }
    }

    /// The settings now. Hold the snapshot for the length of one piece of work (a request, a
    /// job's start), so a reload never mixes old and new values in it.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Takes a new configuration: requests, webhooks and jobs that start from now on use it;
    /// running jobs and open connections carry on as they were. Returns the settings that
    /// differ but only change on restart.
    pub fn reload(&self, new: Config) -> Vec<&'static str> {
        let restart_only = crate::config::restart_only_changes(&self.config(), &new);
        self.engine.reconfigure(&new.docker);
        self.writer.set_notify(crate::notify::rules(&new));
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
        self.set_reload_error(None);
        self.replan.notify_one();
        restart_only
    }

    /// Records why a reload was refused (or, with `None`, that the last one succeeded).
    pub fn set_reload_error(&self, error: Option<String>) {
        *self
            .reload_error
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = error;
    }

    /// Where job `id`'s checkout lives while it runs.
    pub(crate) fn workspace(&self, id: i64) -> PathBuf {
        self.workspaces.join(id.to_string())
    }

    /// The directory of every workspace (emptied after a restart).
    pub(crate) fn workspaces(&self) -> &std::path::Path {
        &self.workspaces
    }

    /// A job as clients see it, its log's size as it is now while it runs.
    fn live(&self, mut job: Job) -> Job {
        // A finished job's size was recorded when it ended; older releases did not record it.
        if !job.status.is_final() || job.log_size == 0 {
            job.log_size = self.logs.size(job.id);
        }
        if job.status == microci_proto::JobStatus::Pending && self.disk.low().is_some() {
            job.reason = Some(crate::disk::WAITING.into());
        } else if job.status == microci_proto::JobStatus::Pending
            && self.engine.room().is_some_and(|r| r.free == 0)
        {
            let down = self.engine.down();
            if !down.is_empty() {
                job.reason = Some(format!(
                    "waiting for an engine: {} not answering",
                    down.join(", ")
                ));
            }
        }
        job
    }

    /// One job, with how its commit statuses fared.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        let Some(record) = self.reader.job(id).await? else {
            return Ok(None);
        };
        let mut job = self.live(record.job);
        job.status_report = self.reader.report_summary(id).await?;
        job.notifications = self.reader.notice_summary(id).await?;
        Ok(Some(job))
    }

    /// One job with what the daemon needs beyond the public view.
    pub(crate) async fn record(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        self.reader.job(id).await
    }

    /// Newest first, filtered.
    pub async fn list(&self, q: JobQuery) -> Result<Vec<Job>, StoreError> {
        let jobs = self.reader.list(q).await?;
        Ok(jobs.into_iter().map(|j| self.live(j)).collect())
    }

    /// A window of job `id`'s log; see [`LogStore::chunk`].
    pub async fn read_log(&self, id: i64, offset: u64, max: u32) -> Result<LogChunk, ReadError> {
        if self.reader.job(id).await?.is_none() {
            return Err(ReadError::NotFound(id));
        }
        Ok(self.logs.chunk(id, offset, max).await?)
    }

    /// Tells every subscriber about a job's new state.
    pub(crate) fn publish(&self, job: &Job) {
        // A change may have queued a commit status: only where any can be reported is the
        // outbox worth a look (it looks by itself when a retry is due).
        let config = self.config();
        if config.reports_statuses() {
            self.reports.notify_one();
        }
        if !config.notify.is_empty() {
            self.notices.notify_one();
        }
        self.bus.job(&self.live(job.clone()));
    }

    /// Applies a state change and publishes it; `None` when the job was not in an allowed state.
    /// The change is queued when this is called (see [`Writer::transition`]).
    pub(crate) fn transition(
        &self,
        t: Transition,
    ) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send + '_ {
        let committed = self.writer.transition(t);
        async move {
            let job = committed.await?;
            if let Some(j) = &job {
                self.publish(j);
                self.measure(j).await;
            }
            Ok(job)
        }
    }

    /// Daemon health for `status`.
    pub async fn status(&self) -> Result<DaemonStatus, StoreError> {
        let (queued, running) = self.reader.counts().await?;
        let engine = self.engine.ping().await.map_err(|e| e.to_string());
        let config = self.config();
        self.disk.check(config.retention.min_free);
        let reload_error = self
            .reload_error
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: self.started.elapsed().as_secs(),
            running,
            queued,
            max_jobs: config.docker.max_jobs as u64,
            docker_reachable: engine.is_ok(),
            docker_error: engine.err(),
            warnings: config.warnings.clone(),
            reload_error,
            disk_low: self.disk.low(),
            engines_down: self.engine.down(),
        })
    }

    /// How long ago the scheduler's loop last went round.
    pub fn since_scheduler_beat(&self) -> std::time::Duration {
        self.slots.since_beat()
    }

    /// Jobs PENDING and STARTED, as the database has them.
    pub async fn counts(&self) -> Result<(u64, u64), StoreError> {
        self.reader.counts().await
    }
}
