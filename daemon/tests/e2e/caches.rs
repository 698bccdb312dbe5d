//! Job caches (`"cache"` in `.microci.json`) in real Docker volumes: what a successful job
//! leaves is there for the next job of its repository, never for another repository, never
//! what a failed job wrote; `docker.cache_max` prunes the least recently saved; `microci-tui
//! cache list|clear`; no volume outlives a cleared cache.

use crate::options;
use microci_proto::{CacheInfo, JobStatus};
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::{SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push};
use microci_testkit::repo::Repo;

/// Says what the cache held, then writes `/repo/write` into it; fails when `/repo/fail` says so.
const SCRIPT: &str = "echo \"saw: $(cat /cache/note 2>/dev/null || echo nothing)\"\n\
                      cat /repo/write > /cache/note\n\
                      [ \"$(cat /repo/fail)\" = yes ] && exit 1\n\
                      exit 0\n";

const JSON: &str = r#"{"cache": ["/cache"]}"#;

/// Commits `write` and `fail` to `repo` and pushes it as `name`'s `branch`; the job's end and log.
async fn build(
    d: &TestDaemon,
    repo: &Repo,
    name: &str,
    branch: &str,
    files: &[(&str, &str)],
) -> (microci_proto::Job, String) {
    let commit = repo.commit(files, "change");
    if branch != "main" {
        // The commit on `main` is pushed as `branch` too: the daemon fetches that ref.
        let git = std::process::Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(["branch", "-f", branch, "HEAD"])
            .output()
            .expect("git branch");
        assert!(git.status.success(), "{git:?}");
    }
    let body = gogs_push(
        name,
        FORGE_URL,
        &format!("refs/heads/{branch}"),
        ZEROS,
        &commit,
        "change",
    );
    let resp = deliver(d, "push", &commit, &body, Some(SECRET));
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id = resp.json()["job_id"].as_i64().expect("job id");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(d, id).await;
    d.wait_cleaned(id).await;
    (job, log)
}

fn cli_text(d: &TestDaemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn caches(d: &TestDaemon, repo: &str) -> Vec<CacheInfo> {
    let text = cli_text(d, &["cache", "list", repo, "--json"]);
    serde_json::from_str(&text).expect("cache list --json")
}

/// Waits until the daemon's volumes number `n` (clean-up follows a job's end).
async fn wait_volumes(d: &TestDaemon, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let v = d.volumes();
        if v.len() == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "volumes {v:?}, expected {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_keeps_only_successful_jobs_work_and_only_for_its_repository() {
    let app = Repo::with_script(SCRIPT, Some(JSON));
    let other = Repo::with_script(SCRIPT, Some(JSON));
    let mut opts = options().for_repo(&app);
    opts.extra = format!(
        "[[repo]]\nname = \"bob/other\"\nclone_url = \"{}\"\n",
        other.url()
    );
    let d = TestDaemon::start(opts);
    let main = "main";

    let (job, log) = build(
        &d,
        &app,
        "alice/app",
        main,
        &[("write", "one"), ("fail", "no")],
    )
    .await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("saw: nothing"), "{log}");
    assert!(log.contains("cache /cache: empty"), "{log}");
    assert!(log.contains("cache saved"), "{log}");
    let first = job.id;

    let (job, log) = build(&d, &app, "alice/app", main, &[("write", "two")]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("saw: one"), "{log}");
    assert!(log.contains(&format!("from job {first}")), "{log}");
    let second = job.id;

    // A failing job wrote "bad": the next job must not see it.
    let (job, log) = build(
        &d,
        &app,
        "alice/app",
        main,
        &[("write", "bad"), ("fail", "yes")],
    )
    .await;
    assert_eq!(job.status, JobStatus::Failed, "{log}");
    assert!(log.contains("saw: two"), "{log}");
    assert!(log.contains("cache not saved"), "{log}");
    let (job, log) = build(
        &d,
        &app,
        "alice/app",
        main,
        &[("write", "three"), ("fail", "no")],
    )
    .await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("saw: two"), "{log}");
    assert!(log.contains(&format!("from job {second}")), "{log}");
    let fourth = job.id;

    // Another repository starts empty, with a cache of its own.
    let (job, log) = build(
        &d,
        &other,
        "bob/other",
        main,
        &[("write", "bob's"), ("fail", "no")],
    )
    .await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("saw: nothing"), "{log}");

    let listed = caches(&d, "alice/app");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].job, fourth);
    assert_eq!(listed[0].paths, ["/cache"]);
    assert_eq!(listed[0].branch, None);
    assert!(listed[0].size > 0, "{listed:?}");
    let table = cli_text(&d, &["cache", "list"]);
    assert!(
        table.contains("alice/app") && table.contains("bob/other") && table.contains("/cache"),
        "{table}"
    );
    // One generation each: the older ones and the failed job's are gone.
    wait_volumes(&d, 4).await;

    assert_eq!(
        cli_text(&d, &["cache", "clear", "alice/app"]),
        "cleared 1 cache(s) of alice/app\n"
    );
    assert_eq!(
        cli_text(&d, &["cache", "clear", "alice/app"]),
        "no saved cache of alice/app\n"
    );
    assert!(caches(&d, "alice/app").is_empty());
    let (job, log) = build(&d, &app, "alice/app", main, &[("write", "four")]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("saw: nothing"), "{log}");
    let (_, log) = build(&d, &other, "bob/other", main, &[("write", "again")]).await;
    assert!(log.contains("saw: bob's"), "{log}");

    cli_text(&d, &["cache", "clear", "alice/app"]);
    cli_text(&d, &["cache", "clear", "bob/other"]);
    wait_volumes(&d, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_prunes_the_least_recently_saved_cache() {
    let script = "dd if=/dev/zero of=/cache/blob bs=1024 count=$(cat /repo/kib) 2>/dev/null\n";
    let app = Repo::with_script(
        script,
        Some(r#"{"cache": ["/cache"], "cache_scope": "branch"}"#),
    );
    let mut opts = options().for_repo(&app);
    opts.docker = "cache_max = \"100k\"\n".into();
    let d = TestDaemon::start(opts);

    let (job, log) = build(&d, &app, "alice/app", "main", &[("kib", "40")]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("cache saved (4"), "{log}");
    let (job, log) = build(&d, &app, "alice/app", "dev", &[("kib", "30")]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("(branch dev)"), "{log}");
    let both = caches(&d, "alice/app");
    assert_eq!(both.len(), 2, "{both:?}");

    // 40 + 30 fit; 40 + 70 do not: main's, saved least recently, goes.
    let (job, log) = build(&d, &app, "alice/app", "dev", &[("kib", "70")]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(
        log.contains("cache of branch main removed (least recently saved)"),
        "{log}"
    );
    let left = caches(&d, "alice/app");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].branch.as_deref(), Some("refs/heads/dev"));
    assert_eq!(left[0].job, job.id);

    // A cache over the cap on its own is not kept either.
    let (job, log) = build(&d, &app, "alice/app", "main", &[("kib", "150")]).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("cache dropped: at "), "{log}");
    assert!(
        log.contains("over docker.cache_max (100.0 KiB) on its own"),
        "{log}"
    );
    assert!(caches(&d, "alice/app").is_empty());
    wait_volumes(&d, 0).await;
}

/// Pushes `files` to alice/app's main and returns the job id at once.
fn push_files(d: &TestDaemon, repo: &Repo, files: &[(&str, &str)]) -> i64 {
    let commit = repo.commit(files, "change");
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &commit,
        "change",
    );
    let resp = deliver(d, "push", &commit, &body, Some(SECRET));
    assert_eq!(resp.status, 202, "{}", resp.text());
    resp.json()["job_id"].as_i64().expect("job id")
}

/// Kills the daemon while job `id` runs (once its log says `started`), lets the container end
/// with no daemon watching, and starts the daemon again.
async fn crash_while_running(d: &mut TestDaemon, id: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !log_text(d, id).await.contains("started") {
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    d.crash();
    loop {
        let running = std::process::Command::new("docker")
            .args(["ps", "-q", "--filter"])
            .arg(format!("label={}", d.label()))
            .output()
            .expect("docker ps");
        if running.stdout.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the job never ended");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    d.spawn();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_ends_while_the_daemon_is_down_still_saves_or_discards_its_cache() {
    let script = "echo \"saw: $(cat /cache/note 2>/dev/null || echo nothing)\"\n\
                  echo started; sleep 2\n\
                  cat /repo/write > /cache/note\n\
                  [ \"$(cat /repo/fail)\" = yes ] && exit 1\n\
                  exit 0\n";
    let app = Repo::with_script(script, Some(JSON));
    let mut d = TestDaemon::start(options().for_repo(&app));

    // Succeeds while no daemon watches: re-attached, it is saved.
    let id = push_files(&d, &app, &[("write", "one"), ("fail", "no")]);
    crash_while_running(&mut d, id).await;
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("cache saved"), "{log}");
    d.wait_cleaned(id).await;

    // Fails while no daemon watches: what it wrote is dropped.
    let id = push_files(&d, &app, &[("write", "bad"), ("fail", "yes")]);
    crash_while_running(&mut d, id).await;
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{log}");
    assert!(
        log.contains("saw: one") && log.contains("cache not saved"),
        "{log}"
    );
    d.wait_cleaned(id).await;
    // The saved generation and its head; the failed job's copy is gone.
    wait_volumes(&d, 2).await;

    let (job, log) = build(
        &d,
        &app,
        "alice/app",
        "main",
        &[("write", "two"), ("fail", "no")],
    )
    .await;
    assert_eq!(job.status, JobStatus::Succeed, "{log}");
    assert!(log.contains("saw: one"), "{log}");
    cli_text(&d, &["cache", "clear", "alice/app"]);
    wait_volumes(&d, 0).await;
}
