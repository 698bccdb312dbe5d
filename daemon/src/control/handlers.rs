//! What each control request does. Answers go to the connection's outbox; subscriptions keep
//! sending events there until they end or the connection closes.

use super::follow;
use super::reply::{Failure, subscribed};
use crate::events::BusEvent;
use crate::jobs::Jobs;
use crate::runner::Engine;
use microci_proto::{ClientMessage, ErrorCode, Event, Reply, Request, ServerMessage};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

pub(super) async fn handle<E: Engine>(
    msg: ClientMessage,
    jobs: Arc<Jobs<E>>,
    out: mpsc::Sender<ServerMessage>,
    who: String,
) {
    let id = msg.id;
    let result = match msg.request {
        Request::FollowLog { job, offset } => follow::follow(&jobs, id, job, offset, &out).await,
        Request::WatchJobs => watch(&jobs, id, &out).await,
        other => answer(&jobs, other, &who).await.map(Some),
    };
    let msg = match result {
        Ok(Some(reply)) => ServerMessage::Ok { id, reply },
        Ok(None) => return,
        Err(Failure(code, message)) => ServerMessage::Error { id, code, message },
    };
    let _ = out.send(msg).await;
}

async fn answer<E: Engine>(jobs: &Jobs<E>, req: Request, who: &str) -> Result<Reply, Failure> {
    let not_found = |job: i64| Failure(ErrorCode::NotFound, format!("no job {job}"));
    Ok(match req {
        Request::Status => Reply::Status(jobs.status().await?),
        Request::ListEngines => Reply::Engines {
            engines: jobs.engine.engines().await,
        },
        Request::Drain { engine } => drain(jobs, &engine, true, who).await?,
        Request::Undrain { engine } => drain(jobs, &engine, false, who).await?,
        Request::ListJobs(q) => Reply::Jobs {
            jobs: jobs.list(q).await?,
        },
        Request::GetJob { job } => Reply::Job {
            job: jobs.job(job).await?.ok_or_else(|| not_found(job))?,
        },
        Request::ReadLog { job, offset, max } => Reply::Log(jobs.read_log(job, offset, max).await?),
        Request::Cancel { job } => Reply::Job {
            job: jobs.cancel(job).await?,
        },
        Request::Retry { job } => Reply::Created {
            job: jobs.retry(job, who).await?,
        },
        Request::Run { repo, git_ref, env } => Reply::Created {
            job: jobs.run(&repo, git_ref.as_deref(), env, who).await?,
        },
        Request::ListRepos => Reply::Repos {
            repos: jobs.repos().await?,
        },
        Request::Prune { dry_run } => Reply::Pruned(crate::retention::prune(jobs, dry_run).await?),
        Request::ListArtifacts { job } => {
            jobs.job(job).await?.ok_or_else(|| not_found(job))?;
            Reply::Artifacts {
                job,
                artifacts: jobs.artifacts.list(job).await,
            }
        }
        Request::ReadArtifact {
            job,
            name,
            offset,
            max,
        } => Reply::ArtifactChunk(jobs.artifacts.read(job, name, offset, max).await?),
        Request::ListCaches { repo } => Reply::Caches {
            caches: crate::caches::list(jobs, repo.as_deref())
                .await
                .map_err(|e| Failure(ErrorCode::Internal, e.to_string()))?,
        },
        Request::ClearCache { repo, branch } => Reply::Cleared {
            caches: crate::caches::clear(jobs, &repo, branch.as_deref())
                .await
                .map_err(|e| Failure(ErrorCode::Internal, e.to_string()))?,
        },
        Request::FollowLog { .. } | Request::WatchJobs | Request::Unsubscribe { .. } => {
            return Err(Failure(ErrorCode::Invalid, "not a plain request".into()));
        }
    })
}

/// Streams every job change until the connection closes.
async fn watch<E: Engine>(
    jobs: &Jobs<E>,
    id: u64,
    out: &mpsc::Sender<ServerMessage>,
) -> Result<Option<Reply>, Failure> {
    let mut events = jobs.bus.subscribe();
    if !subscribed(out, id).await {
        return Ok(None);
    }
    loop {
        let event = match events.recv().await {
            Ok(BusEvent::Job(job)) => Event::Job { job: *job },
            Ok(BusEvent::Log { .. }) => continue,
            Err(RecvError::Lagged(_)) => Event::Lagged,
            Err(RecvError::Closed) => Event::End,
        };
        let end = matches!(event, Event::End);
        if out.send(ServerMessage::Event { id, event }).await.is_err() || end {
            return Ok(None);
        }
    }
}

/// Drains or undrains an engine, and answers with every engine as it is now.
async fn drain<E: Engine>(
    jobs: &Jobs<E>,
    engine: &str,
    drained: bool,
    who: &str,
) -> Result<Reply, Failure> {
    if !jobs.engine.drain(engine, drained) {
        return Err(Failure(
            ErrorCode::NotFound,
            format!("no engine {engine:?}"),
        ));
    }
    let what = if drained { "drained" } else { "undrained" };
    tracing::info!("engine {engine} {what} by {who}");
    Ok(Reply::Engines {
        engines: jobs.engine.engines().await,
    })
}
