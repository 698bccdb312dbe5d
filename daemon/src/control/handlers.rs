//! What each control request does. Answers go to the connection's outbox; subscriptions keep
//! sending events there until they end or the connection closes.

use super::follow;
use crate::events::BusEvent;
use crate::scheduler::CancelError;
use crate::state::{CreateError, Shared};
use microci_proto::{ClientMessage, ErrorCode, Event, Reply, Request, ServerMessage};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// A failed request, as sent to the client.
pub(super) struct Failure(pub ErrorCode, pub String);

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        Failure(ErrorCode::Internal, e.to_string())
    }
}

impl From<CreateError> for Failure {
    fn from(e: CreateError) -> Failure {
        let code = match e {
            CreateError::NotFound(_) => ErrorCode::NotFound,
            CreateError::Invalid(_) => ErrorCode::Invalid,
            CreateError::Store(_) => ErrorCode::Internal,
        };
        Failure(code, e.to_string())
    }
}

pub(super) async fn handle(
    msg: ClientMessage,
    shared: Arc<Shared>,
    out: mpsc::Sender<ServerMessage>,
    who: String,
) {
    let id = msg.id;
    let result = match msg.request {
        Request::FollowLog { job, offset } => follow::follow(&shared, id, job, offset, &out).await,
        Request::WatchJobs => watch(&shared, id, &out).await,
        other => answer(&shared, other, &who).await.map(Some),
    };
    let msg = match result {
        Ok(Some(reply)) => ServerMessage::Ok { id, reply },
        Ok(None) => return,
        Err(Failure(code, message)) => ServerMessage::Error { id, code, message },
    };
    let _ = out.send(msg).await;
}

async fn answer(shared: &Shared, req: Request, who: &str) -> Result<Reply, Failure> {
    let not_found = |job: i64| Failure(ErrorCode::NotFound, format!("no job {job}"));
    Ok(match req {
        Request::Status => Reply::Status(shared.status().await?),
        Request::ListJobs(q) => Reply::Jobs {
            jobs: shared.reader.list(q).await?,
        },
        Request::GetJob { job } => Reply::Job {
            job: shared
                .reader
                .job(job)
                .await?
                .ok_or_else(|| not_found(job))?
                .job,
        },
        Request::ReadLog { job, offset, max } => {
            shared
                .reader
                .job(job)
                .await?
                .ok_or_else(|| not_found(job))?;
            let logs = shared.reader.logs_dir().to_path_buf();
            let chunk = tokio::task::spawn_blocking(move || {
                crate::logs::read_chunk(&logs, job, offset, max)
            })
            .await
            .map_err(|e| Failure(ErrorCode::Internal, e.to_string()))?
            .map_err(|e| Failure(ErrorCode::Internal, format!("cannot read the log: {e}")))?;
            Reply::Log(chunk)
        }
        Request::Cancel { job } => match shared.scheduler.cancel(job).await {
            Ok(job) => Reply::Job { job },
            Err(CancelError::NotFound(j)) => return Err(not_found(j)),
            Err(e @ CancelError::Finished(..)) => {
                return Err(Failure(ErrorCode::Conflict, e.to_string()));
            }
            Err(e) => return Err(Failure(ErrorCode::Internal, e.to_string())),
        },
        Request::Retry { job } => Reply::Created {
            job: shared.retry(job, who).await?,
        },
        Request::Run { repo, git_ref } => Reply::Created {
            job: shared.run(&repo, git_ref.as_deref(), who).await?,
        },
        Request::ListRepos => Reply::Repos {
            repos: shared.repos().await?,
        },
        Request::FollowLog { .. } | Request::WatchJobs | Request::Unsubscribe { .. } => {
            return Err(Failure(ErrorCode::Invalid, "not a plain request".into()));
        }
    })
}

/// Tells the client its subscription `id` is open; false when the client is gone.
pub(super) async fn subscribed(out: &mpsc::Sender<ServerMessage>, id: u64) -> bool {
    out.send(ServerMessage::Ok {
        id,
        reply: Reply::Subscribed,
    })
    .await
    .is_ok()
}

/// Streams every job change until the connection closes.
async fn watch(
    shared: &Shared,
    id: u64,
    out: &mpsc::Sender<ServerMessage>,
) -> Result<Option<Reply>, Failure> {
    let mut events = shared.bus.subscribe();
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
