//! OpenSSH's sshd on 127.0.0.1 with its own config and host key, accepting one fresh deploy key:
//! for clones over SSH and for the TUI's socket forwarding.

use super::{Server, run, try_require};
use crate::{ok, try_free_port};
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// Generates an unencrypted key pair at `path` / `path.pub` (`kind`: "ed25519", "rsa", "ecdsa").
pub fn try_keygen(path: &Path, kind: &str) -> Result<()> {
    try_require("/usr/bin/ssh-keygen", "openssh-client")?;
    let mut cmd = Command::new("/usr/bin/ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", "microci-test", "-f"])
        .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    run(&mut cmd).map(drop)
}

/// [`try_keygen`] for tests.
pub fn keygen(path: &Path, kind: &str) {
    ok(try_keygen(path, kind))
}

/// sshd accepting one deploy key for the current user, killed on drop.
pub struct Sshd {
    _server: Server,
    dir: TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The login name (the current user).
    pub user: String,
    base: PathBuf,
}

impl Sshd {
    /// Starts `sshd -D -e` with an ed25519 deploy key; waits until it listens.
    pub fn try_start(base_dir: &Path) -> Result<Sshd> {
        Self::try_start_with_key_type(base_dir, "ed25519")
    }

    /// [`Sshd::try_start`] for tests.
    pub fn start(base_dir: &Path) -> Sshd {
        ok(Sshd::try_start(base_dir))
    }

    /// Like [`Sshd::try_start`] with a deploy key of the given type.
    pub fn try_start_with_key_type(base_dir: &Path, kind: &str) -> Result<Sshd> {
        try_require("/usr/sbin/sshd", "openssh-server")?;
        let dir = tempfile::tempdir().context("temp dir for sshd")?;
        let d = dir.path();
        try_keygen(&d.join("host_key"), "ed25519")?;
        try_keygen(&d.join("deploy_key"), kind)?;
        std::fs::copy(d.join("deploy_key.pub"), d.join("authorized_keys"))
            .context("authorized_keys")?;
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let user = run(Command::new("id").arg("-un"))?;
        let port = try_free_port()?;
        let conf = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             AllowStreamLocalForwarding yes\nAllowTcpForwarding yes\nStreamLocalBindUnlink yes\n\
             LogLevel VERBOSE\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), conf).context("sshd_config")?;
        let log = std::fs::File::create(d.join("sshd.log")).context("sshd.log")?;
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawning sshd")?;
        let server = Server::listening(child, port, "sshd")?;
        Ok(Sshd {
            _server: server,
            dir,
            port,
            user,
            base: base_dir.to_path_buf(),
        })
    }

    /// [`Sshd::try_start_with_key_type`] for tests.
    pub fn start_with_key_type(base_dir: &Path, kind: &str) -> Sshd {
        ok(Sshd::try_start_with_key_type(base_dir, kind))
    }

    /// `ssh://USER@127.0.0.1:PORT/<absolute base_dir>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{name}.git",
            self.user,
            self.port,
            self.base.display()
        )
    }

    /// The authorised deploy key (private half).
    pub fn deploy_key(&self) -> PathBuf {
        self.dir.path().join("deploy_key")
    }

    /// A known_hosts line for this server (`[127.0.0.1]:PORT <host key>`).
    pub fn try_known_hosts_line(&self) -> Result<String> {
        let path = self.dir.path().join("host_key.pub");
        let pubkey = std::fs::read_to_string(&path).context("read the host key")?;
        let mut f = pubkey.split_whitespace();
        let (Some(kind), Some(key)) = (f.next(), f.next()) else {
            return Err(anyhow!("{} is not a public key: {pubkey}", path.display()));
        };
        Ok(format!("[127.0.0.1]:{} {kind} {key}\n", self.port))
    }

    /// [`Sshd::try_known_hosts_line`] for tests.
    pub fn known_hosts_line(&self) -> String {
        ok(self.try_known_hosts_line())
    }

    /// sshd's log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}
