//! One `dockerd` inside a network namespace, with roots, sockets, config file and containerd
//! namespace of its own, so that it shares nothing with the host's Engine: started, killed
//! (SIGKILL, as a crash), started again on the same roots, stopped.

use super::cleanup::{alive, signal, wait_dead};
use super::netns::Netns;
use super::tls::TlsFiles;
use anyhow::{Context, Result, bail};
use rustix::process::Signal;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The TCP port of the TLS listener.
pub const TLS_PORT: u16 = 2376;

/// How long dockerd may take to answer `/_ping` after it is spawned.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The files and flags of one dockerd, kept so that it can be started again identically.
#[derive(Debug)]
pub struct Dockerd {
    /// The Engine's directory (`BASE_DIR/<pid>-<n>`).
    dir: PathBuf,
    /// The command line after `dockerd`.
    args: Vec<String>,
    /// The running process, if any.
    child: Option<Child>,
}

impl Dockerd {
    /// The command line for an Engine in `dir`, inside `netns`.
    pub fn new(dir: &Path, netns: &Netns, live_restore: bool, tls: Option<&TlsFiles>) -> Dockerd {
        let p = |name: &str| dir.join(name).to_string_lossy().to_string();
        let mut args = vec![
            // The host's /etc/docker/daemon.json names its own data-root and storage driver.
            format!("--config-file={}", p("daemon.json")),
            format!("--data-root={}", p("data")),
            format!("--exec-root={}", p("exec")),
            format!("--pidfile={}", p("docker.pid")),
            format!("--host=unix://{}", p("docker.sock")),
            "--storage-driver=vfs".into(),
            // dockerd starts a containerd of its own under --exec-root unless the system's
            // /run/containerd/containerd.sock exists; should it appear, these keep this Engine's
            // containers out of the host Engine's namespace `moby`.
            format!("--containerd-namespace={}", netns.name),
            format!("--containerd-plugins-namespace={}-plugins", netns.name),
        ];
        // Its containers' cgroups under a parent named after the namespace, not the host
        // Engine's `/docker`: found by name and removed after a crash (cleanup::remove_cgroups).
        args.push(format!("--cgroup-parent=/{}", netns.name));
        if live_restore {
            args.push("--live-restore".into());
        }
        if let Some(tls) = tls {
            args.extend([
                format!("--host=tcp://{}:{TLS_PORT}", netns.ip),
                "--tlsverify".into(),
                format!("--tlscacert={}", tls.ca.display()),
                format!("--tlscert={}", tls.server_cert.display()),
                format!("--tlskey={}", tls.server_key.display()),
            ]);
        }
        Dockerd {
            dir: dir.to_path_buf(),
            args,
            child: None,
        }
    }

    /// Its Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// dockerd's pid, while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// The pid of its managed containerd, from the pid file dockerd writes, if alive.
    pub fn containerd_pid(&self) -> Option<u32> {
        let path = self.dir.join("exec/containerd/containerd.pid");
        let pid = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }

    /// Spawns dockerd in `netns` (log appended to `dockerd.log`) and waits until it answers
    /// `/_ping` on its socket.
    pub fn start(&mut self, netns: &Netns) -> Result<()> {
        if self.pid().is_some() {
            bail!("dockerd of {} is already running", netns.name);
        }
        // After a SIGKILL the pid files name dead processes (or zombies nobody reaped, which
        // dockerd would take for live ones); the processes are gone, so the files can go.
        let _ = std::fs::remove_file(self.dir.join("docker.pid"));
        if self.containerd_pid().is_none() {
            let _ = std::fs::remove_file(self.dir.join("exec/containerd/containerd.pid"));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .context("opening dockerd.log")?;
        let child = netns
            .command("/usr/sbin/dockerd")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("dockerd.log")?)
            .stderr(log)
            .spawn()
            .context("spawning dockerd (Debian package docker.io)")?;
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < READY_WITHIN {
            if ping(&self.socket()) {
                return Ok(());
            }
            if self.pid().is_none() {
                bail!("dockerd exited at start; its log:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!(
            "dockerd did not answer /_ping within {READY_WITHIN:?}; its log:\n{}",
            self.log_tail()
        )
    }

    /// SIGKILL, as a crash: its containerd dies with it, the containers' shims (and so, with
    /// --live-restore, the containers) do not.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The managed containerd gets SIGKILL when dockerd dies; wait for that.
        if let Some(pid) = self.containerd_pid() {
            wait_dead(&[pid], Duration::from_secs(5));
        }
    }

    /// SIGTERM and wait up to 20 s (then SIGKILL): dockerd stops its containerd; with
    /// --live-restore its containers keep running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if !matches!(child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        if let Some(pid) = self.containerd_pid() {
            wait_dead(&[pid], Duration::from_secs(5));
        }
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Whether the Engine behind `socket` answers `GET /_ping` with 200 within a second.
pub fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")
}
