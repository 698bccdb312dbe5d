//! `follow_log`: send a job's log from an offset, then whatever is appended, until the job ends.
//! The bus only says "the log grew"; the bytes are read from the file, so a follower that falls
//! behind simply reads more at once and never misses or repeats a byte.

use super::reply::{Failure, subscribed};
use crate::events::BusEvent;
use crate::jobs::Jobs;
use crate::runner::Engine;
use microci_proto::{ErrorCode, Event, MAX_LOG_READ, Reply, ServerMessage};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

pub(super) async fn follow<E: Engine>(
    jobs: &Jobs<E>,
    id: u64,
    job_id: i64,
    mut offset: u64,
    out: &mpsc::Sender<ServerMessage>,
) -> Result<Option<Reply>, Failure> {
    // Subscribe before the first read so nothing appended in between goes unnoticed.
    let mut events = jobs.bus.subscribe();
    let mut job = jobs
        .job(job_id)
        .await?
        .ok_or_else(|| Failure(ErrorCode::NotFound, format!("no job {job_id}")))?;
    let send = |event: Event| out.send(ServerMessage::Event { id, event });
    if !subscribed(out, id).await {
        return Ok(None);
    }
    loop {
        // Drain what the file has beyond `offset`.
        loop {
            let chunk = jobs
                .logs
                .chunk(job_id, offset, MAX_LOG_READ)
                .await
                .map_err(|e| Failure(ErrorCode::Internal, e.to_string()))?;
            if chunk.next_offset == offset {
                break;
            }
            offset = chunk.next_offset;
            if send(Event::Log(chunk)).await.is_err() {
                return Ok(None);
            }
        }
        if job.status.is_final() {
            let _ = send(Event::Job { job }).await;
            let _ = send(Event::End).await;
            return Ok(None);
        }
        // Wait for this job's log to grow or its state to change.
        loop {
            match events.recv().await {
                Ok(BusEvent::Log { id: j, .. }) if j == job_id => break,
                Ok(BusEvent::Job(j)) if j.id == job_id => {
                    job = *j;
                    break;
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    // Missed events: re-read the job, then the file tells the rest.
                    if let Some(j) = jobs.job(job_id).await? {
                        job = j;
                    }
                    break;
                }
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }
}
