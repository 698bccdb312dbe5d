//! Load benchmarks against the real release `microcid` (and `microci-tui`), on 127.0.0.1 only.
//!
//! `cargo bench -p microcid --bench load -- [scenario ...]`; no scenario runs them all. Scenarios:
//! `idle_rss`, `webhooks`, `latency`, `log_throughput`, `tui_jobs`, `status_page`, `startup`,
//! `rss_running`, `slow_clients` (or their numbers 1–9). Build the binaries first:
//! `cargo build --release -p microcid -p microci-tui`.
//!
//! Every daemon runs in a temp dir with its own config, port and short socket path; every job
//! container carries the label `microci-bench.daemon=<tag>` and every container left with that
//! label is removed when the daemon is dropped. Every loop is bounded in count and in time.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{Context, Result, anyhow, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use microci_proto::{ClientCodec, ClientMessage, Reply, Request, ServerMessage};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::codec::Framed;

const IMAGE: &str = "microci-test/busybox:latest";
const LABEL: &str = "microci-bench.daemon";
const SECRET: &str = "microci-bench-secret-0123456789";
const MARKER: &str = "BENCH-MARKER";

const SCENARIOS: [&str; 9] = [
    "idle_rss",
    "webhooks",
    "latency",
    "log_throughput",
    "tui_jobs",
    "status_page",
    "startup",
    "rss_running",
    "slow_clients",
];

/// One line of the result table.
struct Row {
    what: String,
    value: String,
    target: String,
    pass: bool,
}

fn row(what: &str, value: String, target: &str, pass: bool) -> Row {
    println!(
        "  => {what}: {value} (target {target}) {}",
        if pass { "PASS" } else { "MISS" }
    );
    Row {
        what: what.into(),
        value,
        target: target.into(),
        pass,
    }
}

fn main() -> Result<()> {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mut chosen: Vec<&str> = Vec::new();
    for w in &wanted {
        let name = match w.parse::<usize>() {
            Ok(n) if (1..=SCENARIOS.len()).contains(&n) => SCENARIOS[n - 1],
            _ => SCENARIOS
                .iter()
                .copied()
                .find(|s| s == w)
                .ok_or_else(|| anyhow!("unknown scenario {w:?}; known: {SCENARIOS:?}"))?,
        };
        chosen.push(name);
    }
    if chosen.is_empty() {
        chosen = SCENARIOS.to_vec();
    }
    let bins = Bins::find()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let mut rows = Vec::new();
    for s in chosen {
        println!("== {s} (loadavg {})", loadavg());
        let t = Instant::now();
        let got = match s {
            "idle_rss" => idle_rss(&bins),
            "webhooks" => webhooks(&bins, &rt),
            "latency" => latency(&bins, &rt),
            "log_throughput" => log_throughput(&bins, &rt),
            "tui_jobs" => tui_jobs(&bins),
            "status_page" => status_page(&bins, &rt),
            "startup" => startup(&bins),
            "rss_running" => rss_running(&bins, &rt),
            "slow_clients" => slow_clients(&bins, &rt),
            _ => unreachable!("scenario names are checked above"),
        };
        match got {
            Ok(r) => rows.extend(r),
            Err(e) => {
                println!("  !! {s} failed: {e:#}");
                rows.push(Row {
                    what: s.into(),
                    value: format!("failed: {e:#}"),
                    target: "-".into(),
                    pass: false,
                });
            }
        }
        println!("   ({s} took {:.1} s)", t.elapsed().as_secs_f64());
    }
    println!();
    println!("| what | measured | target | |");
    println!("| --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.what,
            r.value,
            r.target,
            if r.pass { "PASS" } else { "MISS" }
        );
    }
    Ok(())
}

/// The first three fields of /proc/loadavg: the machine is shared, so say how busy it was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Binaries, repositories, daemons

struct Bins {
    microcid: PathBuf,
    tui: PathBuf,
}

impl Bins {
    fn find() -> Result<Bins> {
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
        Ok(Bins { microcid, tui })
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .context("running git")?;
    ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A local repository on `main` whose job runs `microci.sh`.
struct GitRepo {
    _dir: tempfile::TempDir,
    path: PathBuf,
    head: String,
}

impl GitRepo {
    fn with_script(script: &str) -> Result<GitRepo> {
        let dir = tempfile::Builder::new().prefix("mcbr").tempdir_in("/tmp")?;
        let path = dir.path().join("app");
        std::fs::create_dir(&path)?;
        git(&path, &["init", "-q", "-b", "main"])?;
        git(&path, &["config", "user.name", "bench"])?;
        git(&path, &["config", "user.email", "bench@microci.invalid"])?;
        git(&path, &["config", "commit.gpgsign", "false"])?;
        std::fs::write(path.join("microci.sh"), script)?;
        git(&path, &["add", "-A"])?;
        git(&path, &["commit", "-q", "-m", "bench job"])?;
        let head = git(&path, &["rev-parse", "HEAD"])?;
        Ok(GitRepo {
            _dir: dir,
            path,
            head,
        })
    }
}

struct Daemon {
    dir: tempfile::TempDir,
    bin: PathBuf,
    socket: PathBuf,
    port: u16,
    config: PathBuf,
    tag: String,
    child: Option<Child>,
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Daemon {
    /// Writes the config; does not start the process.
    fn new(bins: &Bins, max_jobs: u32, clone_url: &str) -> Result<Daemon> {
        let dir = tempfile::Builder::new().prefix("mcb").tempdir_in("/tmp")?;
        let tag = dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("mcb")
            .to_string();
        let port = free_port()?;
        let socket = dir.path().join("c.sock");
        let config = dir.path().join("config.toml");
        let text = format!(
            "state_dir = \"{state}\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n\
             [control]\nsocket = \"{sock}\"\n\
             [docker]\nmax_jobs = {max_jobs}\ndefault_image = \"{IMAGE}\"\ntimeout = \"5m\"\n\
             stop_grace = \"1s\"\nmemory = \"256m\"\npids = 256\nmax_log = \"0\"\n\
             labels = {{ \"{LABEL}\" = \"{tag}\" }}\n\
             [webhook]\nsecret = \"{SECRET}\"\n\
             [[repo]]\nname = \"alice/app\"\nclone_url = \"{clone_url}\"\n",
            state = dir.path().join("state").display(),
            sock = socket.display(),
        );
        std::fs::write(&config, text)?;
        Ok(Daemon {
            dir,
            bin: bins.microcid.clone(),
            socket,
            port,
            config,
            tag,
            child: None,
        })
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Spawns the process (with `NOTIFY_SOCKET` when given); returns at once.
    fn spawn(&mut self, notify: Option<&Path>) -> Result<()> {
        ensure!(self.child.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(n) = notify {
            cmd.env("NOTIFY_SOCKET", n);
        }
        self.child = Some(cmd.spawn().context("start microcid")?);
        Ok(())
    }

    /// Spawns and waits until both listeners accept (20 s at most).
    fn start(&mut self) -> Result<()> {
        self.spawn(None)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let http = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            let sock = std::os::unix::net::UnixStream::connect(&self.socket).is_ok();
            if http && sock {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("microcid exited early ({status}):\n{}", self.log());
            }
            ensure!(
                Instant::now() < deadline,
                "microcid did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| anyhow!("daemon not running"))
    }

    /// SIGTERM, then wait (20 s, then SIGKILL).
    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            support::daemon::terminate(child);
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        remove_labelled(&self.tag);
    }
}

fn remove_labelled(tag: &str) {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={LABEL}={tag}"))
        .output();
    if let Ok(out) = out {
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}

/// (VmRSS, VmHWM) in KiB.
fn mem_kib(pid: u32) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))?;
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("bad {name} line {line:?}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sorted-copy quantile (nearest rank).
fn quantile(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut s = v.to_vec();
    s.sort();
    let i = ((s.len() as f64 * q).ceil() as usize).clamp(1, s.len()) - 1;
    s[i]
}

fn median(v: &[Duration]) -> Duration {
    quantile(v, 0.5)
}

fn median_f(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// Webhooks and HTTP

fn sign(body: &[u8]) -> Result<String> {
    Ok(support::hooks::sign(SECRET, body))
}

/// A Gogs `push` body in the shape Gogs documents (the same one the end-to-end tests send).
fn gogs_push(after: &str) -> Vec<u8> {
    support::hooks::gogs_push(
        "alice/app",
        support::hooks::FORGE_URL,
        "refs/heads/main",
        "0123456789012345678901234567890123456789",
        after,
        "bench commit\n\nwith a body",
    )
}

/// One signed delivery of a commit of its own (`n` picks it): the daemon folds deliveries of a
/// commit that is already queued into that job, so a flood of one body would measure nothing.
fn distinct_push(n: usize, delivery: &str) -> Result<Vec<u8>> {
    let body = gogs_push(&format!("{:040x}", n + 1));
    let sig = sign(&body)?;
    Ok(push_request(&body, &sig, delivery))
}

/// The bytes of one signed delivery on a keep-alive connection.
fn push_request(body: &[u8], sig: &str, delivery: &str) -> Vec<u8> {
    let mut r = format!(
        "POST /hooks/gogs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Gogs-Event: push\r\nX-Gogs-Delivery: {delivery}\r\nX-Gogs-Signature: {sig}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A keep-alive HTTP/1.1 connection: writes whole requests, reads responses with a
/// `Content-Length` or chunked body.
struct HttpConn {
    s: BufReader<TcpStream>,
}

impl HttpConn {
    async fn connect(port: u16) -> Result<HttpConn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        Ok(HttpConn {
            s: BufReader::new(s),
        })
    }

    async fn roundtrip(&mut self, req: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.s.get_mut().write_all(req).await?;
        let mut line = String::new();
        self.s.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            ensure!(self.s.read_line(&mut line).await? > 0, "connection closed");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if let Some(n) = length {
            body.resize(n, 0);
            self.s.read_exact(&mut body).await?;
        } else if chunked {
            loop {
                line.clear();
                self.s.read_line(&mut line).await?;
                let n = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
                let start = body.len();
                body.resize(start + n + 2, 0);
                self.s.read_exact(&mut body[start..]).await?;
                body.truncate(start + n);
                if n == 0 {
                    break;
                }
            }
        } else {
            bail!("response without length (status {status})");
        }
        Ok((status, body))
    }
}

/// Sends one webhook on a fresh connection; returns the new job's id.
async fn send_webhook(port: u16, after: &str, delivery: &str) -> Result<i64> {
    let body = gogs_push(after);
    let sig = sign(&body)?;
    let mut c = HttpConn::connect(port).await?;
    let (status, resp) = c.roundtrip(&push_request(&body, &sig, delivery)).await?;
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

// ---------------------------------------------------------------------------------------------
// Control socket

struct Ctl {
    framed: Framed<UnixStream, ClientCodec>,
    next: u64,
}

impl Ctl {
    async fn connect(path: &Path) -> Result<Ctl> {
        let stream = UnixStream::connect(path).await?;
        let mut framed = Framed::new(stream, ClientCodec::default());
        match framed.next().await {
            Some(Ok(ServerMessage::Hello { .. })) => {}
            other => bail!("expected hello, got {other:?}"),
        }
        Ok(Ctl { framed, next: 1 })
    }

    async fn send(&mut self, request: Request) -> Result<u64> {
        let id = self.next;
        self.next += 1;
        self.framed
            .send(ClientMessage { id, request })
            .await
            .map_err(|e| anyhow!("send: {e}"))?;
        Ok(id)
    }

    async fn recv(&mut self, within: Duration) -> Result<ServerMessage> {
        match tokio::time::timeout(within, self.framed.next()).await {
            Ok(Some(Ok(m))) => Ok(m),
            Ok(Some(Err(e))) => bail!("control socket: {e}"),
            Ok(None) => bail!("control socket closed"),
            Err(_) => bail!("no message from the daemon within {within:?}"),
        }
    }

    async fn call(&mut self, request: Request) -> Result<Reply> {
        let id = self.send(request).await?;
        loop {
            match self.recv(Duration::from_secs(30)).await? {
                ServerMessage::Ok { id: i, reply } if i == id => return Ok(reply),
                ServerMessage::Error { id: i, message, .. } if i == id => bail!("{message}"),
                _ => continue,
            }
        }
    }

    async fn job(&mut self, id: i64) -> Result<microci_proto::Job> {
        match self.call(Request::GetJob { job: id }).await? {
            Reply::Job { job } => Ok(job),
            other => bail!("get_job: {other:?}"),
        }
    }

    async fn status(&mut self) -> Result<microci_proto::DaemonStatus> {
        match self.call(Request::Status).await? {
            Reply::Status(s) => Ok(s),
            other => bail!("status: {other:?}"),
        }
    }

    /// Polls until the job ended (`secs` at most).
    async fn wait_final(&mut self, id: i64, secs: u64) -> Result<microci_proto::Job> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let job = self.job(id).await?;
            if job.status.is_final() {
                return Ok(job);
            }
            ensure!(Instant::now() < deadline, "job {id} stuck: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. idle RSS

fn idle_rss(bins: &Bins) -> Result<Vec<Row>> {
    let mut d = Daemon::new(bins, 2, "/nonexistent/microci-bench.git")?;
    d.start()?;
    let pid = d.pid()?;
    let mut rss = Vec::new();
    let mut hwm = 0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        let (r, h) = mem_kib(pid)?;
        rss.push(mib(r));
        hwm = hwm.max(h);
    }
    println!("   samples MiB: {rss:.2?}; VmHWM {:.2} MiB", mib(hwm));
    let m = median_f(&rss);
    Ok(vec![row(
        "idle RSS (median of 5 over 2 s)",
        format!("{m:.2} MiB"),
        "≤ 8 MB",
        m * 1.048_576 <= 8.0,
    )])
}

// ---------------------------------------------------------------------------------------------
// 2. webhooks accepted per second

const WEBHOOKS: usize = 20_000;
const CLIENTS: usize = 64;
const ROUNDS: usize = 3;
const PACED_RATE: f64 = 2000.0;

fn webhooks(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    // The clone URL does not exist: every job ends ERRORED at its clone, without Docker.
    let mut d = Daemon::new(bins, 1, "/nonexistent/microci-bench.git")?;
    d.start()?;
    let port = d.port;
    let mut rates = Vec::new();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for round in 0..ROUNDS {
        // Warm-up round 0 only: a few hundred deliveries, not counted.
        let n_warm = if round == 0 { 500 } else { 0 };
        if n_warm > 0 {
            let reqs: Vec<Vec<u8>> = (0..n_warm)
                .map(|i| distinct_push(i, &format!("warm-{i}")))
                .collect::<Result<_>>()?;
            rt.block_on(fire(port, Arc::new(reqs), CLIENTS, None))?;
        }
        let reqs: Vec<Vec<u8>> = (0..WEBHOOKS)
            .map(|i| distinct_push((round + 1) * WEBHOOKS + i, &format!("r{round}-d{i:08}")))
            .collect::<Result<_>>()?;
        let (elapsed, lat, bad) = rt.block_on(fire(port, Arc::new(reqs), CLIENTS, None))?;
        ensure!(bad == 0, "{bad} deliveries were not answered 202");
        let rate = lat.len() as f64 / elapsed.as_secs_f64();
        let (p50, p99) = (quantile(&lat, 0.5), quantile(&lat, 0.99));
        let queued = rt.block_on(async {
            let mut c = Ctl::connect(&d.socket).await?;
            c.status().await
        })?;
        println!(
            "   round {round}: {} in {:.2} s = {rate:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             queued after: {}",
            lat.len(),
            elapsed.as_secs_f64(),
            ms(p50),
            ms(p99),
            ms(quantile(&lat, 1.0)),
            queued.queued
        );
        rates.push(rate);
        p50s.push(p50);
        p99s.push(p99);
    }
    let pid = d.pid()?;
    let (rss, hwm) = mem_kib(pid)?;
    println!(
        "   daemon after: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        mib(rss),
        mib(hwm)
    );
    drop(d);
    // Open loop at the target rate: the same 64 connections, but delivery i is due at
    // start + i / 2,000 s; its latency counts from when it was due (so a late client's wait counts).
    let mut d = Daemon::new(bins, 1, "/nonexistent/microci-bench.git")?;
    d.start()?;
    let warm: Vec<Vec<u8>> = (0..500)
        .map(|i| distinct_push(i, &format!("warm-{i}")))
        .collect::<Result<_>>()?;
    rt.block_on(fire(d.port, Arc::new(warm), CLIENTS, None))?;
    let reqs: Vec<Vec<u8>> = (0..WEBHOOKS)
        .map(|i| distinct_push(WEBHOOKS + i, &format!("paced-d{i:08}")))
        .collect::<Result<_>>()?;
    let (elapsed, lat, bad) =
        rt.block_on(fire(d.port, Arc::new(reqs), CLIENTS, Some(PACED_RATE)))?;
    ensure!(bad == 0, "{bad} paced deliveries were not answered 202");
    let (op50, op99) = (quantile(&lat, 0.5), quantile(&lat, 0.99));
    println!(
        "   paced at {PACED_RATE:.0}/s: {} in {:.2} s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        ms(op50),
        ms(quantile(&lat, 0.9)),
        ms(op99),
        ms(quantile(&lat, 1.0))
    );
    let rate = median_f(&rates);
    let p50 = median(&p50s);
    let p99 = median(&p99s);
    Ok(vec![
        row(
            "webhook latency p50, open loop at 2,000/s over 64 connections",
            format!("{:.2} ms", ms(op50)),
            "≤ 1 ms",
            op50 <= Duration::from_millis(1),
        ),
        row(
            "webhook latency p99, open loop at 2,000/s over 64 connections",
            format!("{:.2} ms", ms(op99)),
            "≤ 10 ms",
            op99 <= Duration::from_millis(10),
        ),
        row(
            "webhooks accepted/s, 64 clients (median of 3 × 20,000)",
            format!("{rate:.0}/s"),
            "≥ 2,000/s",
            rate >= 2000.0,
        ),
        row(
            "webhook latency p50, closed loop (64 always waiting)",
            format!("{:.2} ms", ms(p50)),
            "≤ 1 ms",
            p50 <= Duration::from_millis(1),
        ),
        row(
            "webhook latency p99, closed loop (64 always waiting)",
            format!("{:.2} ms", ms(p99)),
            "≤ 10 ms",
            p99 <= Duration::from_millis(10),
        ),
    ])
}

/// Sends every request over `clients` keep-alive connections; returns wall time, each
/// request's latency, and how many were not answered 202. Bounded by 300 s. With `rate`,
/// request i is not sent before `start + i / rate` and its latency counts from then.
async fn fire(
    port: u16,
    reqs: Arc<Vec<Vec<u8>>>,
    clients: usize,
    rate: Option<f64>,
) -> Result<(Duration, Vec<Duration>, usize)> {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(300);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let reqs = reqs.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = HttpConn::connect(port).await?;
            let mut lat = Vec::with_capacity(reqs.len() / clients + 1);
            let mut bad = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= reqs.len() || Instant::now() > deadline {
                    break;
                }
                let t = match rate {
                    Some(r) => {
                        let due = start + Duration::from_secs_f64(i as f64 / r);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                let (status, _) = conn.roundtrip(&reqs[i]).await?;
                lat.push(t.elapsed());
                if status != 202 {
                    bad += 1;
                }
            }
            anyhow::Ok((lat, bad))
        }));
    }
    let mut all = Vec::with_capacity(reqs.len());
    let mut bad = 0;
    for t in tasks {
        let (lat, b) = t.await??;
        all.extend(lat);
        bad += b;
    }
    let elapsed = start.elapsed();
    ensure!(
        all.len() == reqs.len(),
        "only {} of {} sent within the time bound",
        all.len(),
        reqs.len()
    );
    Ok((elapsed, all, bad))
}

// ---------------------------------------------------------------------------------------------
// 3. webhook → container running, versus bare docker run

const LATENCY_RUNS: usize = 10;

fn latency(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let repo = GitRepo::with_script(&format!("echo {MARKER}\n"))?;
    let mut d = Daemon::new(bins, 2, &repo.path.display().to_string())?;
    d.start()?;
    // Warm: the first job fills the git cache; one bare run warms Docker.
    let first = rt.block_on(microci_to_marker(&d, &repo.head, "warm"))?;
    println!("   first (cold cache) microci run: {:.1} ms", ms(first));
    bare_docker_run(&d.tag)?;
    let mut bare = Vec::new();
    let mut mci = Vec::new();
    for i in 0..LATENCY_RUNS {
        // Alternate the order so neither side always runs on a just-warmed Engine.
        if i % 2 == 0 {
            bare.push(bare_docker_run(&d.tag)?);
            mci.push(rt.block_on(microci_to_marker(&d, &repo.head, &format!("lat-{i}")))?);
        } else {
            mci.push(rt.block_on(microci_to_marker(&d, &repo.head, &format!("lat-{i}")))?);
            bare.push(bare_docker_run(&d.tag)?);
        }
    }
    let (b, m) = (median(&bare), median(&mci));
    let bare_ms: Vec<String> = bare.iter().map(|d| format!("{:.0}", ms(*d))).collect();
    let mci_ms: Vec<String> = mci.iter().map(|d| format!("{:.0}", ms(*d))).collect();
    println!("   bare docker run ms: {}", bare_ms.join(" "));
    println!("   microci webhook ms: {}", mci_ms.join(" "));
    let diff = ms(m) - ms(b);
    Ok(vec![
        row(
            "bare `docker run` → marker on stdout (median of 10)",
            format!("{:.0} ms", ms(b)),
            "(reference)",
            true,
        ),
        row(
            "webhook → marker on follow_log, cached repo (median of 10)",
            format!("{:.0} ms", ms(m)),
            "(reference)",
            true,
        ),
        row(
            "added latency, microci − bare",
            format!("{diff:.0} ms"),
            "≤ 100 ms",
            diff <= 100.0,
        ),
    ])
}

/// `docker run --rm` of the job image printing the marker; time until the marker is read.
fn bare_docker_run(tag: &str) -> Result<Duration> {
    let t = Instant::now();
    let mut child = Command::new("docker")
        .args(["run", "--rm", "--label"])
        .arg(format!("{LABEL}={tag}"))
        .args([IMAGE, "echo", MARKER])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("docker run")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut seen = None;
    for line in std::io::BufReader::new(stdout).lines().take(100) {
        if line?.trim() == MARKER {
            seen = Some(t.elapsed());
            break;
        }
    }
    let status = child.wait()?;
    ensure!(status.success(), "docker run failed: {status}");
    seen.ok_or_else(|| anyhow!("docker run never printed the marker"))
}

/// Webhook sent → the job's own first line (the marker) arrives on a `follow_log` subscription.
async fn microci_to_marker(d: &Daemon, after: &str, delivery: &str) -> Result<Duration> {
    let mut ctl = Ctl::connect(&d.socket).await?;
    let t = Instant::now();
    let job = send_webhook(d.port, after, delivery).await?;
    let sub = ctl.send(Request::FollowLog { job, offset: 0 }).await?;
    let mut text = String::new();
    let mut seen = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match ctl.recv(Duration::from_secs(60)).await? {
            ServerMessage::Event {
                id,
                event: microci_proto::Event::Log(chunk),
            } if id == sub => {
                text.push_str(&chunk.data);
                if seen.is_none() && text.lines().any(|l| l == MARKER) {
                    seen = Some(t.elapsed());
                }
            }
            ServerMessage::Event {
                id,
                event: microci_proto::Event::End,
            } if id == sub => break,
            ServerMessage::Error { message, .. } => bail!("follow_log: {message}"),
            _ => {}
        }
    }
    let job = ctl.wait_final(job, 60).await?;
    ensure!(
        job.status == microci_proto::JobStatus::Succeed,
        "job {job:?} did not succeed; log:\n{text}"
    );
    seen.ok_or_else(|| anyhow!("marker never arrived; log:\n{text}"))
}

// ---------------------------------------------------------------------------------------------
// 4. log throughput container → disk

const LOG_BYTES: u64 = 1 << 30;

fn log_throughput(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    // 99 x's and a newline per line: 100-byte lines, exactly 1 GiB of output after the marker.
    let line = "x".repeat(99);
    let repo = GitRepo::with_script(&format!(
        "echo {MARKER}\nyes {line} | head -c {LOG_BYTES}\n"
    ))?;
    let mut d = Daemon::new(bins, 2, &repo.path.display().to_string())?;
    d.start()?;
    let pid = d.pid()?;
    // No warm-up job: the clock starts at the job's first own line, after the clone.
    let (rss_before, _) = mem_kib(pid)?;
    let logs = d.state_dir().join("logs");
    let (job, t_start, t_end, max_rss, bytes) = rt.block_on(async {
        let mut ctl = Ctl::connect(&d.socket).await?;
        let job = send_webhook(d.port, &repo.head, "log-1").await?;
        let path = logs.join(format!("{job}.log"));
        let mut t_start = None;
        let mut max_rss = 0;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            ensure!(Instant::now() < deadline, "1 GiB job did not end in 300 s");
            let (rss, _) = mem_kib(pid)?;
            max_rss = max_rss.max(rss);
            if t_start.is_none() && log_has_marker(&path) {
                t_start = Some(Instant::now());
            }
            let j = ctl.job(job).await?;
            if j.status.is_final() {
                ensure!(
                    j.status == microci_proto::JobStatus::Succeed,
                    "1 GiB job ended {:?}: {:?}",
                    j.status,
                    j.reason
                );
                let t_end = Instant::now();
                let bytes = std::fs::metadata(&path)?.len();
                return Ok((
                    job,
                    t_start.ok_or_else(|| anyhow!("marker never seen"))?,
                    t_end,
                    max_rss,
                    bytes,
                ));
            }
            // 100 ms between RSS samples, finer at first so the start is caught sharply.
            let step = if t_start.is_none() { 5 } else { 100 };
            tokio::time::sleep(Duration::from_millis(step)).await;
        }
    })?;
    let (_, hwm) = mem_kib(pid)?;
    let secs = t_end.duration_since(t_start).as_secs_f64();
    let mbs = bytes as f64 / 1e6 / secs;
    println!(
        "   job {job}: {bytes} bytes logged in {secs:.2} s = {mbs:.0} MB/s \
         ({:.0} MiB/s); VmRSS before {:.1} MiB, max during {:.1} MiB, VmHWM {:.1} MiB",
        bytes as f64 / 1048576.0 / secs,
        mib(rss_before),
        mib(max_rss),
        mib(hwm)
    );
    ensure!(bytes >= LOG_BYTES, "log holds only {bytes} bytes");
    Ok(vec![
        row(
            "log throughput container → disk, 1 GiB",
            format!("{mbs:.0} MB/s"),
            "≥ 100 MB/s",
            mbs >= 100.0,
        ),
        row(
            "RSS during the 1 GiB log (before → max sampled / VmHWM)",
            format!(
                "{:.1} → {:.1} / {:.1} MiB",
                mib(rss_before),
                mib(max_rss),
                mib(hwm)
            ),
            "flat",
            max_rss <= rss_before + 4096,
        ),
    ])
}

fn log_has_marker(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = Vec::new();
    if f.take(8192).read_to_end(&mut buf).is_err() {
        return false;
    }
    String::from_utf8_lossy(&buf).lines().any(|l| l == MARKER)
}

// ---------------------------------------------------------------------------------------------
// 5–7. 100,000 jobs stored

const STORED: i64 = 100_000;

/// A daemon whose database holds 100,000 finished jobs (inserted directly while it is stopped),
/// not running.
fn daemon_with_jobs(bins: &Bins) -> Result<Daemon> {
    let mut d = Daemon::new(bins, 2, "/nonexistent/microci-bench.git")?;
    d.start()?; // creates the schema
    d.stop();
    let t = Instant::now();
    let db = d.state_dir().join("microci.db");
    let mut conn = rusqlite::Connection::open(&db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let tx = conn.transaction()?;
    {
        let mut ins = tx.prepare(
            "INSERT INTO jobs (id, repo, git_ref, commit_sha, message, author, clone_url, status, \
             reason, exit_code, created_at, started_at, finished_at, trigger, forge, delivery_id, \
             retry_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'SUCCEED', NULL, 0, ?8, ?9, ?10, \
             'webhook', 'gogs', ?11, NULL)",
        )?;
        let base = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
        let fmt = &time::format_description::well_known::Rfc3339;
        for id in 1..=STORED {
            let created = base + time::Duration::seconds(id * 300);
            let started = created + time::Duration::seconds(2);
            let finished = started + time::Duration::seconds(40 + id % 200);
            let repo = ["alice/app", "alice/lib", "bob/site", "carol/tools"][(id % 4) as usize];
            let git_ref =
                ["refs/heads/main", "refs/heads/dev", "refs/tags/v1.2.3"][(id % 3) as usize];
            let sha = format!(
                "{:040x}",
                (id as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
            );
            ins.execute(rusqlite::params![
                id,
                repo,
                git_ref,
                &sha[sha.len() - 40..],
                format!("Fix the build, take {id}\n\nA longer explanation of change {id}."),
                ["alice", "bob", "carol"][(id % 3) as usize],
                format!("https://git.example.com/{repo}.git"),
                created.format(fmt)?,
                started.format(fmt)?,
                finished.format(fmt)?,
                format!("{:08x}-bench-{id}", id * 7919),
            ])?;
        }
    }
    // Three of the four repositories are public (the forge said so), as the status page shows.
    for (name, public) in [
        ("alice/app", true),
        ("alice/lib", true),
        ("bob/site", true),
        ("carol/tools", false),
    ] {
        tx.execute(
            "INSERT OR REPLACE INTO repos (name, clone_url, default_branch, last_seen, public) \
             VALUES (?1, ?2, 'main', '2026-01-01T00:00:00Z', ?3)",
            rusqlite::params![name, format!("https://git.example.com/{name}.git"), public],
        )?;
    }
    tx.commit()?;
    drop(conn);
    // Realistic: the newest 1,000 jobs have a log file.
    let logs = d.state_dir().join("logs");
    std::fs::create_dir_all(&logs)?;
    let text = "[microci] job: fetching\n".to_string() + &"make: building target\n".repeat(100);
    for id in (STORED - 999)..=STORED {
        std::fs::write(logs.join(format!("{id}.log")), &text)?;
    }
    println!(
        "   inserted {STORED} jobs (+1,000 log files) in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    Ok(d)
}

const TUI_RUNS: usize = 20;

fn tui_jobs(bins: &Bins) -> Result<Vec<Row>> {
    let mut d = daemon_with_jobs(bins)?;
    d.start()?;
    let run = || -> Result<Duration> {
        let t = Instant::now();
        let out = Command::new(&bins.tui)
            .arg("--socket")
            .arg(&d.socket)
            .args(["jobs", "--limit", "50"])
            .stdin(Stdio::null())
            .output()?;
        let took = t.elapsed();
        ensure!(
            out.status.success(),
            "microci-tui jobs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = out.stdout.iter().filter(|b| **b == b'\n').count();
        ensure!(lines >= 50, "microci-tui jobs printed {lines} lines");
        Ok(took)
    };
    for _ in 0..3 {
        run()?;
    }
    let times: Vec<Duration> = (0..TUI_RUNS).map(|_| run()).collect::<Result<_>>()?;
    let m = median(&times);
    println!(
        "   min {:.1} ms, median {:.1} ms, max {:.1} ms over {TUI_RUNS} runs",
        ms(quantile(&times, 0.0)),
        ms(m),
        ms(quantile(&times, 1.0))
    );
    Ok(vec![row(
        "`microci-tui jobs --limit 50`, 100,000 jobs (median of 20)",
        format!("{:.1} ms", ms(m)),
        "≤ 20 ms",
        m <= Duration::from_millis(20),
    )])
}

const PAGE_RUNS: usize = 50;

fn status_page(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let mut d = daemon_with_jobs(bins)?;
    d.start()?;
    let port = d.port;
    let (times, size) = rt.block_on(async {
        let mut c = HttpConn::connect(port).await?;
        let req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        let mut size = 0;
        for _ in 0..5 {
            let (status, body) = c.roundtrip(req).await?;
            ensure!(status == 200, "GET / answered {status}");
            size = body.len();
        }
        let mut times = Vec::new();
        for _ in 0..PAGE_RUNS {
            let t = Instant::now();
            let (status, _) = c.roundtrip(req).await?;
            times.push(t.elapsed());
            ensure!(status == 200, "GET / answered {status}");
        }
        anyhow::Ok((times, size))
    })?;
    let m = median(&times);
    println!(
        "   page {size} bytes; min {:.2} ms, median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        ms(quantile(&times, 0.0)),
        ms(m),
        ms(quantile(&times, 0.9)),
        ms(quantile(&times, 1.0))
    );
    Ok(vec![row(
        "`GET /` with 100,000 jobs, client-measured round trip (median of 50)",
        format!("{:.2} ms", ms(m)),
        "≤ 10 ms",
        m <= Duration::from_millis(10),
    )])
}

const STARTS: usize = 5;

fn startup(bins: &Bins) -> Result<Vec<Row>> {
    let mut d = daemon_with_jobs(bins)?;
    let notify_path = d.dir.path().join("n.sock");
    let mut ready = Vec::new();
    let mut hello = Vec::new();
    for _ in 0..STARTS {
        let _ = std::fs::remove_file(&notify_path);
        let notify = std::os::unix::net::UnixDatagram::bind(&notify_path)?;
        notify.set_read_timeout(Some(Duration::from_millis(1)))?;
        let t = Instant::now();
        d.spawn(Some(&notify_path))?;
        let (mut r, mut h) = (None, None);
        let deadline = t + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while (r.is_none() || h.is_none()) && Instant::now() < deadline {
            if r.is_none()
                && let Ok(n) = notify.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1")
            {
                r = Some(t.elapsed());
            }
            if h.is_none() && control_hello(&d.socket) {
                h = Some(t.elapsed());
            }
        }
        d.stop();
        ready.push(r.ok_or_else(|| anyhow!("no READY=1 within 20 s:\n{}", d.log()))?);
        hello.push(h.ok_or_else(|| anyhow!("no hello within 20 s"))?);
    }
    let fmt = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("   spawn → READY=1 ms: {}", fmt(&ready));
    println!("   spawn → control hello ms: {}", fmt(&hello));
    let (r, h) = (median(&ready), median(&hello));
    Ok(vec![
        row(
            "start → READY=1 (sd_notify), 100,000 jobs (median of 5)",
            format!("{:.1} ms", ms(r)),
            "≤ 100 ms",
            r <= Duration::from_millis(100),
        ),
        row(
            "start → control socket hello, 100,000 jobs (median of 5)",
            format!("{:.1} ms", ms(h)),
            "≤ 100 ms",
            h <= Duration::from_millis(100),
        ),
    ])
}

/// Whether the control socket accepts and sends its hello frame now.
fn control_hello(path: &Path) -> bool {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return false;
    }
    let mut body = vec![0u8; u32::from_be_bytes(len).min(65536) as usize];
    s.read_exact(&mut body).is_ok() && body.windows(5).any(|w| w == b"hello")
}

// ---------------------------------------------------------------------------------------------
// 8. RSS with 20 jobs running and 5 log followers

const RUNNING: usize = 20;

fn rss_running(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let repo = GitRepo::with_script(&format!("echo {MARKER}\nsleep 30\n"))?;
    let mut d = Daemon::new(bins, RUNNING as u32, &repo.path.display().to_string())?;
    d.start()?;
    let pid = d.pid()?;
    let (idle, _) = mem_kib(pid)?;
    let result = rt.block_on(async {
        let mut ctl = Ctl::connect(&d.socket).await?;
        let mut jobs = Vec::new();
        for i in 0..RUNNING {
            jobs.push(send_webhook(d.port, &repo.head, &format!("run-{i}")).await?);
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = ctl.status().await?;
            if s.running as usize == RUNNING {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "only {} of {RUNNING} jobs running after 90 s",
                s.running
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (before_followers, _) = mem_kib(pid)?;
        let mut followers = Vec::new();
        for job in jobs.iter().take(5) {
            let mut f = Ctl::connect(&d.socket).await?;
            f.send(Request::FollowLog {
                job: *job,
                offset: 0,
            })
            .await?;
            followers.push(f);
        }
        // Let the followers catch up, then sample for 2 s.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut samples = Vec::new();
        for _ in 0..20 {
            samples.push(mem_kib(pid)?.0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let running = ctl.status().await?.running;
        let (_, hwm) = mem_kib(pid)?;
        for job in &jobs {
            let _ = ctl.call(Request::Cancel { job: *job }).await;
        }
        for job in &jobs {
            ctl.wait_final(*job, 60).await?;
        }
        drop(followers);
        anyhow::Ok((before_followers, samples, hwm, running))
    })?;
    let (before, samples, hwm, running) = result;
    let max = samples.iter().copied().max().unwrap_or(0);
    let med = {
        let mut s = samples.clone();
        s.sort();
        s[s.len() / 2]
    };
    println!(
        "   idle {:.1} MiB; 20 running {:.1} MiB; + 5 followers median {:.1} MiB, max {:.1} MiB, \
         VmHWM {:.1} MiB; running during sampling: {running}",
        mib(idle),
        mib(before),
        mib(med),
        mib(max),
        mib(hwm)
    );
    Ok(vec![row(
        "RSS, 20 jobs running + 5 log followers (max of 20 samples)",
        format!("{:.1} MiB", mib(max)),
        "≤ 40 MB",
        mib(max) * 1.048_576 <= 40.0,
    )])
}

// ---------------------------------------------------------------------------------------------
// 9. slow clients

const SLOW: usize = 400;
const REAL_PUSHES: usize = 20;

/// 400 clients hold connections open by trickling bytes (half stop inside their headers, half
/// announce a 1 MiB body and send a few bytes of it); meanwhile real signed pushes arrive on fresh
/// connections. Measures the pushes' latency, the daemon's RSS, and how long until the daemon's
/// deadlines (`http.header_timeout`, `http.body_timeout`, 10 s each) have closed every slow
/// connection.
fn slow_clients(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let mut d = Daemon::new(bins, 2, "/nonexistent/microci-bench.git")?;
    d.start()?;
    let (port, pid) = (d.port, d.pid()?);
    let (before, _) = mem_kib(pid)?;
    let (lat, with, hwm, closed_after) = rt.block_on(async {
        let mut slow = Vec::with_capacity(SLOW);
        for i in 0..SLOW {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            let head = if i % 2 == 0 {
                "POST /hooks/gogs HTTP/1.1\r\nHost: x\r\nX-Gogs-Event: pu".to_string()
            } else {
                "POST /hooks/gogs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 X-Gogs-Event: push\r\nContent-Length: 1048576\r\n\r\n{\"ref\": \"r"
                    .to_string()
            };
            s.write_all(head.as_bytes()).await?;
            slow.push(s);
        }
        let opened = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut lat = Vec::new();
        for i in 0..REAL_PUSHES {
            let t = Instant::now();
            send_webhook(
                port,
                &format!("{:040x}", 0xabc000 + i),
                &format!("real-{i}"),
            )
            .await?;
            lat.push(t.elapsed());
        }
        let (with, hwm) = mem_kib(pid)?;
        // Every slow connection must end by itself (bounded: 30 s).
        let deadline = Instant::now() + Duration::from_secs(30);
        for s in &mut slow {
            let mut buf = [0u8; 512];
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => continue,
                    Err(_) => bail!("a slow connection was still open after 30 s"),
                }
            }
        }
        anyhow::Ok((lat, with, hwm, opened.elapsed()))
    })?;
    let (p50, max) = (median(&lat), quantile(&lat, 1.0));
    println!(
        "   RSS {:.1} MiB idle, {:.1} MiB with {SLOW} slow clients (VmHWM {:.1} MiB); \
         pushes p50 {:.2} ms, max {:.2} ms; all slow connections closed after {:.1} s",
        mib(before),
        mib(with),
        mib(hwm),
        ms(p50),
        ms(max),
        closed_after.as_secs_f64()
    );
    Ok(vec![
        row(
            "signed push answered while 400 slow clients hold connections (max of 20)",
            format!("{:.2} ms", ms(max)),
            "≤ 1 s",
            max <= Duration::from_secs(1),
        ),
        row(
            "VmHWM with 400 slow clients",
            format!("{:.1} MiB", mib(hwm)),
            "< 64 MB",
            (hwm as f64) * 1024.0 < 64e6,
        ),
        row(
            "slow connections all closed by the daemon's deadlines",
            format!("{:.1} s", closed_after.as_secs_f64()),
            "≤ header/body timeout (10 s) + 1 s",
            closed_after <= Duration::from_secs(11),
        ),
    ])
}
