//! `--ssh [user@]host`: reach a remote daemon's control socket through OpenSSH's Unix-socket
//! forwarding (`ssh -N -L LOCAL:REMOTE host`, OpenSSH ≥ 6.7). Nothing beyond sshd is needed on
//! the server, and the daemon's own access rule (the `microci` group on the socket) still
//! decides, for the user ssh logs in as.
//!
//! The local end is a socket in a fresh private directory (mode 0700) under `$XDG_RUNTIME_DIR`
//! or `/tmp`; ssh is a child that is killed, and the directory removed, when the tunnel drops.
//! `MICROCI_SSH_COMMAND` (e.g. `ssh -p 2222 -i ~/.ssh/ci`) replaces `ssh`; it is split on
//! whitespace, never given to a shell.
//!
//! ssh's stderr is a pipe: until the forward is up its lines are copied to ours (so a refused
//! key or an unknown host is explained before the UI starts); after that they are kept out of
//! the terminal, where the UI owns the screen — ssh complains on stderr each time a forwarded
//! connection fails (e.g. while the daemon restarts), which would scroll the UI's screen.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long ssh may take (including a password or host-key prompt) to open the forward.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the tunnel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// `MICROCI_SSH_COMMAND` is empty or the target is malformed.
    #[error("{0}")]
    Invalid(String),
    /// ssh could not be started or the local directory not made.
    #[error("cannot start {program}: {error}")]
    Spawn {
        /// The program tried.
        program: String,
        /// Why.
        error: io::Error,
    },
    /// ssh ended before the forward was up.
    #[error("ssh to {target} ended ({status}) before forwarding {remote}; see its message above")]
    Exited {
        /// `[user@]host`.
        target: String,
        /// The remote socket path.
        remote: String,
        /// ssh's exit status.
        status: std::process::ExitStatus,
    },
    /// The forward did not appear in time.
    #[error("ssh to {target} did not open the forward within {}s", SETUP_TIMEOUT.as_secs())]
    Timeout {
        /// `[user@]host`.
        target: String,
    },
}

/// A running `ssh -L` forward; the local socket is at [`SshTunnel::local`].
#[derive(Debug)]
pub struct SshTunnel {
    child: Child,
    dir: PathBuf,
    local: PathBuf,
}

/// The ssh argv: the command (from `MICROCI_SSH_COMMAND` or `ssh`), then the forward.
pub fn ssh_argv(
    ssh_command: Option<&str>,
    target: &str,
    local: &Path,
    remote: &str,
) -> Result<Vec<String>, SshError> {
    if target.is_empty() || target.starts_with('-') || target.contains(char::is_whitespace) {
        return Err(SshError::Invalid(format!(
            "--ssh wants [user@]host, not {target:?}"
        )));
    }
    let mut argv: Vec<String> = ssh_command
        .unwrap_or("ssh")
        .split_whitespace()
        .map(String::from)
        .collect();
    if argv.is_empty() {
        return Err(SshError::Invalid("MICROCI_SSH_COMMAND is empty".into()));
    }
    argv.extend(
        [
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "StreamLocalBindUnlink=yes",
            "-L",
        ]
        .map(String::from),
    );
    argv.push(format!("{}:{remote}", local.display()));
    argv.push("--".into());
    argv.push(target.into());
    Ok(argv)
}

impl SshTunnel {
    /// Starts ssh and waits until the local socket exists. ssh's own messages reach the
    /// terminal until then, unless `quiet` (the UI is drawing on it).
    pub async fn start(
        target: &str,
        remote: &str,
        ssh_command: Option<&str>,
        quiet: bool,
    ) -> Result<SshTunnel, SshError> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir() && p.as_os_str().len() < 60)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("microci-tui-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|error| SshError::Spawn {
                program: format!("a private directory at {}", dir.display()),
                error,
            })?;
        let local = dir.join("control.sock");
        let argv = match ssh_argv(ssh_command, target, &local, remote) {
            Ok(a) => a,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e);
            }
        };
        let spawned = Command::new(&argv[0])
            .args(&argv[1..])
            // Prompts use /dev/tty; stdin stays with the UI.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(error) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(SshError::Spawn {
                    program: argv[0].clone(),
                    error,
                });
            }
        };
        let mut child = child;
        let quiet = Arc::new(AtomicBool::new(quiet));
        if let Some(stderr) = child.stderr.take() {
            let quiet = quiet.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !quiet.load(Ordering::Relaxed) {
                        eprintln!("{line}");
                    }
                }
            });
        }
        let mut tunnel = SshTunnel { child, dir, local };
        let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
        loop {
            if tunnel.local.exists() {
                quiet.store(true, Ordering::Relaxed);
                return Ok(tunnel);
            }
            if let Ok(Some(status)) = tunnel.child.try_wait() {
                // Let its last words reach the terminal before ours.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(SshError::Exited {
                    target: target.into(),
                    remote: remote.into(),
                    status,
                });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(SshError::Timeout {
                    target: target.into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The local end of the forward.
    pub fn local(&self) -> &Path {
        &self.local
    }

    /// Whether ssh has exited (the forward is gone and must be started again).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Reap it before going on: the program may exit right after, and ssh must be gone by
        // then, not still shutting down (a few milliseconds at most after SIGKILL).
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = std::fs::remove_file(&self.local);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_forwards_the_socket_without_a_shell() {
        let argv = ssh_argv(
            Some("ssh -p 2222"),
            "ops@ci.example",
            Path::new("/tmp/d/control.sock"),
            "/run/microci/control.sock",
        )
        .unwrap();
        assert_eq!(
            argv.join(" "),
            "ssh -p 2222 -N -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes \
             -L /tmp/d/control.sock:/run/microci/control.sock -- ops@ci.example"
        );
        assert!(ssh_argv(None, "-oProxyCommand=x", Path::new("/l"), "/r").is_err());
        assert!(ssh_argv(Some("  "), "h", Path::new("/l"), "/r").is_err());
    }

    #[tokio::test]
    async fn ssh_failing_early_is_reported() {
        // `false` stands in for an ssh that cannot log in.
        let e = SshTunnel::start("host", "/r", Some("false"), false)
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("ssh to host ended"), "{e}");
    }
}
