//! What builds: `[skip ci]`, `[[repo]] branches`, `tags` and `paths` decide which pushes become
//! jobs (manual runs ignore them), and a delivery that updates several refs (Bitbucket batches
//! them) gives one job per ref, each with its own commit, and none for a deletion.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::wait_final;
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push};
use microci_testkit::http::{Response, request};
use microci_testkit::repo::Repo;

/// A Gogs push of `commit` to `git_ref`, its commit listing `files` as modified when given.
fn push_to(
    d: &TestDaemon,
    git_ref: &str,
    commit: &str,
    message: &str,
    files: Option<&[&str]>,
    delivery: &str,
) -> Response {
    let body = gogs_push("alice/app", FORGE_URL, git_ref, ZEROS, commit, message);
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    if let Some(files) = files {
        v["commits"][0]["added"] = serde_json::json!([]);
        v["commits"][0]["removed"] = serde_json::json!([]);
        v["commits"][0]["modified"] = serde_json::json!(files);
    }
    deliver(d, "push", delivery, v.to_string().as_bytes(), Some(SECRET))
}

fn ignored(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["ignored"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_tags_paths_and_skip_ci_decide_what_builds() {
    let repo = Repo::with_script("echo built\n", None);
    let head = repo.head();
    let d = TestDaemon::start(Options {
        repo: "branches = [\"main\", \"release/*\"]\ntags = false\npaths = [\"src/**\"]\n".into(),
        ..options().for_repo(&repo)
    });
    // (ref, message, changed files, ignore reason: None builds)
    type Case<'a> = (&'a str, &'a str, Option<&'a [&'a str]>, Option<&'a str>);
    let cases: &[Case] = &[
        (
            "refs/heads/feature",
            "m",
            None,
            Some("branch \"feature\" is not in branches [\"main\", \"release/*\"]"),
        ),
        (
            "refs/tags/v1",
            "m",
            None,
            Some("tag \"v1\": tags do not build (tags = false)"),
        ),
        (
            "refs/heads/main",
            "docs only",
            Some(&["README.md"]),
            Some("no changed file matches paths [\"src/**\"]"),
        ),
        ("refs/heads/main", "fix\n\n[skip ci]", None, Some("skip ci")),
        (
            "refs/heads/main",
            "Skip the checks\n\nskip-checks: true",
            None,
            Some("skip ci"),
        ),
        (
            "refs/heads/release/2.0",
            "code",
            Some(&["src/lib.rs"]),
            None,
        ),
    ];
    let mut built = Vec::new();
    for (i, (git_ref, message, files, reason)) in cases.iter().enumerate() {
        let r = push_to(&d, git_ref, &head, message, *files, &format!("d-{i}"));
        match reason {
            Some(reason) => assert_eq!(ignored(&r), *reason, "case {i}"),
            None => {
                assert_eq!(r.status, 202, "case {i}: {}", r.text());
                built.push(r.json()["job_id"].as_i64().expect("job_id"));
            }
        }
    }
    assert_eq!(built.len(), 1);
    let job = wait_final(&d.socket, built[0]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.git_ref, "refs/heads/release/2.0");
    // A manual run builds whatever the filters say.
    let out = d.cli(&["run", "alice/app", &head]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("job id");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
}

/// A Bitbucket `repo:push` body (Bitbucket's documented shape) with these changes: `(type, name,
/// commit)` for a new ref state, `None` for a deletion of branch `gone`.
fn bitbucket_push(changes: &[Option<(&str, &str, &str)>]) -> Vec<u8> {
    let state = |kind: &str, name: &str, hash: &str| {
        serde_json::json!({
            "type": kind, "name": name,
            "target": {"type": "commit", "hash": hash, "message": format!("update {name}\n")},
        })
    };
    let changes: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| match c {
            Some((kind, name, hash)) => serde_json::json!({
                "new": state(kind, name, hash), "old": null,
                "created": true, "closed": false, "forced": false,
            }),
            None => serde_json::json!({
                "new": null, "old": state("branch", "gone", &"1".repeat(40)),
                "created": false, "closed": true, "forced": false,
            }),
        })
        .collect();
    serde_json::json!({
        "push": {"changes": changes},
        "repository": {
            "type": "repository", "full_name": "alice/app", "name": "app", "is_private": true,
            "mainbranch": {"type": "branch", "name": "main"},
        },
        "actor": {"type": "user", "nickname": "alice", "display_name": "Alice"},
    })
    .to_string()
    .into_bytes()
}

fn deliver_bitbucket(d: &TestDaemon, body: &[u8], delivery: &str) -> Response {
    let sig = format!("sha256={}", microci_testkit::hooks::sign(SECRET, body));
    request(
        d.port,
        "POST",
        "/hooks/bitbucket",
        &[
            ("Content-Type", "application/json"),
            ("X-Event-Key", "repo:push"),
            ("X-Request-UUID", delivery),
            ("X-Hub-Signature", &sig),
        ],
        body,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_of_several_refs_builds_each_with_its_own_commit() {
    let repo = Repo::with_script("echo first\n", None);
    let first = repo.head();
    let second = repo.commit(&[("microci.sh", "echo second\n")], "second");
    repo.tag("v2");
    let d = TestDaemon::start(options().for_repo(&repo));
    let body = bitbucket_push(&[
        Some(("branch", "main", &first)),
        None,
        Some(("tag", "v2", &second)),
    ]);
    let r = deliver_bitbucket(&d, &body, "{bb-1}");
    assert_eq!(r.status, 202, "{}", r.text());
    let v = r.json();
    let jobs = v["jobs"].as_array().expect("jobs").clone();
    assert_eq!(jobs.len(), 2, "{v}");
    let mut seen = Vec::new();
    for j in &jobs {
        let id = j["job_id"].as_i64().expect("job_id");
        let job = wait_final(&d.socket, id).await;
        assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
        seen.push((job.git_ref, job.commit));
    }
    assert_eq!(
        seen,
        [
            ("refs/heads/main".to_string(), first.clone()),
            ("refs/tags/v2".to_string(), second.clone())
        ]
    );
    // Delivered again: both found, nothing new.
    let again = deliver_bitbucket(&d, &body, "{bb-1}");
    assert_eq!(again.status, 200, "{}", again.text());
    let dup = again.json();
    assert!(
        dup["jobs"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|j| j["duplicate"] == true)),
        "{dup}"
    );
}
