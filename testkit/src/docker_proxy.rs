//! A Unix-socket proxy in front of the real Docker socket, so a test can make the Engine
//! vanish mid-job (as when dockerd is stopped) without touching the Engine itself.

use crate::ok;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The proxy's socket and its connections; cut (and removed) on drop.
pub struct DockerProxy {
    /// The proxy's socket: give `unix://PATH` to the daemon as `docker.host`.
    pub path: PathBuf,
    accept: JoinHandle<()>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl DockerProxy {
    /// Binds `dir/docker-proxy.sock` and forwards every connection to the real Engine (inside a
    /// tokio runtime).
    pub fn try_start(dir: &Path) -> Result<DockerProxy> {
        let path = dir.join("docker-proxy.sock");
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("bind the proxy socket {}", path.display()))?;
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let list = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect(DOCKER_SOCKET).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                list.lock().expect("lock").push(task);
            }
        });
        Ok(DockerProxy {
            path,
            accept,
            conns,
        })
    }

    /// [`DockerProxy::try_start`] for tests.
    pub fn start(dir: &Path) -> DockerProxy {
        ok(DockerProxy::try_start(dir))
    }

    /// The Engine "goes away": no new connections, every open one is cut.
    pub fn cut(&self) {
        self.accept.abort();
        let _ = std::fs::remove_file(&self.path);
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
