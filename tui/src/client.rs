//! The async connection to `microcid`'s control socket.
//!
//! [`Connection::connect`] opens the Unix socket, reads the daemon's hello and refuses to go on
//! when the protocol versions differ. After that there are two ways to talk:
//!
//! - [`Connection::request`] / [`Connection::subscribe`] for one-thing-at-a-time callers (the
//!   scripting subcommands);
//! - [`Connection::send`] / [`Connection::recv`] for callers that keep several requests and
//!   subscriptions in flight and route frames by id themselves (the interactive UI). `recv` is
//!   cancel-safe, so it can sit in a `tokio::select!`.
//!
//! A remote daemon is reached the same way, through a local socket that `--ssh` forwards
//! ([`crate::ssh`]).

use futures_util::{SinkExt, StreamExt};
use microci_proto::{
    ClientCodec, ClientMessage, ErrorCode, Event, FrameError, PROTOCOL_VERSION, Reply, Request,
    ServerMessage,
};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

/// Where the daemon listens unless `--socket` or `MICROCI_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/microci/control.sock";

/// How long the daemon may take to say hello before we give up on it.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything that can go wrong talking to the daemon. Messages are meant for a person.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be opened.
    #[error("cannot connect to {}: {}{}", path.display(), io_text(error), connect_hint(error))]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// Why (kept out of the error chain: the message already says it).
        error: io::Error,
    },
    /// The daemon speaks another protocol version.
    #[error(
        "daemon speaks protocol {daemon}, this microci-tui speaks {ours}; upgrade the older one"
    )]
    Version {
        /// The daemon's version.
        daemon: u32,
        /// Ours ([`PROTOCOL_VERSION`]).
        ours: u32,
    },
    /// The first frame was not a hello, or none came in time.
    #[error("the other end did not greet like microcid: {0}")]
    NoHello(String),
    /// A frame from the daemon could not be read (too large, not JSON, socket error).
    #[error("bad frame from the daemon: {0}")]
    Frame(#[from] FrameError),
    /// The daemon closed the connection.
    #[error("the daemon closed the connection")]
    Closed,
    /// The `--ssh` forward could not be started again.
    #[error("ssh forward: {0}")]
    Tunnel(String),
    /// The daemon answered the request with an error.
    #[error("{message}")]
    Daemon {
        /// Machine-readable class.
        code: ErrorCode,
        /// The daemon's sentence.
        message: String,
    },
    /// The daemon answered with something that does not fit the request.
    #[error("unexpected answer from the daemon: {0}")]
    Unexpected(String),
}

/// `io::Error`'s text without the "(os error N)" suffix.
fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// What a person should check, for the usual ways a connect fails.
fn connect_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => " — is microcid running?",
        io::ErrorKind::PermissionDenied => " — is your user in the microci group?",
        io::ErrorKind::ConnectionRefused => {
            " — nothing is listening there; is microcid running (stale socket)?"
        }
        _ => "",
    }
}

/// One open, greeted connection to the daemon.
pub struct Connection {
    framed: Framed<UnixStream, ClientCodec>,
    next_id: u64,
    server_version: String,
    /// Where it was made, to make it again after the daemon restarts.
    path: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("next_id", &self.next_id)
            .field("server_version", &self.server_version)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to the Unix socket at `path` and checks the daemon's hello.
    pub async fn connect(path: &Path) -> Result<Connection, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|error| ClientError::Connect {
                path: path.to_path_buf(),
                error,
            })?;
        let mut conn = Connection::handshake(stream).await?;
        conn.path = Some(path.to_path_buf());
        Ok(conn)
    }

    /// Connects again to the same socket (the daemon restarted), trying every half second for up
    /// to `patience`; request ids go on from where they were.
    pub async fn reconnect(&mut self, patience: std::time::Duration) -> Result<(), ClientError> {
        let Some(path) = self.path.clone() else {
            return Err(ClientError::Closed);
        };
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match Connection::connect(&path).await {
                Ok(mut fresh) => {
                    fresh.next_id = self.next_id;
                    *self = fresh;
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    }

    /// Reads the hello from a freshly opened socket and checks the version.
    async fn handshake(stream: UnixStream) -> Result<Connection, ClientError> {
        let mut framed = Framed::new(stream, ClientCodec::default());
        let first = tokio::time::timeout(HELLO_TIMEOUT, framed.next())
            .await
            .map_err(|_| ClientError::NoHello("no hello within 10 s".into()))?;
        match first {
            None => Err(ClientError::Closed),
            Some(Err(e)) => Err(ClientError::Frame(e)),
            Some(Ok(ServerMessage::Hello {
                protocol,
                server_version,
            })) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(ClientError::Version {
                        daemon: protocol,
                        ours: PROTOCOL_VERSION,
                    });
                }
                Ok(Connection {
                    framed,
                    next_id: 1,
                    server_version,
                    path: None,
                })
            }
            Some(Ok(other)) => Err(ClientError::NoHello(format!("first frame was {other:?}"))),
        }
    }

    /// The daemon's release, from its hello.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Sends a request and returns the id its answers will carry.
    pub async fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.framed.send(ClientMessage { id, request }).await?;
        Ok(id)
    }

    /// The next frame from the daemon. Cancel-safe.
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        match self.framed.next().await {
            None => Err(ClientError::Closed),
            Some(Err(e)) => Err(ClientError::Frame(e)),
            Some(Ok(msg)) => Ok(msg),
        }
    }

    /// Sends a request and waits for its answer. Frames with other ids are dropped, so use this
    /// only on a connection without an active subscription.
    pub async fn request(&mut self, request: Request) -> Result<Reply, ClientError> {
        let id = self.send(request).await?;
        loop {
            match self.recv().await? {
                ServerMessage::Ok { id: got, reply } if got == id => return Ok(reply),
                ServerMessage::Error {
                    id: got,
                    code,
                    message,
                } if got == id || got == 0 => return Err(ClientError::Daemon { code, message }),
                _ => continue,
            }
        }
    }

    /// Opens a subscription (`FollowLog` or `WatchJobs`) and returns its event stream.
    pub async fn subscribe(&mut self, request: Request) -> Result<Subscription<'_>, ClientError> {
        let id = self.send(request).await?;
        loop {
            match self.recv().await? {
                ServerMessage::Ok {
                    id: got,
                    reply: Reply::Subscribed,
                } if got == id => {
                    return Ok(Subscription {
                        conn: self,
                        id,
                        ended: false,
                    });
                }
                ServerMessage::Ok { id: got, reply } if got == id => {
                    return Err(ClientError::Unexpected(format!(
                        "{reply:?} instead of subscribed"
                    )));
                }
                ServerMessage::Error {
                    id: got,
                    code,
                    message,
                } if got == id || got == 0 => return Err(ClientError::Daemon { code, message }),
                _ => continue,
            }
        }
    }
}

/// The events of one subscription, borrowed from its connection.
#[derive(Debug)]
pub struct Subscription<'a> {
    conn: &'a mut Connection,
    id: u64,
    ended: bool,
}

impl Subscription<'_> {
    /// The next event; `None` after the daemon's `End`.
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        if self.ended {
            return Ok(None);
        }
        loop {
            match self.conn.recv().await? {
                ServerMessage::Event {
                    id,
                    event: Event::End,
                } if id == self.id => {
                    self.ended = true;
                    return Ok(None);
                }
                ServerMessage::Event { id, event } if id == self.id => return Ok(Some(event)),
                ServerMessage::Error {
                    id, code, message, ..
                } if id == self.id || id == 0 => {
                    self.ended = true;
                    return Err(ClientError::Daemon { code, message });
                }
                _ => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microci_proto::{LogChunk, MAX_FRAME};
    use microci_testkit::peer::{FakeDaemon, short_dir};
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn handshake_and_request() {
        let dir = short_dir();
        let daemon = FakeDaemon::start(&dir, 1, |mut conn| async move {
            while let Some(Ok(msg)) = conn.next().await {
                let reply = match msg.request {
                    Request::Retry { job } => Reply::Created { job: job + 100 },
                    Request::Cancel { .. } => {
                        conn.send(ServerMessage::Error {
                            id: msg.id,
                            code: ErrorCode::Conflict,
                            message: "job 3 is already SUCCEED".into(),
                        })
                        .await
                        .ok();
                        continue;
                    }
                    _ => Reply::Subscribed,
                };
                conn.send(ServerMessage::Ok { id: msg.id, reply })
                    .await
                    .ok();
            }
        });
        let mut c = Connection::connect(&daemon.path).await.unwrap();
        assert_eq!(c.server_version(), "test");
        let r = c.request(Request::Retry { job: 5 }).await.unwrap();
        assert_eq!(r, Reply::Created { job: 105 });
        let e = c.request(Request::Cancel { job: 3 }).await.unwrap_err();
        assert_eq!(e.to_string(), "job 3 is already SUCCEED");
    }

    #[tokio::test]
    async fn version_mismatch_is_explained() {
        let dir = short_dir();
        let daemon = FakeDaemon::start(&dir, 7, |_conn| async move {});
        let e = Connection::connect(&daemon.path).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "daemon speaks protocol 7, this microci-tui speaks {PROTOCOL_VERSION}; upgrade the older one"
            )
        );
    }

    #[tokio::test]
    async fn missing_socket_names_path_and_hint() {
        let dir = short_dir();
        let path = dir.path().join("nope.sock");
        let e = Connection::connect(&path).await.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot connect to {}: ", path.display())),
            "{e}"
        );
        assert!(e.contains("is microcid running?"), "{e}");
        assert!(!e.contains("os error"), "{e}");
    }

    #[tokio::test]
    async fn oversized_frame_is_a_clean_error() {
        let dir = short_dir();
        let path = dir.path().join("s");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(&((MAX_FRAME as u32) + 1).to_be_bytes())
                .await
                .unwrap();
            s.write_all(&[b'x'; 64]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let e = Connection::connect(&path).await.unwrap_err();
        assert!(
            matches!(e, ClientError::Frame(FrameError::TooLarge(_))),
            "{e:?}"
        );
        assert!(e.to_string().contains("over the"), "{e}");
    }

    #[tokio::test]
    async fn server_closing_mid_stream_is_a_clean_error() {
        let dir = short_dir();
        let daemon = FakeDaemon::start(&dir, 1, |mut conn| async move {
            if let Some(Ok(msg)) = conn.next().await {
                conn.send(ServerMessage::Ok {
                    id: msg.id,
                    reply: Reply::Subscribed,
                })
                .await
                .ok();
                let chunk = LogChunk {
                    id: 1,
                    offset: 0,
                    next_offset: 3,
                    data: "ab\n".into(),
                };
                conn.send(ServerMessage::Event {
                    id: msg.id,
                    event: Event::Log(chunk),
                })
                .await
                .ok();
                // Half a frame, then hang up.
                let io = conn.get_mut();
                io.write_all(&[0, 0, 0, 50, b'{']).await.ok();
            }
        });
        let mut c = Connection::connect(&daemon.path).await.unwrap();
        let mut sub = c
            .subscribe(Request::FollowLog { job: 1, offset: 0 })
            .await
            .unwrap();
        assert!(matches!(sub.next().await, Ok(Some(Event::Log(_)))));
        let e = sub.next().await.unwrap_err();
        assert!(
            matches!(e, ClientError::Closed | ClientError::Frame(_)),
            "{e:?}"
        );
    }
}
