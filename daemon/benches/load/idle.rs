//! Scenario 1, `idle_rss`: a daemon with nothing to do (the Docker Engine reachable), five samples
//! 400 ms apart from 3 s after it said READY=1; and, scenario 10, `binary_size`: the stripped
//! `microcid`. Both for this build and for `MICROCID_BASELINE` when set.

use crate::common::{Bins, NOWHERE, Notify, median_f, mib, options_for};
use crate::{Row, row};
use anyhow::{Context, Result, ensure};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::memory::try_memory;
use std::path::Path;
use std::time::Duration;

pub fn idle_rss(bins: &Bins) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (which, bin) in bins.daemons() {
        let notify = Notify::bind()?;
        let mut d = TestDaemon::try_start(Options {
            notify_socket: Some(notify.path.clone()),
            ..options_for(bin, bins, 2, NOWHERE)
        })?;
        // The harness's own start waited for READY too; start again, measured from READY.
        d.stop();
        d.try_launch()?;
        notify.ready()?;
        std::thread::sleep(Duration::from_secs(3));
        let pid = d.try_pid()?;
        let mut samples = Vec::new();
        for i in 0..5 {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(400));
            }
            samples.push(try_memory(pid)?);
        }
        let median = |f: fn(&microci_testkit::memory::Memory) -> u64| {
            median_f(&samples.iter().map(|m| mib(f(m))).collect::<Vec<_>>())
        };
        let (rss, anon, pss) = (median(|m| m.rss), median(|m| m.anon), median(|m| m.pss));
        println!(
            "   {which}: VmRSS samples MiB {:.2?}; RssAnon {anon:.2} MiB, Pss {pss:.2} MiB",
            samples.iter().map(|m| mib(m.rss)).collect::<Vec<_>>()
        );
        rows.push(row(
            &format!("idle VmRSS, 3 s after READY (median of 5), {which}"),
            format!(
                "{rss:.2} MiB = {:.2} MB (RssAnon {anon:.2} MiB, Pss {pss:.2} MiB)",
                rss * 1.048_576
            ),
            "≤ 8 MB",
            rss * 1.048_576 <= 8.0,
        ));
    }
    Ok(rows)
}

pub fn binary_size(bins: &Bins) -> Result<Vec<Row>> {
    let dir = tempfile::Builder::new().prefix("mcs").tempdir_in("/tmp")?;
    let mut rows = Vec::new();
    for (which, bin) in bins.daemons() {
        let stripped = dir.path().join(which);
        let status = std::process::Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(bin)
            .status()
            .context("run strip (binutils)")?;
        ensure!(status.success(), "strip {} failed", bin.display());
        let size = file_size(&stripped)?;
        println!(
            "   {which}: {} is {:.2} MB, stripped {:.2} MB",
            bin.display(),
            file_size(bin)? as f64 / 1e6,
            size as f64 / 1e6
        );
        rows.push(row(
            &format!("stripped `microcid`, {which}"),
            format!("{:.2} MB", size as f64 / 1e6),
            "≤ 8 MB",
            size <= 8_000_000,
        ));
    }
    Ok(rows)
}

fn file_size(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("{}", p.display()))?
        .len())
}
