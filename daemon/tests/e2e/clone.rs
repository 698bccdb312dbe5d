//! Private and public repositories cloned the way a Gogs user sets them up: HTTP with a token,
//! SSH with a deploy key, git:// — through the daemon, from webhook to finished job.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::git_servers::{GitDaemon, HttpGit, Sshd};
use microci_testkit::hooks::{ZEROS, deliver, gogs_push};
use microci_testkit::repo::Repo;

/// `http://127.0.0.1:PORT` of a URL, as `git.hosts` names a host with its scheme and port.
pub(crate) fn origin_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    format!(
        "{}://{host}",
        url.split_once("://").map_or("http", |(s, _)| s)
    )
}

async fn build(d: &TestDaemon, repo: &Repo, clone_url: &str) -> microci_proto::Job {
    let body = gogs_push(
        "alice/app",
        clone_url,
        "refs/heads/main",
        ZEROS,
        &repo.head(),
        "x",
    );
    let r = deliver(d, "push", "d-1", &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    wait_final(&d.socket, r.json()["job_id"].as_i64().expect("id")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn private_repository_over_http_with_a_token() {
    let base = tempfile::tempdir().expect("tmp");
    let repo = Repo::with_script("echo cloned over http\n", None);
    repo.publish(base.path(), "app");
    let server = HttpGit::start(base.path(), "deploy", "tok-123");
    // The webhook's own clone_url is used; the token comes from the config, for this host.
    let git = |token: &str| {
        format!(
            "[git]\nusername = \"deploy\"\ntoken = \"{token}\"\nhosts = [\"{}\"]\n\
             allow_insecure_http = true\n",
            origin_of(&server.url("app"))
        )
    };
    let d = TestDaemon::start(Options {
        extra: git("tok-123"),
        ..options()
    });
    let job = build(&d, &repo, &server.url("app")).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(log_text(&d, job.id).await.contains("cloned over http"));

    // A wrong token: ERRORED, saying authentication failed, never showing the token.
    let d2 = TestDaemon::start(Options {
        extra: git("wrong-token"),
        ..options()
    });
    let job = build(&d2, &repo, &server.url("app")).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!(
        !reason.contains("wrong-token") && !log_text(&d2, job.id).await.contains("wrong-token")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn private_repository_over_ssh_with_a_deploy_key() {
    let base = tempfile::tempdir().expect("tmp");
    let repo = Repo::with_script("echo cloned over ssh\n", None);
    repo.publish(base.path(), "app");
    let sshd = Sshd::start(base.path());
    let d = TestDaemon::start(Options {
        clone_url: Some(sshd.url("app")),
        repo: format!("ssh_key = \"{}\"\n", sshd.deploy_key().display()),
        ..options()
    });
    let job = build(&d, &repo, "https://forge.invalid/alice/app.git").await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{}", d.log());
    assert!(log_text(&d, job.id).await.contains("cloned over ssh"));
}

#[tokio::test(flavor = "multi_thread")]
async fn public_repository_over_git_protocol() {
    let base = tempfile::tempdir().expect("tmp");
    let repo = Repo::with_script("echo cloned over git\n", None);
    repo.publish(base.path(), "app");
    let server = GitDaemon::start(base.path());
    let d = TestDaemon::start(Options {
        clone_url: Some(server.url("app")),
        ..options()
    });
    let job = build(&d, &repo, "https://forge.invalid/alice/app.git").await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(log_text(&d, job.id).await.contains("cloned over git"));
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_build_uses_credentials_written_into_the_configured_url() {
    use microci_proto::{Reply, Request};
    use microci_testkit::control::Client;
    let base = tempfile::tempdir().expect("tmp");
    let repo = Repo::with_script("echo manual over http\n", None);
    repo.publish(base.path(), "app");
    let server = HttpGit::start(base.path(), "deploy", "tok-456");
    let url = server
        .url("app")
        .replace("http://", "http://deploy:tok-456@");
    let d = TestDaemon::start(Options {
        clone_url: Some(url),
        extra: "[git]\nallow_insecure_http = true\n".into(),
        ..options()
    });
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::ListRepos).await {
        Ok(Reply::Repos { repos }) => {
            assert_eq!(repos.len(), 1, "{repos:?}");
            assert!(!repos[0].clone_url.contains("tok-456"), "{repos:?}");
        }
        other => panic!("{other:?}"),
    }
    let id = match c
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
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(log_text(&d, id).await.contains("manual over http"));
}
