//! Fixtures: one [`Job`] with sensible values, for code that needs jobs without a daemon making
//! them (seeding a database, feeding a view), and the shared folder of real webhook payloads.

use microci_proto::{Job, JobStatus};
use std::path::{Path, PathBuf};

/// A job of alice/app on main, created 12:00:00 on 2026-01-01, started 12:00:05 and (when
/// `status` is final) finished 12:01:25, with a two-line message and 10 bytes of log.
pub fn job(id: i64, status: JobStatus) -> Job {
    Job {
        id,
        repo: "alice/app".into(),
        git_ref: "refs/heads/main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        message: "Fix the thing\n\nLonger body".into(),
        author: "alice".into(),
        status,
        reason: None,
        exit_code: (status == JobStatus::Succeed).then_some(0),
        created_at: "2026-01-01T12:00:00Z".into(),
        started_at: (status != JobStatus::Pending).then(|| "2026-01-01T12:00:05Z".into()),
        finished_at: status.is_final().then(|| "2026-01-01T12:01:25Z".into()),
        trigger: "webhook".into(),
        log_size: 10,
        log_dropped: 0,
        status_report: None,
        notifications: Vec::new(),
        untrusted: false,
        commit_url: None,
        pull_url: None,
        params: Default::default(),
        waiting: None,
        engine: None,
    }
}

/// The real webhook payloads shared between projects (`<workspace>/../shared/fixtures/webhooks`,
/// each forge's with its headers and signature scheme in `SOURCES.md` there), or `None`, saying
/// so, when this checkout has no such folder beside it.
pub fn webhooks_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(manifest);
    let dir = workspace.join("../shared/fixtures/webhooks");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "shared webhook fixtures not found at {}; skipped",
            dir.display()
        );
        None
    }
}
