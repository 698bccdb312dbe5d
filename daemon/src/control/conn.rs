//! One control connection: hello first, then requests (each answered by id, several may be in
//! flight) and subscriptions streaming events. Garbage or an oversized frame gets one error
//! frame and the connection closes; nothing else notices.
//!
//! Each subscription (`follow_log`, `watch_jobs`) runs with a stop slot kept here by its request
//! id; `unsubscribe` fills that slot with its own id, and the subscription task stops at its next
//! await and sends the `done` reply itself — so that reply is the last frame with anything to do
//! with the subscription, and no event of it can overtake it.

use super::handlers;
use crate::jobs::Jobs;
use crate::runner::Engine;
use futures_util::{SinkExt, StreamExt};
use microci_proto::{
    ErrorCode, Event, PROTOCOL_VERSION, Reply, Request, ServerCodec, ServerMessage,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

/// Frames queued for one client before its handlers wait (back-pressure, not memory growth).
const OUTBOX: usize = 256;

pub(super) async fn serve<E: Engine>(
    stream: UnixStream,
    jobs: Arc<Jobs<E>>,
    shutdown: CancellationToken,
) {
    let who = peer_name(&stream);
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, ServerCodec::default());
    let mut sink = FramedWrite::new(write, ServerCodec::default());
    let (tx, mut rx) = mpsc::channel::<ServerMessage>(OUTBOX);

    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
    });
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if tx.send(hello).await.is_err() {
        return;
    }
    let mut requests = tokio::task::JoinSet::new();
    // Open subscriptions by request id: send the unsubscribe request's id to stop one.
    let mut subscriptions: HashMap<u64, oneshot::Sender<u64>> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Every open subscription is told why it ends, after its last event.
                let open: Vec<u64> = subscriptions
                    .iter()
                    .filter(|(_, stop)| !stop.is_closed())
                    .map(|(&id, _)| id)
                    .collect();
                requests.abort_all();
                while requests.join_next().await.is_some() {}
                for id in open {
                    let _ = tx.send(ServerMessage::Event { id, event: Event::Stopping }).await;
                }
                break;
            }
            frame = frames.next() => match frame {
                None => break,
                Some(Ok(msg)) => match msg.request {
                    Request::Unsubscribe { subscription } => {
                        let stopped = subscriptions
                            .remove(&subscription)
                            .is_some_and(|stop| stop.send(msg.id).is_ok());
                        if !stopped {
                            let message =
                                format!("no open subscription {subscription} on this connection");
                            refuse(&mut requests, &tx, msg.id, ErrorCode::NotFound, message);
                        }
                    }
                    Request::FollowLog { .. } | Request::WatchJobs => {
                        // Forget subscriptions that ended by themselves.
                        subscriptions.retain(|_, stop| !stop.is_closed());
                        if subscriptions.contains_key(&msg.id) {
                            // Replacing it would orphan the first: its events would carry an
                            // id the client now means for something else, with no way to stop it.
                            let message = format!(
                                "request id {} already names an open subscription on this \
                                 connection; use a new id",
                                msg.id
                            );
                            refuse(&mut requests, &tx, msg.id, ErrorCode::Invalid, message);
                            continue;
                        }
                        let (stop, stopped) = oneshot::channel();
                        subscriptions.insert(msg.id, stop);
                        let (jobs, tx, who) = (jobs.clone(), tx.clone(), who.clone());
                        requests.spawn(async move {
                            let id = msg.id;
                            tokio::select! {
                                () = handlers::handle(msg, jobs, tx.clone(), who) => {}
                                Ok(by) = stopped => {
                                    tracing::debug!("subscription {id} ended by request {by}");
                                    let _ = tx.send(ServerMessage::Ok { id: by, reply: Reply::Done }).await;
                                }
                            }
                        });
                    }
                    _ => {
                        requests.spawn(handlers::handle(msg, jobs.clone(), tx.clone(), who.clone()));
                    }
                },
                Some(Err(e)) => {
                    tracing::debug!("control client sent a bad frame: {e}");
                    let _ = tx
                        .send(ServerMessage::Error {
                            id: 0,
                            code: ErrorCode::BadFrame,
                            message: e.to_string(),
                        })
                        .await;
                    break;
                }
            },
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
        }
    }
    requests.abort_all();
    drop(tx);
    // Let the error frame (if any) go out, but never hang on a client that stopped reading.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer).await;
}

/// Answers request `id` with an error, through the outbox like every other answer.
fn refuse(
    requests: &mut tokio::task::JoinSet<()>,
    tx: &mpsc::Sender<ServerMessage>,
    id: u64,
    code: ErrorCode,
    message: String,
) {
    let tx = tx.clone();
    requests.spawn(async move {
        let _ = tx.send(ServerMessage::Error { id, code, message }).await;
    });
}

/// The connecting user's name (for manual builds' author), from the socket's peer credentials.
fn peer_name(stream: &UnixStream) -> String {
    match stream.peer_cred() {
        Ok(cred) => {
            crate::systemd::user_name(cred.uid()).unwrap_or_else(|| format!("uid {}", cred.uid()))
        }
        Err(_) => "unknown".into(),
    }
}
