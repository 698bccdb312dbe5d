//! Starts the real `microcid` binary in a temp dir with its own config, socket and port, and waits
//! until it serves; stops it, prints its log when a test panics and removes every container it
//! labelled on drop.

mod options;
mod probes;

pub use options::Options;
pub use probes::{
    containers_labelled, greets, healthy, terminate, try_containers_labelled, try_volumes_labelled,
};

use crate::{ok, try_free_port};
use anyhow::{Context, Result, anyhow, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image every test job runs (built by scripts/test-image.sh).
pub const IMAGE: &str = "microci-test/busybox:latest";
/// Label key the tests put on every job container of their daemons, for clean-up.
pub const TEST_LABEL: &str = "microci-test.daemon";
/// The webhook secret test daemons use (long enough to be accepted).
pub const SECRET: &str = "microci-test-secret-0123456789";

/// One `microcid` process (or none, between [`TestDaemon::stop`] and [`TestDaemon::spawn`]) with
/// its temp dir, config, control socket and port.
pub struct TestDaemon {
    /// The temp dir holding the config, socket, state and log: removed on drop.
    pub dir: tempfile::TempDir,
    /// The control socket.
    pub socket: PathBuf,
    /// The HTTP port on 127.0.0.1.
    pub port: u16,
    /// The config file (to run a second `microcid` on it).
    pub config: PathBuf,
    /// The temp dir's name: the value of this daemon's container label.
    pub tag: String,
    opts: Options,
    child: Option<Child>,
}

impl TestDaemon {
    /// Writes the config, starts the daemon and waits until it serves.
    pub fn try_start(opts: Options) -> Result<TestDaemon> {
        // Short paths: sun_path holds 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("mci")
            .tempdir_in("/tmp")
            .context("temp dir for the daemon")?;
        let tag = dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("mci")
            .to_string();
        let port = try_free_port()?;
        let socket = dir.path().join("c.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, opts.config(dir.path(), port, &socket, &tag))
            .context("write the daemon's config")?;
        if opts.run_as.is_some() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .context("chmod the daemon's temp dir")?;
        }
        let mut d = TestDaemon {
            dir,
            socket,
            port,
            config,
            tag,
            opts,
            child: None,
        };
        d.try_spawn()?;
        Ok(d)
    }

    /// [`TestDaemon::try_start`] for tests.
    pub fn start(opts: Options) -> TestDaemon {
        ok(TestDaemon::try_start(opts))
    }

    /// Starts (or restarts) the process and waits until it serves.
    pub fn try_spawn(&mut self) -> Result<()> {
        self.try_launch()?;
        self.try_wait_serving()
    }

    /// [`TestDaemon::try_spawn`] for tests.
    pub fn spawn(&mut self) {
        ok(self.try_spawn())
    }

    /// Starts the process and returns at once (to time its start from outside).
    pub fn try_launch(&mut self) -> Result<()> {
        ensure!(self.child.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .context("open the daemon's log")?;
        let mut cmd = match self.opts.run_as {
            None => Command::new(&self.opts.microcid),
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--groups=docker")
                    .arg(&self.opts.microcid);
                c
            }
        };
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("the log's fd")?)
            .stderr(log);
        if let Some(filter) = &self.opts.log_filter {
            cmd.env("MICROCI_LOG", filter);
        }
        if let Some(path) = &self.opts.notify_socket {
            cmd.env("NOTIFY_SOCKET", path);
        }
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", self.opts.microcid.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits up to 20 s until the daemon serves, not merely binds: the control socket sends its
    /// hello and `GET /healthz` answers 200.
    pub fn try_wait_serving(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if greets(&self.socket, Duration::from_millis(200)) && healthy(self.port) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                bail!("microcid exited early ({status}):\n{}", self.log());
            }
            ensure!(
                Instant::now() < deadline,
                "microcid did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }

    /// Kills the process without letting it clean up (a crash).
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The daemon's process id (for reading its memory from /proc).
    pub fn try_pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| anyhow!("daemon not running"))
    }

    /// [`TestDaemon::try_pid`] for tests.
    pub fn pid(&self) -> u32 {
        ok(self.try_pid())
    }

    /// Everything the daemon wrote to stdout and stderr, over all its starts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// The daemon's `state_dir` (database, logs, workspaces).
    pub fn state_dir(&self) -> PathBuf {
        self.opts.state_dir(self.dir.path())
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The temp dir (for servers and files a test keeps beside the daemon).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `microci-tui` binary, once it is known to be built.
    pub fn try_tui_bin(&self) -> Result<&Path> {
        let path = &self.opts.tui;
        ensure!(
            path.exists(),
            "{} not built: run `cargo build --workspace --bins` first (scripts/test does)",
            path.display()
        );
        Ok(path)
    }

    /// [`TestDaemon::try_tui_bin`] for tests.
    pub fn tui_bin(&self) -> &Path {
        ok(self.try_tui_bin())
    }

    /// Runs `microci-tui --socket SOCKET ARGS` against this daemon to its end.
    pub fn try_cli(&self, args: &[&str]) -> Result<Output> {
        Command::new(self.try_tui_bin()?)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("run microci-tui")
    }

    /// [`TestDaemon::try_cli`] for tests.
    pub fn cli(&self, args: &[&str]) -> Output {
        ok(self.try_cli(args))
    }

    /// `KEY=TAG`: the label on every container this daemon starts.
    pub fn label(&self) -> String {
        format!("{}={}", self.opts.label, self.tag)
    }

    /// Containers this daemon started that still exist.
    pub fn try_containers(&self) -> Result<Vec<String>> {
        try_containers_labelled(&self.label())
    }

    /// [`TestDaemon::try_containers`] for tests.
    pub fn containers(&self) -> Vec<String> {
        ok(self.try_containers())
    }

    /// Volumes this daemon created (job caches) that still exist.
    pub fn volumes(&self) -> Vec<String> {
        ok(try_volumes_labelled(&self.label()))
    }

    /// Waits (up to a minute) until job `id`'s workspace and every container of this daemon are
    /// gone: a job's end is recorded first and cleaned up right after, so a test that saw the
    /// end must wait for the clean-up. Panics, with the daemon's log, if it never comes.
    pub async fn wait_cleaned(&self, id: i64) {
        let ws = self.state_dir().join("workspaces").join(id.to_string());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = self.containers();
            if !ws.exists() && left.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} left its workspace ({}) or containers {left:?}: {}",
                ws.exists(),
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- microcid log ({}) ----\n{}", self.tag, self.log());
        }
        if let Ok(left) = self.try_containers()
            && !left.is_empty()
        {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&left)
                .output();
        }
        if let Ok(left) = try_volumes_labelled(&self.label())
            && !left.is_empty()
        {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f"])
                .args(&left)
                .output();
        }
    }
}
