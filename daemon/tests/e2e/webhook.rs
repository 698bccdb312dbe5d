//! `POST /hooks/gogs`: signatures, what builds and what is ignored, redelivery, bad input.

use crate::options;
use microci_proto::{JobQuery, JobStatus, Reply, Request};
use microci_testkit::control::{Client, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_create_tag, gogs_push, sign};
use microci_testkit::http::request;
use microci_testkit::repo::Repo;

async fn job_count(d: &TestDaemon) -> usize {
    let mut c = Client::connect(&d.socket).await;
    match c
        .call(Request::ListJobs(JobQuery {
            limit: 100,
            ..JobQuery::default()
        }))
        .await
    {
        Ok(Reply::Jobs { jobs }) => jobs.len(),
        other => panic!("{other:?}"),
    }
}

fn some_push() -> Vec<u8> {
    gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &"b".repeat(40),
        "x",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_or_missing_signature_is_401_and_creates_nothing() {
    let d = TestDaemon::start(options());
    let body = some_push();
    let wrong = deliver(&d, "push", "d-1", &body, Some("not-the-secret"));
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    let missing = deliver(&d, "push", "d-2", &body, None);
    assert_eq!(missing.status, 401, "{}", missing.text());
    // Signed, then the body changed on the way.
    let sig = sign(SECRET, &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let r = request(
        d.port,
        "POST",
        "/hooks/gogs",
        &[
            ("Content-Type", "application/json"),
            ("X-Gogs-Event", "push"),
            ("X-Gogs-Signature", &sig),
        ],
        &tampered,
    );
    assert_eq!(r.status, 401);
    assert_eq!(job_count(&d).await, 0);
    assert!(!d.log().contains(SECRET), "secret in the daemon's log");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_repository_secret_overrides_the_default() {
    let d = TestDaemon::start(Options {
        repo: "secret = \"repo-secret-0123456789\"\n".into(),
        ..options()
    });
    let body = some_push();
    assert_eq!(deliver(&d, "push", "d-1", &body, Some(SECRET)).status, 401);
    assert_eq!(
        deliver(&d, "push", "d-2", &body, Some("repo-secret-0123456789")).status,
        202
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_that_build_nothing_answer_200_with_the_reason() {
    let d = TestDaemon::start(options());
    let sha = "c".repeat(40);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("push", gogs_push("alice/app", FORGE_URL, "refs/heads/gone", &sha, ZEROS, "")),
        ("push", gogs_push("alice/app", FORGE_URL, "refs/heads/main", &sha, &sha, "test")),
        ("issues", br#"{"action":"opened","repository":{"full_name":"alice/app"}}"#.to_vec()),
        (
            "delete",
            br#"{"ref":"main","ref_type":"branch","repository":{"full_name":"alice/app","clone_url":"https://forge.invalid/alice/app.git"}}"#.to_vec(),
        ),
        (
            "create",
            br#"{"ref":"feature","ref_type":"branch","sha":"cccccccccccccccccccccccccccccccccccccccc","default_branch":"main","repository":{"full_name":"alice/app","clone_url":"https://forge.invalid/alice/app.git"}}"#.to_vec(),
        ),
    ];
    for (i, (event, body)) in cases.iter().enumerate() {
        let r = deliver(&d, event, &format!("d-{i}"), body, Some(SECRET));
        assert_eq!(r.status, 200, "{event}: {}", r.text());
        let reason = r.json()["ignored"].as_str().unwrap_or_default().to_string();
        assert!(!reason.is_empty(), "{event}: {}", r.text());
    }
    assert_eq!(job_count(&d).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_create_builds_the_tags_commit() {
    let repo = Repo::with_script("echo building tag\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    repo.tag("v1.0");
    let sha = repo.head();
    let body = gogs_create_tag("alice/app", FORGE_URL, "v1.0", &sha);
    let r = deliver(&d, "create", "d-1", &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    let job = wait_final(&d.socket, r.json()["job_id"].as_i64().expect("id")).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.git_ref, "refs/tags/v1.0");
    assert_eq!(job.commit, sha);
}

#[tokio::test(flavor = "multi_thread")]
async fn redelivery_returns_the_first_job() {
    let d = TestDaemon::start(options());
    let body = some_push();
    let first = deliver(&d, "push", "same-id", &body, Some(SECRET));
    assert_eq!(first.status, 202);
    let again = deliver(&d, "push", "same-id", &body, Some(SECRET));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["job_id"], first.json()["job_id"]);
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(job_count(&d).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_deliveries_get_clear_errors() {
    let d = TestDaemon::start(options());
    let post = |body: &[u8], ctype: &str| {
        let sig = sign(SECRET, body);
        request(
            d.port,
            "POST",
            "/hooks/gogs",
            &[
                ("Content-Type", ctype),
                ("X-Gogs-Event", "push"),
                ("X-Gogs-Signature", &sig),
            ],
            body,
        )
    };
    let r = post(b"{not json", "application/json");
    assert_eq!(r.status, 400, "{}", r.text());

    let mut v: serde_json::Value = serde_json::from_slice(&some_push()).expect("json");
    v.as_object_mut().expect("obj").remove("after");
    let r = post(v.to_string().as_bytes(), "application/json");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("after"), "{}", r.text());

    let mut v: serde_json::Value = serde_json::from_slice(&some_push()).expect("json");
    v.as_object_mut().expect("obj").remove("repository");
    let r = post(v.to_string().as_bytes(), "application/json");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("repository"), "{}", r.text());

    for bad in ["../etc", "alice/app; rm -rf /", "alice/../../x", "$(id)/x"] {
        let body = gogs_push(
            bad,
            FORGE_URL,
            "refs/heads/main",
            ZEROS,
            &"d".repeat(40),
            "x",
        );
        let r = post(&body, "application/json");
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }

    let r = post(&some_push(), "text/plain");
    assert_eq!(r.status, 415, "{}", r.text());

    // Over the 256 KiB limit, announced by Content-Length: refused before it is read.
    let big = vec![b' '; 300 * 1024];
    let r = post(&big, "application/json");
    assert_eq!(r.status, 413, "{}", r.text());
    // Over the limit in a chunked body with no length.
    let mut chunked = Vec::new();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&vec![b' '; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = request(
        d.port,
        "POST",
        "/hooks/gogs",
        &[
            ("Content-Type", "application/json"),
            ("X-Gogs-Event", "push"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(job_count(&d).await, 0);
    // Still serving.
    assert_eq!(request(d.port, "GET", "/healthz", &[], b"").status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn long_multibyte_messages_are_kept_whole_or_cut_on_characters() {
    let d = TestDaemon::start(options());
    let message = "😀 ünïcödé 漢字 ".repeat(3000);
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &"e".repeat(40),
        &message,
    );
    let r = deliver(&d, "push", "d-1", &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    let mut c = Client::connect(&d.socket).await;
    let job = c.job(r.json()["job_id"].as_i64().expect("id")).await;
    assert!(!job.message.is_empty());
    assert!(
        message.starts_with(&job.message),
        "message was not cut on a character boundary"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn form_encoded_gogs_delivery_is_accepted() {
    let d = TestDaemon::start(options());
    let json = some_push();
    let sig = sign(SECRET, &json);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).expect("utf8"))
        .finish();
    let r = request(
        d.port,
        "POST",
        "/hooks/gogs/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Gogs-Event", "push"),
            ("X-Gogs-Signature", &sig),
        ],
        form.as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
}
