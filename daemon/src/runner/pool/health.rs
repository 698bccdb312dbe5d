//! Every engine pinged on a period (`docker.engine_ping`), all at once: one that does not answer
//! within the period is down — no new jobs, and its running jobs wait for it — and one that
//! answers again is up, its version read, and the containers it kept of jobs that ended
//! meanwhile (elsewhere, or "engine lost") removed.

use super::Inner;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Pings until `shutdown`.
pub(super) async fn watch(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(inner.ping_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let rounds = (0..inner.members.len()).map(|i| check(&inner, i));
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = futures_util::future::join_all(rounds) => {}
        }
    }
}

/// The longest a ping may take: the period, but at least a second.
fn deadline(every: Duration) -> Duration {
    every.max(Duration::from_secs(1))
}

/// Pings engine `i` once and records the answer.
pub(super) async fn check(inner: &Arc<Inner>, i: usize) {
    let m = &inner.members[i];
    let answer = match tokio::time::timeout(deadline(inner.ping_every), m.engine.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer to a ping within {}",
            humantime::format_duration(deadline(inner.ping_every))
        )),
    };
    match answer {
        Ok(()) => {
            let returned = inner.mark_up(i);
            if returned {
                tracing::info!("engine {} answers again", m.name);
            }
            let unknown = inner.state().members[i].version.is_none();
            if (returned || unknown)
                && let Ok(Ok(v)) =
                    tokio::time::timeout(deadline(inner.ping_every), m.engine.version()).await
            {
                inner.state().members[i].version = Some(v);
            }
            if returned {
                tokio::spawn(remove_orphans(inner.clone(), i));
            }
        }
        Err(e) => {
            let text = format!("engine {} does not answer: {e}", m.name);
            if inner.mark_down(i, text.clone()) {
                tracing::warn!("{text}");
            }
        }
    }
}

/// Removes the containers engine `i` holds of jobs that are not placed on it any more: they
/// ended while it was away (their containers could not be removed then).
async fn remove_orphans(inner: Arc<Inner>, i: usize) {
    let m = &inner.members[i];
    let found = match m.engine.containers().await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("cannot list the containers of engine {}: {e}", m.name);
            return;
        }
    };
    for f in found {
        let Some(job) = f.job else { continue };
        // A job's services go with its container.
        if f.service.is_some() || inner.state().placed.get(&job) == Some(&i) {
            continue;
        }
        tracing::info!(container = %f.container, job, "removing a container of an ended job from engine {}", m.name);
        let handle = m.engine.adopt(job, &f.container);
        if let Err(e) = m.engine.teardown(&handle).await {
            tracing::warn!(
                "cannot remove container {} from engine {}: {e}",
                f.container,
                m.name
            );
        }
    }
}
