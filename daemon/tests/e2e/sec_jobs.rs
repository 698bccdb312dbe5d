//! Jobs confined end to end: clones that hang, time limits a repository asks for, output that
//! floods, capabilities and reserved variables, and the clean-up helper.

use crate::options;
use microci_proto::{JobStatus, Request};
use microci_testkit::control::{Client, log_text, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon, containers_labelled};
use microci_testkit::git_servers::GitDaemon;
use microci_testkit::hooks::push;
use microci_testkit::recorder::Silent;
use microci_testkit::repo::Repo;
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_clone_lets_the_next_job_of_the_repository_run() {
    let base = tempfile::tempdir().expect("tmp");
    let repo = Repo::with_script("echo second job ran\n", None);
    repo.publish(base.path(), "app");
    let git = GitDaemon::start(base.path());
    // The first connection hangs for ever (a server that never answers); later ones reach git.
    let hang = Silent::start(1, Some(git.port));
    let d = TestDaemon::start(options().for_url(&format!("git://127.0.0.1:{}/app.git", hang.port)));
    let first = push(&d, &repo, "d-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while hang.accepted() == 0 {
        assert!(Instant::now() < deadline, "the clone never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = Client::connect(&d.socket).await;
    assert!(c.call(Request::Cancel { job: first }).await.is_ok());
    let canceled = wait_for(&d.socket, first, 5, |j| j.status.is_final()).await;
    assert_eq!(canceled.status, JobStatus::Canceled, "{canceled:?}");
    // The hung clone still holds its connection, but not the repository: the next job runs now,
    // not after the 60 s I/O timeout.
    let started = Instant::now();
    let second = push(&d, &repo, "d-2");
    let job = wait_for(&d.socket, second, 30, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{}", d.log());
    assert!(log_text(&d, second).await.contains("second job ran"));
    eprintln!(
        "next job of the repository finished {:?} after the cancel",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clone_that_hangs_ends_at_the_job_timeout() {
    let repo = Repo::with_script("echo never\n", None);
    let hang = Silent::start(usize::MAX, None);
    let d = TestDaemon::start(Options {
        timeout: "3s",
        ..options().for_url(&format!("git://127.0.0.1:{}/app.git", hang.port))
    });
    let started = Instant::now();
    let id = push(&d, &repo, "d-1");
    let job = wait_for(&d.socket, id, 20, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains("clone failed: timed out after 3s"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_over_docker_max_timeout_is_refused() {
    let repo = Repo::with_script("echo never\n", Some(r#"{"timeout": "100000h"}"#));
    let d = TestDaemon::start(Options {
        docker: "max_timeout = \"2h\"\n".into(),
        ..options().for_repo(&repo)
    });
    let job = wait_final(&d.socket, push(&d, &repo, "d-1")).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains("\"timeout\"") && reason.contains("docker.max_timeout (2h)"),
        "{reason}"
    );
    d.wait_cleaned(job.id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_over_max_log_is_dropped_counted_and_said() {
    // About 1 MiB of output, then a line after it: the job keeps running to its end.
    let line = "0123456789".repeat(50);
    let repo = Repo::with_script(
        &format!(
            "i=0; while [ $i -lt 2048 ]; do echo {line}; i=$((i+1)); done; echo tail-marker; exit 3\n"
        ),
        None,
    );
    let d = TestDaemon::start(Options {
        docker: "max_log = \"64k\"\n".into(),
        ..options().for_repo(&repo)
    });
    let job = wait_final(&d.socket, push(&d, &repo, "d-1")).await;
    assert_eq!(job.status, JobStatus::Failed, "ran to its own end: {job:?}");
    assert_eq!(job.exit_code, Some(3));
    let total = 2048 * (line.len() as u64 + 1) + "tail-marker\n".len() as u64;
    assert!(job.log_size < 64 * 1024 + 4096, "{}", job.log_size);
    let text = log_text(&d, job.id).await;
    // The job's output is every line but the daemon's; the cut one ends without its newline.
    let kept: u64 = text
        .lines()
        .filter(|l| !l.starts_with("[microci]"))
        .map(|l| l.len() as u64 + 1)
        .sum::<u64>()
        - 1;
    assert_eq!(kept, 64 * 1024, "exactly docker.max_log of output is kept");
    assert_eq!(
        job.log_dropped + kept,
        total,
        "every byte is kept or counted"
    );
    assert!(!text.contains("tail-marker"));
    let note = format!(
        "[microci] output over docker.max_log (64 KiB): {} bytes dropped\n",
        job.log_dropped
    );
    assert!(
        text.contains(&note),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    assert!(text.ends_with("[microci] FAILED: command exited with code 3\n"));
    let out = d.cli(&["show", &job.id.to_string(), "--json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"log_dropped\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_lack_net_raw_and_cannot_override_reserved_variables() {
    let repo = Repo::with_script("grep CapEff /proc/self/status\necho CI=$CI\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let job = wait_final(&d.socket, push(&d, &repo, "d-1")).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let text = log_text(&d, job.id).await;
    let caps = text
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no CapEff in {text}"));
    const CHOWN: u64 = 1 << 0;
    const NET_RAW: u64 = 1 << 13;
    const SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(caps & NET_RAW, 0, "NET_RAW is there: {caps:x}");
    assert_eq!(caps & SYS_ADMIN, 0, "{caps:x}");
    assert_ne!(caps & CHOWN, 0, "the default set otherwise: {caps:x}");
    assert!(text.contains("CI=true"));

    repo.commit(
        &[(
            ".microci.json",
            r#"{"env": {"CI": "false", "MICROCI_JOB": "1"}}"#,
        )],
        "pretend",
    );
    let job = wait_final(&d.socket, push(&d, &repo, "d-2")).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains("reserved") && reason.contains("\"CI\""),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_up_runs_confined_in_the_helper_image_and_never_holds_the_job() {
    let repo = Repo::with_script("mkdir -p /repo/build && echo x > /repo/build/out\n", None);
    let base = tempfile::tempdir().expect("tmp");
    repo.publish(base.path(), "app");
    let git = GitDaemon::start(base.path());
    // A helper whose `rm` never returns: the clean-up must be bounded and not hold the job.
    let d = TestDaemon::start(Options {
        run_as: Some(65534),
        docker: "helper_image = \"microci-test/hang:sh\"\nhelper_timeout = \"5s\"\n".into(),
        ..options().for_url(&git.url("app"))
    });
    let id = push(&d, &repo, "d-1");
    let started = Instant::now();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{}", d.log());
    // The job's end is recorded while its workspace is still being cleaned up.
    let helper = loop {
        let found = containers_labelled(&d.label())
            .into_iter()
            .find(|c| inspect(c, "{{index .Config.Labels \"microci.job\"}}") == "scrub");
        if let Some(c) = found {
            break c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no clean-up container"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        inspect(&helper, "{{.Config.Image}}"),
        "microci-test/hang:sh"
    );
    assert_eq!(
        inspect(&helper, "{{.HostConfig.Memory}}"),
        (256u64 << 20).to_string()
    );
    assert_eq!(inspect(&helper, "{{.HostConfig.PidsLimit}}"), "64");
    assert_eq!(inspect(&helper, "{{.HostConfig.CapDrop}}"), "[ALL]");
    assert_eq!(inspect(&helper, "{{.HostConfig.NetworkMode}}"), "none");
    assert_eq!(inspect(&helper, "{{.HostConfig.ReadonlyRootfs}}"), "true");
    // Its deadline removes it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !inspect(&helper, "{{.Id}}").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the clean-up container outlived its deadline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::Cancel { job: id }).await {
        Err(m) => assert!(m.contains("already ended"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// `docker inspect -f FORMAT ID`, trimmed; empty when the container is gone.
fn inspect(id: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
