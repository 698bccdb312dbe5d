//! A manual run's parameters (`run -e KEY=VALUE`) through the real CLI and Docker: set in the
//! container over the repository's `env`, named in the log, shown by `show`, kept by a retry;
//! a reserved or malformed name refused before any job exists.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::TestDaemon;
use microci_testkit::repo::Repo;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn job_id(out: &std::process::Output) -> i64 {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().parse().expect("a job id")
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_reach_the_container_show_and_retries() {
    let repo = Repo::with_script(
        "echo \"target=$TARGET note=$NOTE app=$APP\"\n",
        Some(r#"{"env": {"TARGET": "from-repo", "APP": "web"}}"#),
    );
    let d = TestDaemon::start(options().for_repo(&repo));

    let id = job_id(&d.cli(&[
        "run",
        "alice/app",
        "-e",
        "TARGET=prod",
        "-e",
        "NOTE=two words",
    ]));
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let log = log_text(&d, id).await;
    assert!(
        log.contains("target=prod note=two words app=web\n"),
        "{log}"
    );
    // The log names them; their values are only where the person looks (`show`).
    assert!(
        log.contains("[microci] parameters: NOTE, TARGET\n"),
        "{log}"
    );
    let show = d.cli(&["show", &id.to_string()]);
    let show = text(&show.stdout);
    assert!(show.contains("param     NOTE=two words\n"), "{show}");
    assert!(show.contains("param     TARGET=prod\n"), "{show}");

    // A retry runs with the same parameters.
    let again = job_id(&d.cli(&["retry", &id.to_string()]));
    assert_eq!(
        wait_final(&d.socket, again).await.status,
        JobStatus::Succeed
    );
    let log = log_text(&d, again).await;
    assert!(
        log.contains("target=prod note=two words app=web\n"),
        "{log}"
    );

    // Without parameters, the repository's env stands.
    let plain = job_id(&d.cli(&["run", "alice/app"]));
    wait_final(&d.socket, plain).await;
    let log = log_text(&d, plain).await;
    assert!(log.contains("target=from-repo note= app=web\n"), "{log}");
    assert!(!log.contains("parameters:"), "{log}");
    let show = text(&d.cli(&["show", &plain.to_string()]).stdout);
    assert!(!show.contains("param "), "{show}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_refused_and_make_no_job() {
    let repo = Repo::with_script("true\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    for (arg, says) in [
        (
            "MICROCI_JOB=7",
            "parameter \"MICROCI_JOB\" is set by microci",
        ),
        ("CI=false", "parameter \"CI\" is set by microci"),
        ("NOVALUE", "\"NOVALUE\" is not KEY=VALUE"),
    ] {
        let out = d.cli(&["run", "alice/app", "-e", arg]);
        assert!(!out.status.success(), "{arg}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{arg}: {err}");
    }
    let listed = text(&d.cli(&["jobs", "--json"]).stdout);
    assert_eq!(listed.trim(), "[]", "no job was made");
}
