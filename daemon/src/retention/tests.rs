//! Retention against a real store and real files, with the fake engine: what goes by age, by
//! count and by total log size; what always stays; what a dry run leaves.
#![allow(clippy::unwrap_used)]

use crate::config::{Config, SystemdDirs};
use crate::jobs::Jobs;
use crate::runner::fake::FakeEngine;
use crate::state_dir::StateDir;
use crate::store::Transition;
use microci_proto::JobStatus;
use std::path::Path;
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    _state: StateDir,
    db: std::path::PathBuf,
    jobs: Arc<Jobs<FakeEngine>>,
}

async fn fixture(retention: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "state_dir = \"{}\"\n[docker]\ndefault_image = \"fake\"\n\
         [webhook]\nsecret = \"0123456789abcdef0123\"\n\
         [[repo]]\nname = \"a/b\"\nclone_url = \"/nowhere\"\n[retention]\n{retention}",
        dir.path().join("state").display(),
    );
    let config = Config::parse(Path::new("/c.toml"), &text, &SystemdDirs::default()).unwrap();
    let state = StateDir::lock(&config.state_dir).unwrap();
    state.create_layout().unwrap();
    let db = state.database();
    let store = crate::store::open(&db).unwrap();
    let jobs = Arc::new(Jobs::new(
        Arc::new(config),
        &state,
        store,
        Arc::new(FakeEngine::default()),
    ));
    Fixture {
        _dir: dir,
        _state: state,
        db,
        jobs,
    }
}

impl Fixture {
    /// A job of `repo` on `branch`, taken to `status`, that ended `days_ago` with a log of
    /// `log_size` bytes on disk.
    async fn job(
        &self,
        repo: &str,
        branch: &str,
        status: JobStatus,
        days_ago: i64,
        log_size: u64,
    ) -> i64 {
        let ins = self
            .jobs
            .writer
            .insert(crate::testing::new_job(
                repo,
                &format!("refs/heads/{branch}"),
                "0123456789abcdef0123456789abcdef01234567",
                "/nowhere",
            ))
            .await
            .unwrap();
        let id = ins.job.id;
        if status == JobStatus::Pending {
            return id;
        }
        let w = &self.jobs.writer;
        w.transition(Transition::new(
            id,
            &[JobStatus::Pending],
            JobStatus::Started,
        ))
        .await
        .unwrap();
        let mut log = self.jobs.logs.writer(id, 0).unwrap();
        log.append(&vec![b'x'; log_size as usize]).unwrap();
        if status != JobStatus::Started {
            let t = Transition {
                log_size,
                ..Transition::new(id, &[JobStatus::Started], status)
            };
            w.transition(t).await.unwrap();
        }
        let ended = time::OffsetDateTime::now_utc() - time::Duration::days(days_ago);
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.execute(
            "UPDATE jobs SET finished_at = ?2, started_at = ?2 WHERE id = ?1",
            rusqlite::params![id, crate::store::timestamp(ended)],
        )
        .unwrap();
        id
    }

    async fn exists(&self, id: i64) -> bool {
        self.jobs.job(id).await.unwrap().is_some()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn old_jobs_go_but_never_a_branchs_latest_or_unfinished_work() {
    let f = fixture("max_age = \"30d\"\n").await;
    let old = f.job("a/b", "main", JobStatus::Failed, 40, 10).await;
    let old_feature = f.job("a/b", "feature", JobStatus::Succeed, 50, 10).await;
    let old_pending = f.job("a/b", "main", JobStatus::Pending, 0, 0).await;
    let old_running = f.job("a/b", "main", JobStatus::Started, 45, 10).await;
    let latest_main = f.job("a/b", "main", JobStatus::Succeed, 35, 10).await;
    let recent_other = f.job("c/d", "main", JobStatus::Succeed, 1, 10).await;

    let dry = crate::retention::prune(&f.jobs, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.jobs, 1, "{dry:?}");
    assert!(f.exists(old).await, "a dry run removes nothing");
    assert!(f.jobs.logs.size(old) > 0);

    let done = crate::retention::prune(&f.jobs, false).await.unwrap();
    assert_eq!((done.jobs, done.log_bytes), (1, 10), "{done:?}");
    assert_eq!(done.by_repo, vec![("a/b".to_string(), 1)]);
    assert!(!f.exists(old).await);
    assert_eq!(f.jobs.logs.size(old), 0, "its log went with it");
    // The latest job of a branch stays however old; so does what is not finished.
    for kept in [
        old_feature,
        old_pending,
        old_running,
        latest_main,
        recent_other,
    ] {
        assert!(f.exists(kept).await, "job {kept} was pruned");
    }
    // Nothing more to do.
    assert_eq!(
        crate::retention::prune(&f.jobs, false).await.unwrap().jobs,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn past_keep_per_repo_and_over_the_log_budget_the_oldest_go() {
    let f = fixture("keep_per_repo = 3\nmax_log_bytes = \"1k\"\n").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(f.job("a/b", "main", JobStatus::Succeed, 1, 100).await);
    }
    // Another repository's big logs push the total (1,300 bytes) over 1 KiB.
    let big1 = f.job("c/d", "main", JobStatus::Succeed, 1, 400).await;
    let big2 = f.job("c/d", "main", JobStatus::Succeed, 1, 400).await;
    let report = crate::retention::prune(&f.jobs, false).await.unwrap();
    // Two of a/b past its newest 3 go; 1,100 bytes are still over 1 KiB, so the oldest of the
    // rest goes too, whatever its repository, and then the total is under.
    assert!(!f.exists(ids[0]).await && !f.exists(ids[1]).await);
    assert!(!f.exists(ids[2]).await, "{report:?}");
    assert!(f.exists(ids[3]).await, "{report:?}");
    assert!(f.exists(ids[4]).await && f.exists(big2).await);
    assert!(f.exists(big1).await, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn caches_of_repositories_gone_quiet_or_unknown_go() {
    let f = fixture("max_age = \"30d\"\n").await;
    let root = f.jobs.git.root().to_path_buf();
    let configured = f.jobs.git.cache_dir("a/b");
    let unknown = root.join("someone-else.git");
    for d in [&configured, &unknown] {
        std::fs::create_dir_all(d).unwrap();
    }
    let report = crate::retention::prune(&f.jobs, false).await.unwrap();
    assert_eq!(report.caches, vec!["someone-else.git".to_string()]);
    assert!(configured.exists() && !unknown.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_of_finished_or_vanished_jobs_go() {
    let f = fixture("").await;
    let running = f.job("a/b", "main", JobStatus::Started, 0, 1).await;
    let done = f.job("a/b", "main", JobStatus::Succeed, 0, 1).await;
    f.jobs.engine.leave_container(running);
    f.jobs.engine.leave_container(done);
    f.jobs.engine.leave_container(999);
    let report = crate::retention::prune(&f.jobs, false).await.unwrap();
    assert_eq!(report.containers, 2, "{report:?}");
    let log = f.jobs.engine.log();
    assert!(log.contains(&format!("teardown {done}")) && log.contains(&"teardown 999".into()));
    assert!(!log.contains(&format!("teardown {running}")), "{log:?}");
}
