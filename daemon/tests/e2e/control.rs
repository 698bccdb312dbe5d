//! The control socket under abuse, and retry / run / status through it.

use crate::options;
use microci_proto::{ErrorCode, JobStatus, Reply, Request, ServerMessage};
use microci_testkit::control::{Client, log_text, wait_final};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::push;
use microci_testkit::repo::Repo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn raw(d: &TestDaemon) -> tokio::net::UnixStream {
    let mut s = tokio::net::UnixStream::connect(&d.socket)
        .await
        .expect("connect");
    // Skip the hello frame.
    let len = s.read_u32().await.expect("hello length");
    let mut hello = vec![0; len as usize];
    s.read_exact(&mut hello).await.expect("hello");
    s
}

async fn read_frame(s: &mut tokio::net::UnixStream) -> Option<ServerMessage> {
    let len = s.read_u32().await.ok()?;
    let mut body = vec![0; len as usize];
    s.read_exact(&mut body).await.ok()?;
    serde_json::from_slice(&body).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_oversized_frames_close_only_that_connection() {
    let d = TestDaemon::start(options());
    let mut bystander = Client::connect(&d.socket).await;

    let mut s = raw(&d).await;
    let garbage = b"\xff\xfegarbage!!";
    s.write_all(&(garbage.len() as u32).to_be_bytes())
        .await
        .expect("write");
    s.write_all(garbage).await.expect("write");
    match read_frame(&mut s).await {
        Some(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::BadFrame),
        other => panic!("{other:?}"),
    }
    assert!(
        read_frame(&mut s).await.is_none(),
        "connection should be closed"
    );

    let mut s = raw(&d).await;
    s.write_all(&(64u32 << 20).to_be_bytes())
        .await
        .expect("write");
    match read_frame(&mut s).await {
        Some(ServerMessage::Error { code, message, .. }) => {
            assert_eq!(code, ErrorCode::BadFrame);
            assert!(message.contains("limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Subscribe and vanish mid-stream.
    let mut s = raw(&d).await;
    let req = br#"{"id":1,"type":"watch_jobs"}"#;
    s.write_all(&(req.len() as u32).to_be_bytes())
        .await
        .expect("write");
    s.write_all(req).await.expect("write");
    drop(s);

    match bystander.call(Request::Status).await {
        Ok(Reply::Status(st)) => assert_eq!(st.version, env!("CARGO_PKG_VERSION")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_and_run_create_new_jobs() {
    let repo = Repo::with_script(
        "echo built $(git rev-parse HEAD 2>/dev/null || true)\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let first = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, first).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let mut c = Client::connect(&d.socket).await;

    let retried = match c.call(Request::Retry { job: first }).await {
        Ok(Reply::Created { job }) => job,
        other => panic!("{other:?}"),
    };
    assert_ne!(retried, first);
    let r = wait_final(&d.socket, retried).await;
    assert_eq!(
        (r.status, r.commit.as_str(), r.trigger.as_str()),
        (JobStatus::Succeed, job.commit.as_str(), "retry")
    );

    // A manual build of the default branch picks up the newest commit.
    let newest = repo.commit(&[("new.txt", "x")], "newer");
    let manual = match c
        .call(Request::Run {
            repo: "alice/app".into(),
            git_ref: None,
            env: Default::default(),
        })
        .await
    {
        Ok(Reply::Created { job }) => job,
        other => panic!("{other:?}"),
    };
    let m = wait_final(&d.socket, manual).await;
    assert_eq!(m.status, JobStatus::Succeed, "{m:?}");
    assert_eq!(m.commit, newest);
    assert_eq!(m.git_ref, "refs/heads/main");
    assert_eq!(m.trigger, "manual");

    // A tag name is recorded as the tag's full ref.
    repo.tag("v1.0");
    let tagged = match c
        .call(Request::Run {
            repo: "alice/app".into(),
            git_ref: Some("v1.0".into()),
            env: Default::default(),
        })
        .await
    {
        Ok(Reply::Created { job }) => job,
        other => panic!("{other:?}"),
    };
    let t = wait_final(&d.socket, tagged).await;
    assert_eq!(
        (t.git_ref.as_str(), t.commit.as_str()),
        ("refs/tags/v1.0", newest.as_str())
    );

    let err = c
        .call(Request::Run {
            repo: "nobody/nothing".into(),
            git_ref: None,
            env: Default::default(),
        })
        .await
        .expect_err("unknown repo");
    assert!(err.contains("unknown repository"), "{err}");
    let err = c
        .call(Request::Retry { job: 999 })
        .await
        .expect_err("no job");
    assert!(err.contains("no job 999"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_docker_unreachable_and_jobs_wait_without_killing_the_daemon() {
    // A daemon pointed at a Docker socket that does not exist.
    let repo = Repo::with_script("true\n", None);
    let d = TestDaemon::start(Options {
        docker_host: Some("unix:///nonexistent/docker.sock".into()),
        ..options().for_repo(&repo)
    });
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::Status).await {
        Ok(Reply::Status(st)) => {
            assert!(!st.docker_reachable);
            assert!(st.docker_error.is_some());
        }
        other => panic!("{other:?}"),
    }
    match c.call(Request::Status).await {
        Ok(Reply::Status(st)) => assert_eq!(st.engines_down, vec!["local".to_string()]),
        other => panic!("{other:?}"),
    }
    // No engine answers: the job waits, queued, saying why (nothing is lost).
    let id = push(&d, &repo, "d-1");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let job = c.job(id).await;
    assert_eq!(job.status, JobStatus::Pending, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert_eq!(reason, "waiting for an engine: local not answering");
    // Still serving.
    assert!(matches!(
        c.call(Request::Status).await,
        Ok(Reply::Status(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_vanishing_mid_job_errors_the_job_after_the_down_timeout_and_the_daemon_keeps_serving()
 {
    let repo = Repo::with_script("echo started; sleep 60\n", None);
    let proxy_dir = tempfile::Builder::new()
        .prefix("mci")
        .tempdir_in("/tmp")
        .expect("tmp");
    let proxy = microci_testkit::docker_proxy::DockerProxy::start(proxy_dir.path());
    let d = TestDaemon::start(Options {
        docker_host: Some(format!("unix://{}", proxy.path.display())),
        docker: "engine_ping = \"1s\"\nengine_down_timeout = \"2s\"\n".into(),
        ..options().for_repo(&repo)
    });
    let id = push(&d, &repo, "d-1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !log_text(&d, id).await.contains("started") {
        assert!(std::time::Instant::now() < deadline, "job never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    proxy.cut();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.starts_with("engine lost: engine local does not answer"),
        "{reason}"
    );
    assert!(reason.ends_with("and not back within 2s"), "{reason}");
    let log = log_text(&d, id).await;
    assert!(log.contains("waiting up to 2s for it to return"), "{log}");
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::Status).await {
        Ok(Reply::Status(st)) => assert!(!st.docker_reachable),
        other => panic!("{other:?}"),
    }
}

/// Frames that arrive within `window`.
async fn frames_for(c: &mut Client, window: std::time::Duration) -> Vec<ServerMessage> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, c.recv()).await {
        got.push(m);
    }
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn unsubscribe_ends_follow_and_watch_and_nothing_of_them_follows() {
    let repo = Repo::with_script(
        "i=0; while [ $i -lt 300 ]; do echo tick $i; i=$((i+1)); sleep 0.05; done\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-unsub");
    microci_testkit::control::wait_for(&d.socket, id, 60, |j| j.status == JobStatus::Started).await;
    let mut c = Client::connect(&d.socket).await;
    let follow = c.send(Request::FollowLog { job: id, offset: 0 }).await;
    let watch = c.send(Request::WatchJobs).await;
    // Wait until the follow streams.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no log event");
        if let Some(ServerMessage::Event { id: i, .. }) = c.recv().await
            && i == follow
        {
            break;
        }
    }
    let unsub = c
        .send(Request::Unsubscribe {
            subscription: follow,
        })
        .await;
    // Everything up to `done` may still carry the follow's id; nothing after it may.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no done reply");
        match c.recv().await {
            Some(ServerMessage::Ok {
                id: i,
                reply: Reply::Done,
            }) if i == unsub => break,
            Some(ServerMessage::Event { id: i, event }) => {
                assert!(i == follow || i == watch, "{i} {event:?}");
                assert_ne!(event, microci_proto::Event::End, "unsubscribe sends no end");
            }
            // The watch's own `subscribed` may arrive after the follow's first events.
            Some(ServerMessage::Ok {
                id: i,
                reply: Reply::Subscribed,
            }) if i == watch => {}
            other => panic!("{other:?}"),
        }
    }
    let after = frames_for(&mut c, std::time::Duration::from_millis(1500)).await;
    assert!(
        !after
            .iter()
            .any(|m| matches!(m, ServerMessage::Event { id, .. } if *id == follow)),
        "events of the ended follow after done: {after:?}"
    );
    // The job is still running and printing, so the follow would have had more to send.
    let job = c.job(id).await;
    assert_eq!(job.status, JobStatus::Started, "{job:?}");

    // A second unsubscribe of the same id, or of an id that never subscribed, is not_found.
    for sub in [follow, 999] {
        let u = c.send(Request::Unsubscribe { subscription: sub }).await;
        match frames_until(&mut c, u).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NotFound),
            other => panic!("{other:?}"),
        }
    }

    // Ending the watch: the cancel below changes the job, and no job event for it arrives.
    let u = c
        .send(Request::Unsubscribe {
            subscription: watch,
        })
        .await;
    assert!(matches!(
        frames_until(&mut c, u).await,
        ServerMessage::Ok {
            reply: Reply::Done,
            ..
        }
    ));
    assert!(matches!(
        c.call(Request::Cancel { job: id }).await,
        Ok(Reply::Job { .. })
    ));
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    let after = frames_for(&mut c, std::time::Duration::from_millis(500)).await;
    assert!(
        !after
            .iter()
            .any(|m| matches!(m, ServerMessage::Event { .. })),
        "events after both subscriptions ended: {after:?}"
    );
    // The connection is still fine.
    assert!(matches!(
        c.call(Request::Status).await,
        Ok(Reply::Status(_))
    ));
}

/// Skips frames until the answer to request `id`.
async fn frames_until(c: &mut Client, id: u64) -> ServerMessage {
    loop {
        match c.recv().await {
            Some(m @ (ServerMessage::Ok { .. } | ServerMessage::Error { .. })) => {
                let (ServerMessage::Ok { id: i, .. } | ServerMessage::Error { id: i, .. }) = &m
                else {
                    unreachable!()
                };
                if *i == id {
                    return m;
                }
            }
            Some(_) => continue,
            None => panic!("connection closed"),
        }
    }
}
