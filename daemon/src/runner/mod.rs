//! Running a job's container. The engine is behind one trait with the lifecycle every backend
//! shares — prepare, start (with its output), wait, stop, tear down, and finding and resuming a
//! container a previous daemon left running — and [`attend`] drives a started or resumed
//! container with the job's timeout and cancellation, streaming output into the log as it comes.

pub mod docker;
#[cfg(test)]
pub mod fake;
pub mod pool;
mod resume;
mod secret_files;
pub mod services;
mod services_docker;

use crate::events::{Bus, BusEvent};
use crate::logs::LogWriter;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
pub use services::{ServiceExit, ServiceSpec};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// What a backend needs to run one job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Job id, put on the container as the `microci.job` label.
    pub id: i64,
    /// Image reference.
    pub image: String,
    /// The container's argv.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Checkout to expose at `/repo`.
    pub workspace: PathBuf,
    /// Secrets given as environment variables (their `Debug` hides the values).
    pub secret_env: Vec<(String, crate::secrets::Value)>,
    /// Secrets given as files under [`crate::secrets::FILES_DIR`].
    pub secret_files: Vec<(String, crate::secrets::Value)>,
    /// Containers to run beside the job, each reachable from it by its name.
    pub services: Vec<ServiceSpec>,
    /// Volumes mounted read-write into the job (its caches, see [`crate::caches`]).
    pub mounts: Vec<Mount>,
}

/// A volume mounted into a container at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The engine's name for the volume.
    pub volume: String,
    /// Absolute path inside the container.
    pub path: String,
    /// Mounted read-only (a helper that only measures).
    pub read_only: bool,
}

/// A volume of this installation, with its labels (what [`crate::caches`] knows of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The engine's name for it.
    pub name: String,
    /// Its labels.
    pub labels: std::collections::HashMap<String, String>,
}

/// Why the engine could not do its part; always ends the job ERRORED with this text.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The image is not there and could not be pulled.
    #[error("image {image:?} is not available locally and could not be pulled: {detail}")]
    Image {
        /// The image.
        image: String,
        /// The Engine's words.
        detail: String,
    },
    /// Anything else the Engine refused or failed at.
    #[error("{0}")]
    Engine(String),
    /// The engine could not be reached at all (connection refused or reset, a TLS or SSH
    /// failure, no answer): not an answer about the job, so its jobs wait for it to return.
    #[error("{0}")]
    Unreachable(String),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The command exited with this code.
    Exited(i64),
    /// The job ran out of time and was stopped.
    TimedOut(Duration),
    /// A person cancelled it.
    Canceled,
    /// The engine failed.
    Errored(String),
    /// The engine stopped answering while the job ran: the job's container may well run on,
    /// to be re-attached to when the engine is back.
    EngineLost(String),
}

/// What a container's output stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes the job wrote (stdout and stderr, in order).
    Output(Bytes),
    /// The engine no longer holds some of the output that belongs here (its log rotated while
    /// no daemon was reading); said in the log rather than hidden.
    Lost,
}

/// A container's output as it comes.
pub type OutputStream = BoxStream<'static, Result<Piece, EngineError>>;

/// A tar archive as the engine streams it (artifacts copied out of an ended container).
pub type ArchiveStream = BoxStream<'static, Result<Bytes, EngineError>>;

/// Where a resumed container's output picks up: the engine replays what it holds, and the
/// first `skip` bytes are already in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Output bytes the log already has (kept or dropped over the cap).
    pub skip: u64,
    /// When the log was last written: output the engine stamped later cannot be in it, so
    /// reaching such output while bytes remain to skip means the engine lost some.
    pub written_until: SystemTime,
}

/// A container of this installation that the engine holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The engine's id for it.
    pub container: String,
    /// The job it runs, when it is a job's (not a clean-up helper's).
    pub job: Option<i64>,
    /// The service it runs for that job, when it is one of the job's services rather than the
    /// job's own container: it lives and goes with the job's.
    pub service: Option<String>,
}

/// What [`Engine::place`] weighs for one job.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The job.
    pub job: i64,
    /// Its repository (an engine holding its cache is preferred).
    pub repo: String,
    /// Its image (an engine that has it is preferred).
    pub image: String,
    /// The labels an engine needs, every one (`"runs_on"`).
    pub runs_on: Vec<String>,
    /// Whether it uses a cache (`"cache"`): then the engine holding the repository's is preferred.
    pub cache: bool,
}

/// Where [`Engine::place`] put a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// On the engine named (`None`: a backend of one engine, which has no name to record).
    Here(Option<String>),
    /// Not now: every engine that could take it is busy, drained or down; why, for the log.
    Wait(String),
}

/// How much more a backend can take: [`Engine::room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Jobs the usable engines (up, not drained) can still be given.
    pub free: usize,
    /// Jobs placed now, on any engine, or told to wait for one: those whose place is settled
    /// (the others holding a slot are still in their checkout and will take some of `free`).
    pub settled: usize,
}

/// A container backend.
pub trait Engine: Send + Sync + 'static {
    /// The backend's handle to one prepared container.
    type Handle: Send + Sync;

    /// Makes the image available and creates the container with the workspace in place.
    fn prepare(
        &self,
        spec: &JobSpec,
    ) -> impl Future<Output = Result<Self::Handle, EngineError>> + Send;
    /// Starts it; the stream yields stdout and stderr as they are written, in order, and ends
    /// when the container does.
    fn start(
        &self,
        handle: &Self::Handle,
    ) -> impl Future<Output = Result<OutputStream, EngineError>> + Send;
    /// The engine's id for a prepared container, recorded so a later daemon can [`adopt`] it.
    ///
    /// [`adopt`]: Engine::adopt
    fn container_id(&self, handle: &Self::Handle) -> String;
    /// A handle to a container a previous daemon prepared and started.
    fn adopt(&self, job: i64, container: &str) -> Self::Handle;
    /// The output of an adopted container from where the log stopped, then live until it ends.
    fn resume(
        &self,
        handle: &Self::Handle,
        from: Resume,
    ) -> impl Future<Output = Result<OutputStream, EngineError>> + Send;
    /// Every container of this installation the engine holds, running or not.
    fn containers(&self) -> impl Future<Output = Result<Vec<Found>, EngineError>> + Send;
    /// Waits for the exit code.
    fn wait(&self, handle: &Self::Handle) -> impl Future<Output = Result<i64, EngineError>> + Send;
    /// Asks it to stop: SIGTERM, then SIGKILL after `grace`.
    fn stop(
        &self,
        handle: &Self::Handle,
        grace: Duration,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes it; idempotent.
    fn teardown(
        &self,
        handle: &Self::Handle,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Empties `dir` from inside a helper container (a trusted image, never the job's): files a
    /// job created as root in a bind-mounted workspace cannot be removed by a daemon that runs
    /// as its own user. Bounded in time and resources like a job.
    fn scrub(&self, dir: &std::path::Path) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Starts the job's service `name` (one of its [`JobSpec::services`], prepared with it),
    /// reachable from the job by that name until [`teardown`] removes it with the job.
    ///
    /// [`teardown`]: Engine::teardown
    fn start_service(
        &self,
        _handle: &Self::Handle,
        name: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        std::future::ready(Err(EngineError::Engine(format!(
            "service {name}: this engine cannot run services"
        ))))
    }
    /// Resolves when one of the job's services ends; never, for a job without services. A
    /// job does not run on without its services.
    fn service_exit(&self, _handle: &Self::Handle) -> impl Future<Output = ServiceExit> + Send {
        std::future::pending()
    }
    /// Removes what this installation left in the engine beside containers (a job's network)
    /// for every job not in `keep`. Called at start, once leftover containers are removed.
    fn sweep(&self, _keep: &HashSet<i64>) -> impl Future<Output = Result<(), EngineError>> + Send {
        std::future::ready(Ok(()))
    }
    /// The tar archive of `path` in an ended (not yet removed) container, read from the
    /// engine's archive API — never from the host's file system, where a job's symlinks would
    /// be followed. `None` when the path does not exist. Engines without one refuse.
    fn archive(
        &self,
        _handle: &Self::Handle,
        _path: &str,
    ) -> impl Future<Output = Result<Option<ArchiveStream>, EngineError>> + Send {
        async {
            Err(EngineError::Engine(
                "this engine cannot copy files out of a container".into(),
            ))
        }
    }
    /// This installation's volumes that carry the label key `label`.
    fn volumes(
        &self,
        _label: &str,
    ) -> impl Future<Output = Result<Vec<Volume>, EngineError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Creates a volume of this installation for job `job` (on the engine it is placed on),
    /// named after `suffix`, with `labels` besides the installation's own; returns its full name.
    fn create_volume(
        &self,
        _job: i64,
        _suffix: &str,
        _labels: std::collections::HashMap<String, String>,
    ) -> impl Future<Output = Result<String, EngineError>> + Send {
        async { Err(EngineError::Engine("this engine has no volumes".into())) }
    }
    /// Removes a volume: `Ok(false)` when a container still uses it (it stays), `Ok(true)` when
    /// it is gone (or was already).
    fn remove_volume(&self, _name: &str) -> impl Future<Output = Result<bool, EngineError>> + Send {
        async { Ok(true) }
    }
    /// Runs `/bin/sh -c script` in a helper container (the trusted `docker.helper_image`, root,
    /// no network, bounded like [`Engine::scrub`]) with `mounts`; returns what it printed.
    /// A non-zero exit is an error.
    fn helper(
        &self,
        _script: &str,
        _mounts: &[Mount],
    ) -> impl Future<Output = Result<String, EngineError>> + Send {
        async {
            Err(EngineError::Engine(
                "this engine has no helper containers".into(),
            ))
        }
    }
    /// Whether the engine answers.
    fn ping(&self) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// The engine's product and version (`Docker 28.2.2`, `Podman 5.4.2`).
    fn version(&self) -> impl Future<Output = Result<String, EngineError>> + Send {
        async { Err(EngineError::Engine("this engine has no version".into())) }
    }
    /// Whether the engine holds `image` already (placement prefers such an engine).
    fn has_image(&self, _image: &str) -> impl Future<Output = bool> + Send {
        std::future::ready(false)
    }
    /// Chooses where a job runs, once its `.microci.json` is read and before anything of it
    /// exists on an engine: [`Placed::Wait`] while every engine that could take it is busy or
    /// down, an error when none ever could (its labels match no engine). A backend of one
    /// engine places everything on it.
    fn place(&self, _want: &Placement) -> impl Future<Output = Result<Placed, EngineError>> + Send {
        std::future::ready(Ok(Placed::Here(None)))
    }
    /// Resolves when a job that was told to wait may be placed now (a job ended, an engine came
    /// back or was undrained). May resolve early; never for a backend that never waits.
    fn changed(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
    /// The job's container is gone: its place is free again. Idempotent.
    fn release(&self, _job: i64) {}
    /// Whether job `job`, sent back to the queue because no engine could take it (see
    /// [`Placed::Wait`]), could be placed now; true for every other job.
    fn ready(&self, _job: i64) -> bool {
        true
    }
    /// How many more jobs the backend can take now; `None` when only `docker.max_jobs` bounds it.
    fn room(&self) -> Option<Room> {
        None
    }
    /// Resolves, with why, when the engine running `handle` stops answering; never for a
    /// backend that cannot tell.
    fn lost(&self, _handle: &Self::Handle) -> impl Future<Output = String> + Send {
        std::future::pending()
    }
    /// Waits up to `within` for the engine of `handle` to answer again: true when it does.
    fn returned(
        &self,
        _handle: &Self::Handle,
        _within: Duration,
    ) -> impl Future<Output = bool> + Send {
        std::future::ready(false)
    }
    /// Whether the engine holding `container` answered the last [`Engine::containers`]: when it
    /// did not, a container missing from the list may only be out of sight.
    fn reachable(&self, _container: &str) -> bool {
        true
    }
    /// Whether volume `volume` is on the engine job `job` is placed on (a job's cache comes
    /// from its own engine).
    fn holds(&self, _job: i64, _volume: &str) -> bool {
        true
    }
    /// A line for the job's log about how the container was prepared (the checkout's transfer
    /// to a remote engine, and how long it took), when there is one to say.
    fn prepared_note(&self, _handle: &Self::Handle) -> Option<String> {
        None
    }
    /// The engines, as `list_engines` shows them; empty for a backend without any to show.
    fn engines(&self) -> impl Future<Output = Vec<microci_proto::EngineInfo>> + Send {
        std::future::ready(Vec::new())
    }
    /// Drains (or undrains) engine `name`; false when there is no such engine.
    fn drain(&self, _name: &str, _drained: bool) -> bool {
        false
    }
    /// The names of the engines that do not answer now.
    fn down(&self) -> Vec<String> {
        Vec::new()
    }
    /// Starts watching the engines' health until `shutdown` (a backend that pings its engines).
    fn monitor(&self, _shutdown: CancellationToken) {}
    /// Takes reloaded settings (limits, capabilities, network, labels, helper image) for the
    /// containers it creates from now on; where the engine is (`docker.host`) stays.
    fn reconfigure(&self, _settings: &crate::config::DockerSettings) {}
}

/// How an [`attend`]ed container is begun.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// A prepared container: start it.
    Start,
    /// An adopted container, perhaps still running, perhaps ended: read on from there.
    Resume(Resume),
}

/// A job's time limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The job's timeout, as the job's end reports it.
    pub timeout: Duration,
    /// What is left of it (less than `timeout` for a resumed container).
    pub left: Duration,
    /// How long a stopped container gets between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// Runs a prepared (or adopted) container to its end: output into the log, stopping it on
/// timeout or cancellation. `noted` is told how many bytes the daemon wrote amid the output (a
/// line saying a resumed container's engine lost some), so where the output starts can be
/// recorded again. `masker` hides secret values in the output (the log counts how much shorter
/// that made it). The container is not removed: the caller does that.
#[allow(clippy::too_many_arguments)]
pub async fn attend<E: Engine>(
    engine: &E,
    handle: &E::Handle,
    id: i64,
    begin: Begin,
    log: &mut LogWriter,
    bus: &Bus,
    limits: Limits,
    cancel: &CancellationToken,
    noted: &(dyn Fn(u64) + Send + Sync),
    masker: crate::secrets::mask::Masker,
) -> RunOutcome {
    let started = match begin {
        Begin::Start => engine.start(handle).await,
        Begin::Resume(from) => engine.resume(handle, from).await,
    };
    let mut output = match started {
        Ok(o) => o,
        Err(EngineError::Unreachable(why)) => return RunOutcome::EngineLost(why),
        Err(e) => return RunOutcome::Errored(e.to_string()),
    };
    // Why the job is being stopped, once it is. The stop request runs beside the output copy:
    // the Engine only lets a container that is flooding its output die once that output is read.
    let stopping: std::sync::OnceLock<RunOutcome> = std::sync::OnceLock::new();
    // A service that ended first: the job is stopped, and the log says which and how.
    let service_ended: std::sync::OnceLock<ServiceExit> = std::sync::OnceLock::new();
    let stopper = async {
        let why = tokio::select! {
            _ = tokio::time::sleep(limits.left) => RunOutcome::TimedOut(limits.timeout),
            _ = cancel.cancelled() => RunOutcome::Canceled,
            exit = engine.service_exit(handle) => {
                let why = RunOutcome::Errored(exit.to_string());
                let _ = service_ended.set(exit);
                why
            }
        };
        let _ = stopping.set(why);
        stop(engine, handle, limits.grace, id).await;
    };
    tokio::pin!(stopper);
    let mut stopper_done = false;
    let mut output_done = false;
    let mut sink = Sink {
        log,
        bus,
        id,
        error: None,
        noted,
        masker,
    };
    let wait = engine.wait(handle);
    tokio::pin!(wait);
    // The engine stopping answering ends the watch, not the job: the container may run on.
    let lost = engine.lost(handle);
    tokio::pin!(lost);
    let exit = loop {
        tokio::select! {
            why = &mut lost, if stopping.get().is_none() => break Err(EngineError::Unreachable(why)),
            piece = output.next(), if !output_done => match piece {
                Some(Ok(piece)) => sink.record(piece),
                Some(Err(e)) => {
                    tracing::warn!(job_id = id, "output stream failed: {e}");
                    output_done = true;
                }
                None => output_done = true,
            },
            code = &mut wait => break code,
            _ = &mut stopper, if !stopper_done => stopper_done = true,
        }
    };
    // The container is gone: take the rest of its output (bounded, in case the stream hangs).
    // An engine that stopped answering has nothing more to give.
    if !output_done && !matches!(exit, Err(EngineError::Unreachable(_))) {
        let drain = async {
            while let Some(Ok(piece)) = output.next().await {
                sink.record(piece);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    }
    sink.finish();
    if let Some(exit) = service_ended.get() {
        sink.service_ended(exit);
    }
    if let Some(outcome) = stopping.get() {
        return outcome.clone();
    }
    match (exit, sink.error) {
        (Err(EngineError::Unreachable(why)), _) => RunOutcome::EngineLost(why),
        (Err(e), _) => RunOutcome::Errored(e.to_string()),
        (Ok(_), Some(e)) => RunOutcome::Errored(e),
        (Ok(code), None) => RunOutcome::Exited(code),
    }
}

/// Stops a container that ran out of time or was cancelled; the wait then returns.
async fn stop<E: Engine>(engine: &E, handle: &E::Handle, grace: Duration, id: i64) {
    if let Err(e) = engine.stop(handle, grace).await {
        tracing::warn!(job_id = id, "could not stop the container: {e}");
    }
}

/// Where a container's output goes: the log, and a word to subscribers.
struct Sink<'a> {
    log: &'a mut LogWriter,
    bus: &'a Bus,
    id: i64,
    /// The first write error; further output is dropped (the job ends ERRORED with it).
    error: Option<String>,
    noted: &'a (dyn Fn(u64) + Send + Sync),
    masker: crate::secrets::mask::Masker,
}

impl Sink<'_> {
    fn record(&mut self, piece: Piece) {
        if self.error.is_some() {
            return;
        }
        match piece {
            Piece::Output(bytes) if self.masker.is_active() => {
                let masked = self.masker.feed(&bytes);
                self.write_masked(masked);
            }
            Piece::Output(bytes) => {
                let before = self.log.size();
                let written = self.log.append(&bytes);
                self.written(before, written);
            }
            Piece::Lost => {
                // What was held back came before the gap.
                self.finish();
                let before = self.log.size();
                let written = self.log.line(LOST);
                if let Ok(size) = written {
                    (self.noted)(size - before);
                }
                self.written(before, written);
            }
        }
    }

    /// The end of the output: what the masker held back goes to the log.
    fn finish(&mut self) {
        if self.error.is_none() && self.masker.is_active() {
            let masked = self.masker.finish();
            self.write_masked(masked);
        }
    }

    fn write_masked(&mut self, masked: crate::secrets::mask::Masked) {
        let before = self.log.size();
        let written = self.log.append_masked(&masked.text, masked.raw);
        self.written(before, written);
    }

    fn written(&mut self, before: u64, written: std::io::Result<u64>) {
        match written {
            Ok(size) if size > before => self.bus.publish(BusEvent::Log { id: self.id, size }),
            Ok(_) => {}
            Err(e) if crate::disk::is_full(&e) => {
                self.error = Some(format!("disk full: cannot write the job's log ({e})"))
            }
            Err(e) => self.error = Some(format!("cannot write the job's log: {e}")),
        }
    }
}

/// Said in the log where output is missing.
pub const LOST: &str = "[microci] output is missing here: the engine rotated this job's output \
    log while microci was not running, and no longer holds what the job wrote in between";
