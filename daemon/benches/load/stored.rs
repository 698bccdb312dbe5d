//! Scenarios 5–7, `tui_jobs`, `status_page` and `startup`, on a daemon whose database holds 100,000
//! finished jobs: `microci-tui jobs`, the status page, and the time from start to READY=1 and to
//! the control socket's hello.

use crate::common::{Bins, NOWHERE, median, ms, options, quantile};
use crate::{Row, row};
use anyhow::{Result, anyhow, ensure};
use microci_proto::{Job, JobStatus};
use microci_testkit::daemon::{Options, TestDaemon, greets};
use microci_testkit::fixtures::job;
use microci_testkit::http::Conn;
use std::time::{Duration, Instant};

const STORED: i64 = 100_000;

/// A daemon whose database holds 100,000 finished jobs (inserted directly while it is stopped),
/// not running.
fn daemon_with_jobs(opts: Options) -> Result<TestDaemon> {
    let mut d = TestDaemon::try_start(opts)?; // creates the schema
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
             retry_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10, ?11, ?12, ?13, \
             'gogs', ?14, NULL)",
        )?;
        let base = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)?; // 2026-01-01
        let fmt = &time::format_description::well_known::Rfc3339;
        for id in 1..=STORED {
            let created = base + time::Duration::seconds(id * 300);
            let started = created + time::Duration::seconds(2);
            let finished = started + time::Duration::seconds(40 + id % 200);
            let sha = format!(
                "{:040x}",
                (id as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
            );
            let j = Job {
                repo: ["alice/app", "alice/lib", "bob/site", "carol/tools"][(id % 4) as usize]
                    .into(),
                git_ref: ["refs/heads/main", "refs/heads/dev", "refs/tags/v1.2.3"]
                    [(id % 3) as usize]
                    .into(),
                commit: sha[sha.len() - 40..].into(),
                message: format!(
                    "Fix the build, take {id}\n\nA longer explanation of change {id}."
                ),
                author: ["alice", "bob", "carol"][(id % 3) as usize].into(),
                created_at: created.format(fmt)?,
                started_at: Some(started.format(fmt)?),
                finished_at: Some(finished.format(fmt)?),
                ..job(id, JobStatus::Succeed)
            };
            ins.execute(rusqlite::params![
                j.id,
                j.repo,
                j.git_ref,
                j.commit,
                j.message,
                j.author,
                format!("https://git.example.com/{}.git", j.repo),
                j.status.as_str(),
                j.exit_code,
                j.created_at,
                j.started_at,
                j.finished_at,
                j.trigger,
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

pub fn tui_jobs(bins: &Bins) -> Result<Vec<Row>> {
    let mut d = daemon_with_jobs(options(bins, 2, NOWHERE))?;
    d.try_spawn()?;
    let run = || -> Result<Duration> {
        let t = Instant::now();
        let out = d.try_cli(&["jobs", "--limit", "50"])?;
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

/// Other page routes measured beside `/`, each the median of 20 after a warm-up.
const OTHER_PAGES: [&str; 6] = [
    "/?before=50000",
    "/?state=failed",
    "/repos/alice/app",
    "/repos/alice/app?state=succeed&before=60000",
    "/jobs/100000",
    "/badge/alice/app.svg",
];

pub fn status_page(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let mut d = daemon_with_jobs(options(bins, 2, NOWHERE))?;
    d.try_spawn()?;
    let port = d.port;
    let (times, size, others, assets) = rt.block_on(async {
        let mut c = Conn::try_connect(port).await?;
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let req = get("/");
        let mut size = 0;
        for _ in 0..5 {
            let (status, body) = c.roundtrip(req.as_bytes()).await?;
            ensure!(status == 200, "GET / answered {status}");
            size = body.len();
        }
        let mut times = Vec::new();
        for _ in 0..PAGE_RUNS {
            let t = Instant::now();
            let (status, _) = c.roundtrip(req.as_bytes()).await?;
            times.push(t.elapsed());
            ensure!(status == 200, "GET / answered {status}");
        }
        let mut others = Vec::new();
        for path in OTHER_PAGES {
            let req = get(path);
            let (status, body) = c.roundtrip(req.as_bytes()).await?;
            ensure!(status == 200, "GET {path} answered {status}");
            let mut t = Vec::new();
            for _ in 0..20 {
                let t0 = Instant::now();
                c.roundtrip(req.as_bytes()).await?;
                t.push(t0.elapsed());
            }
            others.push((path, median(&t), body.len()));
        }
        let mut assets = 0;
        for path in ["/assets/app.css", "/assets/app.js"] {
            let (status, body) = c.roundtrip(get(path).as_bytes()).await?;
            ensure!(status == 200, "GET {path} answered {status}");
            assets += body.len();
        }
        anyhow::Ok((times, size, others, assets))
    })?;
    let m = median(&times);
    println!(
        "   page {size} bytes; min {:.2} ms, median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        ms(quantile(&times, 0.0)),
        ms(m),
        ms(quantile(&times, 0.9)),
        ms(quantile(&times, 1.0))
    );
    let mut rows = vec![row(
        "`GET /` with 100,000 jobs, client-measured round trip (median of 50)",
        format!("{:.2} ms", ms(m)),
        "≤ 10 ms",
        m <= Duration::from_millis(10),
    )];
    for (path, t, bytes) in others {
        println!("   {path}: median {:.2} ms, {bytes} bytes", ms(t));
        rows.push(row(
            &format!("`GET {path}` with 100,000 jobs (median of 20)"),
            format!("{:.2} ms", ms(t)),
            "≤ 10 ms",
            t <= Duration::from_millis(10),
        ));
    }
    let weight = size + assets;
    rows.push(row(
        "page weight, `GET /` (30 jobs, 12 branches) + style sheet + script, uncompressed",
        format!("{:.1} KB ({size} + {assets} bytes)", weight as f64 / 1000.0),
        "< 50 KB",
        weight < 50_000,
    ));
    Ok(rows)
}

const STARTS: usize = 5;

pub fn startup(bins: &Bins) -> Result<Vec<Row>> {
    let notify_dir = tempfile::Builder::new().prefix("mcn").tempdir_in("/tmp")?;
    let notify_path = notify_dir.path().join("n.sock");
    let mut d = daemon_with_jobs(Options {
        notify_socket: Some(notify_path.clone()),
        ..options(bins, 2, NOWHERE)
    })?;
    let mut ready = Vec::new();
    let mut hello = Vec::new();
    for _ in 0..STARTS {
        let _ = std::fs::remove_file(&notify_path);
        let notify = std::os::unix::net::UnixDatagram::bind(&notify_path)?;
        notify.set_read_timeout(Some(Duration::from_millis(1)))?;
        let t = Instant::now();
        d.try_launch()?;
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
            if h.is_none() && greets(&d.socket, Duration::from_secs(2)) {
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
