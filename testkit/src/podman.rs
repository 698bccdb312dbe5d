//! A real Podman (Debian's `podman`) serving its Docker-compatible API on a socket of its own, for
//! the tests that run microci's jobs on it: rootful inside a network namespace of its own, or
//! rootless as an unprivileged user. Storage, configuration, networks and runtime files all live
//! in one temp dir, so nothing is shared with the host's Docker Engine or another Podman; the test
//! image is imported into it; on drop its containers are removed and every process it started
//! (found by that temp dir's path in their command line) is ended by PID.

use crate::ok;
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user rootless Podman runs as (created by `scripts/test-deps.sh`, with subordinate ids).
pub const ROOTLESS_USER: &str = "mcipodman";

/// One `podman system service` and the temp dir holding everything of it.
pub struct Podman {
    /// Config, storage, runtime files and the socket (kept short: sun_path holds 108 bytes).
    dir: PathBuf,
    /// The API socket.
    socket: PathBuf,
    /// The service process.
    child: Option<Child>,
    /// The network namespace a rootful service runs in (deleted on drop).
    netns: Option<String>,
    /// The rootless runtime dir (`XDG_RUNTIME_DIR`, under `/run`: Podman's rootless network
    /// namespace refuses one elsewhere), removed on drop.
    runtime: Option<PathBuf>,
}

impl Podman {
    /// Rootful Podman inside a new network namespace (its bridges and firewall rules stay there).
    pub fn try_rootful() -> Result<Podman> {
        let dir = make_dir()?;
        let name = format!(
            "mcipm-{}",
            dir.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
                .trim_start_matches("mpm")
        );
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let mut p = Podman {
            socket: dir.join("p.sock"),
            dir,
            child: None,
            netns: Some(name.clone()),
            runtime: None,
        };
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]))?;
        p.write_config(true)?;
        // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup hierarchy.
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{name}")).arg("podman");
        p.spawn(cmd)?;
        Ok(p)
    }

    /// Rootless Podman as [`ROOTLESS_USER`].
    pub fn try_rootless() -> Result<Podman> {
        let (uid, gid) = user_ids(ROOTLESS_USER)?;
        let dir = make_dir()?;
        let runtime = PathBuf::from("/run").join(dir.file_name().context("temp dir name")?);
        std::fs::create_dir(&runtime).context("the rootless runtime dir")?;
        let mut p = Podman {
            socket: dir.join("p.sock"),
            dir,
            child: None,
            netns: None,
            runtime: Some(runtime.clone()),
        };
        p.write_config(false)?;
        for path in [&p.dir, &runtime] {
            run(Command::new("chown").arg(format!("{uid}:{gid}")).arg(path))?;
        }
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&p.dir))?;
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            .arg("podman")
            .env("HOME", &p.dir)
            .env("USER", ROOTLESS_USER)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME");
        p.spawn(cmd)?;
        Ok(p)
    }

    /// [`Podman::try_rootful`] for tests.
    pub fn rootful() -> Podman {
        ok(Podman::try_rootful())
    }

    /// [`Podman::try_rootless`] for tests.
    pub fn rootless() -> Podman {
        ok(Podman::try_rootless())
    }

    /// `unix:///…/p.sock`: the daemon's `docker.host`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs the Docker CLI against this Podman (it speaks the same API).
    pub fn try_docker(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("run docker")?;
        ensure!(
            out.status.success(),
            "docker {args:?} on Podman: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// [`Podman::try_docker`] for tests.
    pub fn docker(&self, args: &[&str]) -> String {
        ok(self.try_docker(args))
    }

    /// Containers on this Podman, running or not, that carry `label` (`KEY=VALUE`).
    pub fn containers(&self, label: &str) -> Vec<String> {
        self.docker(&["ps", "-aq", "--filter", &format!("label={label}")])
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The service's own log (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }

    /// containers.conf and storage.conf in the temp dir: vfs storage, cgroupfs (no systemd
    /// here), events to a file, networks in a directory of its own, and the rlimits this
    /// process may grant (Podman asks for more than a sandbox's hard limits by default, and its
    /// OCI runtime then refuses to start anything).
    fn write_config(&self, rootful: bool) -> Result<()> {
        let d = self.dir.display();
        let nofile = hard_limit("Max open files").unwrap_or(1024);
        // Podman lowers its own process limit to 32768 at start.
        let nproc = hard_limit("Max processes").unwrap_or(4096).min(32768);
        // Rootful only: a rootless tmp_dir outside XDG_RUNTIME_DIR breaks its network namespace.
        let tmp = if rootful {
            format!("tmp_dir = \"{d}/tmp\"\n")
        } else {
            String::new()
        };
        let conf = format!(
            "[containers]\n\
             default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
             log_driver = \"k8s-file\"\n\
             [network]\n\
             network_backend = \"netavark\"\n\
             network_config_dir = \"{d}/net\"\n\
             default_subnet = \"10.213.200.0/24\"\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{d}/events.log\"\n\
             static_dir = \"{d}/root/libpod\"\n\
             volume_path = \"{d}/root/volumes\"\n{tmp}"
        );
        std::fs::write(self.dir.join("containers.conf"), conf).context("containers.conf")?;
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/run\"\n"
        );
        std::fs::write(self.dir.join("storage.conf"), storage).context("storage.conf")?;
        Ok(())
    }

    /// Starts `cmd` (ending in `podman`) as the API service and waits until it answers, then
    /// imports the test images.
    fn spawn(&mut self, mut cmd: Command) -> Result<()> {
        let log = std::fs::File::create(self.dir.join("service.log")).context("service log")?;
        cmd.args(["system", "service", "--time=0"])
            .arg(self.host())
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("log fd")?)
            .stderr(log);
        self.child = Some(cmd.spawn().context("start podman system service")?);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.try_docker(&["version"]).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                bail!("podman exited early ({status}):\n{}", self.log());
            }
            ensure!(
                Instant::now() < deadline,
                "podman did not answer:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The test images, built from the same busybox as the host's (no registry here).
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-image.sh");
        let out = Command::new("bash")
            .arg(script)
            .env("DOCKER_HOST", self.host())
            .output()
            .context("scripts/test-image.sh")?;
        ensure!(
            out.status.success(),
            "scripts/test-image.sh on Podman: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- podman log ----\n{}", self.log());
        }
        if let Ok(ids) = self.try_docker(&["ps", "-aq"]) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.try_docker(&args);
            }
        }
        if let Some(child) = self.child.take() {
            crate::daemon::terminate(child);
        }
        // What the service started and left (conmon, slirp4netns, the rootless pause process):
        // found by this temp dir or runtime dir in its command line or environment.
        let mut marks = vec![self.dir.display().to_string()];
        if let Some(r) = &self.runtime {
            marks.push(r.display().to_string());
        }
        for pid in processes_mentioning(&marks) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        if let Some(name) = &self.netns {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
        if let Some(r) = &self.runtime {
            let _ = std::fs::remove_dir_all(r);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new temp dir `/tmp/mpmXXXXXX`, searchable by others (the rootless user owns it later).
fn make_dir() -> Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix("mpm")
        .tempdir_in("/tmp")
        .context("temp dir for podman")?;
    Ok(dir.keep())
}

/// Runs `cmd` to its end, failing with its stderr unless it succeeds.
fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `user`'s uid and gid, or an error saying how to create it.
fn user_ids(user: &str) -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id")
            .arg(flag)
            .arg(user)
            .output()
            .context("id")?;
        ensure!(
            out.status.success(),
            "user {user} is missing: run scripts/test-deps.sh as root (it creates it with subordinate ids)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("id's answer")
    };
    Ok((id("-u")?, id("-g")?))
}

/// This process's hard limit named `name` in /proc/self/limits (`None` when unlimited).
fn hard_limit(name: &str) -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().nth(1)?.parse().ok()
}

/// PIDs (not this process's) whose command line or environment contains one of `marks`.
fn processes_mentioning(marks: &[String]) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            ["cmdline", "environ"].iter().any(|f| {
                let path = Path::new("/proc").join(pid.to_string()).join(f);
                std::fs::read(path).is_ok_and(|b| {
                    let text = String::from_utf8_lossy(&b);
                    marks.iter().any(|m| text.contains(m.as_str()))
                })
            })
        })
        .collect()
}
