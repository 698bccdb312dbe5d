//! Starting a job's services, in the order `.microci.json` lists them, once its container is
//! prepared and recorded (so a daemon started again finds them) and before it starts; each start
//! is said in the job's log. They stop and go with the job's container (`job::clean_up`).

use super::job::say;
use crate::jobs::Jobs;
use crate::logs::LogWriter;
use crate::runner::{Engine, JobSpec, RunOutcome};
use tokio_util::sync::CancellationToken;

/// Starts every service of `spec`; the job's end instead when one cannot start or the job is
/// cancelled meanwhile.
pub(super) async fn start<E: Engine>(
    jobs: &Jobs<E>,
    handle: &E::Handle,
    spec: &JobSpec,
    log: &mut LogWriter,
    cancel: &CancellationToken,
) -> Result<(), RunOutcome> {
    let engine = jobs.engine.as_ref();
    for s in &spec.services {
        let started = tokio::select! {
            r = engine.start_service(handle, &s.name) => r,
            _ = cancel.cancelled() => return Err(RunOutcome::Canceled),
        };
        match started {
            Ok(()) => say(
                &jobs.bus,
                log,
                spec.id,
                &format!("service {}: started {}", s.name, s.image),
            ),
            Err(e) => return Err(RunOutcome::Errored(e.to_string())),
        }
    }
    Ok(())
}
