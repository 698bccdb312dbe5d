//! The store against a real SQLite file: replayed deliveries, reasons as stored, dropped-output
//! counts, and the migration of an older release's database.
#![allow(clippy::unwrap_used)]

use super::*;

fn job(repo: &str, commit: &str, delivery: Option<&str>, dedupe: bool) -> NewJob {
    NewJob {
        message: "m".into(),
        author: "a".into(),
        trigger: "webhook".into(),
        forge: Some("gogs".into()),
        delivery_id: delivery.map(str::to_string),
        dedupe_active: dedupe,
        ..crate::testing::new_job(repo, "refs/heads/main", commit, "https://h/a/b.git")
    }
}

#[tokio::test]
async fn a_commit_already_queued_or_running_is_not_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _r) = open(&dir.path().join("microci.db")).unwrap();
    let c = "a".repeat(40);
    let first = w.insert(job("a/b", &c, Some("d1"), true)).await.unwrap();
    assert!(!first.duplicate);
    let replay = w.insert(job("a/b", &c, Some("d2"), true)).await.unwrap();
    assert!(replay.duplicate);
    assert_eq!(replay.job.id, first.job.id);
    // A person's retry is not a replay; another repository or commit is another job.
    let retry = w.insert(job("a/b", &c, None, false)).await.unwrap();
    assert!(!retry.duplicate);
    assert!(
        !w.insert(job("a/c", &c, Some("d3"), true))
            .await
            .unwrap()
            .duplicate
    );
    // Once its jobs have ended, the commit may be queued again.
    w.transition(Transition::new(
        retry.job.id,
        &[JobStatus::Pending],
        JobStatus::Canceled,
    ))
    .await
    .unwrap();
    let id = first.job.id;
    w.transition(Transition::new(
        id,
        &[JobStatus::Pending],
        JobStatus::Started,
    ))
    .await
    .unwrap();
    w.transition(Transition::new(
        id,
        &[JobStatus::Started],
        JobStatus::Succeed,
    ))
    .await
    .unwrap();
    let later = w.insert(job("a/b", &c, Some("d4"), true)).await.unwrap();
    assert!(!later.duplicate, "{later:?}");
}

#[tokio::test]
async fn reasons_are_stored_inert_and_dropped_output_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (w, r) = open(&dir.path().join("microci.db")).unwrap();
    let id = w
        .insert(job("a/b", &"b".repeat(40), None, false))
        .await
        .unwrap()
        .job
        .id;
    w.transition(Transition::new(
        id,
        &[JobStatus::Pending],
        JobStatus::Started,
    ))
    .await
    .unwrap();
    let t = Transition {
        reason: Some("clone failed:\x1b]52;c;aGk=\x07 remote\r\nsays \u{202E}hi".into()),
        log_dropped: 1234,
        ..Transition::new(id, &[JobStatus::Started], JobStatus::Errored)
    };
    w.transition(t).await.unwrap();
    let job = r.job(id).await.unwrap().unwrap().job;
    let reason = job.reason.unwrap();
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    assert_eq!(reason, "clone failed: ]52;c;aGk=  remote says <U+202E>hi");
    assert_eq!(job.log_dropped, 1234);
}

#[test]
fn an_older_database_is_migrated_and_loses_its_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("microci.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(schema::SCHEMA).unwrap();
        c.execute(
            "INSERT INTO jobs (repo, git_ref, commit_sha, message, author, clone_url, status, \
             created_at, trigger) VALUES ('a/b', 'refs/heads/main', ?1, '', '', \
             'https://ci:tok3n@h/a/b.git', 'SUCCEED', '2026-01-01T00:00:00Z', 'webhook')",
            ["c".repeat(40)],
        )
        .unwrap();
        c.execute(
            "INSERT INTO repos VALUES ('a/b', 'https://ci:tok3n@h/a/b.git', NULL, 'x')",
            [],
        )
        .unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (_w, _r) = open(&db).unwrap();
    let c = rusqlite::Connection::open(&db).unwrap();
    let urls: Vec<String> = c
        .prepare("SELECT clone_url FROM jobs UNION ALL SELECT clone_url FROM repos")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(urls, ["https://h/a/b.git", "https://h/a/b.git"]);
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, super::schema::MIGRATION_COUNT as i64);
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

/// Runs a job of `a/b` on main to `end`; its id.
async fn run_to(w: &Writer, commit: &str, end: JobStatus) -> i64 {
    let id = w
        .insert(job("a/b", commit, None, false))
        .await
        .unwrap()
        .job
        .id;
    w.transition(Transition::new(
        id,
        &[JobStatus::Pending],
        JobStatus::Started,
    ))
    .await
    .unwrap();
    w.transition(Transition::new(id, &[JobStatus::Started], end))
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn fixed_is_only_the_first_success_after_a_failure_on_the_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (w, r) = open(&dir.path().join("microci.db")).unwrap();
    let rules: NotifyRules = std::sync::Arc::new(|repo: &str, git_ref: &str| {
        if repo != "a/b" || git_ref != "refs/heads/main" {
            return Vec::new();
        }
        vec![
            ("team".to_string(), vec!["failed", "fixed"]),
            ("all".to_string(), vec!["started", "succeeded", "fixed"]),
        ]
    });
    w.set_notify(Some(rules));
    let events = |list: Vec<microci_proto::Notification>| {
        list.into_iter()
            .map(|n| format!("{}:{}", n.target, n.event))
            .collect::<Vec<_>>()
    };
    let c = |n: u8| format!("{n:0>40}");
    let first = run_to(&w, &c(1), JobStatus::Succeed).await;
    assert_eq!(
        events(r.notice_summary(first).await.unwrap()),
        ["all:started", "all:succeeded"]
    );
    let failed = run_to(&w, &c(2), JobStatus::Failed).await;
    assert_eq!(
        events(r.notice_summary(failed).await.unwrap()),
        ["all:started", "team:failed"]
    );
    // A canceled job in between changes nothing: the failure is still the last result.
    let canceled = run_to(&w, &c(3), JobStatus::Canceled).await;
    assert_eq!(
        events(r.notice_summary(canceled).await.unwrap()),
        ["all:started"]
    );
    let fixed = run_to(&w, &c(4), JobStatus::Succeed).await;
    assert_eq!(
        events(r.notice_summary(fixed).await.unwrap()),
        ["all:started", "team:fixed", "all:fixed"]
    );
    let again = run_to(&w, &c(5), JobStatus::Succeed).await;
    assert_eq!(
        events(r.notice_summary(again).await.unwrap()),
        ["all:started", "all:succeeded"]
    );
    assert!(
        r.notice_summary(fixed)
            .await
            .unwrap()
            .iter()
            .all(|n| n.state == "queued")
    );
    // Without rules nothing is queued.
    w.set_notify(None);
    let quiet = run_to(&w, &c(6), JobStatus::Failed).await;
    assert!(r.notice_summary(quiet).await.unwrap().is_empty());
}
