//! Commit statuses through the real job lifecycle and real Docker, to a forge API on loopback
//! that records every request: pending → running → success, failure and cancel; retries past a
//! failing forge, a forge that refuses for good, and an outbox that outlives a restart.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{Client, wait_final, wait_for};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::forge_api::{Call, ForgeApi};
use microci_testkit::hooks::{FORGE_URL, ZEROS, gogs_push, sign};
use microci_testkit::http::request;
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

const TOKEN: &str = "forge-api-token-123";

/// A daemon reporting `alice/app`'s statuses to `api` as a Gitea.
fn reporting(repo: &Repo, api: &ForgeApi) -> Options {
    Options {
        http: "public_url = \"https://ci.example.com/\"\n".into(),
        extra: format!(
            "[forge.gitea]\napi_url = \"{}/api/v1\"\ntoken = \"{TOKEN}\"\n",
            api.origin()
        ),
        ..options().for_repo(repo)
    }
}

/// A signed Gitea push of the repository's HEAD; the new job's id.
fn gitea_push(d: &TestDaemon, repo: &Repo, delivery: &str) -> i64 {
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &repo.head(),
        "m",
    );
    let sig = sign(SECRET, &body);
    let r = request(
        d.port,
        "POST",
        "/hooks/gitea",
        &[
            ("Content-Type", "application/json"),
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Delivery", delivery),
            ("X-Gitea-Signature", &sig),
        ],
        &body,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["job_id"].as_i64().expect("job_id")
}

/// Waits until `show` says the job's statuses were all delivered (or gave up); returns it.
async fn reported(d: &TestDaemon, id: i64, want: &str) -> String {
    let mut c = Client::connect(&d.socket).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = c.job(id).await.status_report.unwrap_or_default();
        if s.starts_with(want) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "status report stuck at {s:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The (state, description) of every status the API accepted, in order.
fn accepted(calls: &[Call]) -> Vec<(String, String)> {
    calls
        .iter()
        .filter(|c| c.answered < 300)
        .map(|c| {
            let s = |k: &str| c.body[k].as_str().unwrap_or_default().to_string();
            (s("state"), s("description"))
        })
        .collect()
}

fn pair(state: &str, description: &str) -> (String, String) {
    (state.to_string(), description.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_life_reaches_the_forge_in_order() {
    let api = ForgeApi::start(&[]);
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(reporting(&repo, &api));
    let id = gitea_push(&d, &repo, "g-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
    assert_eq!(reported(&d, id, "delivered").await, "delivered");
    let calls = api.calls();
    assert_eq!(
        accepted(&calls),
        [
            pair("pending", "queued"),
            pair("pending", "running"),
            pair("success", "succeeded")
        ]
    );
    let first = &calls[0];
    assert_eq!(first.method, "POST");
    assert_eq!(
        first.path,
        format!("/api/v1/repos/alice/app/statuses/{}", repo.head())
    );
    assert_eq!(
        first.header("authorization"),
        Some(format!("token {TOKEN}").as_str())
    );
    assert_eq!(first.body["context"], "microci");
    assert_eq!(
        first.body["target_url"],
        format!("https://ci.example.com/jobs/{id}")
    );

    // A failure says why; a cancel is an error (Gitea has no word for it).
    repo.commit(&[("microci.sh", "exit 3\n")], "break");
    let failed = gitea_push(&d, &repo, "g-2");
    assert_eq!(
        wait_final(&d.socket, failed).await.status,
        JobStatus::Failed
    );
    reported(&d, failed, "delivered").await;
    repo.commit(&[("microci.sh", "echo up; sleep 60\n")], "slow");
    let canceled = gitea_push(&d, &repo, "g-3");
    wait_for(&d.socket, canceled, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    assert!(d.cli(&["cancel", &canceled.to_string()]).status.success());
    assert_eq!(
        wait_final(&d.socket, canceled).await.status,
        JobStatus::Canceled
    );
    reported(&d, canceled, "delivered").await;
    let states = accepted(&api.calls());
    assert_eq!(states[5], pair("failure", "command exited with code 3"));
    assert_eq!(states[8], pair("error", "canceled"));
    assert_eq!(states.len(), 9, "{states:?}");

    // A retry reports to the same commit: it replaces the canceled job's mark.
    let out = d.cli(&["retry", &canceled.to_string()]);
    let retried: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("retry prints the new id");
    wait_for(&d.socket, retried, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    assert!(d.cli(&["cancel", &retried.to_string()]).status.success());
    wait_final(&d.socket, retried).await;
    reported(&d, retried, "delivered").await;
    let calls = api.calls();
    assert_eq!(accepted(&calls).len(), 12, "{calls:?}");
    assert_eq!(calls[9].path, calls[8].path);
    assert_eq!(
        calls[9].body["target_url"],
        format!("https://ci.example.com/jobs/{retried}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_forge_gets_each_state_in_the_end_and_in_order() {
    // Three 500s for the first report; the later ones wait behind it.
    let api = ForgeApi::start(&[500, 500, 500]);
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(reporting(&repo, &api));
    let id = gitea_push(&d, &repo, "g-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
    let mut c = Client::connect(&d.socket).await;
    let early = c.job(id).await.status_report.unwrap_or_default();
    assert!(
        early.starts_with("retrying (HTTP 500") || early == "queued",
        "{early}"
    );
    assert_eq!(reported(&d, id, "delivered").await, "delivered");
    let calls = api.calls();
    let codes: Vec<u16> = calls.iter().map(|c| c.answered).collect();
    assert_eq!(codes, [500, 500, 500, 201, 201, 201]);
    assert_eq!(
        accepted(&calls),
        [
            pair("pending", "queued"),
            pair("pending", "running"),
            pair("success", "succeeded")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forge_that_refuses_the_token_is_given_up_visibly() {
    let api = ForgeApi::start(&[]);
    api.answer(401);
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(reporting(&repo, &api));
    let id = gitea_push(&d, &repo, "g-1");
    // The job is not held up by its statuses.
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
    let report = reported(&d, id, "gave up").await;
    assert!(report.starts_with("gave up (HTTP 401"), "{report}");
    let show = String::from_utf8_lossy(&d.cli(&["show", &id.to_string()]).stdout).into_owned();
    assert!(show.contains("status report: gave up (HTTP 401"), "{show}");
    // Each report was tried once: a refusal is not retried.
    assert_eq!(api.calls().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_queued_when_the_daemon_stops_are_delivered_after_it_starts() {
    let api = ForgeApi::start(&[]);
    api.answer(503);
    let repo = Repo::with_script("echo fine\n", None);
    let mut d = TestDaemon::start(reporting(&repo, &api));
    let id = gitea_push(&d, &repo, "g-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
    reported(&d, id, "retrying (HTTP 503").await;
    d.stop();
    api.answer(201);
    d.spawn();
    assert_eq!(reported(&d, id, "delivered").await, "delivered");
    assert_eq!(
        accepted(&api.calls()),
        [
            pair("pending", "queued"),
            pair("pending", "running"),
            pair("success", "succeeded")
        ]
    );
}

/// A delivery of the repository's HEAD through `forge`'s own route, in its own shape and with
/// its own signature; the job id.
fn deliver_as(d: &TestDaemon, forge: &str, repo: &Repo) -> i64 {
    let head = repo.head();
    let (body, headers): (Vec<u8>, Vec<(&str, String)>) = match forge {
        "github" => {
            let body = gogs_push("alice/app", FORGE_URL, "refs/heads/main", ZEROS, &head, "m");
            let sig = format!("sha256={}", sign(SECRET, &body));
            (
                body,
                vec![
                    ("X-GitHub-Event", "push".into()),
                    ("X-GitHub-Delivery", "gh-1".into()),
                    ("X-Hub-Signature-256", sig),
                ],
            )
        }
        "gitlab" => {
            let body = serde_json::json!({
                "object_kind": "push", "ref": "refs/heads/main", "before": ZEROS,
                "after": head, "checkout_sha": head, "user_username": "alice",
                "project": {
                    "path_with_namespace": "alice/app",
                    "git_http_url": FORGE_URL, "web_url": "https://forge.invalid/alice/app",
                },
                "commits": [{"id": head, "message": "m"}],
            })
            .to_string()
            .into_bytes();
            (
                body,
                vec![
                    ("X-Gitlab-Event", "Push Hook".into()),
                    ("X-Gitlab-Token", SECRET.into()),
                ],
            )
        }
        _ => {
            let body = serde_json::json!({
                "push": {"changes": [{"new": {"type": "branch", "name": "main",
                    "target": {"type": "commit", "hash": head, "message": "m"}}, "old": null}]},
                "repository": {"full_name": "alice/app", "is_private": true},
                "actor": {"nickname": "alice"},
            })
            .to_string()
            .into_bytes();
            let sig = format!("sha256={}", sign(SECRET, &body));
            (
                body,
                vec![
                    ("X-Event-Key", "repo:push".into()),
                    ("X-Request-UUID", "bb-1".into()),
                    ("X-Hub-Signature", sig),
                ],
            )
        }
    };
    let mut all: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
    let r = request(d.port, "POST", &format!("/hooks/{forge}"), &all, &body);
    assert_eq!(r.status, 202, "{forge}: {}", r.text());
    r.json()["job_id"].as_i64().expect("job_id")
}

#[tokio::test(flavor = "multi_thread")]
async fn github_gitlab_and_bitbucket_each_get_their_own_request() {
    let repo = Repo::with_script("echo fine\n", None);
    let sha = repo.head();
    // (route, the API's path, authorization header, the states it accepted)
    let cases = [
        (
            "github",
            format!("/repos/alice/app/statuses/{sha}"),
            ("authorization", format!("Bearer {TOKEN}")),
            ["pending", "pending", "success"],
        ),
        (
            "gitlab",
            format!("/projects/alice%2Fapp/statuses/{sha}"),
            ("private-token", TOKEN.to_string()),
            ["pending", "running", "success"],
        ),
        (
            "bitbucket",
            format!("/repositories/alice/app/commit/{sha}/statuses/build"),
            ("authorization", format!("Bearer {TOKEN}")),
            ["INPROGRESS", "INPROGRESS", "SUCCESSFUL"],
        ),
    ];
    for (forge, path, (auth, value), states) in cases {
        let api = ForgeApi::start(&[]);
        let d = TestDaemon::start(Options {
            http: "public_url = \"https://ci.example.com\"\n".into(),
            extra: format!(
                "[forge.{forge}]\napi_url = \"{}/api\"\ntoken = \"{TOKEN}\"\n",
                api.origin()
            ),
            ..options().for_repo(&repo)
        });
        let id = deliver_as(&d, forge, &repo);
        assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
        assert_eq!(reported(&d, id, "delivered").await, "delivered", "{forge}");
        let calls = api.calls();
        let got: Vec<&str> = calls
            .iter()
            .map(|c| c.body["state"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(got, states, "{forge}");
        for c in &calls {
            assert_eq!(c.path, format!("/api{path}"), "{forge}");
            assert_eq!(c.header(auth), Some(value.as_str()), "{forge}");
        }
        let link = match forge {
            "bitbucket" => &calls[0].body["url"],
            _ => &calls[0].body["target_url"],
        };
        assert_eq!(
            link,
            &format!("https://ci.example.com/jobs/{id}"),
            "{forge}"
        );
    }
}
