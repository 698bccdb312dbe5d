//! A job's artifacts, copied out of its ended container before its end is recorded: a job is
//! done only once what it asked to keep is kept (or the log says why not). The globs come from
//! the manifest written before the container started, so a job a restarted daemon re-attached
//! to collects them too.

use super::job::say;
use crate::artifacts::{Patterns, gather};
use crate::jobs::Jobs;
use crate::logs::LogWriter;
use crate::runner::Engine;

/// Records the globs job `id` asks for before its container starts.
pub(super) async fn want<E: Engine>(
    jobs: &Jobs<E>,
    id: i64,
    globs: &[String],
) -> Result<(), String> {
    if globs.is_empty() {
        return Ok(());
    }
    let (store, globs) = (jobs.artifacts.clone(), globs.to_vec());
    tokio::task::spawn_blocking(move || store.want(id, &globs))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot record the job's artifact globs: {e}"))
}

/// Copies job `id`'s artifacts out of `handle`, writing a line per artifact, refusal and
/// glob that matched nothing into its log, and a summary.
pub(super) async fn collect<E: Engine>(
    jobs: &Jobs<E>,
    id: i64,
    handle: &E::Handle,
    log: &mut LogWriter,
) {
    let store = jobs.artifacts.clone();
    let wanted = tokio::task::spawn_blocking(move || store.wanted(id))
        .await
        .unwrap_or_default();
    if wanted.is_empty() {
        return;
    }
    // Checked when `.microci.json` was read; a manifest changed on disk since is refused here.
    let patterns = match Patterns::parse(&wanted) {
        Ok(p) => p,
        Err(e) => return say(&jobs.bus, log, id, &format!("artifacts: {e}")),
    };
    let config = jobs.config();
    say(
        &jobs.bus,
        log,
        id,
        &format!("artifacts: copying {wanted:?} out of the container"),
    );
    let lines = gather(
        jobs.engine.as_ref(),
        handle,
        &jobs.artifacts,
        id,
        patterns,
        config.docker.max_artifacts,
        config.docker.helper_timeout,
    )
    .await;
    for line in lines {
        say(&jobs.bus, log, id, &line);
    }
}
