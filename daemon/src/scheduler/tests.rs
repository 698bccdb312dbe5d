//! The scheduler without Docker: a real store and real git checkouts, and a fake engine whose
//! containers run little scripts. Queue order, `max_jobs`, cancel (queued, cloning, running),
//! timeouts, outcomes and recovery after a crash.
#![allow(clippy::unwrap_used)]

use crate::config::{Config, SystemdDirs};
use crate::jobs::Jobs;
use crate::runner::fake::FakeEngine;
use crate::state_dir::StateDir;
use crate::store::{Run, Transition};
use crate::testing::{repo, script};
use microci_proto::{Job, JobStatus};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Fixture {
    dir: tempfile::TempDir,
    jobs: Arc<Jobs<FakeEngine>>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    _state: StateDir,
}

impl Fixture {
    async fn new(max_jobs: usize, files: &[&str]) -> (Fixture, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let repo_dir = dir.path().join("repo");
        std::fs::create_dir_all(&repo_dir).unwrap();
        let commits = repo(&repo_dir, files);
        let text = format!(
            "state_dir = \"{}\"\n[docker]\nmax_jobs = {max_jobs}\ndefault_image = \"fake\"\n\
             timeout = \"30s\"\n[webhook]\nsecret = \"0123456789abcdef0123\"\n\
             [[repo]]\nname = \"a/b\"\nclone_url = \"{}\"\n",
            dir.path().join("state").display(),
            repo_dir.display()
        );
        let config = Config::parse(Path::new("/c.toml"), &text, &SystemdDirs::default()).unwrap();
        let state = StateDir::lock(&config.state_dir).unwrap();
        state.create_layout().unwrap();
        let store = crate::store::open(&state.database()).unwrap();
        let jobs = Arc::new(Jobs::new(
            Arc::new(config),
            &state,
            store,
            Arc::new(FakeEngine::default()),
        ));
        let mut f = Fixture {
            dir,
            jobs,
            stop: CancellationToken::new(),
            task: None,
            _state: state,
        };
        f.start();
        (f, commits)
    }

    fn start(&mut self) {
        self.start_with(Vec::new());
    }

    fn start_with(&mut self, reattach: Vec<super::Reattach>) {
        self.stop = CancellationToken::new();
        self.task = Some(super::spawn(self.jobs.clone(), reattach, self.stop.clone()));
    }

    fn repo_url(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    async fn queue(&self, commit: &str) -> i64 {
        let ins = self
            .jobs
            .writer
            .insert(crate::testing::new_job(
                "a/b",
                "refs/heads/main",
                commit,
                &self.repo_url().display().to_string(),
            ))
            .await
            .unwrap();
        self.jobs.publish(&ins.job);
        self.jobs.slots.wake.notify_one();
        ins.job.id
    }

    async fn wait(&self, id: i64, done: impl Fn(&Job) -> bool) -> Job {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let job = self.jobs.job(id).await.unwrap().unwrap();
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} stuck: {job:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn job(&self, id: i64) -> Job {
        self.jobs.job(id).await.unwrap().unwrap()
    }

    async fn wait_final(&self, id: i64) -> Job {
        self.wait(id, |j| j.status.is_final()).await
    }

    async fn log(&self, id: i64) -> String {
        self.jobs
            .logs
            .chunk(id, 0, microci_proto::MAX_LOG_READ)
            .await
            .unwrap()
            .data
    }

    async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outcomes_follow_the_command() {
    let (f, c) = Fixture::new(
        2,
        &[
            &script(&["print:hello", "exit:0"], None),
            &script(&["print:oops", "exit:3"], None),
            r#"{"dockerimg": "absent"}"#,
            r#"{"bogus": 1}"#,
        ],
    )
    .await;
    let ok = f.queue(&c[0]).await;
    let failed = f.queue(&c[1]).await;
    let absent = f.queue(&c[2]).await;
    let invalid = f.queue(&c[3]).await;
    let job = f.wait_final(ok).await;
    assert_eq!((job.status, job.exit_code), (JobStatus::Succeed, Some(0)));
    assert!(f.log(ok).await.contains("\nhello\n"));
    let job = f.wait_final(failed).await;
    assert_eq!((job.status, job.exit_code), (JobStatus::Failed, Some(3)));
    assert_eq!(job.reason.as_deref(), Some("command exited with code 3"));
    let job = f.wait_final(absent).await;
    assert_eq!(job.status, JobStatus::Errored);
    assert!(job.reason.unwrap().contains("\"absent\""));
    let job = f.wait_final(invalid).await;
    assert_eq!(job.status, JobStatus::Errored);
    assert!(job.reason.unwrap().contains("unknown key \"bogus\""));
    assert!(job.log_size > 0, "the final size is recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_start_in_arrival_order() {
    let (f, c) = Fixture::new(1, &[&script(&["sleep:20", "exit:0"], None)]).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(f.queue(&c[0]).await);
    }
    for &id in &ids {
        assert_eq!(f.wait_final(id).await.status, JobStatus::Succeed);
    }
    let starts: Vec<String> = f
        .jobs
        .engine
        .log()
        .into_iter()
        .filter(|l| l.starts_with("start "))
        .collect();
    let expected: Vec<String> = ids.iter().map(|i| format!("start {i}")).collect();
    assert_eq!(starts, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn never_more_than_max_jobs_at_once_and_every_slot_used() {
    let (f, c) = Fixture::new(2, &[&script(&["sleep:60", "exit:0"], None)]).await;
    let mut events = f.jobs.bus.subscribe();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(f.queue(&c[0]).await);
    }
    for &id in &ids {
        assert_eq!(f.wait_final(id).await.status, JobStatus::Succeed);
    }
    let (mut at_once, mut most) = (0usize, 0usize);
    while let Ok(event) = events.try_recv() {
        if let crate::events::BusEvent::Job(job) = event {
            if job.status == JobStatus::Started {
                at_once += 1;
                most = most.max(at_once);
            } else if job.status.is_final() {
                at_once -= 1;
            }
        }
    }
    assert_eq!(most, 2, "two slots, both used");
    assert!(f.jobs.engine.max_running() <= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_queued_and_running_jobs() {
    let (f, c) = Fixture::new(1, &[&script(&["print:up", "hang"], None)]).await;
    let running = f.queue(&c[0]).await;
    let queued = f.queue(&c[0]).await;
    f.wait(running, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    // Wait for the container's own output: it is running, not cloning.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f.log(running).await.contains("\nup\n") {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let job = f.jobs.cancel(queued).await.unwrap();
    assert_eq!(job.status, JobStatus::Canceled);
    assert_eq!(job.reason.as_deref(), Some("canceled before it started"));
    let job = f.jobs.cancel(running).await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::Started,
        "the reply shows it as it was"
    );
    let job = f.wait_final(running).await;
    assert_eq!(job.status, JobStatus::Canceled);
    let log = f.jobs.engine.log();
    assert!(log.contains(&format!("stop {running}")), "{log:?}");
    assert!(!log.contains(&format!("start {queued}")), "{log:?}");
    let err = f.jobs.cancel(running).await.unwrap_err();
    assert!(err.to_string().contains("already ended CANCELED"), "{err}");
    assert!(f.jobs.cancel(999).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_while_cloning_ends_at_once() {
    let (f, c) = Fixture::new(1, &[&script(&["exit:0"], None)]).await;
    // Hold the repository's cache, as a clone that hangs would.
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let git = f.jobs.git.clone();
        tokio::spawn(async move {
            git.locked("a/b", &CancellationToken::new(), move |_, _| {
                let _ = held_tx.send(());
                let _ = release_rx.recv_timeout(Duration::from_secs(10));
                Ok(())
            })
            .await
        })
    };
    held_rx.await.unwrap();
    let id = f.queue(&c[0]).await;
    f.wait(id, |j| j.status == JobStatus::Started).await;
    let asked = Instant::now();
    f.jobs.cancel(id).await.unwrap();
    let job = f.wait_final(id).await;
    assert_eq!(job.status, JobStatus::Canceled);
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
    assert!(!f.jobs.engine.log().contains(&format!("start {id}")));
    release_tx.send(()).unwrap();
    holder.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_over_its_timeout_fails_and_is_stopped() {
    let (f, c) = Fixture::new(1, &[&script(&["print:x", "hang"], Some("200ms"))]).await;
    let id = f.queue(&c[0]).await;
    let started = Instant::now();
    let job = f.wait_final(id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.reason.as_deref(), Some("timed out after 200ms"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(f.jobs.engine.log().contains(&format!("stop {id}")));
}

/// What a crash leaves: job `id` STARTED in the database.
async fn mark_started(f: &Fixture, id: i64) {
    f.jobs
        .writer
        .transition(Transition::new(
            id,
            &[JobStatus::Pending],
            JobStatus::Started,
        ))
        .await
        .unwrap();
}

fn run(id: i64, container: String) -> Run {
    Run {
        id,
        container,
        output_at: 0,
        timeout: Duration::from_secs(30),
        started_ms: 0,
        interruptible: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_reattaches_requeues_checkouts_and_removes_the_rest() {
    let (mut f, c) = Fixture::new(2, &[&script(&["exit:0"], None)]).await;
    f.stop().await;
    // In its checkout: no container yet.
    let checkout = f.queue(&c[0]).await;
    mark_started(&f, checkout).await;
    std::fs::create_dir_all(f.jobs.workspace(checkout)).unwrap();
    // Its container is still on the engine.
    let held = f.queue(&c[0]).await;
    mark_started(&f, held).await;
    let container = f.jobs.engine.leave_container(held);
    f.jobs
        .writer
        .record_run(run(held, container))
        .await
        .unwrap();
    std::fs::create_dir_all(f.jobs.workspace(held)).unwrap();
    // Its container was removed meanwhile.
    let lost = f.queue(&c[0]).await;
    mark_started(&f, lost).await;
    f.jobs
        .writer
        .record_run(run(lost, "fake-404".into()))
        .await
        .unwrap();
    // A container no job runs in.
    f.jobs.engine.leave_container(99);

    let reattach = super::recover(&f.jobs).await;
    assert_eq!(reattach.len(), 1);
    assert_eq!(f.job(checkout).await.status, JobStatus::Pending);
    assert!(!f.jobs.workspace(checkout).exists());
    assert!(
        f.jobs.workspace(held).exists(),
        "a re-attached job keeps its workspace"
    );
    let job = f.job(lost).await;
    assert_eq!(job.status, JobStatus::Errored);
    assert_eq!(job.reason.as_deref(), Some(super::LOST));
    assert!(f.jobs.engine.log().contains(&"teardown 99".to_string()));

    f.start_with(reattach);
    let job = f.wait_final(held).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(f.jobs.engine.log().contains(&format!("resume {held}")));
    let job = f.wait_final(checkout).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let log = f.log(checkout).await;
    assert!(log.contains(super::RECHECKOUT), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_scheduler_leaves_running_jobs_running() {
    let (mut f, c) = Fixture::new(1, &[&script(&["print:up", "hang"], None)]).await;
    let id = f.queue(&c[0]).await;
    f.wait(id, |j| j.status == JobStatus::Started).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f.jobs.engine.log().contains(&format!("start {id}")) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f.stop().await;
    let job = f.job(id).await;
    assert_eq!(job.status, JobStatus::Started);
    let log = f.jobs.engine.log();
    assert!(!log.contains(&format!("stop {id}")), "{log:?}");
    assert!(!log.contains(&format!("teardown {id}")), "{log:?}");
    let started = f.jobs.reader.started().await.unwrap();
    assert_eq!(started.len(), 1);
    assert!(started[0].run.is_some(), "its container is recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_of_one_group_take_turns_in_job_order_without_holding_slots() {
    let group = |ms: u32| {
        format!(r#"{{"command": ["print:run", "sleep:{ms}", "exit:0"], "concurrency": "g"}}"#)
    };
    let (f, c) = Fixture::new(3, &[&group(2000), &group(50), &script(&["exit:0"], None)]).await;
    let first = f.queue(&c[0]).await;
    f.wait(first, |j| j.status == JobStatus::Started).await;
    let started = Instant::now();
    while !f.log(first).await.contains("running") {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = f.queue(&c[1]).await;
    let third = f.queue(&c[1]).await;
    // Their checkout finds the group held: back in the queue, saying for whom.
    for id in [second, third] {
        let j = f
            .wait(id, |j| {
                j.waiting.is_some() && j.status == JobStatus::Pending
            })
            .await;
        assert_eq!(
            j.waiting.as_deref(),
            Some(format!("waiting for g (job {first})").as_str())
        );
    }
    // No slot is held by them: a job of no group runs and ends meanwhile.
    let free = f.queue(&c[2]).await;
    assert_eq!(f.wait_final(free).await.status, JobStatus::Succeed);
    assert_eq!(f.job(first).await.status, JobStatus::Started);
    let mut ends: Vec<Job> = Vec::new();
    for id in [first, second, third] {
        ends.push(f.wait_final(id).await);
    }
    for w in ends.windows(2) {
        assert_eq!(w[1].status, JobStatus::Succeed);
        assert!(w[1].started_at >= w[0].finished_at, "{ends:?}");
        assert_eq!(w[1].waiting, None);
    }
    assert!(f.log(second).await.contains(&format!(
        "waiting for g (job {first}): queued again until it ends"
    )));
    assert_eq!(f.jobs.slots.groups.holder("g"), None);
}
