//! Pull requests through the Gitea route and real Docker: a same-repository pull request builds
//! its head at `refs/pull/<n>/head`; a fork's is refused by default and built untrusted with
//! `pull_requests = "all"`; closing one cancels what is still queued for it.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{Client, wait_final, wait_for};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{push, sign};
use microci_testkit::http::{Response, request};
use microci_testkit::repo::Repo;
use std::process::Command;

/// Makes `refs/pull/<n>/head` point at a new commit of the repository (as the forge does for a
/// pull request); returns the commit.
pub(crate) fn pull_head(repo: &Repo, n: u64, script: &str) -> String {
    let main = repo.head();
    let head = repo.commit(&[("microci.sh", script)], &format!("pull request {n}"));
    for args in [
        vec![
            "update-ref".to_string(),
            format!("refs/pull/{n}/head"),
            head.clone(),
        ],
        vec!["reset".into(), "--hard".into(), "-q".into(), main],
    ] {
        let ok = Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(&args)
            .status()
            .expect("git");
        assert!(ok.success(), "git {args:?}");
    }
    head
}

/// A signed Gitea `pull_request` delivery (Gitea's documented shape).
pub(crate) fn pull_event(
    d: &TestDaemon,
    action: &str,
    n: u64,
    head: &str,
    head_repo: &str,
) -> Response {
    let body = serde_json::json!({
        "action": action,
        "number": n,
        "pull_request": {
            "number": n, "title": format!("Pull request {n}"), "state": "open",
            "head": {"ref": "feature", "sha": head, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "sha": head, "repo": {"full_name": "alice/app"}},
        },
        "repository": {
            "full_name": "alice/app", "clone_url": "https://forge.invalid/alice/app.git",
            "html_url": "https://forge.invalid/alice/app",
            "private": true, "default_branch": "main",
        },
        "sender": {"login": "carol"},
    })
    .to_string()
    .into_bytes();
    let sig = sign(SECRET, &body);
    request(
        d.port,
        "POST",
        "/hooks/gitea",
        &[
            ("Content-Type", "application/json"),
            ("X-Gitea-Event", "pull_request"),
            ("X-Gitea-Delivery", &format!("pr-{n}-{action}-{head}")),
            ("X-Gitea-Signature", &sig),
        ],
        &body,
    )
}

pub(crate) fn job_id(r: &Response) -> i64 {
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["job_id"].as_i64().expect("job_id")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_builds_its_head_and_a_forks_only_when_allowed() {
    let repo = Repo::with_script("echo on main\n", None);
    let own = pull_head(&repo, 7, "echo from the pull request\n");
    let forked = pull_head(&repo, 8, "echo from a fork\n");
    let d = TestDaemon::start(Options {
        http: "pages = \"all\"\n".into(),
        ..options().for_repo(&repo)
    });

    let id = job_id(&pull_event(&d, "opened", 7, &own, "alice/app"));
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(
        (job.git_ref.as_str(), job.commit.as_str()),
        ("refs/pull/7/head", own.as_str())
    );
    assert!(!job.untrusted);
    let log = microci_testkit::control::log_text(&d, id).await;
    assert!(log.contains("from the pull request"), "{log}");
    // `show` links the commit and the pull request to the forge.
    let show = String::from_utf8_lossy(&d.cli(&["show", &id.to_string()]).stdout).into_owned();
    assert!(
        show.contains(&format!(
            "\nlink      https://forge.invalid/alice/app/commit/{own}\n"
        )) && show.contains("\npull      https://forge.invalid/alice/app/pulls/7\n"),
        "{show}"
    );
    // So does the job's page.
    let page = request(d.port, "GET", &format!("/jobs/{id}"), &[], b"").text();
    assert!(
        page.contains(&format!(
            "<a href=\"https://forge.invalid/alice/app/commit/{own}\" rel=\"noopener noreferrer\">"
        )) && page.contains("<a href=\"https://forge.invalid/alice/app/pulls/7\""),
        "{page}"
    );

    let refused = pull_event(&d, "opened", 8, &forked, "mallory/app");
    assert_eq!(refused.status, 200, "{}", refused.text());
    assert_eq!(
        refused.json()["ignored"],
        "pull request 8 comes from a fork (pull_requests = \"all\" builds those)"
    );
    let ignored = pull_event(&d, "labeled", 7, &own, "alice/app");
    assert_eq!(ignored.json()["ignored"], "pull request action \"labeled\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forks_pull_request_is_built_untrusted_with_pull_requests_all() {
    let repo = Repo::with_script("echo on main\n", None);
    let forked = pull_head(&repo, 8, "echo from a fork\n");
    let d = TestDaemon::start(Options {
        repo: "pull_requests = \"all\"\n".into(),
        ..options().for_repo(&repo)
    });
    let id = job_id(&pull_event(&d, "opened", 8, &forked, "mallory/app"));
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(job.untrusted);
    let show = String::from_utf8_lossy(&d.cli(&["show", &id.to_string()]).stdout).into_owned();
    assert!(
        show.contains("\ntrust     untrusted: a fork's pull request\n"),
        "{show}"
    );
    let jobs = String::from_utf8_lossy(&d.cli(&["jobs"]).stdout).into_owned();
    assert!(jobs.contains("pr/8"), "{jobs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_a_pull_request_cancels_its_queued_job() {
    let repo = Repo::with_script("echo busy; sleep 60\n", None);
    let head = pull_head(&repo, 9, "echo never\n");
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        ..options().for_repo(&repo)
    });
    let busy = push(&d, &repo, "d-1");
    wait_for(&d.socket, busy, 60, |j| j.status == JobStatus::Started).await;
    let queued = job_id(&pull_event(&d, "opened", 9, &head, "alice/app"));
    let closed = pull_event(&d, "closed", 9, &head, "alice/app");
    assert_eq!(closed.status, 200, "{}", closed.text());
    assert_eq!(closed.json()["canceled"], serde_json::json!([queued]));
    let job = Client::connect(&d.socket).await.job(queued).await;
    assert_eq!(job.status, JobStatus::Canceled);
    assert_eq!(
        job.reason.as_deref(),
        Some("canceled: the pull request was closed")
    );
    assert!(d.cli(&["cancel", &busy.to_string()]).status.success());
}
