//! `/metrics` and `/healthz` through real jobs on the real Docker Engine: the exposition parses
//! with Prometheus' own OpenMetrics parser, counters move with jobs and webhooks, the running and
//! queued gauges are right after a restart (read from the database), private repositories stay
//! `(private)`, `http.metrics = "off"` serves nothing, and `/healthz` names what fails.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::{deliver, head_push, push, push_another};
use microci_testkit::http::request;
use microci_testkit::python::{Sample, parse_openmetrics};
use microci_testkit::repo::Repo;

/// Scrapes and parses `/metrics`.
fn scrape(d: &TestDaemon) -> Vec<Sample> {
    let r = request(d.port, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        r.header("content-type")
    );
    parse_openmetrics(&r.text())
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
        .sum()
}

fn public(repo: &Repo) -> Options {
    Options {
        repo: "public = true\n".into(),
        ..options().for_repo(repo)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_move_with_real_jobs_and_webhooks() {
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(public(&repo));
    let before = scrape(&d);
    assert_eq!(value(&before, "microci_jobs_finished_total", &[]), 0.0);
    assert_eq!(
        value(
            &before,
            "microci_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let ok = push(&d, &repo, "m-1");
    assert_eq!(wait_final(&d.socket, ok).await.status, JobStatus::Succeed);
    repo.commit(&[("microci.sh", "exit 3\n")], "break");
    let failed = push(&d, &repo, "m-2");
    assert_eq!(
        wait_final(&d.socket, failed).await.status,
        JobStatus::Failed
    );
    // A forged delivery is counted as such, under its forge's name.
    let forged = deliver(&d, "push", "m-3", &head_push(&repo), Some("not-the-secret"));
    assert_eq!(forged.status, 401);

    let s = scrape(&d);
    let finished = |state| {
        value(
            &s,
            "microci_jobs_finished_total",
            &[("state", state), ("repository", "alice/app")],
        )
    };
    assert_eq!(finished("SUCCEED"), 1.0);
    assert_eq!(finished("FAILED"), 1.0);
    assert_eq!(finished("ERRORED"), 0.0);
    let hooks = |outcome| {
        value(
            &s,
            "microci_webhooks_total",
            &[("forge", "gogs"), ("outcome", outcome)],
        )
    };
    assert_eq!(hooks("accepted"), 2.0);
    assert_eq!(hooks("unauthorized"), 1.0);
    assert_eq!(value(&s, "microci_job_duration_seconds_count", &[]), 2.0);
    assert_eq!(value(&s, "microci_job_queue_wait_seconds_count", &[]), 2.0);
    assert_eq!(value(&s, "microci_jobs_running", &[]), 0.0);
    assert_eq!(value(&s, "microci_jobs_queued", &[]), 0.0);
    assert!(value(&s, "microci_state_dir_free_bytes", &[]) > 0.0);
    assert_eq!(value(&s, "microci_docker_up", &[]), 1.0);
    assert_eq!(value(&s, "microci_docker_errors_total", &[]), 0.0);

    // A missing image is the Engine failing the job.
    repo.commit(
        &[(".microci.json", r#"{"dockerimg": "microci-test/absent:1"}"#)],
        "absent image",
    );
    let errored = push(&d, &repo, "m-4");
    assert_eq!(
        wait_final(&d.socket, errored).await.status,
        JobStatus::Errored
    );
    let s = scrape(&d);
    assert_eq!(value(&s, "microci_docker_errors_total", &[]), 1.0);
    assert_eq!(
        value(
            &s,
            "microci_jobs_finished_total",
            &[("state", "ERRORED"), ("repository", "alice/app")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn running_and_queued_are_right_after_a_restart() {
    let repo = Repo::with_script("echo up; sleep 30\n", None);
    let mut d = TestDaemon::start(Options {
        max_jobs: 1,
        ..public(&repo)
    });
    let running = push(&d, &repo, "r-1");
    wait_for(&d.socket, running, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    let queued = push_another(&d, &repo, "r-2");
    let s = scrape(&d);
    assert_eq!(value(&s, "microci_jobs_running", &[]), 1.0);
    assert_eq!(value(&s, "microci_jobs_queued", &[]), 1.0);

    // The container runs on while the daemon is away; a new daemon knows both jobs at once.
    d.stop();
    d.spawn();
    let s = scrape(&d);
    assert_eq!(value(&s, "microci_jobs_running", &[]), 1.0, "{s:?}");
    assert_eq!(value(&s, "microci_jobs_queued", &[]), 1.0);
    assert!(d.cli(&["cancel", &queued.to_string()]).status.success());
    assert!(d.cli(&["cancel", &running.to_string()]).status.success());
    assert_eq!(
        wait_final(&d.socket, running).await.status,
        JobStatus::Canceled
    );
    let s = scrape(&d);
    assert_eq!(value(&s, "microci_jobs_running", &[]), 0.0);
    assert_eq!(value(&s, "microci_jobs_queued", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn private_repositories_stay_private_and_off_serves_nothing() {
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "p-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Succeed);
    let r = request(d.port, "GET", "/metrics", &[], b"");
    assert!(!r.text().contains("alice/app"), "{}", r.text());
    let s = parse_openmetrics(&r.text());
    assert_eq!(
        value(
            &s,
            "microci_jobs_finished_total",
            &[("state", "SUCCEED"), ("repository", "(private)")]
        ),
        1.0
    );

    let off = TestDaemon::start(Options {
        http: "metrics = \"off\"\n".into(),
        ..options()
    });
    assert_eq!(request(off.port, "GET", "/metrics", &[], b"").status, 404);
    assert_eq!(request(off.port, "GET", "/healthz", &[], b"").status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_names_an_unreachable_docker_engine() {
    let d = TestDaemon::start(Options {
        docker_host: Some("unix:///nonexistent/docker.sock".into()),
        ..options()
    });
    let r = request(d.port, "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().starts_with("docker: "), "{}", r.text());
    assert!(!r.text().contains("store:"), "{}", r.text());
    let s = scrape(&d);
    assert_eq!(value(&s, "microci_docker_up", &[]), 0.0);
}
