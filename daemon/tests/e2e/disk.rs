//! Low disk is a state, not a crash, on a small tmpfs mounted for the test: below
//! `retention.min_free` jobs wait PENDING and start when space returns; a job that meets a full
//! disk ends ERRORED "disk full"; webhooks that cannot be stored get 503 with Retry-After; what
//! was stored before stays intact.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{Client, log_text, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push, push, push_another};
use microci_testkit::http::request;
use microci_testkit::repo::Repo;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("mci-disk")
            .tempdir_in("/tmp")
            .expect("tmp");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills `bytes` of it with a file; returns its path.
    fn ballast(&self, name: &str, bytes: usize) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, vec![0u8; bytes]).expect("ballast");
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn on(tmpfs: &Tmpfs, repo: &Repo, min_free: &str) -> Options {
    Options {
        state_dir: Some(tmpfs.path().join("state")),
        extra: format!("[retention]\nmin_free = \"{min_free}\"\n"),
        ..options().for_repo(repo)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_wait_while_the_disk_is_low_and_start_when_space_returns() {
    let tmpfs = Tmpfs::mount("32m");
    let repo = Repo::with_script("echo built\n", None);
    let d = TestDaemon::start(on(&tmpfs, &repo, "16m"));
    let ballast = tmpfs.ballast("ballast", 20 << 20);

    let id = push(&d, &repo, "d-1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let job = Client::connect(&d.socket).await.job(id).await;
    assert_eq!(job.status, JobStatus::Pending, "{job:?}");
    assert_eq!(job.reason.as_deref(), Some("waiting for disk space"));
    let status = String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned();
    assert!(
        status.contains("disk      LOW: waiting for disk space: "),
        "{status}"
    );
    assert!(
        status.contains("retention.min_free is 16.0 MiB"),
        "{status}"
    );
    let health = request(d.port, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(
        health.text().starts_with("disk: waiting for disk space"),
        "{}",
        health.text()
    );

    std::fs::remove_file(ballast).expect("rm");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(request(d.port, "GET", "/healthz", &[], b"").status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_errors_the_job_refuses_webhooks_and_corrupts_nothing() {
    let tmpfs = Tmpfs::mount("24m");
    let repo = Repo::with_script("echo first job\n", None);
    let d = TestDaemon::start(on(&tmpfs, &repo, "1m"));
    let first = push(&d, &repo, "d-1");
    assert_eq!(
        wait_final(&d.socket, first).await.status,
        JobStatus::Succeed
    );
    let first_log = log_text(&d, first).await;
    // Room to give back once the disk is full.
    let ballast = tmpfs.ballast("ballast", 4 << 20);

    repo.commit(
        &[("microci.sh", "head -c 40000000 /dev/zero | tr '\\0' 'z'\n")],
        "flood",
    );
    let flood = push(&d, &repo, "d-2");
    let deadline = Instant::now() + Duration::from_secs(60);
    while microcid::disk::free_bytes(tmpfs.path()).expect("statvfs") > 64 << 10 {
        assert!(Instant::now() < deadline, "the disk never filled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Deliveries go on until one cannot be stored: 503, with when to try again.
    let tool = Repo::with_script("true\n", None);
    let long = "m".repeat(60_000);
    let mut refused = None;
    for i in 0..400 {
        let body = gogs_push(
            "alice/app",
            FORGE_URL,
            "refs/heads/main",
            ZEROS,
            &tool.head(),
            &long,
        );
        let r = deliver(&d, "push", &format!("x-{i}"), &body, Some(SECRET));
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        assert!(matches!(r.status, 200 | 202), "{} {}", r.status, r.text());
    }
    let refused = refused.expect("a delivery on a full disk was stored");
    assert_eq!(refused.header("retry-after"), Some("60"));
    // The daemon is still up and says what it can.
    assert!(d.cli(&["status"]).status.success());

    std::fs::remove_file(ballast).expect("rm");
    let job = wait_final(&d.socket, flood).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.starts_with("disk full: cannot write the job's log"),
        "{reason}"
    );
    // What was stored before is intact.
    assert_eq!(log_text(&d, first).await, first_log);
    let check = Command::new("sqlite3")
        .arg(d.state_dir().join("microci.db"))
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("sqlite3");
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");
    // Space is back: webhooks are stored and jobs run again.
    repo.commit(&[("microci.sh", "echo after\n")], "calm");
    let after = push_another(&d, &repo, "d-3");
    let job = wait_final(&d.socket, after).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
}
