//! A control-socket client speaking the real protocol (the proto crate's codec), for what the CLI
//! does not expose: several requests in flight, subscriptions, reused ids, and polling a job.

use crate::daemon::TestDaemon;
use crate::ok;
use anyhow::{Context, Result, anyhow, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use microci_proto::{ClientCodec, ClientMessage, DaemonStatus, Job, Reply, Request, ServerMessage};
use std::path::Path;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

/// How long [`Client::recv`] and [`Client::call`] wait for the daemon before a test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// One connection to the control socket, past the hello.
pub struct Client {
    framed: Framed<UnixStream, ClientCodec>,
    next: u64,
}

impl Client {
    /// Connects and reads the hello, which must name this protocol version.
    pub async fn try_connect(path: &Path) -> Result<Client> {
        let stream = UnixStream::connect(path)
            .await
            .with_context(|| format!("connect to the control socket {}", path.display()))?;
        let mut framed = Framed::new(stream, ClientCodec::default());
        match framed.next().await {
            Some(Ok(ServerMessage::Hello { protocol, .. })) => ensure!(
                protocol == microci_proto::PROTOCOL_VERSION,
                "the daemon speaks protocol {protocol}, this client {}",
                microci_proto::PROTOCOL_VERSION
            ),
            other => bail!("expected hello, got {other:?}"),
        }
        Ok(Client { framed, next: 1 })
    }

    /// [`Client::try_connect`] for tests.
    pub async fn connect(path: &Path) -> Client {
        ok(Client::try_connect(path).await)
    }

    /// Sends a request with the next id; returns that id.
    pub async fn try_send(&mut self, request: Request) -> Result<u64> {
        let id = self.next;
        self.next += 1;
        self.try_send_as(id, request).await
    }

    /// [`Client::try_send`] for tests.
    pub async fn send(&mut self, request: Request) -> u64 {
        ok(self.try_send(request).await)
    }

    /// Sends a request with an id of the caller's choosing (even one already in use).
    pub async fn try_send_as(&mut self, id: u64, request: Request) -> Result<u64> {
        self.framed
            .send(ClientMessage { id, request })
            .await
            .context("send to the control socket")?;
        Ok(id)
    }

    /// [`Client::try_send_as`] for tests.
    pub async fn send_as(&mut self, id: u64, request: Request) -> u64 {
        ok(self.try_send_as(id, request).await)
    }

    /// The next message, or `None` once the daemon has closed the connection; an error for a
    /// frame that does not decode or when nothing comes `within`.
    pub async fn try_recv(&mut self, within: Duration) -> Result<Option<ServerMessage>> {
        match tokio::time::timeout(within, self.framed.next()).await {
            Ok(Some(Ok(m))) => Ok(Some(m)),
            Ok(Some(Err(e))) => Err(anyhow!(e).context("read from the control socket")),
            Ok(None) => Ok(None),
            Err(_) => bail!("no message from the daemon within {within:?}"),
        }
    }

    /// [`Client::try_recv`] within [`WAIT`], for tests.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        ok(self.try_recv(WAIT).await)
    }

    /// One request and its answer, skipping other frames: `Ok(Err(message))` when the daemon
    /// answered with an error, `Err` when the connection failed.
    pub async fn try_call(&mut self, request: Request) -> Result<Result<Reply, String>> {
        let id = self.try_send(request).await?;
        loop {
            match self.try_recv(WAIT).await? {
                Some(ServerMessage::Ok { id: i, reply }) if i == id => return Ok(Ok(reply)),
                Some(ServerMessage::Error { id: i, message, .. }) if i == id => {
                    return Ok(Err(message));
                }
                Some(_) => continue,
                None => bail!("the daemon closed the control connection"),
            }
        }
    }

    /// [`Client::try_call`] for tests: the daemon's answer, or its error message.
    pub async fn call(&mut self, request: Request) -> Result<Reply, String> {
        ok(self.try_call(request).await)
    }

    /// Job `id` as the daemon has it now.
    pub async fn try_job(&mut self, id: i64) -> Result<Job> {
        match self.try_call(Request::GetJob { job: id }).await? {
            Ok(Reply::Job { job }) => Ok(job),
            other => bail!("get_job {id}: {other:?}"),
        }
    }

    /// [`Client::try_job`] for tests.
    pub async fn job(&mut self, id: i64) -> Job {
        ok(self.try_job(id).await)
    }

    /// The daemon's status (running and queued jobs, Docker, warnings).
    pub async fn try_status(&mut self) -> Result<DaemonStatus> {
        match self.try_call(Request::Status).await? {
            Ok(Reply::Status(s)) => Ok(s),
            other => bail!("status: {other:?}"),
        }
    }

    /// Polls job `id` every 50 ms until it satisfies `done`; an error after `within`.
    pub async fn try_wait_for(
        &mut self,
        id: i64,
        within: Duration,
        done: impl Fn(&Job) -> bool,
    ) -> Result<Job> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let job = self.try_job(id).await?;
            if done(&job) {
                return Ok(job);
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "job {id} stuck: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The job's whole log, read in pages with `read_log`.
    pub async fn try_log_text(&mut self, id: i64) -> Result<String> {
        let mut out = String::new();
        let mut offset = 0;
        loop {
            let request = Request::ReadLog {
                job: id,
                offset,
                max: microci_proto::MAX_LOG_READ,
            };
            match self.try_call(request).await? {
                Ok(Reply::Log(chunk)) => {
                    if chunk.next_offset == offset {
                        return Ok(out);
                    }
                    out.push_str(&chunk.data);
                    offset = chunk.next_offset;
                }
                other => bail!("read_log {id}: {other:?}"),
            }
        }
    }
}

/// Polls (on a connection of its own) until job `id` satisfies `done`, or panics after `secs`.
pub async fn wait_for(socket: &Path, id: i64, secs: u64, done: impl Fn(&Job) -> bool) -> Job {
    let mut c = Client::connect(socket).await;
    ok(c.try_wait_for(id, Duration::from_secs(secs), done).await)
}

/// Waits (two minutes at most) until the job is in a final state.
pub async fn wait_final(socket: &Path, id: i64) -> Job {
    wait_for(socket, id, 120, |j| j.status.is_final()).await
}

/// The job's whole log, read through the daemon's control socket.
pub async fn log_text(d: &TestDaemon, id: i64) -> String {
    let mut c = Client::connect(&d.socket).await;
    ok(c.try_log_text(id).await)
}

/// Waits (at most `secs`) until job `id`'s log holds `text`; panics with the log and the
/// daemon's own when it does not.
pub async fn wait_logged(d: &TestDaemon, id: i64, text: &str, secs: u64) {
    let began = std::time::Instant::now();
    while !log_text(d, id).await.contains(text) {
        assert!(
            began.elapsed() < Duration::from_secs(secs),
            "{text:?} not logged:\n{}\n{}",
            log_text(d, id).await,
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
