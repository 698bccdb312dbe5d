//! What the scenarios share: the release binaries, the bench's daemon options, signed pushes
//! over keep-alive connections, and the arithmetic of the results.

use anyhow::{Result, anyhow, ensure};
use microci_testkit::daemon::{Options, SECRET};
use microci_testkit::hooks::{FORGE_URL, gogs_push, gogs_request, sign};
use microci_testkit::http::Conn;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The label key on the bench's job containers (the tests use their own).
const LABEL: &str = "microci-bench.daemon";
/// The line a job prints first, whose arrival the latency scenarios time.
pub const MARKER: &str = "BENCH-MARKER";
/// A clone URL that does not exist: every job ends ERRORED at its clone, without Docker.
pub const NOWHERE: &str = "/nonexistent/microci-bench.git";

/// The release binaries under test, and an older `microcid` to measure beside it.
pub struct Bins {
    microcid: PathBuf,
    tui: PathBuf,
    /// `MICROCID_BASELINE`: the scenarios that compare (idle memory, binary size, scheduler
    /// pace) also measure this binary, in the same run.
    pub baseline: Option<PathBuf>,
}

impl Bins {
    /// `target/release/{microcid,microci-tui}` (or under `CARGO_TARGET_DIR`), which must be built.
    pub fn find() -> Result<Bins> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let release = target.join("release");
        let microcid = release.join("microcid");
        let tui = release.join("microci-tui");
        for p in [&microcid, &tui] {
            ensure!(
                p.exists(),
                "{} not found: build it first with `cargo build --release -p microcid -p microci-tui`",
                p.display()
            );
        }
        let baseline = std::env::var_os("MICROCID_BASELINE").map(PathBuf::from);
        if let Some(b) = &baseline {
            ensure!(b.exists(), "MICROCID_BASELINE {} not found", b.display());
        }
        Ok(Bins {
            microcid,
            tui,
            baseline,
        })
    }

    /// The daemon binaries to compare: this build's, then the baseline's, each with a label.
    pub fn daemons(&self) -> Vec<(&'static str, &Path)> {
        let mut v = vec![("now", self.microcid.as_path())];
        if let Some(b) = &self.baseline {
            v.push(("baseline", b.as_path()));
        }
        v
    }
}

/// A bench daemon: the release binaries, the bench's label, logs at the shipped level, the
/// default body limit, whole job logs (`max_log = "0"`), `alice/app` cloned from `clone_url`.
pub fn options(bins: &Bins, max_jobs: u32, clone_url: &str) -> Options {
    options_for(&bins.microcid, bins, max_jobs, clone_url)
}

/// [`options`] with another `microcid` binary (the baseline).
pub fn options_for(microcid: &Path, bins: &Bins, max_jobs: u32, clone_url: &str) -> Options {
    Options {
        tui: bins.tui.clone(),
        label: LABEL.into(),
        log_filter: None,
        max_body: None,
        max_jobs,
        docker: "max_log = \"0\"\n".into(),
        ..Options::new(microcid).for_url(clone_url)
    }
}

/// Listens where a daemon's `NOTIFY_SOCKET` points and waits (up to 20 s) for `READY=1`.
pub struct Notify {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    socket: std::os::unix::net::UnixDatagram,
}

impl Notify {
    pub fn bind() -> Result<Notify> {
        let dir = tempfile::Builder::new().prefix("mcn").tempdir_in("/tmp")?;
        let path = dir.path().join("n.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path)?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Notify {
            _dir: dir,
            path,
            socket,
        })
    }

    /// Waits for `READY=1`.
    pub fn ready(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1")
            {
                return Ok(());
            }
        }
        Err(anyhow!("no READY=1 within 20 s"))
    }
}

/// A Gogs `push` body in the shape Gogs documents (the same one the end-to-end tests send).
fn push_body(git_ref: &str, after: &str) -> Vec<u8> {
    gogs_push(
        "alice/app",
        FORGE_URL,
        git_ref,
        "0123456789012345678901234567890123456789",
        after,
        "bench commit\n\nwith a body",
    )
}

/// One signed delivery of a commit of its own (`n` picks it): the daemon folds deliveries of a
/// commit that is already queued into that job, so a flood of one body would measure nothing.
/// Each goes to a branch of its own too: pushes to one branch supersede each other's queued
/// jobs, which would measure cancelling instead (and an older release does not).
pub fn distinct_push(n: usize, delivery: &str) -> Vec<u8> {
    let body = push_body(&format!("refs/heads/bench-{n}"), &format!("{:040x}", n + 1));
    gogs_request(&body, &sign(SECRET, &body), delivery)
}

/// Sends one webhook (a push of `after` to main) on a fresh connection; returns the new job's id.
pub async fn send_webhook(port: u16, after: &str, delivery: &str) -> Result<i64> {
    let body = push_body("refs/heads/main", after);
    let sig = sign(SECRET, &body);
    let mut c = Conn::try_connect(port).await?;
    let (status, resp) = c.roundtrip(&gogs_request(&body, &sig, delivery)).await?;
    ensure!(
        status == 202,
        "webhook answered {status}: {}",
        String::from_utf8_lossy(&resp)
    );
    let v: serde_json::Value = serde_json::from_slice(&resp)?;
    v["job_id"]
        .as_i64()
        .ok_or_else(|| anyhow!("no job_id in {v}"))
}

/// KiB to MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sorted-copy quantile (nearest rank).
pub fn quantile(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut s = v.to_vec();
    s.sort();
    let i = ((s.len() as f64 * q).ceil() as usize).clamp(1, s.len()) - 1;
    s[i]
}

/// The median duration.
pub fn median(v: &[Duration]) -> Duration {
    quantile(v, 0.5)
}

/// The median of floats.
pub fn median_f(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}
