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
    /// With [`SmtpServer::start_tls`]: the user and password it requires after STARTTLS.
    login: Option<(String, String)>,
}

/// aiosmtpd requiring STARTTLS (a certificate for `localhost` and 127.0.0.1) and then AUTH.
const TLS_SERVER: &str = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult
port, maildir, cert, key, user, password = sys.argv[1:]
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
def check(server, session, envelope, mechanism, auth):
    ok = auth.login == user.encode() and auth.password == password.encode()
    return AuthResult(success=ok, handled=False)
Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port), tls_context=tls,
           require_starttls=True, auth_required=True, authenticator=check).start()
while True:
    time.sleep(3600)
"#;

impl SmtpServer {
    /// A server on a free port, not started yet (a relay that is down).
    pub fn try_new() -> Result<SmtpServer> {
        Ok(SmtpServer {
            port: crate::try_free_port()?,
            dir: tempfile::tempdir().context("maildir")?,
            child: None,
            login: None,
        })
    }

    /// A started server that requires STARTTLS, then AUTH as `user` with `password`; its
    /// certificate (for `localhost` and 127.0.0.1) is [`SmtpServer::cert`], for the client to
    /// trust. Mail from anyone else is refused.
    pub fn try_start_tls(user: &str, password: &str) -> Result<SmtpServer> {
        let mut s = SmtpServer::try_new()?;
        let (cert, key) = (s.cert(), s.dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("openssl (Debian package openssl)")?;
        if !made.success() {
            bail!("openssl could not make a test certificate");
        }
        s.login = Some((user.into(), password.into()));
        s.try_start()?;
        Ok(s)
    }

    /// [`SmtpServer::try_start_tls`] for tests.
    pub fn start_tls(user: &str, password: &str) -> SmtpServer {
        ok(SmtpServer::try_start_tls(user, password))
    }

    /// The certificate a [`SmtpServer::start_tls`] server presents.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// Starts (or starts again) the server and waits until it accepts connections.
    pub fn try_start(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let mut cmd = Command::new(crate::python::try_python()?);
        match &self.login {
            None => cmd
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{}", self.port))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(self.maildir()),
            Some((user, password)) => cmd
                .args(["-c", TLS_SERVER, &self.port.to_string()])
                .arg(self.maildir())
                .arg(self.cert())
                .arg(self.dir.path().join("key.pem"))
                .args([user, password]),
        };
        let child = cmd
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
