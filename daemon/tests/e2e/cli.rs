//! The real `microci-tui` scripting verbs over the real socket, as a person on the server runs them.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::{push, push_another};
use microci_testkit::repo::Repo;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_show_logs_and_status() {
    let repo = Repo::with_script("echo line one; echo line two\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    // `logs --follow` streams until the end and exits 0 for SUCCEED.
    let out = d.cli(&["logs", "--follow", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("line one\nline two\n"),
        "{}",
        stdout(&out)
    );

    let out = d.cli(&["jobs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let job = &jobs[0];
    for key in [
        "id",
        "repo",
        "ref",
        "commit",
        "message",
        "author",
        "status",
        "reason",
        "exit_code",
        "created_at",
        "started_at",
        "finished_at",
    ] {
        assert!(job.get(key).is_some(), "job object lacks {key}: {job}");
    }
    assert_eq!(job["status"], "SUCCEED");
    assert_eq!(job["repo"], "alice/app");

    let out = d.cli(&["jobs", "--status", "failed"]);
    assert!(out.status.success());
    assert!(!stdout(&out).contains("alice/app"), "{}", stdout(&out));
    let out = d.cli(&["jobs", "--repo", "alice/app", "--limit", "5"]);
    assert!(stdout(&out).contains("SUCCEED"), "{}", stdout(&out));

    let out = d.cli(&["show", &id.to_string(), "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["id"], id);
    assert_eq!(shown["commit"], repo.head());

    let out = d.cli(&["status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(st["docker_reachable"], true);
    assert_eq!(st["running"], 0);
    let out = d.cli(&["status"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        stdout(&out)
    );

    let out = d.cli(&["show", "9999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no job 9999"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_exit_nonzero_for_a_failed_job() {
    let repo = Repo::with_script("echo bad; exit 4\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let out = d.cli(&["logs", "-f", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("bad"));
    assert!(stderr(&out).contains("FAILED"), "{}", stderr(&out));
    let out = d.cli(&["logs", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_retry_and_run_from_the_command_line() {
    let repo = Repo::with_script("trap '' TERM; echo waiting; sleep 60\n", None);
    let d = TestDaemon::start(Options {
        max_jobs: 1,
        ..options().for_repo(&repo)
    });
    let running = push(&d, &repo, "d-1");
    let pending = push_another(&d, &repo, "d-2");
    wait_for(&d.socket, running, 60, |j| j.status == JobStatus::Started).await;

    let out = d.cli(&["cancel", &pending.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("CANCELED"), "{}", stdout(&out));
    let out = d.cli(&["cancel", &running.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        wait_final(&d.socket, running).await.status,
        JobStatus::Canceled
    );

    repo.commit(&[("microci.sh", "echo quick\n")], "quick");
    let out = d.cli(&["run", "alice/app"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manual: i64 = stdout(&out).trim().parse().expect("run prints the new id");
    let m = wait_final(&d.socket, manual).await;
    assert_eq!(
        (m.status, m.commit.clone()),
        (JobStatus::Succeed, repo.head())
    );

    let out = d.cli(&["run", "alice/app", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = d.cli(&["retry", &manual.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let retried: i64 = stdout(&out)
        .trim()
        .parse()
        .expect("retry prints the new id");
    assert_eq!(wait_final(&d.socket, retried).await.commit, m.commit);

    let out = d.cli(&["run", "nobody/none"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown repository"),
        "{}",
        stderr(&out)
    );
}

/// `microci-tui logs ID [--follow] [ARGS]` on a real pseudo-terminal (util-linux `script`, which
/// copies everything the program writes to its own stdout): the raw bytes a terminal would get.
fn logs_on_a_pty(d: &TestDaemon, id: i64, args: &[&str]) -> String {
    let bin = d.tui_bin();
    let command = format!(
        "{} --socket {} logs {id} {}",
        bin.display(),
        d.socket.display(),
        args.join(" ")
    );
    let out = std::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script (util-linux)");
    assert_eq!(out.status.code(), Some(0), "{command}: {}", stderr(&out));
    stdout(&out)
}

/// A job that tries to write the clipboard (OSC 52), retitle the window, clear the screen and
/// move the cursor gets none of it done through `microci-tui logs` on a terminal; its colour
/// and text still show. `--raw` on the terminal, and a pipe, get the bytes verbatim.
#[tokio::test(flavor = "multi_thread")]
async fn logs_on_a_terminal_are_inert() {
    let script = "printf 'before\\033]52;c;cm0gLXJmIH4=\\007\\033]0;pwned-title\\007\\033]2;pwned-too\\033\\\\\\033[2J\\033[5;5H\\033[31mred text\\033[0m after\\n'\n";
    let repo = Repo::with_script(script, None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);

    for args in [&[][..], &["--follow"][..]] {
        let shown = logs_on_a_pty(&d, id, args);
        assert!(
            shown.contains("before\x1b[0;31mred text\x1b[0m after"),
            "{args:?}: {shown:?}"
        );
        for bad in ["\x1b]", "\x1b[2J", "\x1b[5;5H", "pwned", "cm0gLXJmIH4="] {
            assert!(
                !shown.contains(bad),
                "{args:?}: {bad:?} reached the pty: {shown:?}"
            );
        }
    }

    let raw = logs_on_a_pty(&d, id, &["--raw"]);
    for bytes in [
        "\x1b]52;c;cm0gLXJmIH4=\x07",
        "\x1b]0;pwned-title\x07",
        "\x1b[2J",
    ] {
        assert!(raw.contains(bytes), "--raw lost {bytes:?}: {raw:?}");
    }
    let piped = d.cli(&["logs", &id.to_string()]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(
        stdout(&piped).contains("\nbefore\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned-title\x07"),
        "a pipe gets the log verbatim: {:?}",
        stdout(&piped)
    );
}
