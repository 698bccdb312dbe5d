//! Scenario 8, `rss_running`: RSS with 20 jobs running and 5 log followers.

use crate::common::{Bins, MARKER, mib, options, send_webhook};
use crate::{Row, row};
use anyhow::{Result, ensure};
use microci_proto::Request;
use microci_testkit::control::Client;
use microci_testkit::daemon::TestDaemon;
use microci_testkit::memory::try_memory;
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

const RUNNING: usize = 20;

pub fn rss_running(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let repo = Repo::try_with_script(&format!("echo {MARKER}\nsleep 30\n"), None)?;
    // A commit of its own for each job: the daemon folds a delivery of a commit that is already
    // queued or running into that job.
    let commits: Vec<String> = (0..RUNNING)
        .map(|i| repo.try_commit(&[("run.txt", &i.to_string())], &format!("run {i}")))
        .collect::<Result<_>>()?;
    let d = TestDaemon::try_start(options(bins, RUNNING as u32, &repo.url()))?;
    let pid = d.try_pid()?;
    let idle = try_memory(pid)?.rss;
    let result = rt.block_on(async {
        let mut ctl = Client::try_connect(&d.socket).await?;
        let mut jobs = Vec::new();
        for (i, commit) in commits.iter().enumerate() {
            jobs.push(send_webhook(d.port, commit, &format!("run-{i}")).await?);
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = ctl.try_status().await?;
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
        let before_followers = try_memory(pid)?.rss;
        let mut followers = Vec::new();
        for job in jobs.iter().take(5) {
            let mut f = Client::try_connect(&d.socket).await?;
            f.try_send(Request::FollowLog {
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
            samples.push(try_memory(pid)?.rss);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let running = ctl.try_status().await?.running;
        let hwm = try_memory(pid)?.hwm;
        for job in &jobs {
            let _ = ctl.try_call(Request::Cancel { job: *job }).await;
        }
        for job in &jobs {
            ctl.try_wait_for(*job, Duration::from_secs(60), |j| j.status.is_final())
                .await?;
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
