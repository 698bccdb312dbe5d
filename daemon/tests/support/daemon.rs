//! Starts the real `microcid` binary in a temp dir with its own config, socket and port; stops it
//! and removes every container it labelled on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The image every test job runs (built by scripts/test-image.sh).
pub const IMAGE: &str = "microci-test/busybox:latest";
/// Label the harness puts on every job container of a test daemon, for clean-up.
pub const TEST_LABEL: &str = "microci-test.daemon";
/// The webhook secret test daemons use (long enough to be accepted).
pub const SECRET: &str = "microci-test-secret-0123456789";

/// How to configure one test daemon.
#[derive(Clone)]
pub struct Options {
    pub max_jobs: u32,
    pub secret: String,
    pub timeout: &'static str,
    /// Extra lines for the `[http]`, `[docker]` and `[webhook]` tables.
    pub http: String,
    pub docker: String,
    pub webhook: String,
    /// Extra TOML tables appended to the config (e.g. `[git]`, more `[[repo]]` tables).
    pub extra: String,
    /// Whether `alice/app` has a `[[repo]]` table (most tests push it), and extra lines for it.
    pub listed: bool,
    pub repo: String,
    pub workspace: &'static str,
    /// Clone `alice/app` from here (a `[[repo]] clone_url`), whatever the webhook says.
    pub clone_url: Option<String>,
    /// `docker.host`, when not the local Engine.
    pub docker_host: Option<String>,
    /// Run the daemon as this uid, in the `docker` group (as the packaged service runs).
    pub run_as: Option<u32>,
}

impl Options {
    /// Defaults, with `alice/app` cloned from `repo`.
    pub fn for_repo(repo: &super::repo::Repo) -> Options {
        Options::for_url(&repo.url())
    }

    /// Defaults, with `alice/app` cloned from `url`.
    pub fn for_url(url: &str) -> Options {
        Options {
            clone_url: Some(url.to_string()),
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_jobs: 2,
            secret: SECRET.into(),
            timeout: "5m",
            http: String::new(),
            docker: String::new(),
            webhook: String::new(),
            extra: String::new(),
            listed: true,
            repo: String::new(),
            workspace: "bind",
            clone_url: None,
            docker_host: None,
            run_as: None,
        }
    }
}

pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub port: u16,
    pub config: PathBuf,
    pub tag: String,
    child: Option<Child>,
    run_as: Option<u32>,
}

pub use super::git_servers::free_port;

/// Path of a workspace binary built next to the test binary's own package binaries.
pub fn bin(name: &str) -> PathBuf {
    let microcid = PathBuf::from(env!("CARGO_BIN_EXE_microcid"));
    let path = microcid.with_file_name(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

impl TestDaemon {
    pub fn start(opts: Options) -> TestDaemon {
        // Short paths: sun_path holds 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("mci")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let tag = dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("mci")
            .to_string();
        let port = free_port();
        let mut extra = opts.extra.clone();
        if opts.listed {
            extra.push_str("[[repo]]\nname = \"alice/app\"\n");
            if let Some(url) = &opts.clone_url {
                extra.push_str(&format!("clone_url = \"{url}\"\n"));
            }
            extra.push_str(&opts.repo);
        }
        let socket = dir.path().join("c.sock");
        let config = dir.path().join("config.toml");
        let text = format!(
            "state_dir = \"{state}\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\nmax_body = 262144\n{http}\
             [control]\nsocket = \"{sock}\"\n\
             [docker]\nmax_jobs = {max}\ndefault_image = \"{IMAGE}\"\ntimeout = \"{timeout}\"\n\
             stop_grace = \"1s\"\nmemory = \"256m\"\npids = 256\nworkspace = \"{ws}\"\n\
             labels = {{ \"{TEST_LABEL}\" = \"{tag}\" }}\n{host}{docker}\
             [webhook]\nsecret = \"{secret}\"\n{webhook}{extra}\n",
            http = opts.http,
            docker = opts.docker,
            webhook = opts.webhook,
            state = dir.path().join("state").display(),
            sock = socket.display(),
            max = opts.max_jobs,
            timeout = opts.timeout,
            ws = opts.workspace,
            secret = opts.secret,
            extra = extra,
            host = opts
                .docker_host
                .as_ref()
                .map(|h| format!("host = \"{h}\"\n"))
                .unwrap_or_default(),
        );
        std::fs::write(&config, text).expect("write config");
        if opts.run_as.is_some() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod temp dir");
        }
        let mut d = TestDaemon {
            dir,
            socket,
            port,
            config,
            tag,
            child: None,
            run_as: opts.run_as,
        };
        d.spawn();
        d
    }

    /// Starts (or restarts) the process and waits until both listeners answer.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        let mut cmd = match self.run_as {
            None => Command::new(env!("CARGO_BIN_EXE_microcid")),
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--groups=docker")
                    .arg(env!("CARGO_BIN_EXE_microcid"));
                c
            }
        };
        let child = cmd
            .arg("--config")
            .arg(&self.config)
            .env("MICROCI_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start microcid");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Serving, not merely bound: the control socket greets, /healthz answers.
            let sock = greets(&self.socket);
            let http = sock && healthy(self.port);
            if http && sock {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("microcid exited early ({status}):\n{}", self.log());
            }
            assert!(
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
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("daemon running")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Runs `microci-tui` against this daemon's socket.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("microci-tui"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run microci-tui")
    }

    /// Containers this daemon started that still exist.
    pub fn containers(&self) -> Vec<String> {
        containers_labelled(&format!("{TEST_LABEL}={}", self.tag))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether the control socket sends its hello (the daemon serves it, not only the kernel's backlog).
fn greets(socket: &Path) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix).is_ok()
}

/// Whether `GET /healthz` answers 200.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// SIGTERM, then up to 20 s for a clean exit, then SIGKILL.
pub fn terminate(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn containers_labelled(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- microcid log ({}) ----\n{}", self.tag, self.log());
        }
        let left = self.containers();
        if !left.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&left)
                .output();
        }
    }
}
