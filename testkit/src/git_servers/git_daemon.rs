//! `git daemon` serving every repository under a base directory over git://.

use super::{Server, run};
use crate::{ok, try_free_port};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// `git daemon --export-all` on 127.0.0.1, killed on drop.
pub struct GitDaemon {
    _server: Server,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl GitDaemon {
    /// Starts `git daemon --export-all` on a free port and waits until it accepts connections.
    pub fn try_start(base_dir: &Path) -> Result<GitDaemon> {
        let port = try_free_port()?;
        // Run git-daemon itself, not through the `git` wrapper, so that killing the child kills
        // the server.
        let exec_path = run(Command::new("git").arg("--exec-path"))?;
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--reuseaddr",
                &format!("--base-path={}", base_dir.display()),
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
            ])
            .arg(base_dir)
            .stdin(Stdio::null())
            .spawn()
            .context("spawning git daemon (Debian package `git`)")?;
        let server = Server::listening(child, port, "git daemon")?;
        Ok(GitDaemon {
            _server: server,
            port,
        })
    }

    /// [`GitDaemon::try_start`] for tests.
    pub fn start(base_dir: &Path) -> GitDaemon {
        ok(GitDaemon::try_start(base_dir))
    }

    /// `git://127.0.0.1:PORT/<name>.git`
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}
