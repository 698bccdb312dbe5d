//! Scenario 9, `slow_clients`: 400 connections trickling bytes beside real signed pushes.

use crate::common::{Bins, NOWHERE, median, mib, ms, options, quantile, send_webhook};
use crate::{Row, row};
use anyhow::{Result, bail};
use microci_testkit::daemon::TestDaemon;
use microci_testkit::hooks::stalled_request;
use microci_testkit::memory::try_memory;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW: usize = 400;
const REAL_PUSHES: usize = 20;

/// 400 clients hold connections open by trickling bytes (half stop inside their headers, half
/// announce a 1 MiB body and send a few bytes of it); meanwhile real signed pushes arrive on fresh
/// connections. Measures the pushes' latency, the daemon's RSS, and how long until the daemon's
/// deadlines (`http.header_timeout`, `http.body_timeout`, 10 s each) have closed every slow
/// connection.
pub fn slow_clients(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let d = TestDaemon::try_start(options(bins, 2, NOWHERE))?;
    let (port, pid) = (d.port, d.try_pid()?);
    let before = try_memory(pid)?.rss;
    let (lat, with, hwm, closed_after) = rt.block_on(async {
        let mut slow = Vec::with_capacity(SLOW);
        for i in 0..SLOW {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(stalled_request(i, 1 << 20).as_bytes()).await?;
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
        let mem = try_memory(pid)?;
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
        anyhow::Ok((lat, mem.rss, mem.hwm, opened.elapsed()))
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
