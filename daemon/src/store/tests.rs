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
async fn an_abbreviated_commit_is_resolved_and_still_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _r) = open(&dir.path().join("microci.db")).unwrap();
    let full = format!("d3022fc0ca3d{}", "1".repeat(28));
    let first = w
        .insert(NewJob {
            commit_url: Some("https://bitbucket.org/a/b/commits/d3022fc0ca3d".into()),
            ..job("a/b", "d3022fc0ca3d", Some("d1"), true)
        })
        .await
        .unwrap();
    // Not a full id, or another commit: nothing changes.
    assert_eq!(
        w.resolved(first.job.id, "d3022fc0ca3d".into())
            .await
            .unwrap(),
        None
    );
    let other = format!("e{}", "1".repeat(39));
    assert_eq!(w.resolved(first.job.id, other).await.unwrap(), None);
    let done = w
        .resolved(first.job.id, full.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.commit, full);
    assert_eq!(
        done.commit_url.as_deref(),
        Some(format!("https://bitbucket.org/a/b/commits/{full}").as_str())
    );
    // The same event again (Bitbucket's `updated` for a new title) finds it.
    let again = w
        .insert(job("a/b", "d3022fc0ca3d", Some("d2"), true))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.job.id, first.job.id);
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

/// Ends job `id` (PENDING → CANCELED) so retention may delete it.
async fn end(w: &Writer, id: i64) {
    w.transition(Transition::new(
        id,
        &[JobStatus::Pending],
        JobStatus::Canceled,
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn branch_heads_follow_inserts_and_deletes_and_pages_use_keysets() {
    let dir = tempfile::tempdir().unwrap();
    let (w, r) = open(&dir.path().join("microci.db")).unwrap();
    let mut ids = Vec::new();
    for (git_ref, n) in [
        ("refs/heads/main", 1),
        ("refs/heads/dev", 2),
        ("refs/heads/main", 3),
    ] {
        let j = crate::testing::new_job("a/b", git_ref, &format!("{n:040}"), "https://h/a/b.git");
        ids.push(w.insert(j).await.unwrap().job.id);
    }
    let heads = |rows: Vec<BranchRow>| -> Vec<(String, i64)> {
        rows.into_iter()
            .map(|b| (b.job.git_ref, b.job.id))
            .collect()
    };
    let main = ("refs/heads/main".to_string(), ids[2]);
    let dev = ("refs/heads/dev".to_string(), ids[1]);
    assert_eq!(
        heads(r.branches(None, None, 10).await.unwrap()),
        [main.clone(), dev.clone()]
    );
    // Deleting the newest job of a branch makes the one before it the head.
    for id in &ids {
        end(&w, *id).await;
    }
    w.delete(vec![ids[2]]).await.unwrap();
    let main = ("refs/heads/main".to_string(), ids[0]);
    assert_eq!(
        heads(r.branches(None, None, 10).await.unwrap()),
        [dev.clone(), main]
    );
    // Nothing public: the public view lists nothing.
    let none = r
        .branches(None, Some(Visible::default()), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    // Keyset pages.
    let page = |before, after, limit| {
        r.page(PageQuery {
            before,
            after,
            limit,
            ..PageQuery::default()
        })
    };
    let p = page(None, None, 1).await.unwrap();
    assert_eq!((p.jobs[0].id, p.older, p.newer), (ids[1], true, false));
    let p = page(Some(ids[1]), None, 1).await.unwrap();
    assert_eq!((p.jobs[0].id, p.older, p.newer), (ids[0], false, true));
    let p = page(None, Some(ids[0]), 1).await.unwrap();
    assert_eq!((p.jobs[0].id, p.older, p.newer), (ids[1], true, false));
    // The newest finished job of a branch (the badge's).
    let latest = r
        .latest_finished(
            "a/b".into(),
            vec!["refs/heads/main".into(), "refs/heads/master".into()],
        )
        .await
        .unwrap();
    assert_eq!(latest.map(|j| j.id), Some(ids[0]));
}

#[test]
fn the_pages_queries_use_indexes_not_a_scan_of_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("microci.db");
    drop(open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str, args: &[Box<dyn rusqlite::ToSql>]| -> String {
        let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        st.query_map(params.as_slice(), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let visible = Visible {
        also: vec!["a/b".into()],
        never: vec!["c/d".into()],
    };
    let queries = [
        pages::page_sql(&PageQuery {
            limit: 30,
            visible: Some(visible.clone()),
            ..PageQuery::default()
        }),
        pages::page_sql(&PageQuery {
            limit: 30,
            before: Some(500),
            status: Some(JobStatus::Failed),
            visible: Some(visible.clone()),
            ..PageQuery::default()
        }),
        pages::page_sql(&PageQuery {
            limit: 30,
            after: Some(500),
            repo: Some("a/b".into()),
            ..PageQuery::default()
        }),
        pages::branches_sql(None, Some(&visible), 20),
        pages::branches_sql(Some("a/b".into()), None, 40),
    ];
    for (i, (sql, args)) in queries.iter().enumerate() {
        let p = plan(sql, args);
        // Jobs: keyset on the id (the primary key) or an index, never gathered and sorted.
        // (Sorting one repository's branch heads, one row per branch, is fine.)
        if i < 3 {
            assert!(!p.contains("USE TEMP B-TREE FOR ORDER BY"), "{sql}\n{p}");
        }
        // Branch heads: read from their small table, each job by its id.
        if i >= 3 {
            assert!(
                p.contains("SEARCH j USING INTEGER PRIMARY KEY"),
                "{sql}\n{p}"
            );
        }
    }
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
