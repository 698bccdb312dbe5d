//! Superseded builds through real pushes and real Docker: a push to a branch cancels that
//! branch's older jobs still queued, and the running one when its `.microci.json` says
//! `"interruptible": true`, each canceled job naming the job that replaced it;
//! `cancel_superseded = false` keeps them all.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{Client, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::push_another;
use microci_testkit::repo::Repo;

async fn job(d: &TestDaemon, id: i64) -> microci_proto::Job {
    Client::connect(&d.socket).await.job(id).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_cancels_the_queued_jobs_of_its_branch_and_not_a_running_one() {
    let repo = Repo::with_script("echo busy; sleep 60\n", None);
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        ..options().for_repo(&repo)
    });
    let running = push_another(&d, &repo, "d-1");
    wait_for(&d.socket, running, 60, |j| j.status == JobStatus::Started).await;
    let queued = push_another(&d, &repo, "d-2");
    let newest = push_another(&d, &repo, "d-3");
    let old = job(&d, queued).await;
    assert_eq!(old.status, JobStatus::Canceled);
    assert_eq!(
        old.reason,
        Some(format!("canceled: superseded by job {newest}"))
    );
    // Not interruptible: it runs on.
    assert_eq!(job(&d, running).await.status, JobStatus::Started);
    assert_eq!(job(&d, newest).await.status, JobStatus::Pending);
    for id in [running, newest] {
        assert!(d.cli(&["cancel", &id.to_string()]).status.success());
    }
    wait_final(&d.socket, newest).await;

    // Switched off, nothing is canceled.
    let repo = Repo::with_script("echo busy; sleep 60\n", None);
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        repo: "cancel_superseded = false\n".into(),
        ..options().for_repo(&repo)
    });
    let running = push_another(&d, &repo, "d-1");
    wait_for(&d.socket, running, 60, |j| j.status == JobStatus::Started).await;
    let first = push_another(&d, &repo, "d-2");
    let second = push_another(&d, &repo, "d-3");
    assert_eq!(job(&d, first).await.status, JobStatus::Pending);
    for id in [first, second, running] {
        assert!(d.cli(&["cancel", &id.to_string()]).status.success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interruptible_running_job_is_stopped_by_a_newer_push() {
    let repo = Repo::with_script("echo up; sleep 60\n", Some(r#"{"interruptible": true}"#));
    let d = TestDaemon::start(options().for_repo(&repo));
    let first = push_another(&d, &repo, "d-1");
    wait_for(&d.socket, first, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    let second = push_another(&d, &repo, "d-2");
    let ended = wait_final(&d.socket, first).await;
    assert_eq!(ended.status, JobStatus::Canceled);
    assert_eq!(
        ended.reason,
        Some(format!("canceled: superseded by job {second}"))
    );
    wait_for(&d.socket, second, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    assert!(d.cli(&["cancel", &second.to_string()]).status.success());
    let canceled = wait_final(&d.socket, second).await;
    // A person's cancel says so plainly.
    assert_eq!(canceled.reason.as_deref(), Some("canceled"));
}
