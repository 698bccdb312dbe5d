//! Scenario 4, `log_throughput`, container → disk: one job writes 1 GiB in 100-byte lines; the
//! clock runs from its first own line to its end, and the daemon's RSS is sampled throughout.

use crate::common::{Bins, MARKER, mib, options, send_webhook};
use crate::{Row, row};
use anyhow::{Result, anyhow, ensure};
use microci_proto::JobStatus;
use microci_testkit::control::Client;
use microci_testkit::daemon::TestDaemon;
use microci_testkit::memory::try_memory;
use microci_testkit::repo::Repo;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

const LOG_BYTES: u64 = 1 << 30;

pub fn log_throughput(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    // 99 x's and a newline per line: 100-byte lines, exactly 1 GiB of output after the marker.
    let line = "x".repeat(99);
    let repo = Repo::try_with_script(
        &format!("echo {MARKER}\nyes {line} | head -c {LOG_BYTES}\n"),
        None,
    )?;
    let d = TestDaemon::try_start(options(bins, 2, &repo.url()))?;
    let pid = d.try_pid()?;
    // No warm-up job: the clock starts at the job's first own line, after the clone.
    let rss_before = try_memory(pid)?.rss;
    let logs = d.state_dir().join("logs");
    let (job, t_start, t_end, max_rss, bytes) = rt.block_on(async {
        let mut ctl = Client::try_connect(&d.socket).await?;
        let job = send_webhook(d.port, &repo.head(), "log-1").await?;
        let path = logs.join(format!("{job}.log"));
        let mut t_start = None;
        let mut max_rss = 0;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            ensure!(Instant::now() < deadline, "1 GiB job did not end in 300 s");
            max_rss = max_rss.max(try_memory(pid)?.rss);
            if t_start.is_none() && log_has_marker(&path) {
                t_start = Some(Instant::now());
            }
            let j = ctl.try_job(job).await?;
            if j.status.is_final() {
                ensure!(
                    j.status == JobStatus::Succeed,
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
    let hwm = try_memory(pid)?.hwm;
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
