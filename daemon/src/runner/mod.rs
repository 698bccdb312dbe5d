//! Running a job's container. The engine is behind one trait with the lifecycle every backend
//! shares — prepare, start (with its output), wait, stop, tear down — and [`run`] drives it with
//! the job's timeout and cancellation, streaming output into the log as it comes.

pub mod docker;
#[cfg(test)]
pub mod fake;

use crate::events::{Bus, BusEvent};
use crate::logs::LogWriter;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::path::PathBuf;
use std::time::Duration;
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
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Bytes, EngineError>>, EngineError>> + Send;
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
    /// Removes every container this daemon ever started that is still around; returns the
    /// job ids they belonged to.
    fn reap_all(&self) -> impl Future<Output = Result<Vec<i64>, EngineError>> + Send;
    /// Empties `dir` from inside a helper container (a trusted image, never the job's): files a
    /// job created as root in a bind-mounted workspace cannot be removed by a daemon that runs
    /// as its own user. Bounded in time and resources like a job.
    fn scrub(&self, dir: &std::path::Path) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Whether the engine answers.
    fn ping(&self) -> impl Future<Output = Result<(), EngineError>> + Send;
}

/// Runs one job start to finish: prepare, start, copy output to the log, wait — stopping the
/// container on timeout or cancellation — and always tear it down.
pub async fn run<E: Engine>(
    engine: &E,
    spec: &JobSpec,
    log: &mut LogWriter,
    bus: &Bus,
    timeout: Duration,
    grace: Duration,
    cancel: &CancellationToken,
) -> RunOutcome {
    let handle = tokio::select! {
        h = engine.prepare(spec) => match h {
            Ok(h) => h,
            Err(e) => return RunOutcome::Errored(e.to_string()),
        },
        _ = cancel.cancelled() => return RunOutcome::Canceled,
    };
    let outcome = run_prepared(engine, &handle, spec.id, log, bus, timeout, grace, cancel).await;
    if let Err(e) = engine.teardown(&handle).await {
        tracing::warn!(job = spec.id, "could not remove container: {e}");
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn run_prepared<E: Engine>(
    engine: &E,
    handle: &E::Handle,
    id: i64,
    log: &mut LogWriter,
    bus: &Bus,
    timeout: Duration,
    grace: Duration,
    cancel: &CancellationToken,
) -> RunOutcome {
    let mut output = match engine.start(handle).await {
        Ok(o) => o,
        Err(e) => return RunOutcome::Errored(e.to_string()),
    };
    // Why the job is being stopped, once it is. The stop request runs beside the output copy:
    // the Engine only lets a container that is flooding its output die once that output is read.
    let stopping: std::sync::OnceLock<RunOutcome> = std::sync::OnceLock::new();
    let stopper = async {
        let why = tokio::select! {
            _ = tokio::time::sleep(timeout) => RunOutcome::TimedOut(timeout),
            _ = cancel.cancelled() => RunOutcome::Canceled,
        };
        let _ = stopping.set(why);
        stop(engine, handle, grace, id).await;
    };
    tokio::pin!(stopper);
    let mut stopper_done = false;
    let mut output_done = false;
    let mut log_error: Option<String> = None;
    let wait = engine.wait(handle);
    tokio::pin!(wait);
    let exit = loop {
        tokio::select! {
            chunk = output.next(), if !output_done => match chunk {
                Some(Ok(bytes)) => record(log, bus, id, &bytes, &mut log_error).await,
                Some(Err(e)) => {
                    tracing::warn!(job = id, "output stream failed: {e}");
                    output_done = true;
                }
                None => output_done = true,
            },
            code = &mut wait => break code,
            _ = &mut stopper, if !stopper_done => stopper_done = true,
        }
    };
    // The container is gone: take the rest of its output (bounded, in case the stream hangs).
    if !output_done {
        let drain = async {
            while let Some(Ok(bytes)) = output.next().await {
                record(log, bus, id, &bytes, &mut log_error).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    }
    if let Some(outcome) = stopping.get() {
        return outcome.clone();
    }
    match (exit, log_error) {
        (Err(e), _) => RunOutcome::Errored(e.to_string()),
        (Ok(_), Some(e)) => RunOutcome::Errored(e),
        (Ok(code), None) => RunOutcome::Exited(code),
    }
}

/// Stops a container that ran out of time or was cancelled; the wait then returns.
async fn stop<E: Engine>(engine: &E, handle: &E::Handle, grace: Duration, id: i64) {
    if let Err(e) = engine.stop(handle, grace).await {
        tracing::warn!(job = id, "could not stop the container: {e}");
    }
}

/// Appends output to the log and tells subscribers; after a write error, remembers the first
/// error and drops further output (the job ends ERRORED with it).
async fn record(
    log: &mut LogWriter,
    bus: &Bus,
    id: i64,
    bytes: &[u8],
    log_error: &mut Option<String>,
) {
    if log_error.is_some() {
        return;
    }
    let before = log.size();
    match log.append(bytes) {
        Ok(size) if size > before => bus.publish(BusEvent::Log { id, size }),
        Ok(_) => {}
        Err(e) => *log_error = Some(format!("cannot write the job's log: {e}")),
    }
}
