//! Builds survive the daemon: a stop (SIGTERM) leaves containers running, a crash (SIGKILL)
//! too, and the next start re-attaches — the log byte for byte, the true exit code, the timeout
//! from the real start — while followers reconnect and see one continuous log.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::push;
use microci_testkit::repo::Repo;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Numbered lines, `count` of them, `pause` seconds apart, then `exit code`.
fn counter(count: u32, pause: &str, code: i32) -> Repo {
    Repo::with_script(
        &format!(
            "i=1; while [ $i -le {count} ]; do echo \"line-$i\"; i=$((i+1)); sleep {pause}; done; \
             exit {code}\n"
        ),
        None,
    )
}

/// Every `line-N` for N in 1..=count is in the log exactly once, in order, and nothing else
/// of the job's is.
fn assert_every_line_once(log: &str, count: u32) {
    let numbers: Vec<u32> = log
        .lines()
        .filter_map(|l| l.strip_prefix("line-"))
        .map(|n| {
            n.parse()
                .unwrap_or_else(|_| panic!("mangled line {n:?} in:\n{log}"))
        })
        .collect();
    let expected: Vec<u32> = (1..=count).collect();
    assert_eq!(numbers, expected, "log:\n{log}");
    for l in log.lines() {
        assert!(
            l.starts_with("line-") || l.starts_with("[microci] "),
            "unexpected line {l:?} in:\n{log}"
        );
    }
}

/// Waits until the job's log holds `text`.
async fn wait_log(d: &TestDaemon, id: i64, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_text(d, id).await.contains(text) {
        assert!(Instant::now() < deadline, "{text:?} never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the daemon and waits for its one job's container to end on its own.
async fn crash_and_let_the_job_end(d: &mut TestDaemon) {
    d.crash();
    let container = d.containers().pop().expect("a container");
    let deadline = Instant::now() + Duration::from_secs(60);
    while running(&container) {
        assert!(Instant::now() < deadline, "the job never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn running(container: &str) -> bool {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_daemon_leaves_the_build_running_and_picks_it_up_byte_for_byte() {
    let repo = counter(150, "0.02", 3);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "line-10\n").await;
    d.stop();
    let left = d.containers();
    assert_eq!(left.len(), 1, "the container should outlive the daemon");
    assert!(running(&left[0]));
    // The job goes on printing while nobody reads.
    tokio::time::sleep(Duration::from_millis(800)).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    assert_eq!(job.exit_code, Some(3));
    assert_every_line_once(&log_text(&d, id).await, 150);
    // The end is recorded before the container goes: wait for the clean-up (it panics if the
    // container stays).
    d.wait_cleaned(id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_daemon_loses_nothing_either() {
    let repo = counter(150, "0.02", 0);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "line-20\n").await;
    d.crash();
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.exit_code, Some(0));
    assert_every_line_once(&log_text(&d, id).await, 150);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_ended_while_the_daemon_was_away_gets_its_code_and_whole_log() {
    let repo = counter(40, "0.05", 7);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "line-3\n").await;
    crash_and_let_the_job_end(&mut d).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    assert_eq!(job.exit_code, Some(7));
    assert_every_line_once(&log_text(&d, id).await, 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeout_counts_from_the_real_start() {
    let repo = Repo::with_script(
        "echo begun; sleep 120; echo never\n",
        Some(r#"{"timeout": "6s"}"#),
    );
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "begun\n").await;
    d.crash();
    tokio::time::sleep(Duration::from_secs(3)).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    assert_eq!(job.reason.as_deref(), Some("timed out after 6s"));
    let took = job_seconds(&job);
    // 6 s from the container's start (plus the stop grace), not 6 s from the restart.
    assert!((6.0..12.0).contains(&took), "ran {took} s: {job:?}");
}

fn job_seconds(job: &microci_proto::Job) -> f64 {
    let parse = |t: &Option<String>| {
        time::OffsetDateTime::parse(
            t.as_deref().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("timestamp")
    };
    (parse(&job.finished_at) - parse(&job.started_at)).as_seconds_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_stop_cancel_stops_the_builds_with_the_daemon() {
    let repo = counter(600, "0.1", 0);
    let mut d = TestDaemon::start(Options {
        docker: "on_stop = \"cancel\"\n".into(),
        ..options().for_repo(&repo)
    });
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "line-2\n").await;
    d.stop();
    assert!(d.containers().is_empty(), "on_stop = cancel removes them");
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    assert_eq!(job.reason.as_deref(), Some("canceled: the daemon stopped"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_reconnects_and_sees_one_continuous_log() {
    let repo = counter(120, "0.03", 0);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_for(&d.socket, id, 60, |j| j.status == JobStatus::Started).await;
    let follower = Command::new(d.tui_bin())
        .arg("--socket")
        .arg(&d.socket)
        .args(["logs", &id.to_string(), "--follow"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("microci-tui");
    wait_log(&d, id, "line-15\n").await;
    d.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.spawn();
    let out = tokio::task::spawn_blocking(move || follower.wait_with_output())
        .await
        .expect("join")
        .expect("follower");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the daemon is stopping; reconnecting"),
        "{stderr}"
    );
    assert_eq!(stdout, log_text(&d, id).await);
    assert_every_line_once(&stdout, 120);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_the_engine_rotated_away_is_said_not_hidden() {
    // The Engine keeps 16 MiB of a job's output; the job writes 24 MiB while no daemon reads.
    let repo = Repo::with_script(
        "echo before; sleep 3; head -c 25165824 /dev/zero | tr '\\0' 'x' | fold -w 1023; \
         echo; echo after\n",
        None,
    );
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "before\n").await;
    crash_and_let_the_job_end(&mut d).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let log = log_text(&d, id).await;
    let lost = log
        .find("[microci] output is missing here")
        .expect("the gap is said");
    assert!(log.find("before\n").is_some_and(|b| b < lost));
    assert!(
        log.ends_with("after\n[microci] SUCCEED\n"),
        "{}",
        &log[log.len() - 200..]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_in_flight_when_the_daemon_stops_is_answered_and_kept() {
    use microci_testkit::hooks::{gogs_request, head_push, sign};
    use microci_testkit::http::read_response;
    use std::io::Write;
    let repo = Repo::with_script("echo kept\n", None);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let body = head_push(&repo);
    let request = gogs_request(&body, &sign(microci_testkit::daemon::SECRET, &body), "d-1");
    let (head, tail) = request.split_at(request.len() - 10);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.write_all(head).expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = Command::new("kill")
        .args(["-TERM", &d.pid().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The daemon is stopping, and waits for this request.
    s.write_all(tail).expect("the rest of the body");
    let answer = read_response(&mut s);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let id = answer.json()["job_id"].as_i64().expect("job_id");
    d.stop();
    // Stored before the daemon stopped: it runs (or is re-attached to) after the next start.
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(log_text(&d, id).await.contains("kept\n"));
}
