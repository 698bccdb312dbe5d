//! The public web pages show only public repositories (or what `http.pages` says); the control
//! socket, the authenticated channel, sees everything; and a reused subscription id is refused.

use crate::options;
use microci_proto::{ErrorCode, JobQuery, Reply, Request, ServerMessage};
use microci_testkit::control::{Client, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{ZEROS, deliver, gogs_push};
use microci_testkit::http::request;

/// Pushes `repo` as the forge describes it (`private`), with a message to look for; the clone
/// goes to a closed loopback port, so the job ends at once.
async fn push(d: &TestDaemon, repo: &str, private: bool, message: &str) -> i64 {
    let body = gogs_push(
        repo,
        &format!("http://127.0.0.1:1/{repo}.git"),
        "refs/heads/main",
        ZEROS,
        &format!("{:040x}", message.len() + repo.len()),
        message,
    );
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    v["repository"]["private"] = private.into();
    let body = v.to_string().into_bytes();
    static DELIVERIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = DELIVERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r = deliver(d, "push", &format!("d-{n}"), &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["job_id"].as_i64().expect("id");
    wait_final(&d.socket, id).await;
    id
}

fn get(d: &TestDaemon, path: &str) -> (u16, String) {
    let r = request(d.port, "GET", path, &[], b"");
    (r.status, r.text())
}

fn repos(names: &[(&str, Option<bool>)]) -> String {
    names
        .iter()
        .map(|(n, public)| match public {
            Some(p) => format!("[[repo]]\nname = \"{n}\"\npublic = {p}\n"),
            None => format!("[[repo]]\nname = \"{n}\"\n"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn private_repositories_stay_off_the_public_pages() {
    let d = TestDaemon::start(Options {
        extra: repos(&[
            ("bob/open", None),
            ("carol/shown", Some(true)),
            ("dave/hidden", Some(false)),
        ]),
        ..options()
    });
    let private = push(&d, "alice/app", true, "private-msg-1").await;
    let public = push(&d, "bob/open", false, "public-msg-2").await;
    let forced_public = push(&d, "carol/shown", true, "shown-msg-3").await;
    let forced_private = push(&d, "dave/hidden", false, "hidden-msg-4").await;

    let (status, index) = get(&d, "/");
    assert_eq!(status, 200);
    for shown in ["bob/open", "public-msg-2", "carol/shown", "shown-msg-3"] {
        assert!(index.contains(shown), "{shown} missing from /");
    }
    for hidden in ["alice/app", "private-msg-1", "dave/hidden", "hidden-msg-4"] {
        assert!(!index.contains(hidden), "{hidden} on the public page");
    }
    for id in [private, forced_private] {
        for path in [format!("/jobs/{id}"), format!("/jobs/{id}/log")] {
            let (status, body) = get(&d, &path);
            assert_eq!(status, 404, "{path}: {body}");
            assert!(!body.contains("msg"), "{body}");
        }
    }
    for id in [public, forced_public] {
        assert_eq!(get(&d, &format!("/jobs/{id}")).0, 200);
        assert_eq!(get(&d, &format!("/jobs/{id}/log")).0, 200);
    }
    // The control socket is the authenticated channel: it sees every job.
    let mut c = Client::connect(&d.socket).await;
    match c
        .call(Request::ListJobs(JobQuery {
            limit: 10,
            ..JobQuery::default()
        }))
        .await
    {
        Ok(Reply::Jobs { jobs }) => assert_eq!(jobs.len(), 4),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_all_shows_everything_and_off_shows_nothing() {
    let all = TestDaemon::start(Options {
        http: "pages = \"all\"\n".into(),
        ..options()
    });
    let id = push(&all, "alice/app", true, "private-msg").await;
    assert!(get(&all, "/").1.contains("private-msg"));
    assert_eq!(get(&all, &format!("/jobs/{id}")).0, 200);
    drop(all);

    let off = TestDaemon::start(Options {
        http: "pages = \"off\"\n".into(),
        ..options()
    });
    let id = push(&off, "alice/app", false, "public-msg").await;
    assert_eq!(get(&off, "/").0, 404);
    assert_eq!(get(&off, &format!("/jobs/{id}")).0, 404);
    assert_eq!(get(&off, &format!("/jobs/{id}/log")).0, 404);
    assert_eq!(get(&off, "/healthz").0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_controls_in_messages_are_spelled_out_on_the_pages() {
    let d = TestDaemon::start(Options {
        http: "pages = \"all\"\n".into(),
        ..options()
    });
    let id = push(&d, "alice/app", true, "fix \u{202E}gnp.exe").await;
    for path in ["/".to_string(), format!("/jobs/{id}")] {
        let page = get(&d, &path).1;
        assert!(!page.contains('\u{202E}'), "{path}");
        assert!(page.contains("fix &lt;U+202E&gt;gnp.exe"), "{path}: {page}");
    }
}

/// The next frame, which must be the success `reply` to request `id`.
async fn expect_ok(c: &mut Client, id: u64, reply: Reply) {
    match c.recv().await {
        Some(ServerMessage::Ok { id: i, reply: r }) if i == id && r == reply => {}
        other => panic!("expected {reply:?} for {id}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_subscription_id_is_refused() {
    let d = TestDaemon::start(options());
    let mut c = Client::connect(&d.socket).await;
    c.send_as(7, Request::WatchJobs).await;
    expect_ok(&mut c, 7, Reply::Subscribed).await;
    c.send_as(7, Request::WatchJobs).await;
    match c.recv().await {
        Some(ServerMessage::Error {
            id: 7,
            code,
            message,
        }) => {
            assert_eq!(code, ErrorCode::Invalid);
            assert!(message.contains("already"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The first subscription still works and can still be ended by its id.
    c.send_as(8, Request::Unsubscribe { subscription: 7 }).await;
    expect_ok(&mut c, 8, Reply::Done).await;
    // Once ended, the id is free again.
    c.send_as(7, Request::WatchJobs).await;
    expect_ok(&mut c, 7, Reply::Subscribed).await;
}
