//! One control connection: hello first, then requests (each answered by id, several may be in
//! flight) and subscriptions streaming events. Garbage or an oversized frame gets one error
//! frame and the connection closes; nothing else notices.

use super::handlers;
use crate::state::Shared;
use futures_util::{SinkExt, StreamExt};
use microci_proto::{ErrorCode, PROTOCOL_VERSION, ServerCodec, ServerMessage};
use std::sync::Arc;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

/// Frames queued for one client before its handlers wait (back-pressure, not memory growth).
const OUTBOX: usize = 256;

pub(super) async fn serve(stream: UnixStream, shared: Arc<Shared>, shutdown: CancellationToken) {
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
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            frame = frames.next() => match frame {
                None => break,
                Some(Ok(msg)) => {
                    requests.spawn(handlers::handle(msg, shared.clone(), tx.clone(), who.clone()));
                }
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

/// The connecting user's name (for manual builds' author), from the socket's peer credentials.
fn peer_name(stream: &UnixStream) -> String {
    match stream.peer_cred() {
        Ok(cred) => {
            crate::systemd::user_name(cred.uid()).unwrap_or_else(|| format!("uid {}", cred.uid()))
        }
        Err(_) => "unknown".into(),
    }
}
