//! Scenario 2, `webhooks`, webhooks accepted per second: closed loop (64 connections always
//! waiting) and open loop (deliveries due at 2,000/s), every delivery a commit of its own.

use crate::common::{
    Bins, NOWHERE, distinct_push, median, median_f, mib, ms, options_for, quantile,
};
use crate::{Row, row};
use anyhow::{Result, ensure};
use microci_testkit::control::Client;
use microci_testkit::daemon::TestDaemon;
use microci_testkit::http::Conn;
use microci_testkit::memory::try_memory;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WEBHOOKS: usize = 20_000;
const CLIENTS: usize = 64;
const ROUNDS: usize = 3;
const PACED_RATE: f64 = 2000.0;

pub fn webhooks(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (which, bin) in bins.daemons() {
        rows.extend(webhooks_of(which, bin, bins, rt)?);
    }
    Ok(rows)
}

fn webhooks_of(
    which: &str,
    bin: &Path,
    bins: &Bins,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<Row>> {
    // The clone URL does not exist: every job ends ERRORED at its clone, without Docker.
    let d = TestDaemon::try_start(options_for(bin, bins, 1, NOWHERE))?;
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
                .collect();
            rt.block_on(fire(port, Arc::new(reqs), CLIENTS, None))?;
        }
        let reqs: Vec<Vec<u8>> = (0..WEBHOOKS)
            .map(|i| distinct_push((round + 1) * WEBHOOKS + i, &format!("r{round}-d{i:08}")))
            .collect();
        let (elapsed, lat, bad) = rt.block_on(fire(port, Arc::new(reqs), CLIENTS, None))?;
        ensure!(bad == 0, "{bad} deliveries were not answered 202");
        let rate = lat.len() as f64 / elapsed.as_secs_f64();
        let (p50, p99) = (quantile(&lat, 0.5), quantile(&lat, 0.99));
        let queued = rt.block_on(async {
            let mut c = Client::try_connect(&d.socket).await?;
            c.try_status().await
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
    let mem = try_memory(d.try_pid()?)?;
    println!(
        "   daemon after: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        mib(mem.rss),
        mib(mem.hwm)
    );
    drop(d);
    // Open loop at the target rate: the same 64 connections, but delivery i is due at
    // start + i / 2,000 s; its latency counts from when it was due (so a late client's wait counts).
    let d = TestDaemon::try_start(options_for(bin, bins, 1, NOWHERE))?;
    let warm: Vec<Vec<u8>> = (0..500)
        .map(|i| distinct_push(i, &format!("warm-{i}")))
        .collect();
    rt.block_on(fire(d.port, Arc::new(warm), CLIENTS, None))?;
    let reqs: Vec<Vec<u8>> = (0..WEBHOOKS)
        .map(|i| distinct_push(WEBHOOKS + i, &format!("paced-d{i:08}")))
        .collect();
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
            &format!(
                "{}, {which}",
                "webhook latency p50, open loop at 2,000/s over 64 connections"
            ),
            format!("{:.2} ms", ms(op50)),
            "≤ 1 ms",
            op50 <= Duration::from_millis(1),
        ),
        row(
            &format!(
                "{}, {which}",
                "webhook latency p99, open loop at 2,000/s over 64 connections"
            ),
            format!("{:.2} ms", ms(op99)),
            "≤ 10 ms",
            op99 <= Duration::from_millis(10),
        ),
        row(
            &format!(
                "{}, {which}",
                "webhooks accepted/s, 64 clients (median of 3 × 20,000)"
            ),
            format!("{rate:.0}/s"),
            "≥ 2,000/s",
            rate >= 2000.0,
        ),
        row(
            &format!(
                "{}, {which}",
                "webhook latency p50, closed loop (64 always waiting)"
            ),
            format!("{:.2} ms", ms(p50)),
            "≤ 1 ms",
            p50 <= Duration::from_millis(1),
        ),
        row(
            &format!(
                "{}, {which}",
                "webhook latency p99, closed loop (64 always waiting)"
            ),
            format!("{:.2} ms", ms(p99)),
            "≤ 10 ms",
            p99 <= Duration::from_millis(10),
        ),
    ])
}

/// Sends every request over `clients` keep-alive connections; returns wall time, each
/// request's latency, and how many were not answered 202. Bounded by 300 s. With `rate`,
/// request i is not sent before `start + i / rate` and its latency counts from then.
pub async fn fire(
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
            let mut conn = Conn::try_connect(port).await?;
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
