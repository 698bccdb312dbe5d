//! Credentials go only to their own host: recording git servers on 127.0.0.1 and 127.0.0.2 say
//! exactly which `Authorization` they received. And secrets at rest: the database, its files and
//! the logs.

use crate::options;
use microci_proto::{Job, JobStatus, Reply, Request};
use microci_testkit::control::{Client, log_text, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::git_servers::HttpGit;
use microci_testkit::hooks::{ZEROS, deliver, gogs_push, head_push};
use microci_testkit::recorder::{Answer, Recorder};
use microci_testkit::repo::Repo;

/// Pushes `repo` (a name) with `clone_url` in the body; waits for the job's end.
async fn build(d: &TestDaemon, repo: &str, clone_url: &str) -> Job {
    let body = gogs_push(
        repo,
        clone_url,
        "refs/heads/main",
        ZEROS,
        &"f".repeat(40),
        "x",
    );
    let r = deliver(d, "push", &format!("d-{repo}"), &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    wait_final(&d.socket, r.json()["job_id"].as_i64().expect("id")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_global_token_never_reaches_a_host_the_webhook_names() {
    // The forge the token belongs to, and a host a signed push for another repository names.
    let forge = Recorder::start("127.0.0.1", Answer::Challenge);
    let mallory = Recorder::start("127.0.0.2", Answer::Challenge);
    let d = TestDaemon::start(Options {
        listed: false,
        webhook: format!(
            "allow_unlisted = true\nclone_hosts = [\"{}\", \"{}\"]\n",
            forge.origin(),
            mallory.origin()
        ),
        extra: format!(
            "[git]\nusername = \"ci\"\ntoken = \"global-token-4711\"\nhosts = [\"{}\"]\n\
             allow_insecure_http = true\n",
            forge.origin()
        ),
        ..options()
    });
    let job = build(&d, "mallory/x", &mallory.url("mallory/x.git")).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(reason.contains("not offered"), "{reason}");
    assert!(!mallory.seen().is_empty(), "the clone never started");
    assert!(
        mallory.credentials().is_empty(),
        "credentials went to another host: {:?}",
        mallory.credentials()
    );
    // The forge it belongs to does get it.
    let job = build(&d, "alice/app", &forge.url("alice/app.git")).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    assert_eq!(forge.credentials(), ["ci:global-token-4711"]);
    assert!(!log_text(&d, job.id).await.contains("global-token"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_never_crosses_plain_http_unless_allowed() {
    let forge = Recorder::start("127.0.0.1", Answer::Challenge);
    let git = |insecure: bool| {
        format!(
            "[git]\ntoken = \"cleartext-token-1\"\nhosts = [\"{}\"]\nallow_insecure_http = {insecure}\n",
            forge.origin()
        )
    };
    let d = TestDaemon::start(Options {
        extra: git(false),
        ..options()
    });
    let job = build(&d, "alice/app", &forge.url("alice/app.git")).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(reason.contains("plain http://"), "{reason}");
    assert!(forge.credentials().is_empty(), "{:?}", forge.credentials());
    drop(d);
    let d = TestDaemon::start(Options {
        extra: git(true),
        ..options()
    });
    build(&d, "alice/app", &forge.url("alice/app.git")).await;
    assert_eq!(forge.credentials(), ["git:cleartext-token-1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_host_gets_no_credentials() {
    let elsewhere = Recorder::start("127.0.0.2", Answer::Challenge);
    for answer in [
        Answer::Redirect(elsewhere.origin()),
        Answer::ChallengeThenRedirect(elsewhere.origin()),
    ] {
        let forge = Recorder::start("127.0.0.1", answer);
        let d = TestDaemon::start(Options {
            clone_url: Some(forge.url("alice/app.git")),
            repo: "username = \"ci\"\ntoken = \"repo-token-0815\"\n".into(),
            extra: "[git]\nallow_insecure_http = true\n".into(),
            ..options()
        });
        let job = build(&d, "alice/app", "https://forge.invalid/alice/app.git").await;
        assert_eq!(job.status, JobStatus::Errored, "{job:?}");
        assert!(!forge.seen().is_empty());
        assert!(
            elsewhere.credentials().is_empty(),
            "credentials followed a redirect: {:?}",
            elsewhere.credentials()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repository_credentials_never_fall_back_to_the_global_ones() {
    let forge = Recorder::start("127.0.0.1", Answer::Challenge);
    let d = TestDaemon::start(Options {
        clone_url: Some(forge.url("alice/app.git")),
        repo: "username = \"ci\"\ntoken = \"repo-token-1\"\n".into(),
        extra: format!(
            "[git]\nusername = \"ci\"\ntoken = \"global-token-2\"\nhosts = [\"{}\"]\n\
             allow_insecure_http = true\n",
            forge.origin()
        ),
        ..options()
    });
    let job = build(&d, "alice/app", "https://forge.invalid/alice/app.git").await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    assert!(
        job.reason
            .unwrap_or_default()
            .contains("authentication failed"),
        "the forge rejected the repository's token"
    );
    assert_eq!(
        forge.credentials(),
        ["ci:repo-token-1"],
        "no global fallback"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_stay_out_of_the_database_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().expect("tmp");
    let repo = Repo::with_script("echo private\n", None);
    repo.publish(base.path(), "app");
    let server = HttpGit::start(base.path(), "deploy", "tok-at-rest-9");
    let url = server
        .url("app")
        .replace("http://", "http://deploy:tok-at-rest-9@");
    let d = TestDaemon::start(Options {
        clone_url: Some(url),
        extra: "[git]\nallow_insecure_http = true\n".into(),
        ..options()
    });
    let body = head_push(&repo);
    let r = deliver(&d, "push", "d-1", &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    let job = wait_final(&d.socket, r.json()["job_id"].as_i64().expect("id")).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{}", d.log());
    let mut c = Client::connect(&d.socket).await;
    match c.call(Request::ListRepos).await {
        Ok(Reply::Repos { repos }) => assert!(!format!("{repos:?}").contains("tok-at-rest")),
        other => panic!("{other:?}"),
    }
    let state = d.state_dir();
    let db = rusqlite::Connection::open(state.join("microci.db")).expect("open db");
    for table in ["jobs", "repos"] {
        let urls: Vec<String> = db
            .prepare(&format!("SELECT clone_url FROM {table}"))
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(!urls.is_empty());
        for u in urls {
            assert!(
                !u.contains("tok-at-rest") && !u.contains('@'),
                "{table}: {u}"
            );
        }
    }
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for f in ["microci.db", "microci.db-wal", "microci.db-shm"] {
        assert_eq!(mode(state.join(f)), 0o640, "{f}");
    }
    assert_eq!(mode(state.join(format!("logs/{}.log", job.id))), 0o640);
    assert!(!d.log().contains("tok-at-rest"));
}
