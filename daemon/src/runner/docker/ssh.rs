//! `ssh://` engines through the system's `ssh` client: each HTTP connection is one `ssh …
//! docker system dial-stdio` process, its stdin and stdout the connection (what the `docker` CLI
//! does for `DOCKER_HOST=ssh://`).
//!
//! Not bollard's `ssh` feature: it goes through the openssh crate with the user's `~/.ssh`
//! (config, agent, keys) and accepts a host key it has never seen (`accept-new`), so the first
//! connection to an impostor would be trusted and remembered. Here the host key must already be
//! in the configured `known_hosts` (`StrictHostKeyChecking=yes`, no global file, no config file
//! read), only the configured key is offered (`IdentitiesOnly`, no agent), and nothing ever
//! prompts (`BatchMode`). When the connection fails, the last lines `ssh` wrote to stderr
//! ("Host key verification failed.", "Permission denied (publickey).") are the error.

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::{oneshot, watch};

/// How long an unused connection (and its `ssh`) stays for the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `ssh` may take to exit and say why once its output has ended.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// Lines of `ssh`'s stderr kept for the error.
const TAIL_LINES: usize = 4;

/// Where and as whom to log in (from `[[engine]] host`, `ssh_key`, `known_hosts`).
#[derive(Debug, Clone)]
pub(super) struct SshTarget {
    /// `[user@]host`.
    pub destination: String,
    /// When not 22.
    pub port: Option<u16>,
    /// The private key offered, the only one.
    pub key: PathBuf,
    /// The host's key must be listed here.
    pub known_hosts: PathBuf,
}

impl SshTarget {
    /// `ssh`'s arguments; nothing comes from a config file or the agent.
    fn args(&self) -> Vec<std::ffi::OsString> {
        let options = [
            "BatchMode=yes".to_string(),
            "StrictHostKeyChecking=yes".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".into(),
            "IdentitiesOnly=yes".into(),
            "IdentityAgent=none".into(),
            "ConnectTimeout=10".into(),
            // A partition is noticed within 45 s even while a job's output is quiet.
            "ServerAliveInterval=15".into(),
            "ServerAliveCountMax=3".into(),
        ];
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        for o in options {
            args.push("-o".into());
            args.push(o.into());
        }
        args.extend(["-F".into(), "none".into(), "-T".into(), "-i".into()]);
        args.push(self.key.clone().into_os_string());
        if let Some(p) = self.port {
            args.push("-p".into());
            args.push(p.to_string().into());
        }
        args.push("--".into());
        args.push(self.destination.clone().into());
        args.extend(["docker", "system", "dial-stdio"].map(Into::into));
        args
    }
}

/// A client reaching the engine through `ssh` to `target`; nothing runs yet.
pub(super) fn connect(target: SshTarget) -> Result<Docker, String> {
    let connector = SshConnector {
        args: Arc::new(target.args()),
    };
    let client = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector),
    );
    // The host in the URL is never used: every connection is `ssh` to the target.
    let transport = move |request: BollardRequest| {
        let client = Arc::clone(&client);
        async move { Ok(client.request(request).await?) }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some("http://engine"),
        super::connect::REQUEST_TIMEOUT,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())
}

/// Opens connections by starting `ssh`.
#[derive(Clone)]
struct SshConnector {
    args: Arc<Vec<std::ffi::OsString>>,
}

impl tower_service::Service<hyper::Uri> for SshConnector {
    type Response = TokioIo<SshStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let args = Arc::clone(&self.args);
        Box::pin(async move { SshStream::spawn(&args).map(TokioIo::new) })
    }
}

/// One `ssh` process as a byte stream. Dropping it ends the process.
struct SshStream {
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// `Some(None)` once `ssh` exited well, `Some(Some(why))` once it failed.
    exit: watch::Receiver<Option<Option<String>>>,
    /// Waiting for the exit after the output ended.
    ending: Option<Pin<Box<dyn Future<Output = Option<String>> + Send>>>,
    /// Dropped with the stream: the watcher then kills `ssh`.
    _dropped: oneshot::Sender<()>,
}

impl SshStream {
    fn spawn(args: &[std::ffi::OsString]) -> io::Result<SshStream> {
        let mut child = Command::new("ssh")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("ssh started without its pipes"));
        };
        let tail = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut tail = std::collections::VecDeque::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let line: String = line.chars().filter(|c| !c.is_control()).take(300).collect();
                if line.trim().is_empty() {
                    continue;
                }
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.trim().to_string());
            }
            Vec::from(tail).join(" ")
        });
        let (exit_tx, exit) = watch::channel(None);
        let (dropped, dropped_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let exited = tokio::select! {
                status = child.wait() => Some(status),
                _ = dropped_rx => None,
            };
            let status = match exited {
                Some(status) => status,
                None => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let why = match status {
                Ok(s) if s.success() => None,
                Ok(s) => {
                    let said = tokio::time::timeout(EXIT_WAIT, tail)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    let code = s
                        .code()
                        .map_or_else(|| s.to_string(), |c| format!("status {c}"));
                    Some(if said.is_empty() {
                        format!("ssh exited with {code}")
                    } else {
                        format!("ssh exited with {code}: {said}")
                    })
                }
                Err(e) => Some(format!("cannot wait for ssh: {e}")),
            };
            let _ = exit_tx.send(Some(why));
        });
        Ok(SshStream {
            stdin,
            stdout,
            exit,
            ending: None,
            _dropped: dropped,
        })
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ending.is_none() {
            let before = buf.filled().len();
            match Pin::new(&mut this.stdout).poll_read(cx, buf) {
                Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                    // The output ended: ssh is gone or going. Say why when it failed.
                    let mut exit = this.exit.clone();
                    this.ending = Some(Box::pin(async move {
                        match tokio::time::timeout(EXIT_WAIT, exit.wait_for(Option::is_some)).await
                        {
                            Ok(Ok(why)) => why.clone().flatten(),
                            _ => None,
                        }
                    }));
                }
                other => return other,
            }
        }
        match this.ending.as_mut().map(|f| f.as_mut().poll(cx)) {
            Some(Poll::Ready(Some(why))) => Poll::Ready(Err(io::Error::other(why))),
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf) {
            // ssh is gone: the next read says why, better than "broken pipe".
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                Poll::Ready(Ok(buf.len()))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.get_mut().stdin).poll_flush(cx) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => Poll::Ready(Ok(())),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn host_keys_are_pinned_and_nothing_else_is_read() {
        let target = SshTarget {
            destination: "ci@build-1".into(),
            port: Some(2222),
            key: "/etc/microci/engine_key".into(),
            known_hosts: "/etc/microci/engine_hosts".into(),
        };
        let args: Vec<String> = target
            .args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let line = args.join(" ");
        for wanted in [
            "-o BatchMode=yes",
            "-o StrictHostKeyChecking=yes",
            "-o UserKnownHostsFile=/etc/microci/engine_hosts",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o IdentitiesOnly=yes",
            "-F none",
            "-i /etc/microci/engine_key",
            "-p 2222",
        ] {
            assert!(line.contains(wanted), "{wanted} missing from {line}");
        }
        assert!(
            line.ends_with("-- ci@build-1 docker system dial-stdio"),
            "{line}"
        );
    }

    /// A real `ssh` that cannot connect (nothing listens on the port): the stream ends with
    /// ssh's own words, not an empty read.
    #[tokio::test]
    async fn a_failing_ssh_is_an_error_with_its_stderr() {
        use tokio::io::AsyncReadExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("known_hosts"), "").unwrap();
        std::fs::write(dir.path().join("key"), "").unwrap();
        let target = SshTarget {
            destination: "127.0.0.1".into(),
            port: Some(port),
            key: dir.path().join("key"),
            known_hosts: dir.path().join("known_hosts"),
        };
        let mut stream = SshStream::spawn(&target.args()).unwrap();
        let mut out = Vec::new();
        let e = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with("ssh exited with status 255") && e.contains("Connection refused"),
            "{e}"
        );
    }
}
