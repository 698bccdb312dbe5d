//! Notifications (`[[notify]]`): every event an entry wants is queued in the outbox
//! (`notifications`) in the transaction that changes the job, and this task delivers them — by
//! mail, webhook or command — oldest first and one at a time per job and entry, retrying with
//! the commit statuses' backoff (1 s, doubling, at most an hour) for up to a day. A delivery
//! never delays or fails a job, and the outbox survives restarts.

mod command;
mod email;
pub mod message;
mod webhook;

use crate::config::{Config, NotifyKind};
use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::store::{Delivery, Notice, NotifyRules};
use message::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Notifications read from the outbox at once.
const BATCH: usize = 32;

/// How one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another try (a relay or server down, a timeout, a 5xx).
    Retry(String),
    /// Never going to work (a refused address, a 4xx, a program that does not exist).
    Permanent(String),
}

/// The rules the store queues notifications by, from `config` (`None` without `[[notify]]`).
pub fn rules(config: &Config) -> Option<NotifyRules> {
    if config.notify.is_empty() {
        return None;
    }
    let entries = config.notify.clone();
    Some(Arc::new(move |repo: &str, git_ref: &str| {
        entries
            .iter()
            .filter(|n| n.covers(repo, git_ref))
            .map(|n| {
                (
                    n.name.clone(),
                    n.events.iter().map(|e| e.as_str()).collect(),
                )
            })
            .collect()
    }))
}

/// Starts the outbox task; it ends with `shutdown` (what is queued stays for the next start).
pub fn spawn<E: Engine>(
    jobs: Arc<Jobs<E>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            () = run(&jobs) => {}
            () = shutdown.cancelled() => {}
        }
    })
}

async fn run<E: Engine>(jobs: &Jobs<E>) {
    let mut http = None;
    loop {
        match jobs.reader.due_notices(now_ms(), BATCH).await {
            Ok(due) if !due.is_empty() => {
                for notice in due {
                    let (kind, outcome) = deliver(jobs, &mut http, &notice).await;
                    jobs.metrics.notification(kind, outcome.label());
                    if let Err(e) = jobs.writer.notified(notice.id, outcome).await {
                        tracing::error!("notifications: cannot record a delivery: {e}");
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!("notifications: cannot read the outbox: {e}"),
        }
        crate::status::idle(
            jobs.reader.next_notice_ms().await.ok().flatten(),
            &jobs.notices,
        )
        .await;
    }
}

/// One attempt at one notification; the entry's kind (for the metric) and how it went.
async fn deliver<E: Engine>(
    jobs: &Jobs<E>,
    http: &mut Option<crate::status::Client>,
    n: &Notice,
) -> (&'static str, Delivery) {
    let config = jobs.config();
    let Some(entry) = config.notify_named(&n.target) else {
        return (
            "unknown",
            Delivery::GaveUp {
                error: format!("no [[notify]] entry is named {:?} any more", n.target),
            },
        );
    };
    let kind = entry.kind.name();
    let message = match message(jobs, &config, n).await {
        Ok(m) => m,
        Err(error) => return (kind, Delivery::GaveUp { error }),
    };
    let sent = match &entry.kind {
        NotifyKind::Email(e) => email::send(e, &message).await,
        NotifyKind::Webhook(w) => {
            let client = crate::status::client(http);
            webhook::send(&client, w, &message).await
        }
        NotifyKind::Command(c) => command::run(c, &message).await,
    };
    let error = match sent {
        Ok(()) => {
            tracing::debug!(job_id = n.job_id, target = %n.target, "notification delivered");
            return (kind, Delivery::Delivered);
        }
        Err(Failure::Permanent(error)) => {
            tracing::warn!(job_id = n.job_id, target = %n.target, "notification refused: {error}");
            return (kind, Delivery::GaveUp { error });
        }
        Err(Failure::Retry(error)) => error,
    };
    let age = Duration::from_millis((now_ms() - n.created_ms).max(0) as u64);
    if age >= crate::status::GIVE_UP_AFTER {
        tracing::warn!(job_id = n.job_id, target = %n.target, "notification given up after a day: {error}");
        return (kind, Delivery::GaveUp { error });
    }
    tracing::info!(job_id = n.job_id, target = %n.target, "notification failed, will retry: {error}");
    let next_ms = now_ms() + crate::status::backoff(n.attempts).as_millis() as i64;
    (kind, Delivery::Retry { next_ms, error })
}

/// The message of notice `n`: its job as it is now, with the end of its log.
async fn message<E: Engine>(
    jobs: &Jobs<E>,
    config: &Config,
    n: &Notice,
) -> Result<Message, String> {
    let job = jobs
        .job(n.job_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("job {} is gone", n.job_id))?;
    let size = jobs.logs.size(job.id);
    let from = size.saturating_sub(u64::from(message::TAIL_BYTES));
    let end = jobs
        .logs
        .chunk(job.id, from, message::TAIL_BYTES)
        .await
        .map(|c| c.data)
        .unwrap_or_default();
    Ok(Message::new(
        &n.event,
        job,
        config.http.public_url.as_deref(),
        &end,
    ))
}

fn now_ms() -> i64 {
    crate::store::now_ms()
}
