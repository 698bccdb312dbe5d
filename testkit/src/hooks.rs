//! Webhook deliveries written from the Gogs documentation's format, signed as Gogs signs them:
//! the bodies, the bytes of a whole request, and pushes to a running daemon.

use crate::daemon::{SECRET, TestDaemon};
use crate::http::{Response, request};
use crate::repo::Repo;
use hmac::{KeyInit, Mac};

/// The clone URL a forge would send; tests override it per repository in the config.
pub const FORGE_URL: &str = "https://forge.invalid/alice/app.git";

/// The all-zero commit id a forge sends for "no commit" (a new or deleted ref).
pub const ZEROS: &str = "0000000000000000000000000000000000000000";

/// Bare lowercase hex HMAC-SHA256, as in `X-Gogs-Signature`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A Gogs `push` body.
pub fn gogs_push(
    repo: &str,
    clone_url: &str,
    git_ref: &str,
    before: &str,
    after: &str,
    message: &str,
) -> Vec<u8> {
    let (owner, name) = repo.split_once('/').unwrap_or(("alice", repo));
    serde_json::json!({
        "ref": git_ref,
        "before": before,
        "after": after,
        "compare_url": "",
        "commits": [{
            "id": after,
            "message": message,
            "url": format!("http://forge.invalid/{repo}/commit/{after}"),
            "author": {"name": "Alice", "email": "alice@example.com", "username": "alice"},
            "committer": {"name": "Alice", "email": "alice@example.com", "username": "alice"},
            "timestamp": "2026-11-28T10:00:00Z"
        }],
        "repository": {
            "id": 1,
            "owner": {"id": 1, "login": owner, "full_name": owner, "email": "", "avatar_url": "", "username": owner},
            "name": name,
            "full_name": repo,
            "description": "",
            "private": true,
            "fork": false,
            "html_url": format!("http://forge.invalid/{repo}"),
            "ssh_url": format!("ssh://git@forge.invalid/{repo}.git"),
            "clone_url": clone_url,
            "website": "",
            "stars_count": 0,
            "forks_count": 0,
            "watchers_count": 0,
            "open_issues_count": 0,
            "default_branch": "main",
            "created_at": "2026-11-01T10:00:00Z",
            "updated_at": "2026-11-28T10:00:00Z"
        },
        "pusher": {"id": 1, "login": "alice", "full_name": "Alice", "email": "alice@example.com", "avatar_url": "", "username": "alice"},
        "sender": {"id": 1, "login": "alice", "full_name": "Alice", "email": "alice@example.com", "avatar_url": "", "username": "alice"}
    })
    .to_string()
    .into_bytes()
}

/// A Gogs `create` body for a tag.
pub fn gogs_create_tag(repo: &str, clone_url: &str, tag: &str, sha: &str) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&gogs_push(repo, clone_url, "", ZEROS, sha, "")).expect("json");
    let obj = v.as_object_mut().expect("object");
    for k in ["before", "after", "compare_url", "commits", "pusher"] {
        obj.remove(k);
    }
    obj.insert("ref".into(), tag.into());
    obj.insert("ref_type".into(), "tag".into());
    obj.insert("sha".into(), sha.into());
    obj.insert("default_branch".into(), "main".into());
    v.to_string().into_bytes()
}

/// The bytes of one signed `push` delivery to `/hooks/gogs`, for a keep-alive connection
/// ([`crate::http::Conn`]).
pub fn gogs_request(body: &[u8], signature: &str, delivery: &str) -> Vec<u8> {
    let mut r = format!(
        "POST /hooks/gogs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Gogs-Event: push\r\nX-Gogs-Delivery: {delivery}\r\nX-Gogs-Signature: {signature}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Posts a delivery to `/hooks/gogs`, signed with `secret` unless it is `None`.
pub fn deliver(
    d: &TestDaemon,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: Option<&str>,
) -> Response {
    let sig = secret.map(|s| sign(s, body));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("X-Gogs-Event", event),
        ("X-Gogs-Delivery", delivery),
    ];
    if let Some(sig) = &sig {
        headers.push(("X-Gogs-Signature", sig.as_str()));
    }
    request(d.port, "POST", "/hooks/gogs", &headers, body)
}

/// The Gogs `push` body of the repository's HEAD to alice/app's `refs/heads/main`, as the forge
/// at [`FORGE_URL`] would send it.
pub fn head_push(repo: &Repo) -> Vec<u8> {
    gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &repo.head(),
        "a change",
    )
}

/// Delivers [`head_push`], signed with the test secret; returns the new job id.
pub fn push(d: &TestDaemon, repo: &Repo, delivery: &str) -> i64 {
    let body = head_push(repo);
    let resp = deliver(d, "push", delivery, &body, Some(SECRET));
    assert_eq!(resp.status, 202, "{}", resp.text());
    resp.json()["job_id"].as_i64().expect("job_id")
}

/// Commits a new file (named after the delivery) and pushes it: a new commit is a new job, while
/// a second delivery of a commit already queued or running folds into that job.
pub fn push_another(d: &TestDaemon, repo: &Repo, delivery: &str) -> i64 {
    repo.commit(&[(delivery, delivery)], delivery);
    push(d, repo, delivery)
}

/// The start of request `i` of a slow client that never finishes it: even `i` stop inside their
/// headers, odd `i` announce a body of `length` bytes and send a few bytes of it. The daemon's
/// header and body deadlines must close both.
pub fn stalled_request(i: usize, length: usize) -> String {
    if i.is_multiple_of(2) {
        "POST /hooks/gogs HTTP/1.1\r\nHost: x\r\nX-Gogs-Event: pu".to_string()
    } else {
        format!(
            "POST /hooks/gogs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             X-Gogs-Event: push\r\nContent-Length: {length}\r\n\r\n{{\"ref\": \"r"
        )
    }
}
