//! Whether the daemon can do its work, for `GET /healthz` and `/metrics`: the database answers a
//! read, the Docker Engine answers a ping, and the state directory has room. The Engine's answer
//! is kept a few seconds, and concurrent checks share one ping, so a monitor polling fast cannot
//! make the daemon hammer the Engine.

use crate::jobs::Jobs;
use crate::runner::Engine;
use std::time::{Duration, Instant};

/// How long an Engine ping's answer is reused.
pub const DOCKER_CACHE: Duration = Duration::from_secs(5);
/// How long a ping (or the store's read) may take before it counts as no answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The last Engine ping: when, and what it said.
#[derive(Default)]
pub struct Health {
    docker: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Health {
    /// The Engine's answer, asked at most once per [`DOCKER_CACHE`].
    pub async fn docker<E: Engine>(&self, engine: &E) -> Result<(), String> {
        let mut last = self.docker.lock().await;
        if let Some((at, answer)) = last.as_ref()
            && at.elapsed() < DOCKER_CACHE
        {
            return answer.clone();
        }
        let answer = match tokio::time::timeout(PROBE_TIMEOUT, engine.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the Docker Engine did not answer a ping within {}",
                humantime::format_duration(PROBE_TIMEOUT)
            )),
        };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// Every reason the daemon cannot do its work now, each one line starting with what fails
/// (`store: `, `docker: `, `disk: `); empty when all is well.
pub async fn problems<E: Engine>(jobs: &Jobs<E>) -> Vec<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(PROBE_TIMEOUT, jobs.counts()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => out.push(format!("store: {e}")),
        Err(_) => out.push(format!(
            "store: the database did not answer within {}",
            humantime::format_duration(PROBE_TIMEOUT)
        )),
    }
    if let Err(e) = jobs.health.docker(jobs.engine.as_ref()).await {
        out.push(format!("docker: {e}"));
    }
    if !jobs.disk.check(jobs.config().retention.min_free) {
        out.push(format!("disk: {}", jobs.disk.low().unwrap_or_default()));
    }
    out
}
