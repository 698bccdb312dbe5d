//! A fake daemon on a real Unix socket that speaks the real codec: the peer for clients' tests
//! (the TUI's commands and connection), which script what the daemon answers.

use futures_util::SinkExt;
use microci_proto::{ServerCodec, ServerMessage};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::Framed;

/// The daemon side of one test connection, after the hello.
pub type ServerConn = Framed<UnixStream, ServerCodec>;

/// A temp dir with a short path (sun_path is 108 bytes).
pub fn short_dir() -> tempfile::TempDir {
    crate::ok(
        tempfile::Builder::new()
            .prefix("mci")
            .tempdir_in("/tmp")
            .map_err(anyhow::Error::from),
    )
}

/// A listener that greets every connection with `protocol` and hands it to a handler.
pub struct FakeDaemon {
    /// The socket path to connect to.
    pub path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDaemon {
    /// Binds `dir/s` and serves each connection with `handler` on its own task.
    pub fn start<F, Fut>(dir: &tempfile::TempDir, protocol: u32, handler: F) -> FakeDaemon
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let path = dir.path().join("s");
        let listener = crate::ok(UnixListener::bind(&path).map_err(anyhow::Error::from));
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut conn = Framed::new(stream, ServerCodec::default());
                    let hello = ServerMessage::Hello {
                        protocol,
                        server_version: "test".into(),
                    };
                    if conn.send(hello).await.is_ok() {
                        handler(conn).await;
                    }
                });
            }
        });
        FakeDaemon { path, task }
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}
