//! Concurrency groups through the real daemon and real Docker: jobs of two repositories in one
//! group (`[[repo]] concurrency`, or `.microci.json`'s `"concurrency"`) never overlap and run in
//! job order, while a third repository's job runs meanwhile; `show` says which job a waiting job
//! waits for; a daemon restart neither loses a waiting job nor runs it twice.

use crate::options;
use microci_proto::{Job, JobStatus};
use microci_testkit::control::{Client, log_text, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

/// A job that takes `secs` seconds and says when it started and ended.
fn slow(secs: u32, json: Option<&str>) -> Repo {
    Repo::with_script(
        &format!("echo \"began $(date +%s)\"; sleep {secs}; echo \"done $(date +%s)\"\n"),
        json,
    )
}

/// A `[[repo]]` table for `name` cloned from `repo`, with `more` lines.
fn table(name: &str, repo: &Repo, more: &str) -> String {
    format!(
        "[[repo]]\nname = \"{name}\"\nclone_url = \"{}\"\n{more}",
        repo.url()
    )
}

/// `microci-tui run REPO main`; the new job's id.
fn run(d: &TestDaemon, repo: &str) -> i64 {
    let out = d.cli(&["run", repo, "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("run prints the new id")
}

/// `microci-tui show ID` as text.
fn show(d: &TestDaemon, id: i64) -> String {
    let out = d.cli(&["show", &id.to_string()]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `show ID` says `text`.
fn wait_show(d: &TestDaemon, id: i64, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = show(d, id);
        if s.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "show {id} never said {text:?}:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The jobs ran one after the other in this order: each started once the one before had ended.
fn assert_in_turn(jobs: &[Job]) {
    for j in jobs {
        assert_eq!(j.status, JobStatus::Succeed, "{j:?}");
    }
    for w in jobs.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (a_end, b_start) = (a.finished_at.as_ref(), b.started_at.as_ref());
        assert!(
            b_start >= a_end,
            "job {} started at {b_start:?}, before job {} ended at {a_end:?}",
            b.id,
            a.id
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_repositories_in_one_group_take_turns_while_a_third_runs_meanwhile() {
    let (app, lib, free) = (slow(2, None), slow(2, None), slow(1, None));
    let d = TestDaemon::start(Options {
        max_jobs: 3,
        repo: "concurrency = \"deploy\"\n".into(),
        extra: table("bob/lib", &lib, "concurrency = \"deploy\"\n")
            + &table("carol/free", &free, ""),
        ..options().for_repo(&app)
    });
    let first = run(&d, "alice/app");
    wait_for(&d.socket, first, 60, |j| j.status == JobStatus::Started).await;
    let second = run(&d, "bob/lib");
    let third = run(&d, "alice/app");
    let other = run(&d, "carol/free");
    // Both wait for the first, and say so; the job outside the group starts at once.
    wait_show(&d, second, &format!("waiting for deploy (job {first})"));
    wait_show(&d, third, &format!("waiting for deploy (job {first})"));
    let o = wait_for(&d.socket, other, 60, |j| j.status != JobStatus::Pending).await;
    let waiting = Client::connect(&d.socket).await.job(second).await;
    assert_eq!(waiting.status, JobStatus::Pending, "{waiting:?}");
    assert_eq!(
        waiting.waiting.as_deref(),
        Some(format!("waiting for deploy (job {first})").as_str())
    );
    // The third now waits for the second, which comes first in job order.
    wait_show(&d, third, &format!("waiting for deploy (job {second})"));
    let mut ended = Vec::new();
    for id in [first, second, third] {
        ended.push(wait_final(&d.socket, id).await);
    }
    assert_in_turn(&ended);
    let o_end = wait_final(&d.socket, other).await;
    assert_eq!(o_end.status, JobStatus::Succeed);
    // The free job started while the group's first was still running, long before the last.
    assert!(o.started_at.is_some());
    assert!(o.started_at <= ended[0].finished_at, "{o:?} {:?}", ended[0]);
    assert!(o_end.finished_at <= ended[2].started_at, "{o_end:?}");
    // Started, the job no longer says it waits.
    assert_eq!(ended[1].waiting, None);
    assert!(!show(&d, second).contains("waiting for"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_named_in_microci_json_waits_after_its_checkout_without_holding_a_slot() {
    let json = Some(r#"{"concurrency": "release"}"#);
    let (app, site, free) = (slow(6, json), slow(1, json), slow(0, None));
    let d = TestDaemon::start(Options {
        max_jobs: 2,
        extra: table("dave/site", &site, "") + &table("carol/free", &free, ""),
        ..options().for_repo(&app)
    });
    let first = run(&d, "alice/app");
    // Its checkout has claimed the group once its command runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_text(&d, first).await.contains("began") {
        assert!(Instant::now() < deadline, "the first job never began");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = run(&d, "dave/site");
    // Its checkout reads the group, finds it held and queues it again: PENDING, saying why.
    wait_show(&d, second, &format!("waiting for release (job {first})"));
    let j = Client::connect(&d.socket).await.job(second).await;
    assert_eq!(j.status, JobStatus::Pending);
    // It holds no slot meanwhile: with two slots, the first job's and a free one, a job of no
    // group starts (and ends) while the first still runs.
    let other = run(&d, "carol/free");
    let o = wait_final(&d.socket, other).await;
    assert_eq!(o.status, JobStatus::Succeed);
    let now = Client::connect(&d.socket).await.job(first).await;
    assert_eq!(
        now.status,
        JobStatus::Started,
        "the first job should still run"
    );
    let a = wait_final(&d.socket, first).await;
    let b = wait_final(&d.socket, second).await;
    assert_in_turn(&[a, b]);
    let log = log_text(&d, second).await;
    assert!(
        log.contains(&format!(
            "waiting for release (job {first}): queued again until it ends"
        )),
        "{log}"
    );
    assert_eq!(log.matches("began").count(), 1, "it ran once:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_neither_loses_a_waiting_job_nor_runs_it_twice() {
    let (app, lib) = (slow(8, None), slow(1, None));
    let mut d = TestDaemon::start(Options {
        max_jobs: 2,
        repo: "concurrency = \"deploy\"\n".into(),
        extra: table("bob/lib", &lib, "concurrency = \"deploy\"\n"),
        ..options().for_repo(&app)
    });
    let first = run(&d, "alice/app");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_text(&d, first).await.contains("began") {
        assert!(Instant::now() < deadline, "the first job never began");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = run(&d, "bob/lib");
    wait_show(&d, second, &format!("waiting for deploy (job {first})"));
    // The first job's container runs on while no daemon watches; the next daemon re-attaches to
    // it and it holds the group again before anything new starts.
    let a = Client::connect(&d.socket).await.job(first).await;
    assert_eq!(
        a.status,
        JobStatus::Started,
        "the first job must still run: {a:?}"
    );
    d.stop();
    d.spawn();
    let b = Client::connect(&d.socket).await.job(second).await;
    assert_eq!(b.status, JobStatus::Pending, "{b:?}");
    let a = wait_final(&d.socket, first).await;
    let b = wait_final(&d.socket, second).await;
    assert_in_turn(&[a, b]);
    let log = log_text(&d, second).await;
    assert_eq!(log.matches("began").count(), 1, "it ran once:\n{log}");
}
