//! Scenario 3, `latency`: webhook → container running, versus a bare `docker run` of the same
//! image: the time until the job's first own line arrives, on a `follow_log` subscription and on
//! stdout.

use crate::common::{Bins, MARKER, median, ms, options, send_webhook};
use crate::{Row, row};
use anyhow::{Context, Result, anyhow, bail, ensure};
use microci_proto::{Event, JobStatus, Request, ServerMessage};
use microci_testkit::control::Client;
use microci_testkit::daemon::{IMAGE, TestDaemon};
use microci_testkit::repo::Repo;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LATENCY_RUNS: usize = 10;

pub fn latency(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let repo = Repo::try_with_script(&format!("echo {MARKER}\n"), None)?;
    let head = repo.head();
    let d = TestDaemon::try_start(options(bins, 2, &repo.url()))?;
    // Warm: the first job fills the git cache; one bare run warms Docker.
    let first = rt.block_on(microci_to_marker(&d, &head, "warm"))?;
    println!("   first (cold cache) microci run: {:.1} ms", ms(first));
    bare_docker_run(&d.label())?;
    let mut bare = Vec::new();
    let mut mci = Vec::new();
    for i in 0..LATENCY_RUNS {
        // Alternate the order so neither side always runs on a just-warmed Engine.
        if i % 2 == 0 {
            bare.push(bare_docker_run(&d.label())?);
            mci.push(rt.block_on(microci_to_marker(&d, &head, &format!("lat-{i}")))?);
        } else {
            mci.push(rt.block_on(microci_to_marker(&d, &head, &format!("lat-{i}")))?);
            bare.push(bare_docker_run(&d.label())?);
        }
    }
    let (b, m) = (median(&bare), median(&mci));
    let bare_ms: Vec<String> = bare.iter().map(|d| format!("{:.0}", ms(*d))).collect();
    let mci_ms: Vec<String> = mci.iter().map(|d| format!("{:.0}", ms(*d))).collect();
    println!("   bare docker run ms: {}", bare_ms.join(" "));
    println!("   microci webhook ms: {}", mci_ms.join(" "));
    let diff = ms(m) - ms(b);
    Ok(vec![
        row(
            "bare `docker run` → marker on stdout (median of 10)",
            format!("{:.0} ms", ms(b)),
            "(reference)",
            true,
        ),
        row(
            "webhook → marker on follow_log, cached repo (median of 10)",
            format!("{:.0} ms", ms(m)),
            "(reference)",
            true,
        ),
        row(
            "added latency, microci − bare",
            format!("{diff:.0} ms"),
            "≤ 100 ms",
            diff <= 100.0,
        ),
    ])
}

/// `docker run --rm` of the job image printing the marker, labelled `label` (so the daemon's
/// clean-up covers it); time until the marker is read.
fn bare_docker_run(label: &str) -> Result<Duration> {
    let t = Instant::now();
    let mut child = Command::new("docker")
        .args(["run", "--rm", "--label", label])
        .args([IMAGE, "echo", MARKER])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("docker run")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut seen = None;
    for line in std::io::BufReader::new(stdout).lines().take(100) {
        if line?.trim() == MARKER {
            seen = Some(t.elapsed());
            break;
        }
    }
    let status = child.wait()?;
    ensure!(status.success(), "docker run failed: {status}");
    seen.ok_or_else(|| anyhow!("docker run never printed the marker"))
}

/// Webhook sent → the job's own first line (the marker) arrives on a `follow_log` subscription.
async fn microci_to_marker(d: &TestDaemon, after: &str, delivery: &str) -> Result<Duration> {
    let mut ctl = Client::try_connect(&d.socket).await?;
    let t = Instant::now();
    let job = send_webhook(d.port, after, delivery).await?;
    let sub = ctl.try_send(Request::FollowLog { job, offset: 0 }).await?;
    let mut text = String::new();
    let mut seen = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let message = ctl.try_recv(Duration::from_secs(60)).await?;
        match message.context("control socket closed")? {
            ServerMessage::Event {
                id,
                event: Event::Log(chunk),
            } if id == sub => {
                text.push_str(&chunk.data);
                if seen.is_none() && text.lines().any(|l| l == MARKER) {
                    seen = Some(t.elapsed());
                }
            }
            ServerMessage::Event {
                id,
                event: Event::End,
            } if id == sub => break,
            ServerMessage::Error { message, .. } => bail!("follow_log: {message}"),
            _ => {}
        }
    }
    let job = ctl
        .try_wait_for(job, Duration::from_secs(60), |j| j.status.is_final())
        .await?;
    ensure!(
        job.status == JobStatus::Succeed,
        "job {job:?} did not succeed; log:\n{text}"
    );
    seen.ok_or_else(|| anyhow!("marker never arrived; log:\n{text}"))
}
