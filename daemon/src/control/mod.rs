//! The control socket: the administration interface `microci-tui` speaks (see
//! `proto/PROTOCOL.md`). Listening, socket-file safety and connection accounting live here; one
//! connection's conversation lives in `conn`, log following in `follow`.

mod conn;
mod follow;
mod handlers;
mod reply;

use crate::jobs::Jobs;
use crate::runner::Engine;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The directory for the socket does not exist.
    #[error("control socket directory {0} does not exist (create it, or set control.socket)")]
    NoDirectory(PathBuf),
    /// Something that is not a socket is in the way; never deleted.
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// Another daemon answers on the socket.
    #[error("another microcid is already listening on {0}")]
    InUse(PathBuf),
    /// Bind, chmod or chown failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound control socket; removes its file on drop if this process created it.
pub struct ControlSocket {
    listener: UnixListener,
    created: Option<PathBuf>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if let Some(path) = &self.created {
            // Only our own socket: if someone replaced it with another file type, leave it.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl ControlSocket {
    /// Uses a socket passed by systemd.
    pub fn from_listener(
        listener: std::os::unix::net::UnixListener,
    ) -> Result<ControlSocket, std::io::Error> {
        listener.set_nonblocking(true)?;
        Ok(ControlSocket {
            listener: UnixListener::from_std(listener)?,
            created: None,
        })
    }

    /// Binds `path` with mode 0660 and group `group` (when that group exists). A stale socket
    /// left by a crash is replaced; a live one (another daemon) or a non-socket file is an error.
    pub fn bind(path: &Path, group: &str) -> Result<ControlSocket, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(ControlError::NoDirectory(dir.to_path_buf()));
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(ControlError::InUse(path.to_path_buf()));
                }
                tracing::info!("replacing stale control socket {}", path.display());
                std::fs::remove_file(path).map_err(io)?;
            }
            Ok(_) => return Err(ControlError::NotASocket(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        // Bind under a tight umask so the socket is never briefly open to everyone.
        let listener =
            crate::systemd::with_umask(0o117, || UnixListener::bind(path)).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
        match crate::systemd::group_id(group) {
            Some(gid) => std::os::unix::fs::chown(path, None, Some(gid)).map_err(io)?,
            None => tracing::warn!(
                "group {group:?} does not exist; the control socket is usable by its owner only"
            ),
        }
        Ok(ControlSocket {
            listener,
            created: Some(path.to_path_buf()),
        })
    }

    /// Serves connections until `shutdown`; each connection is independent, so a broken client
    /// affects only itself.
    pub async fn serve<E: Engine>(self, jobs: Arc<Jobs<E>>, shutdown: CancellationToken) {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        conns.spawn(conn::serve(stream, jobs.clone(), shutdown.clone()));
                    }
                    Err(e) => {
                        tracing::warn!("control socket accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.abort_all();
    }
}
