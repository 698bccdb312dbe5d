//! Queueing, cancellation, restarts, live logs, configuration and socket safety.

use crate::options;
use microci_proto::{Event, JobStatus, Reply, Request, ServerMessage};
use microci_testkit::control::{Client, log_text, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::{push, push_another};
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

fn sleeper(secs: u32) -> Repo {
    // Ignores SIGTERM, as a badly behaved build would: cancel must still end it.
    Repo::with_script(
        &format!("trap '' TERM; echo started; sleep {secs}; echo finished\n"),
        None,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn max_jobs_queues_the_rest_in_arrival_order() {
    let repo = Repo::with_script("sleep 1; echo ok\n", None);
    // Three pushes to one branch would supersede each other (superseded.rs).
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        repo: "cancel_superseded = false\n".into(),
        ..options().for_repo(&repo)
    });
    let a = push(&d, &repo, "d-1");
    let b = push_another(&d, &repo, "d-2");
    let c = push_another(&d, &repo, "d-3");
    let mut client = Client::connect(&d.socket).await;
    wait_for(&d.socket, a, 60, |j| j.status == JobStatus::Started).await;
    assert_eq!(client.job(b).await.status, JobStatus::Pending);
    assert_eq!(client.job(c).await.status, JobStatus::Pending);
    let jobs = [
        wait_final(&d.socket, a).await,
        wait_final(&d.socket, b).await,
        wait_final(&d.socket, c).await,
    ];
    for j in &jobs {
        assert_eq!(j.status, JobStatus::Succeed, "{j:?}");
    }
    // One at a time, in order: each started after the previous one finished.
    for pair in jobs.windows(2) {
        assert!(pair[1].started_at >= pair[0].finished_at, "{pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_pending_and_running_jobs() {
    let repo = sleeper(60);
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        ..options().for_repo(&repo)
    });
    let running = push(&d, &repo, "d-1");
    let pending = push_another(&d, &repo, "d-2");
    wait_for(&d.socket, running, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    // Wait for the command itself to be running.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_text(&d, running).await.contains("started") {
        assert!(Instant::now() < deadline, "job never printed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::Cancel { job: pending }).await {
        Ok(Reply::Job { job }) => assert_eq!(job.status, JobStatus::Canceled),
        other => panic!("{other:?}"),
    }
    let t = Instant::now();
    c.call(Request::Cancel { job: running })
        .await
        .expect("cancel running");
    let job = wait_final(&d.socket, running).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "cancel took {:?}",
        t.elapsed()
    );
    let p = c.job(pending).await;
    assert_eq!(p.status, JobStatus::Canceled);
    assert!(
        p.started_at.is_none(),
        "a cancelled pending job must never start"
    );
    assert!(!log_text(&d, running).await.contains("finished"));
    // Cancelling a finished job is refused with a reason.
    let err = c
        .call(Request::Cancel { job: running })
        .await
        .expect_err("already ended");
    assert!(err.contains("already ended"), "{err}");
    d.wait_cleaned(running).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_running_job_and_the_queue_in_order() {
    let repo = Repo::with_script("echo started; sleep 4; echo finished\n", None);
    let mut d = TestDaemon::start(Options {
        max_jobs: 1,
        ..options().for_repo(&repo)
    });
    let a = push(&d, &repo, "d-1");
    wait_for(&d.socket, a, 60, |j| j.status == JobStatus::Started).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.containers().is_empty() {
        assert!(Instant::now() < deadline, "no container appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    repo.commit(&[("microci.sh", "echo after restart\n")], "fast now");
    let b = push(&d, &repo, "d-2");
    d.crash();
    assert!(
        !d.containers().is_empty(),
        "the crash should leave the container behind"
    );
    d.spawn();
    let job_a = wait_final(&d.socket, a).await;
    assert_eq!(job_a.status, JobStatus::Succeed, "{job_a:?}");
    assert!(log_text(&d, a).await.contains("started\nfinished\n"));
    let job_b = wait_final(&d.socket, b).await;
    assert_eq!(job_b.status, JobStatus::Succeed, "{job_b:?}");
    assert!(job_b.started_at >= job_a.finished_at, "{job_a:?} {job_b:?}");
    assert!(log_text(&d, b).await.contains("after restart"));
    // The end is recorded before the container goes: wait for the clean-up (it panics if a
    // container stays).
    d.wait_cleaned(b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_streams_output_while_the_job_runs() {
    let repo = Repo::with_script("echo first-line; sleep 3; echo second-line\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let mut c = Client::connect(&d.socket).await;
    let sub = c.send(Request::FollowLog { job: id, offset: 0 }).await;
    let mut text = String::new();
    let mut saw_first_while_running = false;
    let mut final_job = None;
    loop {
        match c.recv().await {
            Some(ServerMessage::Event { id: s, event }) if s == sub => match event {
                Event::Log(chunk) => {
                    text.push_str(&chunk.data);
                    if text.contains("first-line") && !text.contains("second-line") {
                        saw_first_while_running = true;
                    }
                }
                Event::Job { job } => final_job = Some(job),
                Event::End => break,
                Event::Lagged | Event::Stopping => {}
            },
            Some(ServerMessage::Ok { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(saw_first_while_running, "output arrived only at the end");
    assert!(text.contains("second-line"));
    assert_eq!(final_job.map(|j| j.status), Some(JobStatus::Succeed));
    // What was followed is exactly what is stored.
    assert_eq!(text, log_text(&d, id).await);
}

#[test]
fn check_config_names_a_typo_and_the_daemon_refuses_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[docker]\nmax_job = 3\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_microcid"))
        .arg("check-config")
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_job"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_microcid"))
        .env("MICROCI_CONFIG", &cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_job"));
    std::fs::write(&cfg, "[docker]\nmax_jobs = 3\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_microcid"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn control_socket_is_0660_stale_sockets_are_replaced_and_other_files_kept() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mut d = TestDaemon::start(options());
    let mode = std::fs::metadata(&d.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
    // A crash leaves the socket file; the next start replaces it.
    d.crash();
    assert!(
        std::fs::symlink_metadata(&d.socket)
            .expect("stale")
            .file_type()
            .is_socket()
    );
    d.spawn();
    d.stop();
    // A regular file in the way is never deleted: the daemon refuses to start.
    std::fs::write(&d.socket, "precious").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_microcid"))
        .arg("--config")
        .arg(&d.config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(
        std::fs::read_to_string(&d.socket).expect("kept"),
        "precious"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarting_daemon_leaves_another_daemons_containers_alone() {
    let repo = sleeper(60);
    let a = TestDaemon::start(options().for_repo(&repo));
    let job = push(&a, &repo, "d-1");
    wait_for(&a.socket, job, 60, |j| j.status == JobStatus::Started).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.containers().is_empty() {
        assert!(Instant::now() < deadline, "no container appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Another installation on the same Engine starts, crashes and starts again (reaping its own).
    let mut b = TestDaemon::start(options());
    b.crash();
    b.spawn();
    b.stop();
    assert_eq!(
        a.containers().len(),
        1,
        "the other daemon removed this one's container"
    );
    let mut c = Client::connect(&a.socket).await;
    assert_eq!(c.job(job).await.status, JobStatus::Started);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_a_job_that_floods_its_output() {
    let repo = Repo::with_script("yes 'a line of output that never ends'\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_for(&d.socket, id, 60, |j| j.log_size > 1024 * 1024).await;
    let t = Instant::now();
    let mut c = Client::connect(&d.socket).await;
    c.call(Request::Cancel { job: id }).await.expect("cancel");
    let job = wait_for(&d.socket, id, 30, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "cancel took {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_state_dir_changes_nothing() {
    let repo = sleeper(60);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_for(&d.socket, id, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.containers().is_empty() {
        assert!(Instant::now() < deadline, "no container appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while !log_text(&d, id).await.contains("started") {
        assert!(Instant::now() < deadline, "the job never printed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let workspace = d.state_dir().join("workspaces").join(id.to_string());
    assert!(workspace.exists());
    // The same config (same state_dir, socket and port): refused before anything is touched.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_microcid"))
        .arg("--config")
        .arg(&d.config)
        .output()
        .expect("run a second microcid");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "state_dir {} is in use by pid {}",
            d.state_dir().display(),
            d.pid()
        )),
        "{err}"
    );
    // The live daemon's job still runs, with its container and workspace.
    let mut c = Client::connect(&d.socket).await;
    assert_eq!(c.job(id).await.status, JobStatus::Started);
    assert_eq!(d.containers().len(), 1);
    assert!(workspace.exists());
    c.call(microci_proto::Request::Cancel { job: id })
        .await
        .expect("cancel");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Canceled);
}
