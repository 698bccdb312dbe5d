//! SIGHUP re-reads the configuration: new repositories, rotated secrets and new limits apply to
//! what comes next; running jobs carry on; a bad file is refused and the old configuration stays.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final, wait_for};
use microci_testkit::daemon::{SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push, push, push_another};
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

const ROTATED: &str = "rotated-webhook-secret-0123456789";

fn hup(d: &TestDaemon) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// Rewrites the daemon's config file with `edit`.
fn edit_config(d: &TestDaemon, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(&d.config, edit(text)).expect("write config");
}

/// `microci-tui status` once the daemon's log has `line` (the reload was handled).
async fn after_reload(d: &TestDaemon, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log().contains(line) {
        assert!(Instant::now() < deadline, "no {line:?} in:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_adds_a_repository_rotates_the_secret_and_leaves_running_jobs_alone() {
    let app = Repo::with_script("echo started; sleep 3; echo finished\n", None);
    let tool = Repo::with_script("head -c 5000 /dev/zero | tr '\\0' 'y'; echo\n", None);
    let d = TestDaemon::start(options().for_repo(&app));
    let running = push(&d, &app, "d-1");
    wait_for(&d.socket, running, 60, |j| j.status == JobStatus::Started).await;
    let tool_push = gogs_push(
        "bob/tool",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &tool.head(),
        "tool",
    );
    let before = deliver(&d, "push", "d-2", &tool_push, Some(SECRET));
    assert_eq!(before.status, 403, "{}", before.text());

    edit_config(&d, |text| {
        format!(
            "{}[[repo]]\nname = \"bob/tool\"\nclone_url = \"{}\"\n",
            text.replace(SECRET, ROTATED)
                .replace("[docker]\n", "[docker]\nmax_log = \"2k\"\n"),
            tool.url()
        )
    });
    hup(&d);
    let status = after_reload(&d, "configuration reloaded").await;
    assert!(!status.contains("reload"), "{status}");

    // The old secret no longer opens the door; the new one does, for the new repository.
    let old = deliver(&d, "push", "d-3", &tool_push, Some(SECRET));
    assert!(
        matches!(old.status, 401 | 403),
        "{} {}",
        old.status,
        old.text()
    );
    let new = deliver(&d, "push", "d-4", &tool_push, Some(ROTATED));
    assert_eq!(new.status, 202, "{}", new.text());
    let id = new.json()["job_id"].as_i64().expect("job_id");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    // The new limit applies to the job that started after the reload...
    assert!(job.log_dropped > 0, "{job:?}");
    // ...and the job that was running carried on untouched.
    let first = wait_final(&d.socket, running).await;
    assert_eq!(first.status, JobStatus::Succeed, "{first:?}");
    assert!(log_text(&d, running).await.contains("started\nfinished\n"));
    assert_eq!(first.log_dropped, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_file_is_refused_and_the_old_configuration_stays() {
    let app = Repo::with_script("echo ok\n", None);
    let d = TestDaemon::start(options().for_repo(&app));
    let good = std::fs::read_to_string(&d.config).expect("config");
    edit_config(&d, |text| {
        text.replace("[docker]\n", "[docker]\nmax_job = 3\n")
    });
    hup(&d);
    let status = after_reload(&d, "reload refused").await;
    assert!(
        status.contains("reload    FAILED (running on the previous configuration)")
            && status.contains("max_job"),
        "{status}"
    );
    assert!(d.log().contains("max_job"), "{}", d.log());
    // Still serving with what it had.
    let id = push(&d, &app, "d-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);

    // Fixed, with a setting that only a restart changes: reloaded, and that setting named.
    let port = d.port;
    std::fs::write(
        &d.config,
        good.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:1"),
    )
    .expect("write");
    hup(&d);
    let status = after_reload(&d, "except http.listen").await;
    assert!(!status.contains("FAILED"), "{status}");
    // Still on the old port.
    let id = push_another(&d, &app, "d-2");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
}
