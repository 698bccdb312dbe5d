//! Test support for the crate's unit tests: the one [`Job`] builder, and a fake daemon on a real
//! Unix socket that speaks the real codec.

use futures_util::SinkExt;
use microci_proto::{Job, JobStatus, ServerCodec, ServerMessage};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::Framed;

/// A finished-looking job of alice/app on main (created 12:00:00, ran 12:00:05–12:01:25 on
/// 2026-01-01, two-line message, 10 bytes of log); tests change the fields they care about.
pub fn job(id: i64, status: JobStatus) -> Job {
    Job {
        id,
        repo: "alice/app".into(),
        git_ref: "refs/heads/main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        message: "Fix the thing\n\nLonger body".into(),
        author: "alice".into(),
        status,
        reason: None,
        exit_code: None,
        created_at: "2026-01-01T12:00:00Z".into(),
        started_at: Some("2026-01-01T12:00:05Z".into()),
        finished_at: Some("2026-01-01T12:01:25Z".into()),
        trigger: "webhook".into(),
        log_size: 10,
        log_dropped: 0,
    }
}

/// The daemon side of one test connection, after the hello.
pub type ServerConn = Framed<UnixStream, ServerCodec>;

/// A temp dir with a short path (sun_path is 108 bytes).
pub fn short_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mci")
        .tempdir_in("/tmp")
        .expect("temp dir")
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
        let listener = UnixListener::bind(&path).expect("bind");
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
