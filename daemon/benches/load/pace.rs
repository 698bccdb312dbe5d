//! Scenario 11, `scheduler_pace`: does the scheduler keep up with the intake? Jobs whose clone
//! fails at once (the clone URL does not exist) under the default `max_jobs = 2`:
//! 2,000 accepted as fast as 64 clients send them, then the time from the last 202 until every
//! one is final; and 20,000 sent at 5,000/s, counting the jobs finished while they arrive. For
//! this build and for `MICROCID_BASELINE` when set.
//!
//! Every daemon's state directory is kept until the scenario ends: deleting one run's thousands
//! of job logs makes ext4's inode allocator walk past them for a while (`recently_deleted`),
//! which would slow the next run's log file creation and measure the bench, not the scheduler.

use crate::common::{Bins, NOWHERE, distinct_push, options_for};
use crate::webhooks::fire;
use crate::{Row, row};
use anyhow::{Result, ensure};
use microci_testkit::control::Client;
use microci_testkit::daemon::TestDaemon;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DRAIN: usize = 2_000;
const FLOOD: usize = 20_000;
const FLOOD_RATE: f64 = 5_000.0;

pub fn scheduler_pace(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut done_with = Vec::new();
    for (which, bin) in bins.daemons() {
        let (drain, d) = rt.block_on(drain_time(bins, bin))?;
        done_with.push(d);
        println!(
            "   {which}: {DRAIN} jobs all final {:.2} s after the last 202",
            drain.as_secs_f64()
        );
        rows.push(row(
            &format!("{DRAIN} queued clone-failing jobs all final after the last 202, {which}"),
            format!("{:.2} s", drain.as_secs_f64()),
            "≤ 3 s",
            drain <= Duration::from_secs(3),
        ));
        let (rate, intake, d) = rt.block_on(finished_during_flood(bins, bin))?;
        done_with.push(d);
        println!(
            "   {which}: {FLOOD} sent at {FLOOD_RATE:.0}/s in {:.2} s; {rate:.0} jobs finished per second meanwhile",
            intake.as_secs_f64()
        );
        rows.push(row(
            &format!("jobs finished per second while webhooks arrive at 5,000/s, {which}"),
            format!("{rate:.0}/s"),
            "≥ 500/s",
            rate >= 500.0,
        ));
    }
    drop(done_with);
    Ok(rows)
}

/// Final jobs: every job that is neither queued nor running.
async fn settled(c: &mut Client, total: usize) -> Result<usize> {
    let s = c.try_status().await?;
    Ok(total.saturating_sub((s.queued + s.running) as usize))
}

/// The time from the last 202 until all are final, and the daemon (to be dropped later).
async fn drain_time(bins: &Bins, bin: &Path) -> Result<(Duration, TestDaemon)> {
    let d = TestDaemon::try_start(options_for(bin, bins, 2, NOWHERE))?;
    let reqs: Vec<Vec<u8>> = (0..DRAIN)
        .map(|i| distinct_push(i, &format!("drain-{i}")))
        .collect();
    let (_, _, bad) = fire(d.port, Arc::new(reqs), 64, None).await?;
    ensure!(bad == 0, "{bad} deliveries were not answered 202");
    let last = Instant::now();
    let mut c = Client::try_connect(&d.socket).await?;
    while settled(&mut c, DRAIN).await? < DRAIN {
        ensure!(
            last.elapsed() < Duration::from_secs(120),
            "jobs still pending after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((last.elapsed(), d))
}

/// Jobs finished per second of intake, the intake's duration, and the daemon.
async fn finished_during_flood(bins: &Bins, bin: &Path) -> Result<(f64, Duration, TestDaemon)> {
    let d = TestDaemon::try_start(options_for(bin, bins, 2, NOWHERE))?;
    let reqs: Vec<Vec<u8>> = (0..FLOOD)
        .map(|i| distinct_push(DRAIN + i, &format!("flood-{i}")))
        .collect();
    let (intake, _, bad) = fire(d.port, Arc::new(reqs), 64, Some(FLOOD_RATE)).await?;
    ensure!(bad == 0, "{bad} deliveries were not answered 202");
    let mut c = Client::try_connect(&d.socket).await?;
    let done = settled(&mut c, FLOOD).await?;
    Ok((done as f64 / intake.as_secs_f64(), intake, d))
}
