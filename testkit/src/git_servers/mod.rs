//! Real git servers on 127.0.0.1: `git daemon`, smart HTTP (nginx + fcgiwrap + git-http-backend
//! with basic auth) and OpenSSH's sshd with a deploy key; plus throw-away repositories made with
//! the `git` CLI. Every server is killed and its temporary directory removed on drop. A missing
//! server binary is an error naming the Debian package to install: tests must never pass by
//! skipping.

mod git_daemon;
mod http_git;
mod sshd;
mod test_repo;

pub use git_daemon::GitDaemon;
pub use http_git::HttpGit;
pub use sshd::{Sshd, keygen, try_keygen};
pub use test_repo::{TestRepo, make_repo, try_make_repo};

use crate::ok;
use anyhow::{Context, Result, bail, ensure};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// An error unless `path` exists, naming the Debian package that provides it.
pub fn try_require(path: &str, package: &str) -> Result<()> {
    ensure!(
        Path::new(path).exists(),
        "{path} not found: install the Debian package `{package}` (apt-get install -y {package})"
    );
    Ok(())
}

/// [`try_require`] for tests.
pub fn require(path: &str, package: &str) {
    ok(try_require(path, package))
}

/// Runs `git ARGS` in `dir` (no system or user config); returns trimmed stdout, or an error with
/// git's stderr.
pub fn try_git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .context("running git (Debian package `git`)")?;
    ensure!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// [`try_git`] for tests.
pub fn git(dir: &Path, args: &[&str]) -> String {
    ok(try_git(dir, args))
}

/// Runs a command to its end; its trimmed stdout, or an error with its stderr.
fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Waits until 127.0.0.1:`port` accepts connections; an error with the child's state after 15 s.
fn wait_port(port: u16, child: &mut Child, what: &str) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 15 s")
}

/// A server's process, killed when dropped (also when its start fails half-way).
struct Server(Option<Child>);

impl Server {
    /// Takes `child` and waits until it accepts connections on 127.0.0.1:`port`.
    fn listening(child: Child, port: u16, what: &str) -> Result<Server> {
        let mut server = Server(Some(child));
        if let Some(child) = server.0.as_mut() {
            wait_port(port, child, what)?;
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
