//! Scenario 14, `web_live`: 50 browsers following a running job's log on the web page, as the
//! page's script does (`GET /jobs/{id}/events`, Server-Sent Events): how long a line takes from
//! the container to an event stream (the container writes `/proc/uptime` into each line, the
//! client reads the same clock when the line arrives: 10 ms resolution), and how much the
//! daemon's resident memory grows with the 50 streams open.

use crate::common::{Bins, median_f, mib, options, send_webhook};
use crate::{Row, row};
use anyhow::{Context, Result, ensure};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::memory::try_memory;
use microci_testkit::repo::Repo;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const FOLLOWERS: usize = 50;
const LINES: usize = 80;

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Follows the job's events until `end`; the first follower returns each LAT line's latency.
fn follow(port: u16, id: i64, measure: bool) -> Result<Vec<f64>> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET /jobs/{id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = String::new();
    let mut lat = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let now = uptime();
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        if measure {
            for line in pending.lines() {
                if let Some(rest) = line.split("LAT").nth(1) {
                    let mut w = rest.split_whitespace();
                    if let (Some(k), Some(at)) = (w.next(), w.next())
                        && let (Ok(k), Ok(at)) = (k.parse::<u32>(), at.parse::<f64>())
                        && k > 0
                        && seen.insert(k)
                    {
                        lat.push(now - at);
                    }
                }
            }
        }
        if pending.contains("event: end") || pending.contains("event:end") {
            break;
        }
        // Keep only the unfinished last line.
        if let Some(cut) = pending.rfind('\n') {
            pending.drain(..=cut);
        }
    }
    Ok(lat)
}

pub fn web_live(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let repo = Repo::try_with_script(
        &format!(
            "i=0; while [ $i -lt {LINES} ]; do read up idle < /proc/uptime; echo \"LAT$i $up\"; \
             i=$((i+1)); sleep 0.1; done\n"
        ),
        None,
    )?;
    let d = TestDaemon::try_start(Options {
        repo: "public = true\n".into(),
        ..options(bins, 2, &repo.url())
    })?;
    let pid = d.try_pid()?;
    // Warm (git cache, page code paths), then measure the idle daemon.
    let warm = rt.block_on(send_webhook(d.port, &repo.head(), "warm"))?;
    follow(d.port, warm, false)?;
    std::thread::sleep(Duration::from_millis(500));
    let before = try_memory(pid)?.rss;
    repo.try_commit(&[("n", "1")], "again")?;
    let id = rt.block_on(send_webhook(d.port, &repo.head(), "live"))?;
    let port = d.port;
    let handles: Vec<_> = (0..FOLLOWERS)
        .map(|i| std::thread::spawn(move || follow(port, id, i == 0)))
        .collect();
    let t = Instant::now();
    let mut peak = before;
    while !handles.iter().all(|h| h.is_finished()) && t.elapsed() < Duration::from_secs(90) {
        if let Ok(m) = try_memory(pid) {
            peak = peak.max(m.rss);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut lat = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let got = h
            .join()
            .map_err(|_| anyhow::anyhow!("follower {i} panicked"))?
            .with_context(|| format!("follower {i}"))?;
        if i == 0 {
            lat = got;
        }
    }
    ensure!(lat.len() >= LINES - 5, "only {} lines measured", lat.len());
    lat.sort_by(f64::total_cmp);
    let med = median_f(&lat) * 1e3;
    let p90 = lat[lat.len() * 9 / 10] * 1e3;
    let max = lat[lat.len() - 1] * 1e3;
    println!(
        "   {} lines: median {med:.0} ms, p90 {p90:.0} ms, max {max:.0} ms (10 ms clock); RSS {:.1} → peak {:.1} MiB",
        lat.len(),
        mib(before),
        mib(peak)
    );
    let growth = mib(peak.saturating_sub(before));
    Ok(vec![
        row(
            "log line, container → SSE client (`/jobs/{id}/events`), median of 79",
            format!("{med:.0} ms (p90 {p90:.0}, max {max:.0})"),
            "≤ 100 ms",
            med <= 100.0,
        ),
        row(
            "RSS growth, 50 SSE followers of a running job",
            format!("{growth:.1} MiB ({:.1} → {:.1})", mib(before), mib(peak)),
            "≤ 10 MB",
            growth * 1.048_576 <= 10.0,
        ),
    ])
}
