//! Scenario 1, `idle_rss`: a daemon with nothing to do, sampled five times over two seconds.

use crate::common::{Bins, NOWHERE, median_f, mib, options};
use crate::{Row, row};
use anyhow::Result;
use microci_testkit::daemon::TestDaemon;
use microci_testkit::memory::try_memory;
use std::time::Duration;

pub fn idle_rss(bins: &Bins) -> Result<Vec<Row>> {
    let d = TestDaemon::try_start(options(bins, 2, NOWHERE))?;
    let pid = d.try_pid()?;
    let mut rss = Vec::new();
    let mut hwm = 0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        let m = try_memory(pid)?;
        rss.push(mib(m.rss));
        hwm = hwm.max(m.hwm);
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
