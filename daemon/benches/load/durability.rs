//! Scenarios 12 and 13, what leaving microci alone for a year needs: `restart_reattach` (10 jobs
//! running across a `systemctl restart`: true exit codes, byte-exact logs, and how soon after
//! READY every job is followed again) and `prune` (100,000 old jobs pruned in batches while
//! webhooks arrive: their p99 against the same load with no prune).

use crate::common::{Bins, NOWHERE, Notify, distinct_push, ms, options, quantile};
use crate::{Row, row};
use anyhow::{Context, Result, anyhow, ensure};
use microci_proto::{JobStatus, Reply, Request};
use microci_testkit::control::Client;
use microci_testkit::daemon::TestDaemon;
use microci_testkit::http::Conn;
use microci_testkit::repo::Repo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const RUNNING: usize = 10;
const LINES: usize = 300;
const OLD_JOBS: usize = 100_000;
/// Open-loop webhook rate while measuring the prune, and its connections.
const PRUNE_RATE: f64 = 200.0;
const PRUNE_CLIENTS: usize = 4;

pub fn restart_reattach(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    // Numbered lines for ~6 s, then an exit code of the job's own (its id modulo 5).
    let repo = Repo::try_with_script(
        &format!(
            "i=1; while [ $i -le {LINES} ]; do echo \"line-$i\"; i=$((i+1)); sleep 0.02; done; \
             exit $((MICROCI_JOB % 5))\n"
        ),
        None,
    )?;
    let commits: Vec<String> = (0..RUNNING)
        .map(|i| repo.try_commit(&[("run.txt", &i.to_string())], &format!("run {i}")))
        .collect::<Result<_>>()?;
    let notify = Notify::bind()?;
    let mut d = TestDaemon::try_start(microci_testkit::daemon::Options {
        notify_socket: Some(notify.path.clone()),
        // Ten pushes to main in a row: all of them are to run, none superseded.
        repo: "cancel_superseded = false\n".into(),
        ..options(bins, RUNNING as u32, &repo.url())
    })?;
    notify.ready()?;
    let jobs = rt.block_on(async {
        let mut ids = Vec::new();
        for (i, c) in commits.iter().enumerate() {
            ids.push(crate::common::send_webhook(d.port, c, &format!("r-{i}")).await?);
        }
        // Every job running and printing.
        let mut ctl = Client::try_connect(&d.socket).await?;
        for &id in &ids {
            ctl.try_wait_for(id, Duration::from_secs(90), |j| {
                j.status == JobStatus::Started && j.log_size > 400
            })
            .await?;
        }
        anyhow::Ok(ids)
    })?;
    let logs = d.state_dir().join("logs");
    let size = |id: i64| std::fs::metadata(logs.join(format!("{id}.log"))).map_or(0, |m| m.len());
    d.stop();
    let at_stop: Vec<u64> = jobs.iter().map(|&id| size(id)).collect();
    let running = d.try_containers()?.len();
    ensure!(
        running == RUNNING,
        "{running} containers outlived the stop, not {RUNNING}"
    );
    std::thread::sleep(Duration::from_millis(500));
    d.try_spawn()?;
    notify.ready()?;
    let ready = Instant::now();
    // Re-attached: each log grows past what it had when the daemon stopped.
    let deadline = ready + Duration::from_secs(20);
    let mut pending: Vec<usize> = (0..RUNNING).collect();
    while !pending.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "jobs {pending:?} never re-attached"
        );
        pending.retain(|&i| size(jobs[i]) <= at_stop[i]);
        std::thread::sleep(Duration::from_millis(2));
    }
    let reattached = ready.elapsed();
    let exact = rt.block_on(async {
        let mut ctl = Client::try_connect(&d.socket).await?;
        let mut exact = 0;
        for &id in &jobs {
            let job = ctl
                .try_wait_for(id, Duration::from_secs(90), |j| j.status.is_final())
                .await?;
            let code = id % 5;
            let want = if code == 0 {
                JobStatus::Succeed
            } else {
                JobStatus::Failed
            };
            ensure!(
                job.status == want && job.exit_code == Some(code),
                "job {id}: {job:?}, expected exit {code}"
            );
            let log = std::fs::read_to_string(logs.join(format!("{id}.log")))?;
            let numbers: Vec<usize> = log
                .lines()
                .filter_map(|l| l.strip_prefix("line-"))
                .map(|n| n.parse().map_err(|_| anyhow!("mangled line {n:?}")))
                .collect::<Result<_>>()?;
            let stray = log
                .lines()
                .filter(|l| !l.starts_with("line-") && !l.starts_with("[microci] "))
                .count();
            if numbers == (1..=LINES).collect::<Vec<_>>() && stray == 0 {
                exact += 1;
            }
        }
        anyhow::Ok(exact)
    })?;
    println!(
        "   {RUNNING} jobs re-attached {:.0} ms after READY; {exact} of {RUNNING} logs byte-exact",
        ms(reattached)
    );
    Ok(vec![
        row(
            "restart (SIGTERM) with 10 jobs running: true exit codes and byte-exact logs",
            format!("{exact} of {RUNNING}"),
            "10 of 10",
            exact == RUNNING,
        ),
        row(
            "re-attach time for 10 jobs after READY (every log growing again)",
            format!("{:.0} ms", ms(reattached)),
            "≤ 500 ms",
            reattached <= Duration::from_millis(500),
        ),
    ])
}

pub fn prune(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    // Only the age limit prunes here: every job is kept by count and by log size.
    let keep_all = "[retention]\nmax_age = \"100000d\"\nkeep_per_repo = 10000000\n";
    let mut d = TestDaemon::try_start(microci_testkit::daemon::Options {
        extra: keep_all.into(),
        ..options(bins, 1, NOWHERE)
    })?;
    d.stop();
    let t = Instant::now();
    seed_old_jobs(&d)?;
    println!(
        "   seeded {OLD_JOBS} jobs that ended 200 days ago, with their logs, in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    d.try_spawn()?;
    let idle = rt.block_on(paced(d.port, 0, None, Duration::from_secs(10)))?;
    // Now let 90 days be the limit, and prune while the same load arrives.
    let config = std::fs::read_to_string(&d.config)?;
    std::fs::write(
        &d.config,
        config.replace(
            keep_all,
            "[retention]\nmax_age = \"90d\"\nkeep_per_repo = 10000000\n",
        ),
    )?;
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &d.try_pid()?.to_string()])
        .status()?;
    ensure!(hup.success(), "kill -HUP failed");
    std::thread::sleep(Duration::from_millis(300));
    let (during, report, took) = rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(paced(
            d.port,
            1_000_000,
            Some(done.clone()),
            Duration::from_secs(300),
        ));
        let t = Instant::now();
        let mut ctl = Client::try_connect(&d.socket).await?;
        let reply = ctl.try_call(Request::Prune { dry_run: false }).await?;
        let took = t.elapsed();
        done.store(true, Ordering::Relaxed);
        let during = load.await??;
        let report = match reply {
            Ok(Reply::Pruned(r)) => r,
            other => return Err(anyhow!("prune: {other:?}")),
        };
        anyhow::Ok((during, report, took))
    })?;
    ensure!(
        report.jobs as usize >= OLD_JOBS - 1,
        "pruned only {} jobs",
        report.jobs
    );
    let left = std::fs::read_dir(d.state_dir().join("logs"))?.count();
    // Idle again, after: the machine is shared, so the reference is both idle runs together.
    let after = rt.block_on(paced(d.port, 2_000_000, None, Duration::from_secs(10)))?;
    println!(
        "   idle before: p99 {:.2} ms; idle after: p99 {:.2} ms",
        ms(quantile(&idle, 0.99)),
        ms(quantile(&after, 0.99))
    );
    let idle: Vec<Duration> = idle.into_iter().chain(after).collect();
    let (i99, d99) = (quantile(&idle, 0.99), quantile(&during, 0.99));
    println!(
        "   pruned {} jobs ({} MiB of logs) in {:.1} s, {} batches; logs left: {left}",
        report.jobs,
        report.log_bytes >> 20,
        took.as_secs_f64(),
        report.jobs.div_ceil(microcid::retention::BATCH as u64)
    );
    println!(
        "   webhooks at {PRUNE_RATE:.0}/s: idle {} (p50 {:.2}, p99 {:.2} ms); during the prune {} \
         (p50 {:.2}, p99 {:.2}, max {:.2} ms)",
        idle.len(),
        ms(quantile(&idle, 0.5)),
        ms(i99),
        during.len(),
        ms(quantile(&during, 0.5)),
        ms(d99),
        ms(quantile(&during, 1.0))
    );
    Ok(vec![
        row(
            "prune of 100,000 old jobs, in batches of 100",
            format!("{:.1} s", took.as_secs_f64()),
            "(reference)",
            true,
        ),
        row(
            "webhook p99 during the prune ÷ idle p99 (open loop, 200/s; idle before and after)",
            format!(
                "{:.2} ({:.2} / {:.2} ms)",
                ms(d99) / ms(i99),
                ms(d99),
                ms(i99)
            ),
            "≤ 2×",
            d99 <= i99 * 2,
        ),
    ])
}

/// Writes `OLD_JOBS` finished jobs that ended 200 days ago straight into the stopped daemon's
/// database, with a 512-byte log each: what a year of pushes leaves.
fn seed_old_jobs(d: &TestDaemon) -> Result<()> {
    let state = d.state_dir();
    let mut db = rusqlite::Connection::open(state.join("microci.db")).context("open the db")?;
    let ended = time::OffsetDateTime::now_utc() - time::Duration::days(200);
    let ended = ended
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?;
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO jobs (repo, git_ref, commit_sha, message, author, clone_url, status, \
             reason, exit_code, created_at, started_at, finished_at, trigger, log_size) \
             VALUES ('alice/app', 'refs/heads/main', ?1, 'old', 'alice', ?2, 'FAILED', \
             'command exited with code 1', 1, ?3, ?3, ?3, 'webhook', 512)",
        )?;
        for i in 0..OLD_JOBS {
            insert.execute(rusqlite::params![format!("{:040x}", i), NOWHERE, ended])?;
        }
    }
    tx.commit()?;
    let first: i64 = db.query_row("SELECT MIN(id) FROM jobs", [], |r| r.get(0))?;
    let logs = state.join("logs");
    let text = vec![b'x'; 512];
    for id in first..first + OLD_JOBS as i64 {
        std::fs::write(logs.join(format!("{id}.log")), &text)?;
    }
    Ok(())
}

/// Deliveries at [`PRUNE_RATE`] over [`PRUNE_CLIENTS`] connections, each a commit of its own
/// (from `first`), until `done` is set or `bound` passes (`done` unset: for `bound`); returns
/// each one's latency from when it was due.
async fn paced(
    port: u16,
    first: usize,
    done: Option<Arc<AtomicBool>>,
    bound: Duration,
) -> Result<Vec<Duration>> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..PRUNE_CLIENTS {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::try_connect(port).await?;
            let mut lat = Vec::new();
            for k in 0.. {
                let i = k * PRUNE_CLIENTS + c;
                let due = start + Duration::from_secs_f64(i as f64 / PRUNE_RATE);
                if due - start > bound || done.as_ref().is_some_and(|d| d.load(Ordering::Relaxed)) {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let req = distinct_push(first + i, &format!("p-{first}-{i}"));
                let (status, _) = conn.roundtrip(&req).await?;
                ensure!(status == 202, "a delivery was answered {status}");
                lat.push(due.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}
