//! Bitbucket pull requests through a real `git daemon` and real Docker. Bitbucket serves no
//! `refs/pull/*` and sends a 12-digit commit: the job fetches the source branch (a fork's from the
//! fork, on the same server), builds it as `pr/<n>`, and records the full commit id, which the
//! commit status and the forge link then carry. Merging or declining cancels what is queued.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{Client, log_text, wait_final, wait_for};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::forge_api::ForgeApi;
use microci_testkit::git_servers::{GitDaemon, git};
use microci_testkit::hooks::sign;
use microci_testkit::http::{Response, request};
use microci_testkit::repo::Repo;
use std::path::Path;

const TOKEN: &str = "bitbucket-api-token";

/// Makes branch `branch` of `repo` hold a new commit running `script`, leaving `main` as it was;
/// returns the commit.
fn branch_with(repo: &Repo, branch: &str, script: &str) -> String {
    let main = repo.head();
    let head = repo.commit(&[("microci.sh", script)], &format!("work on {branch}"));
    git(
        &repo.path(),
        &["update-ref", &format!("refs/heads/{branch}"), &head],
    );
    git(&repo.path(), &["reset", "--hard", "-q", &main]);
    head
}

/// A signed Bitbucket `pullrequest:<action>` delivery (Atlassian's documented shape) for pull
/// request `n` of `alice/app`, from `branch` of `source_repo` at the abbreviated `hash`.
fn pull_event(
    d: &TestDaemon,
    action: &str,
    n: u64,
    source_repo: &str,
    branch: &str,
    hash: &str,
) -> Response {
    let repository = |name: &str| {
        serde_json::json!({
            "type": "repository", "full_name": name, "is_private": true,
            "links": {"html": {"href": format!("https://bitbucket.org/{name}")}},
        })
    };
    let body = serde_json::json!({
        "actor": {"type": "user", "nickname": "carol", "display_name": "Carol"},
        "repository": repository("alice/app"),
        "pullrequest": {
            "id": n, "title": format!("Pull request {n}"), "state": "OPEN",
            "source": {
                "branch": {"name": branch}, "commit": {"hash": hash},
                "repository": repository(source_repo),
            },
            "destination": {
                "branch": {"name": "main"}, "commit": {"hash": "ce5965ddd289"},
                "repository": repository("alice/app"),
            },
            "links": {"html": {"href": format!("https://bitbucket.org/alice/app/pull-requests/{n}")}},
        },
    })
    .to_string()
    .into_bytes();
    let sig = format!("sha256={}", sign(SECRET, &body));
    request(
        d.port,
        "POST",
        "/hooks/bitbucket",
        &[
            ("Content-Type", "application/json"),
            ("X-Event-Key", &format!("pullrequest:{action}")),
            ("X-Request-UUID", &format!("{{{n}-{action}-{hash}}}")),
            ("X-Hub-Signature", &sig),
        ],
        &body,
    )
}

/// Runs a CLI command that prints a new job's id; the id.
fn new_id(d: &TestDaemon, args: &[&str]) -> i64 {
    let out = d.cli(args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{args:?}: {out:?}");
    text.trim().parse().expect("the new job's id")
}

fn job_id(r: &Response) -> i64 {
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["job_id"].as_i64().expect("job_id")
}

/// `alice/app` and its fork `mallory/app` served by `git daemon`; the fork's pull request comes
/// from its `main`, a branch name the base repository has too.
struct Served {
    dir: tempfile::TempDir,
    server: GitDaemon,
    base: Repo,
    fork: Repo,
}

fn served() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = Repo::with_script("echo on main\n", None);
    let fork = Repo::with_script("echo from the fork\n", None);
    std::fs::create_dir_all(dir.path().join("alice")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("mallory")).expect("mkdir");
    Served {
        server: GitDaemon::start(dir.path()),
        base,
        fork,
        dir,
    }
}

impl Served {
    fn publish(&self) {
        let root: &Path = self.dir.path();
        self.base.publish(root, "alice/app");
        self.fork.publish(root, "mallory/app");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_builds_its_source_branch_and_records_the_full_commit() {
    let s = served();
    let head = branch_with(&s.base, "feature/x", "echo from the branch\n");
    s.publish();
    let api = ForgeApi::start(&[]);
    let d = TestDaemon::start(Options {
        http: "public_url = \"https://ci.example.com\"\n".into(),
        extra: format!(
            "[forge.bitbucket]\napi_url = \"{}/api\"\ntoken = \"{TOKEN}\"\n",
            api.origin()
        ),
        ..options().for_url(&s.server.url("alice/app"))
    });
    let short = &head[..12];
    let id = job_id(&pull_event(
        &d,
        "created",
        12,
        "alice/app",
        "feature/x",
        short,
    ));
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(
        (job.git_ref.as_str(), job.commit.as_str()),
        ("refs/pull/12/head", head.as_str())
    );
    assert!(!job.untrusted);
    let log = log_text(&d, id).await;
    assert!(log.contains("from the branch"), "{log}");
    assert!(
        log.contains("fetching feature/x from git://127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains(&format!("commit {short} is {head}")), "{log}");
    let show = String::from_utf8_lossy(&d.cli(&["show", &id.to_string()]).stdout).into_owned();
    assert!(
        show.contains(&format!(
            "\nlink      https://bitbucket.org/alice/app/commits/{head}\n"
        )) && show.contains("\npull      https://bitbucket.org/alice/app/pull-requests/12\n"),
        "{show}"
    );
    // The final status goes to the full commit (the first ones could only name the
    // abbreviation, which Bitbucket's API resolves as its own event did).
    let mut calls = api.calls();
    for _ in 0..100 {
        if calls.iter().any(|c| c.body["state"] == "SUCCESSFUL") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        calls = api.calls();
    }
    let last = calls.last().expect("status reports");
    assert_eq!(last.body["state"], "SUCCESSFUL");
    assert_eq!(
        last.path,
        format!("/api/repositories/alice/app/commit/{head}/statuses/build")
    );
    assert!(
        calls.iter().all(|c| c
            .path
            .starts_with(&format!("/api/repositories/alice/app/commit/{short}"))),
        "{calls:?}"
    );

    // A retry builds the same full commit again, from the cache.
    let again = wait_final(&d.socket, new_id(&d, &["retry", &id.to_string()])).await;
    assert_eq!(
        (again.status, again.commit.as_str()),
        (JobStatus::Succeed, head.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forks_pull_request_is_fetched_from_the_fork_only_when_allowed() {
    let s = served();
    let fork_head = s.fork.head();
    s.publish();
    let url = s.server.url("alice/app");
    let refused = TestDaemon::start(options().for_url(&url));
    let r = pull_event(
        &refused,
        "created",
        13,
        "mallory/app",
        "main",
        &fork_head[..12],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["ignored"],
        "pull request 13 comes from a fork (pull_requests = \"all\" builds those)"
    );
    drop(refused);

    let d = TestDaemon::start(Options {
        repo: "pull_requests = \"all\"\n".into(),
        ..options().for_url(&url)
    });
    let id = job_id(&pull_event(
        &d,
        "created",
        13,
        "mallory/app",
        "main",
        &fork_head[..12],
    ));
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(job.untrusted);
    assert_eq!(job.commit, fork_head);
    let log = log_text(&d, id).await;
    assert!(log.contains("from the fork"), "{log}");
    assert!(log.contains("/mallory/app.git"), "{log}");
    // The fork's `main` went to `refs/pull/13/head`, not over ours: main still builds main.
    let ours = wait_final(&d.socket, new_id(&d, &["run", "alice/app", "main"])).await;
    assert_eq!(ours.commit, s.base.head());
    assert!(log_text(&d, ours.id).await.contains("on main"));
}

#[tokio::test(flavor = "multi_thread")]
async fn merging_or_declining_cancels_the_queued_job() {
    let s = served();
    let head = branch_with(&s.base, "feature/y", "echo never\n");
    let busy_head = branch_with(&s.base, "busy", "echo busy; sleep 60\n");
    s.publish();
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        ..options().for_url(&s.server.url("alice/app"))
    });
    let busy = job_id(&pull_event(
        &d,
        "created",
        1,
        "alice/app",
        "busy",
        &busy_head[..12],
    ));
    wait_for(&d.socket, busy, 60, |j| j.status == JobStatus::Started).await;
    for (n, action) in [(2, "fulfilled"), (3, "rejected")] {
        let queued = job_id(&pull_event(
            &d,
            "created",
            n,
            "alice/app",
            "feature/y",
            &head[..12],
        ));
        let closed = pull_event(&d, action, n, "alice/app", "feature/y", &head[..12]);
        assert_eq!(closed.status, 200, "{}", closed.text());
        assert_eq!(closed.json()["canceled"], serde_json::json!([queued]));
        let job = Client::connect(&d.socket).await.job(queued).await;
        assert_eq!(job.status, JobStatus::Canceled, "{action}");
    }
    let other = pull_event(&d, "approved", 1, "alice/app", "busy", &busy_head[..12]);
    assert_eq!(other.json()["ignored"], "pull request event \"approved\"");
    assert!(d.cli(&["cancel", &busy.to_string()]).status.success());
}
