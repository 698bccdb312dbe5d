//! A raw control-socket client speaking the real protocol, for what the CLI does not expose
//! (malformed frames, several requests in flight).

use futures_util::{SinkExt, StreamExt};
use microci_proto::{ClientCodec, ClientMessage, Job, Reply, Request, ServerMessage};
use std::path::Path;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

pub struct Client {
    framed: Framed<UnixStream, ClientCodec>,
    next: u64,
}

impl Client {
    pub async fn connect(path: &Path) -> Client {
        let stream = UnixStream::connect(path)
            .await
            .expect("connect control socket");
        let mut framed = Framed::new(stream, ClientCodec::default());
        match framed.next().await {
            Some(Ok(ServerMessage::Hello { protocol, .. })) => {
                assert_eq!(protocol, microci_proto::PROTOCOL_VERSION)
            }
            other => panic!("expected hello, got {other:?}"),
        }
        Client { framed, next: 1 }
    }

    pub async fn send(&mut self, request: Request) -> u64 {
        let id = self.next;
        self.next += 1;
        self.send_as(id, request).await
    }

    /// Sends a request with an id of the caller's choosing (even one already in use).
    pub async fn send_as(&mut self, id: u64, request: Request) -> u64 {
        self.framed
            .send(ClientMessage { id, request })
            .await
            .expect("send");
        id
    }

    pub async fn recv(&mut self) -> Option<ServerMessage> {
        match tokio::time::timeout(Duration::from_secs(30), self.framed.next()).await {
            Ok(Some(Ok(m))) => Some(m),
            Ok(_) => None,
            Err(_) => panic!("no message from the daemon within 30 s"),
        }
    }

    /// One request, its reply.
    pub async fn call(&mut self, request: Request) -> Result<Reply, String> {
        let id = self.send(request).await;
        loop {
            match self.recv().await {
                Some(ServerMessage::Ok { id: i, reply }) if i == id => return Ok(reply),
                Some(ServerMessage::Error { id: i, message, .. }) if i == id => {
                    return Err(message);
                }
                Some(_) => continue,
                None => panic!("connection closed"),
            }
        }
    }

    pub async fn job(&mut self, id: i64) -> Job {
        match self.call(Request::GetJob { job: id }).await {
            Ok(Reply::Job { job }) => job,
            other => panic!("get_job {id}: {other:?}"),
        }
    }
}

/// Polls until job `id` satisfies `done`, or panics after `secs`.
pub async fn wait_for(socket: &Path, id: i64, secs: u64, done: impl Fn(&Job) -> bool) -> Job {
    let mut c = Client::connect(socket).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let job = c.job(id).await;
        if done(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} stuck: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the job is in a final state.
pub async fn wait_final(socket: &Path, id: i64) -> Job {
    wait_for(socket, id, 120, |j| j.status.is_final()).await
}
