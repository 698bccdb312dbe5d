//! End to end: the real `microcid` binary, the real Docker Engine with a locally built image, real
//! git repositories, real HTTP requests and the real control socket.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod clone;
mod control;
mod jobs;
mod lifecycle;
mod sec_creds;
mod sec_hooks;
mod sec_jobs;
mod sec_pages;
mod tui;
mod webhook;

use support::daemon::{SECRET, TestDaemon};
use support::hooks::{FORGE_URL, ZEROS, deliver, gogs_push};
use support::repo::Repo;

/// Pushes the repository's HEAD to `refs/heads/main` as Gogs would; returns the new job id.
fn push(d: &TestDaemon, repo: &Repo, delivery: &str) -> i64 {
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &repo.head(),
        "a change",
    );
    let resp = deliver(d, "push", delivery, &body, Some(SECRET));
    assert_eq!(resp.status, 202, "{}", resp.text());
    resp.json()["job_id"].as_i64().expect("job_id")
}

/// Commits a new file (named after the delivery) and pushes it: a new commit is a new job, while
/// a second delivery of a commit already queued or running folds into that job.
fn push_another(d: &TestDaemon, repo: &Repo, delivery: &str) -> i64 {
    repo.commit(&[(delivery, delivery)], delivery);
    push(d, repo, delivery)
}

/// The job's whole log, read through the control socket.
async fn log_text(d: &TestDaemon, id: i64) -> String {
    let mut c = support::control::Client::connect(&d.socket).await;
    let mut out = String::new();
    let mut offset = 0;
    loop {
        match c
            .call(microci_proto::Request::ReadLog {
                job: id,
                offset,
                max: 256 * 1024,
            })
            .await
        {
            Ok(microci_proto::Reply::Log(chunk)) => {
                if chunk.next_offset == offset {
                    return out;
                }
                out.push_str(&chunk.data);
                offset = chunk.next_offset;
            }
            other => panic!("read_log: {other:?}"),
        }
    }
}
