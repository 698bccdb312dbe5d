//! One test per job outcome: SUCCEED, FAILED with its code, timeout, each ERRORED cause.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push, push};
use microci_testkit::repo::Repo;

#[tokio::test(flavor = "multi_thread")]
async fn push_runs_the_pushed_commit_and_succeeds() {
    let repo = Repo::with_script(
        "echo hello from $(cat /repo/marker.txt); echo to-stderr >&2\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    repo.commit(&[("marker.txt", "first")], "one");
    let first = repo.head();
    // A newer commit exists, but the push names the older one: that one is built.
    repo.commit(&[("marker.txt", "second")], "two");
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        &first,
        "one",
    );
    let resp = deliver(&d, "push", "d-1", &body, Some(SECRET));
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(resp.json()["status"], "PENDING");
    let id = resp.json()["job_id"].as_i64().expect("id");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert_eq!(job.commit, first);
    assert_eq!(job.exit_code, Some(0));
    assert_eq!(job.author, "alice");
    assert!(log.contains("hello from first"), "{log}");
    assert!(log.contains("to-stderr"), "{log}");
    assert!(job.started_at.is_some() && job.finished_at.is_some());
    d.wait_cleaned(id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nonzero_exit_fails_with_the_code() {
    let repo = Repo::with_script("echo about to fail; exit 3\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    assert_eq!(job.exit_code, Some(3));
    assert_eq!(job.reason.as_deref(), Some("command exited with code 3"));
    assert!(log_text(&d, id).await.contains("about to fail"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_form_env_and_timeout_from_microci_json() {
    let repo = Repo::with_script(
        "",
        Some(
            r#"{"command": ["sh", "-c", "echo $GREETING; sleep 30"], "env": {"GREETING": "hi there"}, "timeout": "2s"}"#,
        ),
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    assert_eq!(job.reason.as_deref(), Some("timed out after 2s"));
    assert!(log_text(&d, id).await.contains("hi there"));
    d.wait_cleaned(id).await;
}

async fn errored_with(script: &str, json: Option<&str>, expect: &str) {
    let repo = Repo::with_script(script, json);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains(expect),
        "reason {reason:?} lacks {expect:?}"
    );
    d.wait_cleaned(id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_in_microci_json_errors_naming_it() {
    errored_with(
        "true",
        Some(r#"{"dockerimage": "x"}"#),
        "unknown key \"dockerimage\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn microci_json_that_is_not_json_errors() {
    errored_with("true", Some("{oops"), "not valid JSON").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn microci_json_with_wrong_types_errors() {
    errored_with("true", Some(r#"{"command": 42}"#), "\"command\" must be").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_image_errors_naming_it() {
    errored_with(
        "true",
        Some(r#"{"dockerimg": "microci-test/absent:1"}"#),
        "microci-test/absent:1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_clone_url_errors() {
    let d = TestDaemon::start(options());
    let port = microci_testkit::free_port();
    let url = format!("http://user:hunter2@127.0.0.1:{port}/alice/app.git");
    let body = gogs_push(
        "alice/app",
        &url,
        "refs/heads/main",
        ZEROS,
        &"a".repeat(40),
        "x",
    );
    let resp = deliver(&d, "push", "d-1", &body, Some(SECRET));
    let id = resp.json()["job_id"].as_i64().expect("id");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(reason.contains("clone failed"), "{reason}");
    assert!(!reason.contains("hunter2"), "credential leaked: {reason}");
    assert!(
        !log_text(&d, id).await.contains("hunter2"),
        "credential leaked into the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_that_does_not_exist_errors() {
    let repo = Repo::with_script("true", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/main",
        ZEROS,
        missing,
        "x",
    );
    let id = deliver(&d, "push", "d-1", &body, Some(SECRET)).json()["job_id"]
        .as_i64()
        .expect("id");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    assert!(job.reason.unwrap_or_default().contains(missing));
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_output_is_logged_verbatim() {
    // Binary garbage, a 1 MiB line without a newline, and 8 MiB of ordinary lines.
    let repo = Repo::with_script(
        "head -c 65536 /dev/urandom; printf '\\n'; head -c 1048576 /dev/zero | tr '\\0' x; \
         printf '\\nend-of-long-line\\n'; i=0; while [ $i -lt 8 ]; do head -c 1048576 /dev/zero | tr '\\0' '\\n'; i=$((i+1)); done; echo done\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert!(
        job.log_size > 9 * 1024 * 1024 + 65536,
        "log size {}",
        job.log_size
    );
    let log =
        std::fs::read(d.state_dir().join("logs").join(format!("{id}.log"))).expect("log file");
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains(&format!("{}\nend-of-long-line", "x".repeat(1000))));
    assert!(text.contains("done\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn job_limits_apply_and_docker_socket_is_absent() {
    let repo = Repo::with_script(
        "set -e; test ! -e /var/run/docker.sock; test ! -e /run/docker.sock; \
         echo mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
         echo pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max); \
         echo pwd=$(pwd); ls /repo; mount | grep -c ' /repo ' || true\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(log.contains(&format!("mem={}", 256 * 1024 * 1024)), "{log}");
    assert!(log.contains("pids=256"), "{log}");
    assert!(log.contains("pwd=/repo"), "{log}");
    assert!(log.contains("microci.sh"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_workspace_mode_gives_the_job_the_same_checkout() {
    let repo = Repo::with_script(
        "cat /repo/data/file.txt; mount | grep -c ' /repo ' || echo no-bind-mount\n",
        None,
    );
    let d = TestDaemon::start(Options {
        workspace: "copy",
        ..options().for_repo(&repo)
    });
    repo.commit(&[("data/file.txt", "copied in")], "data");
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(log.contains("copied in"), "{log}");
    assert!(
        log.contains("no-bind-mount") || log.contains("\n0\n"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_as_its_own_user_removes_workspaces_a_root_job_wrote_to() {
    let repo = Repo::with_script(
        "mkdir -p /repo/build/deep && echo x > /repo/build/deep/out && touch /repo/.hidden\n",
        None,
    );
    let base = tempfile::tempdir().expect("tmp");
    repo.publish(base.path(), "app");
    let server = microci_testkit::git_servers::GitDaemon::start(base.path());
    let d = TestDaemon::start(Options {
        run_as: Some(65534),
        clone_url: Some(server.url("app")),
        ..options()
    });
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{}", d.log());
    // The job's end is recorded first; its workspace is cleaned up right after.
    d.wait_cleaned(id).await;
}
