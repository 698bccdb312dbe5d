//! Retention against the real daemon and Docker: `prune --dry-run` says what would go and
//! removes nothing, `prune` removes old finished jobs with their logs and idle containers of this
//! installation, and keeps the latest job of a branch and everything still running.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{Client, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::{push, push_another};
use microci_testkit::repo::Repo;
use std::process::Command;
use std::time::Duration;

fn cli_text(d: &TestDaemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_removes_old_jobs_logs_and_idle_containers_and_keeps_the_rest() {
    let repo = Repo::with_script("echo built; [ -f slow ] && sleep 60; exit 0\n", None);
    let d = TestDaemon::start(Options {
        extra: "[retention]\nmax_age = \"1s\"\n".into(),
        ..options().for_repo(&repo)
    });
    let first = push(&d, &repo, "d-1");
    wait_final(&d.socket, first).await;
    let second = push_another(&d, &repo, "d-2");
    wait_final(&d.socket, second).await;
    let latest = push_another(&d, &repo, "d-3");
    wait_final(&d.socket, latest).await;
    // A job that is still running, whatever its age, is never pruned.
    repo.commit(&[("slow", "1")], "slow");
    let running = push(&d, &repo, "d-4");
    wait_for(&d.socket, running, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    let container = loop {
        if let Some(c) = d.containers().pop() {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A container of this installation whose job is over (a crash between a job's end and its
    // container's removal leaves one).
    let owner = inspect(&container, "{{index .Config.Labels \"microci.owner\"}}");
    let stray = Command::new("docker")
        .args(["create", "--label"])
        .arg(format!("microci.owner={owner}"))
        .args([
            "--label",
            &format!("microci.job={first}"),
            "--label",
            &d.label(),
        ])
        .args(["microci-test/busybox:latest", "true"])
        .output()
        .expect("docker create");
    assert!(
        stray.status.success(),
        "{}",
        String::from_utf8_lossy(&stray.stderr)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let logs = d.state_dir().join("logs");
    let dry = cli_text(&d, &["prune", "--dry-run"]);
    assert!(dry.starts_with("would remove 2 finished job(s)"), "{dry}");
    assert!(dry.contains("     2  alice/app\n"), "{dry}");
    assert!(dry.contains("would remove 1 idle container(s)"), "{dry}");
    assert!(
        logs.join(format!("{first}.log")).exists(),
        "a dry run removes nothing"
    );

    let done = cli_text(&d, &["prune"]);
    assert!(done.starts_with("removed 2 finished job(s)"), "{done}");
    assert!(done.contains("removed 1 idle container(s)"), "{done}");
    let mut c = Client::connect(&d.socket).await;
    for gone in [first, second] {
        let answer = c.call(microci_proto::Request::GetJob { job: gone }).await;
        assert_eq!(
            answer,
            Err(format!("no job {gone}")),
            "job {gone} is still there"
        );
        assert!(!logs.join(format!("{gone}.log")).exists());
    }
    assert_eq!(c.job(latest).await.status, JobStatus::Succeed);
    assert!(logs.join(format!("{latest}.log")).exists());
    assert_eq!(c.job(running).await.status, JobStatus::Started);
    assert_eq!(
        d.containers(),
        vec![container],
        "only the running job's container is left"
    );
    let again = cli_text(&d, &["prune"]);
    assert!(again.starts_with("removed 0 finished job(s)"), "{again}");
    let cancelled = d.cli(&["cancel", &running.to_string()]);
    assert!(cancelled.status.success());
}
