//! Scenarios 15–17, the engine pool (issue 12), over extra Docker Engines: real `dockerd`s, each
//! in a network namespace of its own (`microci_testkit::engines`), never the host's Engine.
//!
//! - `pool_overhead`: what placing a job among 3 engines costs over 1. Jobs run one at a time
//!   (`docker.max_jobs = 1`) through two daemons alive side by side, one whose pool is engine `a`
//!   alone and one whose pool is `a`, `b`, `c`, alternating job by job. Idle engines tie and the
//!   first wins, so both daemons run every job on the same engine `a`: what differs is the pool.
//!   Timed on one control connection: the job's STARTED event (published right before placement)
//!   to the job event that names its engine, and to the `[microci] running` line (said right
//!   after placement, before the container is made); and 202 → the log's end, per job.
//! - `pool_throughput`: 100 trivial jobs queued at once, until all are final: 1 engine with
//!   `max_jobs = 2`, 3 engines with `max_jobs = 2` each (6 slots), and 1 engine with
//!   `max_jobs = 6` (the pool's slots on one engine); `docker.max_jobs = 6` for all.
//! - `engine_down_detect`: `engine_ping = "1s"`; an engine's dockerd SIGKILLed, and a TLS
//!   engine's link cut, each repeated: the time until `list_engines` says `healthy: false`, and
//!   after the restart or heal until it says `healthy: true` again.

use crate::common::{Bins, NOWHERE, median, ms, options, send_webhook};
use crate::{Row, row};
use anyhow::{Context, Result, anyhow, bail, ensure};
use microci_proto::{EngineInfo, Event, JobStatus, Reply, Request, ServerMessage};
use microci_testkit::control::Client;
use microci_testkit::daemon::{IMAGE, Options, TestDaemon};
use microci_testkit::engines::{EngineOptions, ExtraEngine};
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

/// Jobs per daemon in `pool_overhead` (after one warm-up job each).
const SEQUENTIAL: usize = 20;
/// Jobs per run of `pool_throughput`.
const JOBS: usize = 100;
/// Runs of each `pool_throughput` setting.
const ROUNDS: usize = 3;
/// Kills and partitions in `engine_down_detect`.
const DETECTIONS: usize = 5;

/// Started engines with the job image loaded.
fn engines(options: &[EngineOptions]) -> Result<Vec<ExtraEngine>> {
    let started: Vec<Result<ExtraEngine>> = std::thread::scope(|s| {
        let handles: Vec<_> = options
            .iter()
            .map(|o| {
                s.spawn(move || {
                    let e = ExtraEngine::try_start(*o)?;
                    e.try_load_image(IMAGE)?;
                    Ok(e)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("an engine's start panicked")))
            })
            .collect()
    });
    started.into_iter().collect()
}

/// An `[[engine]]` table for `e`, reached over its Unix socket.
fn table(name: &str, e: &ExtraEngine, max_jobs: u32) -> String {
    format!(
        "[[engine]]\nname = \"{name}\"\nhost = \"{}\"\nmax_jobs = {max_jobs}\n",
        e.unix_host()
    )
}

/// A bench daemon whose pool is `tables`, `alice/app` cloned from `url`, no push superseding
/// another's queued job.
fn daemon(
    bins: &Bins,
    url: &str,
    max_jobs: u32,
    tables: String,
    docker: &str,
) -> Result<TestDaemon> {
    let base = options(bins, max_jobs, url);
    TestDaemon::try_start(Options {
        extra: tables,
        repo: "cancel_superseded = false\n".into(),
        docker: format!("{}{docker}", base.docker),
        ..base
    })
}

/// One commit per job (a delivery of a commit already queued is folded into that job).
fn commits(repo: &Repo, n: usize) -> Result<Vec<String>> {
    (0..n)
        .map(|i| repo.try_commit(&[("n.txt", &i.to_string())], &format!("job {i}")))
        .collect()
}

pub fn pool_overhead(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let pool = engines(&[EngineOptions::default(); 3])?;
    let repo = Repo::try_with_script("true\n", None)?;
    let commits = commits(&repo, SEQUENTIAL + 1)?;
    let solo = daemon(bins, &repo.url(), 1, table("a", &pool[0], 1), "")?;
    let three = daemon(
        bins,
        &repo.url(),
        1,
        table("a", &pool[0], 1) + &table("b", &pool[1], 1) + &table("c", &pool[2], 1),
        "",
    )?;
    let (one, many) = rt.block_on(async {
        let mut c1 = Watcher::new(&solo).await?;
        let mut c3 = Watcher::new(&three).await?;
        // Warm-up: the git cache, the engine's first container, the pool's image probe.
        c1.run(&commits[0], "warm").await?;
        c3.run(&commits[0], "warm").await?;
        let (mut one, mut many) = (Vec::new(), Vec::new());
        for (i, commit) in commits[1..].iter().enumerate() {
            let delivery = format!("seq-{i}");
            // Alternate which goes first, so neither always follows the other's job.
            if i % 2 == 0 {
                one.push(c1.run(commit, &delivery).await?);
                many.push(c3.run(commit, &delivery).await?);
            } else {
                many.push(c3.run(commit, &delivery).await?);
                one.push(c1.run(commit, &delivery).await?);
            }
        }
        anyhow::Ok((one, many))
    })?;
    let stat =
        |v: &[Sample], f: fn(&Sample) -> Duration| median(&v.iter().map(f).collect::<Vec<_>>());
    let show = |which: &str, v: &[Sample]| {
        let runs: Vec<String> = v
            .iter()
            .map(|s| format!("{:.1}", ms(s.to_running)))
            .collect();
        println!("   {which}: STARTED → running ms: {}", runs.join(" "));
        let walls: Vec<String> = v.iter().map(|s| format!("{:.0}", ms(s.wall))).collect();
        println!("   {which}: 202 → log end ms: {}", walls.join(" "));
        let engines: Vec<&str> = v.iter().map(|s| s.engine.as_str()).collect();
        println!("   {which}: engines {}", engines.join(" "));
        let replayed = v.iter().filter(|s| !s.followed).count();
        if replayed > 0 {
            println!("   {which}: {replayed} jobs' logs were read back, not followed: left out");
        }
    };
    show("1 engine", &one);
    show("3 engines", &many);
    let to_engine = (stat(&one, |s| s.to_engine), stat(&many, |s| s.to_engine));
    let to_running = (stat(&one, |s| s.to_running), stat(&many, |s| s.to_running));
    let wall = (stat(&one, |s| s.wall), stat(&many, |s| s.wall));
    let diff = ms(to_running.1) - ms(to_running.0);
    println!(
        "   medians of {SEQUENTIAL}: STARTED → engine recorded {:.1} / {:.1} ms, STARTED → \
         running {:.1} / {:.1} ms, 202 → log end {:.0} / {:.0} ms (1 / 3 engines); \
         loadavg {}",
        ms(to_engine.0),
        ms(to_engine.1),
        ms(to_running.0),
        ms(to_running.1),
        ms(wall.0),
        ms(wall.1),
        crate::loadavg()
    );
    Ok(vec![
        row(
            "STARTED → engine recorded, 1 / 3 engines (median of 20)",
            format!("{:.1} / {:.1} ms", ms(to_engine.0), ms(to_engine.1)),
            "(reference)",
            true,
        ),
        row(
            "STARTED → `running` line, 1 / 3 engines (median of 20)",
            format!("{:.1} / {:.1} ms", ms(to_running.0), ms(to_running.1)),
            "(reference)",
            true,
        ),
        row(
            "placement overhead per job, 3 engines − 1 (STARTED → `running`)",
            format!("{diff:.1} ms"),
            "≤ 5 ms",
            diff <= 5.0,
        ),
        row(
            "webhook 202 → log end, one job at a time, 3 / 1 engines",
            format!(
                "{:.0} / {:.0} ms (× {:.2})",
                ms(wall.1),
                ms(wall.0),
                wall.1.as_secs_f64() / wall.0.as_secs_f64()
            ),
            "(reference)",
            true,
        ),
    ])
}

/// What one job of `pool_overhead` took.
struct Sample {
    /// STARTED event → the job event naming its engine.
    to_engine: Duration,
    /// STARTED event → the `[microci] running` line.
    to_running: Duration,
    /// Webhook sent → the log's end.
    wall: Duration,
    engine: String,
    /// The `running` line arrived as it was written (not read back with the lines before it).
    followed: bool,
}

/// A control connection watching every job of one daemon.
struct Watcher<'a> {
    d: &'a TestDaemon,
    c: Client,
    watch: u64,
}

impl<'a> Watcher<'a> {
    async fn new(d: &'a TestDaemon) -> Result<Watcher<'a>> {
        let mut c = Client::try_connect(&d.socket).await?;
        let watch = c.try_send(Request::WatchJobs).await?;
        Ok(Watcher { d, c, watch })
    }

    /// Sends a push of `commit`, follows the job's log and times it (see [`Sample`]).
    async fn run(&mut self, commit: &str, delivery: &str) -> Result<Sample> {
        let sent = Instant::now();
        let job = send_webhook(self.d.port, commit, delivery).await?;
        let follow = self
            .c
            .try_send(Request::FollowLog { job, offset: 0 })
            .await?;
        let (mut started, mut placed, mut running) = (None, None, None);
        let mut engine = None;
        let mut status = None;
        let mut text = String::new();
        let mut followed = false;
        let deadline = sent + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(
                !left.is_zero(),
                "job {job} did not end within 60 s:\n{text}"
            );
            let m = self
                .c
                .try_recv(left)
                .await?
                .context("control socket closed")?;
            let now = Instant::now();
            match m {
                ServerMessage::Event {
                    id,
                    event: Event::Job { job: j },
                } if (id == self.watch || id == follow) && j.id == job => {
                    if j.status == JobStatus::Started && started.is_none() {
                        started = Some(now);
                    }
                    if let Some(e) = &j.engine
                        && placed.is_none()
                    {
                        placed = Some(now);
                        engine = Some(e.clone());
                    }
                    if j.status.is_final() {
                        status = Some(j.status);
                    }
                }
                ServerMessage::Event {
                    id,
                    event: Event::Log(chunk),
                } if id == follow => {
                    if running.is_none() && chunk.data.contains("[microci] running ") {
                        // Read back at once with the lines before it, not as it was written:
                        // then its time says nothing.
                        followed = !chunk.data.contains("[microci] fetching");
                        running = Some(now);
                    }
                    text.push_str(&chunk.data);
                }
                ServerMessage::Event {
                    id,
                    event: Event::End,
                } if id == follow => break,
                ServerMessage::Error { message, .. } => bail!("control socket: {message}"),
                _ => {}
            }
        }
        let wall = sent.elapsed();
        ensure!(
            status == Some(JobStatus::Succeed),
            "job {job} ended {status:?}:\n{text}"
        );
        let started = started.ok_or_else(|| anyhow!("no STARTED event for job {job}"))?;
        let at = |t: Option<Instant>, what: &str| {
            t.map(|t| t.saturating_duration_since(started))
                .ok_or_else(|| anyhow!("job {job}: no {what}:\n{text}"))
        };
        Ok(Sample {
            to_engine: at(placed, "engine recorded")?,
            to_running: at(running, "`running` line")?,
            wall,
            engine: engine.unwrap_or_default(),
            followed,
        })
    }
}

/// One `pool_throughput` setting: its name, its `[[engine]]` tables' engines and `max_jobs`.
struct Setting {
    name: &'static str,
    engines: &'static [(&'static str, usize, u32)],
}

const SETTINGS: [Setting; 3] = [
    Setting {
        name: "1 engine × max_jobs 2",
        engines: &[("a", 0, 2)],
    },
    Setting {
        name: "3 engines × max_jobs 2",
        engines: &[("a", 0, 2), ("b", 1, 2), ("c", 2, 2)],
    },
    Setting {
        name: "1 engine × max_jobs 6",
        engines: &[("a", 0, 6)],
    },
];

pub fn pool_throughput(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let pool = engines(&[EngineOptions::default(); 3])?;
    let repo = Repo::try_with_script("true\n", None)?;
    let commits = commits(&repo, JOBS + 1)?;
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); SETTINGS.len()];
    for round in 0..ROUNDS {
        // Rotate the order, so no setting always runs first on a fresh machine.
        for k in 0..SETTINGS.len() {
            let s = (round + k) % SETTINGS.len();
            let setting = &SETTINGS[s];
            let tables: String = setting
                .engines
                .iter()
                .map(|(name, i, max)| table(name, &pool[*i], *max))
                .collect();
            let d = daemon(bins, &repo.url(), 6, tables, "")?;
            let (wall, spread) = rt.block_on(hundred(&d, &commits))?;
            println!(
                "   round {round}, {}: {JOBS} jobs all final in {:.2} s ({:.1} jobs/s); \
                 per engine {spread}; loadavg {}",
                setting.name,
                wall.as_secs_f64(),
                JOBS as f64 / wall.as_secs_f64(),
                crate::loadavg()
            );
            walls[s].push(wall);
        }
    }
    let med: Vec<Duration> = walls.iter().map(|w| median(w)).collect();
    let mut rows: Vec<Row> = SETTINGS
        .iter()
        .zip(&med)
        .map(|(s, m)| {
            row(
                &format!(
                    "{JOBS} trivial jobs, all final, {} (median of {ROUNDS})",
                    s.name
                ),
                format!("{:.1} s", m.as_secs_f64()),
                "(reference)",
                true,
            )
        })
        .collect();
    let ratio = med[0].as_secs_f64() / med[1].as_secs_f64();
    rows.push(row(
        "speed-up (wall, 1 engine × 2 ÷ 3 engines × 2)",
        format!("× {ratio:.2}"),
        "> 1 (2 cores shared by all engines)",
        ratio > 1.0,
    ));
    let same = med[2].as_secs_f64() / med[1].as_secs_f64();
    rows.push(row(
        "wall, 1 engine × 6 ÷ 3 engines × 2 (the same 6 slots)",
        format!("× {same:.2}"),
        "(reference)",
        true,
    ));
    Ok(rows)
}

/// A warm-up job, then `JOBS` pushes at once: the time from the first until all are final, and
/// how many ran on each engine.
async fn hundred(d: &TestDaemon, commits: &[String]) -> Result<(Duration, String)> {
    let mut c = Client::try_connect(&d.socket).await?;
    let warm = send_webhook(d.port, &commits[0], "warm").await?;
    let job = c
        .try_wait_for(warm, Duration::from_secs(60), |j| j.status.is_final())
        .await?;
    ensure!(job.status == JobStatus::Succeed, "warm-up job: {job:?}");
    let t = Instant::now();
    let mut ids = Vec::new();
    for (i, commit) in commits[1..].iter().enumerate() {
        ids.push(send_webhook(d.port, commit, &format!("job-{i}")).await?);
    }
    loop {
        let s = c.try_status().await?;
        if s.queued + s.running == 0 {
            break;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(600),
            "{} queued and {} running after 600 s",
            s.queued,
            s.running
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = t.elapsed();
    let mut per_engine = std::collections::BTreeMap::new();
    for id in ids {
        let job = c.try_job(id).await?;
        ensure!(job.status == JobStatus::Succeed, "job {id}: {job:?}");
        *per_engine
            .entry(job.engine.unwrap_or_default())
            .or_insert(0) += 1;
    }
    let spread: Vec<String> = per_engine.iter().map(|(e, n)| format!("{e} {n}")).collect();
    Ok((wall, spread.join(", ")))
}

pub fn engine_down_detect(bins: &Bins, rt: &tokio::runtime::Runtime) -> Result<Vec<Row>> {
    let tls = EngineOptions {
        tls: true,
        ..EngineOptions::default()
    };
    let pool = engines(&[EngineOptions::default(), tls])?;
    let (unix, remote) = (&pool[0], &pool[1]);
    let tls_table = format!(
        "[[engine]]\nname = \"tls\"\nhost = \"{}\"\ntls_ca = \"{}\"\ntls_cert = \"{}\"\n\
         tls_key = \"{}\"\n",
        remote.tcp_host(),
        remote.ca().display(),
        remote.client_cert().display(),
        remote.client_key().display()
    );
    let d = daemon(
        bins,
        NOWHERE,
        2,
        table("unix", unix, 2) + &tls_table,
        "engine_ping = \"1s\"\n",
    )?;
    let mut rows = Vec::new();
    let cases: [(&str, &str, &ExtraEngine); 2] = [
        ("unix", "dockerd SIGKILLed", unix),
        ("tls", "TLS engine's link cut", remote),
    ];
    for (name, what, e) in cases {
        let (mut down, mut up) = (Vec::new(), Vec::new());
        for i in 0..DETECTIONS {
            rt.block_on(until_healthy(&d, name, true, Duration::from_secs(30)))?;
            // Spread the faults over the ping period.
            std::thread::sleep(Duration::from_millis(130 + 170 * i as u64));
            // From just before the fault: the kill waits for containerd to go as well.
            let t = Instant::now();
            if name == "unix" {
                e.kill();
            } else {
                e.partition();
            }
            let seen = rt.block_on(until_healthy(&d, name, false, Duration::from_secs(15)))?;
            down.push(seen.duration_since(t));
            // From when it answers again: the restart waits for dockerd's `/_ping`.
            if name == "unix" {
                e.try_restart()?;
            } else {
                e.heal();
            }
            let back = Instant::now();
            let seen = rt.block_on(until_healthy(&d, name, true, Duration::from_secs(30)))?;
            up.push(seen.duration_since(back));
        }
        let list = |v: &[Duration]| {
            v.iter()
                .map(|d| format!("{:.0}", ms(*d)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("   {what}: seen down after ms {}", list(&down));
        println!("   {what}: seen up again after ms {}", list(&up));
        let max = down.iter().copied().max().unwrap_or_default();
        rows.push(row(
            &format!("{what} → `healthy: false`, engine_ping 1s (median / max of {DETECTIONS})"),
            format!("{:.0} / {:.0} ms", ms(median(&down)), ms(max)),
            "≤ 2 s (a ping period + a ping's deadline)",
            max <= Duration::from_secs(2),
        ));
        rows.push(row(
            &format!("{what}: back → `healthy: true` (median of {DETECTIONS})"),
            format!("{:.0} ms", ms(median(&up))),
            "(reference)",
            true,
        ));
    }
    Ok(rows)
}

/// Polls `list_engines` every 20 ms until engine `name`'s health is `healthy`; when it was seen.
async fn until_healthy(
    d: &TestDaemon,
    name: &str,
    healthy: bool,
    within: Duration,
) -> Result<Instant> {
    let t = Instant::now();
    let mut c = Client::try_connect(&d.socket).await?;
    loop {
        let engines: Vec<EngineInfo> = match c.try_call(Request::ListEngines).await? {
            Ok(Reply::Engines { engines }) => engines,
            other => bail!("list_engines: {other:?}"),
        };
        let e = engines
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| anyhow!("no engine {name} in {engines:?}"))?;
        if e.healthy == healthy {
            return Ok(Instant::now());
        }
        ensure!(
            t.elapsed() < within,
            "engine {name} not healthy={healthy} within {within:?}: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
