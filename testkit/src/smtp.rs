//! A real SMTP server on 127.0.0.1: aiosmtpd (from the test venv, see [`crate::python`]) storing
//! every message it accepts in a maildir. It can be stopped and started again on the same port,
//! to test a relay that is down for a while.

use crate::ok;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server; stopped on drop, its maildir removed with it.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    /// A server on a free port, not started yet (a relay that is down).
    pub fn try_new() -> Result<SmtpServer> {
        Ok(SmtpServer {
            port: crate::try_free_port()?,
            dir: tempfile::tempdir().context("maildir")?,
            child: None,
        })
    }

    /// Starts (or starts again) the server and waits until it accepts connections.
    pub fn try_start(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new(crate::python::try_python()?)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start aiosmtpd")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("aiosmtpd did not listen on 127.0.0.1:{}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// A started server, for tests.
    pub fn start() -> SmtpServer {
        let mut s = ok(SmtpServer::try_new());
        ok(s.try_start());
        s
    }

    /// [`SmtpServer::try_new`] for tests.
    pub fn down() -> SmtpServer {
        ok(SmtpServer::try_new())
    }

    /// [`SmtpServer::try_start`] for tests.
    pub fn up(&mut self) {
        ok(self.try_start());
    }

    /// Stops the server (its messages stay).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message received so far, as raw RFC 5322 text, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir().join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .flatten()
            .filter_map(|e| {
                let modified = e.metadata().and_then(|m| m.modified()).ok()?;
                Some((modified, e.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits up to `secs` for at least `n` messages; returns them.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A received mail as a reader sees it: decoded by Python's `email` package.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    /// `Subject:`.
    pub subject: String,
    /// `To:`.
    pub to: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

/// Decodes a raw message (MIME parts, transfer encodings) with Python's `email` package.
pub fn try_decode(raw: &str) -> Result<Mail> {
    use std::io::Write;
    const SCRIPT: &str = r#"
import email, email.policy, json, sys
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
part = lambda kind: (m.get_body((kind,)) or m).get_content() if m.get_body((kind,)) else ""
print(json.dumps({"subject": str(m["subject"]), "to": str(m["to"]),
                  "text": part("plain"), "html": part("html")}))
"#;
    let mut child = Command::new(crate::python::try_python()?)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start python")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(raw.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("cannot decode: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("decoded mail")
}

/// [`try_decode`] for tests.
pub fn decode(raw: &str) -> Mail {
    ok(try_decode(raw))
}
