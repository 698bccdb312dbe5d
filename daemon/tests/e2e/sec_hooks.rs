//! The webhook front door attacked from outside: weak secrets, unlisted repositories, foreign
//! clone hosts, replays, hostile refs, slow clients, and malformed ids and offsets.

use crate::options;
use microci_proto::{JobQuery, JobStatus, Reply, Request};
use microci_testkit::control::{Client, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{
    FORGE_URL, ZEROS, deliver, gogs_push, head_push, sign, stalled_request,
};
use microci_testkit::http::{read_response, request};
use microci_testkit::memory::memory;
use microci_testkit::recorder::{Answer, Recorder};
use microci_testkit::repo::Repo;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn jobs(d: &TestDaemon) -> Vec<microci_proto::Job> {
    let mut c = Client::connect(&d.socket).await;
    match c
        .call(Request::ListJobs(JobQuery {
            limit: microci_proto::MAX_JOB_LIST,
            ..JobQuery::default()
        }))
        .await
    {
        Ok(Reply::Jobs { jobs }) => jobs,
        other => panic!("{other:?}"),
    }
}

/// Runs `microcid` with a config made of `text` (plus a state dir); returns (exit ok, output).
fn microcid(text: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::Builder::new()
        .prefix("mci")
        .tempdir_in("/tmp")
        .expect("tmp");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[control]\nsocket = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n{text}",
            dir.path().join("state").display(),
            dir.path().join("c.sock").display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_microcid"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run microcid");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn weak_secrets_refuse_to_start_and_check_config_says_why() {
    let repo = "[[repo]]\nname = \"alice/app\"\n";
    for (webhook, why) in [
        ("", "is empty"),
        ("[webhook]\nsecret = \"change-me\"\n", "placeholder"),
        ("[webhook]\nsecret = \"s3cret\"\n", "shorter than 16 bytes"),
    ] {
        for args in [&["check-config"][..], &[][..]] {
            let (ok, out) = microcid(&format!("{webhook}{repo}"), args);
            assert!(!ok, "{args:?} accepted {webhook:?}: {out}");
            assert!(
                out.contains("webhook.secret") && out.contains(why) && out.contains("alice/app"),
                "{args:?}: {out}"
            );
        }
    }
    // A TOML mistake on a secret's line names the line, never the secret.
    let (ok, out) = microcid(
        "[git]\ntoken = \"hunter2-hunter2-hunter2\nhosts = []\n",
        &["check-config"],
    );
    assert!(!ok);
    assert!(out.contains("line ") && !out.contains("hunter2"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_unsigned_starts_loudly_and_builds_unsigned_pushes() {
    let repo = Repo::with_script("echo unsigned\n", None);
    let d = TestDaemon::start(Options {
        secret: String::new(),
        webhook: "allow_unsigned = true\n".into(),
        ..options().for_repo(&repo)
    });
    assert!(
        d.log().contains("allow_unsigned") && d.log().contains("WARN"),
        "no warning at start:\n{}",
        d.log()
    );
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::Status).await {
        Ok(Reply::Status(s)) => assert!(
            s.warnings.iter().any(|w| w.contains("allow_unsigned")),
            "{s:?}"
        ),
        other => panic!("{other:?}"),
    }
    let out = d.cli(&["status", "--json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("allow_unsigned"));
    let body = head_push(&repo);
    let r = deliver(&d, "push", "d-1", &body, None);
    assert_eq!(r.status, 202, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn unlisted_repository_is_refused_and_nothing_is_cloned() {
    let git = Recorder::start("127.0.0.1", Answer::Challenge);
    let d = TestDaemon::start(Options {
        listed: false,
        extra: "[[repo]]\nname = \"bob/other\"\n".into(),
        ..options()
    });
    let body = gogs_push(
        "mallory/x",
        &git.url("mallory/x.git"),
        "refs/heads/main",
        ZEROS,
        &"c".repeat(40),
        "x",
    );
    // Signed with the global secret: verified, but not configured.
    let r = deliver(&d, "push", "d-1", &body, Some(SECRET));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "repository not configured");
    // Unsigned: 401 like any bad signature, telling nothing about what is configured.
    let r = deliver(&d, "push", "d-2", &body, None);
    assert_eq!(r.status, 401, "{}", r.text());
    // The same for a ping of an unlisted repository.
    let ping = deliver(&d, "ping", "d-3", &body, Some(SECRET));
    assert_eq!(ping.status, 403, "{}", ping.text());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(jobs(&d).await.is_empty());
    assert!(
        git.seen().is_empty(),
        "something was cloned: {:?}",
        git.seen()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unlisted_repositories_clone_only_from_clone_hosts() {
    let allowed = Recorder::start("127.0.0.1", Answer::Challenge);
    let elsewhere = Recorder::start("127.0.0.2", Answer::Challenge);
    let d = TestDaemon::start(Options {
        listed: false,
        webhook: format!(
            "allow_unlisted = true\nclone_hosts = [\"{}\"]\n",
            allowed.origin()
        ),
        ..options()
    });
    let push = |url: &str, delivery: &str| {
        let body = gogs_push(
            "mallory/x",
            url,
            "refs/heads/main",
            ZEROS,
            &"d".repeat(40),
            "x",
        );
        deliver(&d, "push", delivery, &body, Some(SECRET))
    };
    let r = push(&elsewhere.url("mallory/x.git"), "d-1");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("clone_hosts"), "{}", r.text());
    let r = push(&allowed.url("mallory/x.git"), "d-2");
    assert_eq!(r.status, 202, "{}", r.text());
    let job = wait_final(&d.socket, r.json()["job_id"].as_i64().expect("id")).await;
    // The allowed host was asked (and wants credentials nobody configured for it).
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    assert!(!allowed.seen().is_empty());
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_fold_into_the_active_job_whatever_the_id_or_route() {
    let repo = Repo::with_script("sleep 3; echo once\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let body = head_push(&repo);
    let first = deliver(&d, "push", "d-1", &body, Some(SECRET));
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["job_id"].as_i64().expect("id");
    let again = deliver(&d, "push", "another-id", &body, Some(SECRET));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["job_id"].as_i64(), Some(id));
    assert_eq!(again.json()["duplicate"], true);
    // The same signed body to the Gitea route (Gitea signs the same way).
    let sig = sign(SECRET, &body);
    let gitea = request(
        d.port,
        "POST",
        "/hooks/gitea",
        &[
            ("Content-Type", "application/json"),
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Delivery", "gitea-id"),
            ("X-Gitea-Signature", &sig),
        ],
        &body,
    );
    assert_eq!(gitea.status, 200, "{}", gitea.text());
    assert_eq!(gitea.json()["job_id"].as_i64(), Some(id));
    assert_eq!(jobs(&d).await.len(), 1);
    // Once it has ended, the commit may build again (a person re-sent it on purpose).
    wait_final(&d.socket, id).await;
    let later = deliver(&d, "push", "later-id", &body, Some(SECRET));
    assert_eq!(later.status, 202, "{}", later.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_controls_in_refs_are_refused() {
    let d = TestDaemon::start(options());
    for git_ref in ["refs/heads/main\u{202E}hs.exe", "refs/heads/\u{2067}x"] {
        let body = gogs_push("alice/app", FORGE_URL, git_ref, ZEROS, &"e".repeat(40), "x");
        let r = deliver(&d, "push", "d-1", &body, Some(SECRET));
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("not a valid git ref"), "{}", r.text());
    }
    assert!(jobs(&d).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_cannot_starve_a_push_or_the_memory() {
    let repo = Repo::with_script("echo ok\n", None);
    let d = TestDaemon::start(Options {
        http: "header_timeout = \"3s\"\nbody_timeout = \"3s\"\n".into(),
        ..options().for_repo(&repo)
    });
    let before = memory(d.pid()).rss;
    // 400 clients: half stop inside their headers, half announce a 256 KiB body and send 10 bytes.
    let mut slow = Vec::new();
    for i in 0..400 {
        let mut s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
        s.write_all(stalled_request(i, 256 * 1024).as_bytes())
            .expect("write");
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = head_push(&repo);
    let started = Instant::now();
    let r = deliver(&d, "push", "d-real", &body, Some(SECRET));
    let took = started.elapsed();
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(took < Duration::from_secs(1), "a real push took {took:?}");
    let during = memory(d.pid()).rss;
    assert!(during < 64 * 1024, "RSS {during} KiB with 400 slow clients");
    eprintln!(
        "RSS before {before} KiB, with 400 slow clients {during} KiB; push answered in {took:?}"
    );
    // The deadlines close them: each slow client reads an end (408 for a body, EOF for headers).
    let deadline = Instant::now() + Duration::from_secs(15);
    for s in &mut slow {
        s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .expect("timeout");
    }
    let mut closed = 0;
    let mut timed_out_bodies = 0;
    for (i, mut s) in slow.into_iter().enumerate() {
        let mut raw = Vec::new();
        use std::io::Read;
        if s.read_to_end(&mut raw).is_ok() {
            closed += 1;
            if i % 2 == 1 && String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 408") {
                timed_out_bodies += 1;
            }
        }
    }
    assert_eq!(closed, 400, "the daemon left slow connections open");
    assert_eq!(timed_out_bodies, 200, "slow bodies were not answered 408");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ids_and_offsets_get_404_and_400() {
    let d = TestDaemon::start(options());
    for path in [
        "/jobs/99999999999999999999",
        "/jobs/abc",
        "/jobs/1",
        "/jobs/-5/log",
    ] {
        let r = request(d.port, "GET", path, &[], b"");
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    for path in ["/jobs/1/log?offset=-1", "/jobs/1/log?offset=x"] {
        let r = request(d.port, "GET", path, &[], b"");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.text().contains("offset"), "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed_by_the_header_deadline() {
    let d = TestDaemon::start(Options {
        http: "header_timeout = \"1s\"\n".into(),
        ..options()
    });
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    // The answer, then (keep-alive, nothing more sent) the end of the connection.
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an idle connection stayed open for {:?}",
        started.elapsed()
    );
}
