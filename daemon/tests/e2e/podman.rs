//! Jobs on a real Podman (Debian's `podman`) through its Docker-compatible socket, rootful and
//! rootless: one service per mode, one daemon on it, and each of these in turn: a job SUCCEEDs with
//! its output in the log, a FAILED job keeps its exit code, a cancelled one ends CANCELED, and a
//! job with a service, a cache and artifacts runs (rootful: the cache is there for the next job,
//! and a job survives a daemon restart, re-attached through the Engine's log).
//! Nothing runs on the host's Docker Engine. Rootless uses `workspace = "copy"`: Podman cannot
//! mount the daemon's workspace (root's, in 0700 temp dirs) for the rootless user, and the job
//! ERRORED with `bind` says so.

use crate::options;
use microci_proto::{Job, JobStatus};
use microci_testkit::control::{log_text, wait_final, wait_logged};
use microci_testkit::daemon::{IMAGE, Options, TestDaemon};
use microci_testkit::hooks::push;
use microci_testkit::podman::Podman;
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

/// A service `db` serving `hello-from-db` over HTTP on port 80.
fn db_service() -> String {
    format!(
        r#"{{"name": "db", "image": "{IMAGE}", "command": "mkdir -p /tmp/www && echo hello-from-db > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"}}"#
    )
}

/// Fetches `http://db/` (retrying while the service comes up), writes into the cache and an
/// artifact, and says what the cache held before.
const FULL_SCRIPT: &str = "\
echo \"cache had: $(cat /cache/note 2>/dev/null || echo nothing)\"
echo $MICROCI_JOB > /cache/note
i=0; until wget -q -O - http://db/; do i=$((i+1)); [ $i -ge 150 ] && { echo 'db unreachable'; exit 9; }; sleep 0.1; done
echo built > out.txt
";

/// Commits `script` (and `.microci.json`) and pushes it; the job's id.
fn commit_and_push(d: &TestDaemon, repo: &Repo, script: &str, json: &str, delivery: &str) -> i64 {
    repo.commit(&[("microci.sh", script), (".microci.json", json)], delivery);
    push(d, repo, delivery)
}

/// Runs `script` to its end: the job and its log.
async fn run(
    d: &TestDaemon,
    repo: &Repo,
    script: &str,
    json: &str,
    delivery: &str,
) -> (Job, String) {
    let id = commit_and_push(d, repo, script, json, delivery);
    let job = wait_final(&d.socket, id).await;
    (job, log_text(d, id).await)
}

/// Waits until no container of `d` is left on `p` (a job's end is recorded before its clean-up).
async fn wait_gone(p: &Podman, d: &TestDaemon) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = p.containers(&d.label());
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "containers left on Podman: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every outcome in turn on one daemon whose engine is `p`.
async fn jobs_run_on(p: &Podman, workspace: &'static str, cache_again: bool) {
    let repo = Repo::with_script("true\n", None);
    let mut d = TestDaemon::start(Options {
        docker_host: Some(p.host()),
        workspace,
        ..options().for_repo(&repo)
    });
    let started = Instant::now();

    let (job, log) = run(
        &d,
        &repo,
        "echo hello from $(cat /repo/microci.sh | wc -l) lines; echo to-stderr >&2\n",
        "{}",
        "p-1",
    )
    .await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert_eq!(job.exit_code, Some(0));
    assert!(log.contains("hello from 1 lines"), "{log}");
    assert!(log.contains("to-stderr"), "{log}");
    wait_gone(p, &d).await;

    let (job, log) = run(&d, &repo, "echo about to fail; exit 3\n", "{}", "p-2").await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}\n{log}");
    assert_eq!(job.exit_code, Some(3));
    assert!(log.contains("about to fail"), "{log}");

    let id = commit_and_push(&d, &repo, "echo ready; sleep 60\n", "{}", "p-3");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_text(&d, id).await.contains("ready\n") {
        assert!(Instant::now() < deadline, "job never started: {}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = d.cli(&["cancel", &id.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    assert!(job.finished_at.is_some());
    wait_gone(p, &d).await;

    let json = format!(
        r#"{{"services": [{}], "cache": ["/cache"], "artifacts": ["out.txt"]}}"#,
        db_service()
    );
    let (job, log) = run(&d, &repo, FULL_SCRIPT, &json, "p-4").await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(log.contains("cache had: nothing"), "{log}");
    assert!(log.contains("hello-from-db"), "{log}");
    let listed = d.cli(&["artifacts", &job.id.to_string()]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("out.txt"),
        "{listed:?}"
    );
    if !cache_again {
        wait_gone(p, &d).await;
        eprintln!("jobs on Podman ({workspace}): {:?}", started.elapsed());
        return;
    }
    let (job, log) = run(&d, &repo, &format!("{FULL_SCRIPT}# again\n"), &json, "p-5").await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    let first = job.id - 1;
    assert!(log.contains(&format!("cache had: {first}")), "{log}");
    wait_gone(p, &d).await;

    // Re-attach after a restart: the Engine's log with timestamps, followed.
    let counter = "i=1; while [ $i -le 80 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done\n";
    let id = commit_and_push(&d, &repo, counter, "{}", "p-6");
    wait_logged(&d, id, "line-10\n", 60).await;
    d.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("line-")).collect();
    let expected: Vec<String> = (1..=80).map(|n| format!("line-{n}")).collect();
    assert_eq!(lines, expected, "{log}");
    wait_gone(p, &d).await;
    eprintln!("jobs on Podman ({workspace}): {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn rootful_podman_runs_jobs() {
    let t = Instant::now();
    let p = Podman::rootful();
    eprintln!("rootful podman up in {:?}", t.elapsed());
    jobs_run_on(&p, "bind", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rootless_podman_runs_jobs() {
    let t = Instant::now();
    let p = Podman::rootless();
    eprintln!("rootless podman up in {:?}", t.elapsed());
    // A bound workspace is the daemon's (root's, in a 0700 temp dir): the job says what to do.
    let repo = Repo::with_script("true\n", None);
    let d = TestDaemon::start(Options {
        docker_host: Some(p.host()),
        ..options().for_repo(&repo)
    });
    let (job, log) = run(&d, &repo, "true\n", "{}", "b-1").await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}\n{log}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.starts_with("cannot create the container: ")
            && reason.contains("permission denied")
            && reason.contains("set workspace = \"copy\" for this engine"),
        "{reason}"
    );
    drop(d);
    // Each job takes about 20 s more here (Podman 4.3 rootless notices a container's exit late):
    // the cache's second run is left to the rootful test.
    jobs_run_on(&p, "copy", false).await;
}
