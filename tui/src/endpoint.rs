//! Where the UI reconnects to: a socket path, or an `--ssh` forward that is started again when
//! ssh itself has gone (a network hiccup ends ssh, not only the daemon's connection).

use crate::client::{ClientError, Connection};
use crate::ssh::SshTunnel;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Mutex;

/// How to reach the daemon; cheap to clone.
#[derive(Clone)]
pub enum Endpoint {
    /// A local (or already forwarded) socket.
    Socket(PathBuf),
    /// A forward run by this process.
    Ssh(Arc<Mutex<Forward>>),
}

/// An `--ssh` forward and what is needed to start it again.
pub struct Forward {
    /// `[user@]host`.
    pub target: String,
    /// The daemon's socket on that host.
    pub remote: String,
    /// `MICROCI_SSH_COMMAND`.
    pub command: Option<String>,
    /// The running forward, if any.
    pub tunnel: Option<SshTunnel>,
}

impl Endpoint {
    /// A forward that is already up.
    pub fn ssh(
        target: String,
        remote: String,
        command: Option<String>,
        tunnel: SshTunnel,
    ) -> Endpoint {
        Endpoint::Ssh(Arc::new(Mutex::new(Forward {
            target,
            remote,
            command,
            tunnel: Some(tunnel),
        })))
    }

    /// Connects, first restarting the ssh forward if ssh has exited.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        match self {
            Endpoint::Socket(path) => Connection::connect(path).await,
            Endpoint::Ssh(forward) => {
                let mut f = forward.lock().await;
                if f.tunnel.as_mut().is_none_or(SshTunnel::has_exited) {
                    // Drop the old one first: it removes its socket and directory.
                    f.tunnel = None;
                    let tunnel = SshTunnel::start(&f.target, &f.remote, f.command.as_deref(), true)
                        .await
                        .map_err(|e| ClientError::Tunnel(e.to_string()))?;
                    f.tunnel = Some(tunnel);
                }
                let path = f
                    .tunnel
                    .as_ref()
                    .map(|t| t.local().to_path_buf())
                    .unwrap_or_default();
                drop(f);
                Connection::connect(&path).await
            }
        }
    }
}
