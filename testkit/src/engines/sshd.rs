//! OpenSSH's sshd on an Engine's namespace address, port 22, accepting one fresh client key
//! whose `authorized_keys` entry sets `DOCKER_HOST` to that Engine's socket, so that
//! `ssh … docker system dial-stdio` reaches this Engine and no other.

use super::command::run;
use super::netns::Netns;
use anyhow::{Context, Result, anyhow, bail};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// sshd in the namespace; killed by [`EngineSshd::stop`].
#[derive(Debug)]
pub struct EngineSshd {
    child: Option<Child>,
    /// The client's private key.
    pub key: PathBuf,
    /// A known_hosts file holding the host key for the namespace's address.
    pub known_hosts: PathBuf,
    /// `USER@IP`.
    pub destination: String,
    dir: PathBuf,
}

/// `ssh-keygen` of an unencrypted ed25519 pair at `path` / `path.pub`.
fn keygen(path: &Path) -> Result<()> {
    run(Command::new("/usr/bin/ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "microci-test", "-f"])
        .arg(path))
    .map(drop)
    .context("ssh-keygen (Debian package openssh-client)")
}

/// The `TYPE KEY` part of a public key file.
fn public_key(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut f = text.split_whitespace();
    match (f.next(), f.next()) {
        (Some(kind), Some(key)) => Ok(format!("{kind} {key}")),
        _ => Err(anyhow!("{} is not a public key", path.display())),
    }
}

impl EngineSshd {
    /// Makes the keys and config in `dir`, starts `/usr/sbin/sshd -D -e -f CONFIG` in `netns`
    /// and waits until it accepts connections on `IP:22`.
    pub fn start(dir: &Path, netns: &Netns, docker_socket: &Path) -> Result<EngineSshd> {
        if !Path::new("/usr/sbin/sshd").exists() {
            bail!("/usr/sbin/sshd not found: apt-get install -y openssh-server");
        }
        std::fs::create_dir_all(dir)?;
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let (host_key, key) = (dir.join("host_key"), dir.join("client_key"));
        keygen(&host_key)?;
        keygen(&key)?;
        let user = run(Command::new("id").arg("-un"))?;
        std::fs::write(
            dir.join("authorized_keys"),
            format!(
                "environment=\"DOCKER_HOST=unix://{}\" {}\n",
                docker_socket.display(),
                public_key(&dir.join("client_key.pub"))?
            ),
        )?;
        let known_hosts = dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("{} {}\n", netns.ip, public_key(&dir.join("host_key.pub"))?),
        )?;
        let d = dir.display();
        let config = format!(
            "ListenAddress {ip}:22\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitUserEnvironment yes\nStrictModes no\n\
             UsePAM no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             AllowStreamLocalForwarding yes\nAllowTcpForwarding yes\nLogLevel VERBOSE\n",
            ip = netns.ip
        );
        std::fs::write(dir.join("sshd_config"), config)?;
        let log = std::fs::File::create(dir.join("sshd.log"))?;
        let child = netns
            .command("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning sshd")?;
        let mut sshd = EngineSshd {
            child: Some(child),
            key,
            known_hosts,
            destination: format!("{user}@{}", netns.ip),
            dir: dir.to_path_buf(),
        };
        let addr = SocketAddr::from((netns.ip, 22));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return Ok(sshd);
            }
            if sshd.pid().is_none() {
                bail!("sshd exited at start: {}", sshd.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("sshd did not listen on {addr} within 15 s: {}", sshd.log())
    }

    /// sshd's pid, while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        let child = self.child.as_mut()?;
        matches!(child.try_wait(), Ok(None)).then(|| child.id())
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Kills sshd (by its pid) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EngineSshd {
    fn drop(&mut self) {
        self.stop();
    }
}
