//! Service containers (`"services"` in `.microci.json`): the job reaches each by its name on a
//! network of its own, the service gets only its own environment, a service that ends early
//! ends the job ERRORED naming it with its last lines, and after success, failure, cancel or a
//! daemon restart no container or network of the job remains.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::{IMAGE, Options, TestDaemon};
use microci_testkit::hooks::push;
use microci_testkit::repo::Repo;
use std::process::Command;
use std::time::{Duration, Instant};

/// A service `db` serving, over HTTP on port 80, `hello-from-db` at `/` and its own
/// environment at `/env.txt`.
fn db_service() -> String {
    format!(
        r#"{{"name": "db", "image": "{IMAGE}", "env": {{"GREETING": "hello-from-db"}},
             "command": "mkdir -p /tmp/www && echo \"$GREETING\" > /tmp/www/index.html && env > /tmp/www/env.txt && exec httpd -f -p 80 -h /tmp/www"}}"#
    )
}

/// Shell that fetches `http://db/PATH` into stdout, retrying while the service comes up (a
/// job must: services are started, not awaited).
fn fetch(path: &str) -> String {
    format!(
        "i=0; until wget -q -O - http://db/{path}; do i=$((i+1)); \
         if [ $i -ge 150 ]; then echo 'db unreachable'; exit 9; fi; sleep 0.1; done\n"
    )
}

/// A repository whose job runs `script` with the `db` service and a variable of its own.
fn with_db(script: &str) -> Repo {
    let json = format!(
        r#"{{"env": {{"JOB_ONLY": "job-secret-ish"}}, "services": [{}]}}"#,
        db_service()
    );
    Repo::with_script(script, Some(&json))
}

/// Networks of this daemon's (by its test label), as `docker network ls` sees them.
fn networks(d: &TestDaemon) -> Vec<String> {
    networks_labelled(&d.label())
}

fn networks_labelled(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["network", "ls", "-q", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .expect("docker network ls");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Removes, on drop, the networks a failed test left (declared before the daemon: dropped
/// after it, once its containers are gone).
struct NetworkSweep(String);

impl Drop for NetworkSweep {
    fn drop(&mut self) {
        let left = networks_labelled(&self.0);
        if !left.is_empty() {
            let _ = Command::new("docker")
                .args(["network", "rm"])
                .args(&left)
                .output();
        }
    }
}

/// Starts a daemon with `opts`, with a sweep of its networks armed.
fn start(opts: Options) -> (NetworkSweep, TestDaemon) {
    let d = TestDaemon::start(opts);
    (NetworkSweep(d.label()), d)
}

/// Waits until job `id` left no workspace, container (job or service) or network.
async fn assert_nothing_left(d: &TestDaemon, id: i64) {
    d.wait_cleaned(id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = networks(d);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} left networks {left:?}: {}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the job's log holds `text`.
async fn wait_log(d: &TestDaemon, id: i64, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = log_text(d, id).await;
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "{text:?} never logged:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `docker KIND inspect -f FORMAT ID`, trimmed.
fn inspect(kind: &str, id: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args([kind, "inspect", "-f", format, id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Containers of this daemon's carrying the service label.
fn service_containers(d: &TestDaemon) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={}", d.label()))
        .args(["--filter", "label=microci.service"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_reaches_its_service_by_name_and_the_service_gets_only_its_own_env() {
    let script = format!(
        "{}echo \"job sees GREETING=[$GREETING]\"\n\
         wget -q -O - http://db/env.txt | sed 's/^/service-env: /'\n",
        fetch("")
    );
    let repo = with_db(&script);
    let (_sweep, d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(
        log.contains(&format!("[microci] service db: started {IMAGE}\n")),
        "{log}"
    );
    assert!(log.contains("\nhello-from-db\n"), "{log}");
    // The service's env is its own; the job's is not the service's.
    assert!(log.contains("job sees GREETING=[]"), "{log}");
    assert!(log.contains("service-env: GREETING=hello-from-db"), "{log}");
    for leaked in ["JOB_ONLY", "CI=", "MICROCI_JOB"] {
        assert!(
            !log.contains(&format!("service-env: {leaked}")),
            "{leaked} reached the service:\n{log}"
        );
    }
    // The service started before the job's command ran.
    let started = log.find("service db: started").unwrap_or(usize::MAX);
    let reached = log.find("\nhello-from-db").unwrap_or(0);
    assert!(started < reached, "{log}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_docker_network_none_the_job_still_reaches_its_service_and_nothing_else() {
    // The job has no network but its own, internal one: its service, and nothing else.
    let script = format!("{}ip route | sed 's/^/route: /'\n", fetch(""));
    let repo = with_db(&script);
    let opts = Options {
        docker: "network = \"none\"\n".into(),
        ..options().for_repo(&repo)
    };
    let (_sweep, d) = start(opts);
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(log.contains("\nhello-from-db\n"), "{log}");
    // One interface: the job's network, not the Engine's bridge as well.
    assert!(log.contains(" dev eth0 "), "{log}");
    assert!(!log.contains(" dev eth1 "), "{log}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_leaves_no_service_or_network() {
    let repo = with_db(&format!("{}echo failing now; exit 4\n", fetch("")));
    let (_sweep, d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}\n{log}");
    assert_eq!(job.exit_code, Some(4));
    assert!(log.contains("hello-from-db"), "{log}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canceled_job_leaves_no_service_or_network() {
    let repo = with_db(&format!("{}echo reached-db; sleep 300\n", fetch("")));
    let (_sweep, d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "reached-db").await;
    // While it runs: the job's container, its service, their network.
    assert_eq!(d.containers().len(), 2, "{:?}", d.containers());
    assert_eq!(service_containers(&d).len(), 1);
    let nets = networks(&d);
    assert_eq!(nets.len(), 1);
    // The network is internal (the Engine routes nothing beyond it), the service publishes
    // nothing on the host.
    assert_eq!(inspect("network", &nets[0], "{{.Internal}}"), "true");
    let service = &service_containers(&d)[0];
    let ports = inspect("container", service, "{{json .HostConfig.PortBindings}}");
    assert!(ports == "{}" || ports == "null", "{ports}");
    assert_eq!(
        inspect("container", service, "{{.HostConfig.Memory}}"),
        "268435456"
    );
    let out = d.cli(&["cancel", &id.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_keeps_the_services_of_the_job_it_picks_up_then_removes_them() {
    let script = format!(
        "{}echo first-reach\nsleep 4\necho \"second-$(wget -q -O - http://db/)\"\n",
        fetch("")
    );
    let repo = with_db(&script);
    let (_sweep, mut d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "first-reach").await;
    d.crash();
    assert_eq!(service_containers(&d).len(), 1);
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    // The service was there all along: the start did not take it for a stray container.
    assert!(log.contains("second-hello-from-db"), "{log}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_removes_the_services_and_network_of_a_job_whose_container_is_gone() {
    let repo = with_db(&format!("{}echo reached-db; sleep 300\n", fetch("")));
    let (_sweep, mut d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "reached-db").await;
    d.crash();
    let services = service_containers(&d);
    let job_container: Vec<String> = d
        .containers()
        .into_iter()
        .filter(|c| !services.contains(c))
        .collect();
    assert_eq!(job_container.len(), 1, "{job_container:?}");
    let rm = Command::new("docker")
        .args(["rm", "-f"])
        .args(&job_container)
        .output()
        .expect("docker rm");
    assert!(rm.status.success(), "{rm:?}");
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_exits_early_ends_the_job_errored_with_its_last_lines() {
    let json = format!(
        r#"{{"services": [{{"name": "db", "image": "{IMAGE}",
             "command": "echo db starting; echo db-broken-config >&2; exit 7"}}]}}"#
    );
    let repo = Repo::with_script("echo job waiting; sleep 120\n", Some(&json));
    let (_sweep, d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let began = Instant::now();
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}\n{log}");
    assert_eq!(
        job.reason.as_deref(),
        Some("service db exited with code 7"),
        "{log}"
    );
    assert!(began.elapsed() < Duration::from_secs(60), "the job ran on");
    assert!(
        log.contains("[microci] service db exited with code 7; its last lines:\n"),
        "{log}"
    );
    assert!(log.contains("db starting\n"), "{log}");
    assert!(log.contains("db-broken-config\n"), "{log}");
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_services_are_refused_by_name_and_a_missing_image_is_named() {
    let json = format!(r#"{{"services": [{{"name": "db", "image": "{IMAGE}", "ports": [80]}}]}}"#);
    let repo = Repo::with_script("echo never\n", Some(&json));
    let (_sweep, d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains(r#""services"[0]: unknown key "ports""#),
        "{reason}"
    );
    repo.commit(
        &[(
            ".microci.json",
            r#"{"services": [{"name": "db", "image": "microci-test/absent:1"}]}"#,
        )],
        "absent service image",
    );
    let id = push(&d, &repo, "d-2");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.starts_with("service db: ") && reason.contains("microci-test/absent:1"),
        "{reason}"
    );
    assert!(!log_text(&d, id).await.contains("never"));
    assert_nothing_left(&d, id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_stopping_with_on_stop_cancel_removes_the_services_and_network() {
    let repo = with_db(&format!("{}echo reached-db; sleep 300\n", fetch("")));
    let opts = Options {
        docker: "on_stop = \"cancel\"\n".into(),
        ..options().for_repo(&repo)
    };
    let (_sweep, mut d) = start(opts);
    let id = push(&d, &repo, "d-1");
    wait_log(&d, id, "reached-db").await;
    d.stop();
    assert!(d.containers().is_empty(), "{:?}", d.containers());
    assert!(networks(&d).is_empty(), "{:?}", networks(&d));
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_gets_the_secrets_it_lists_and_the_log_masks_them() {
    // The service lists DB_PASSWORD, which the job asks for too; the service's environment,
    // served to the job and printed, arrives with the value and is masked in the log.
    let service = format!(
        r#"{{"name": "db", "image": "{IMAGE}", "secrets": ["DB_PASSWORD"],
             "command": "mkdir -p /tmp/www && env > /tmp/www/env.txt && exec httpd -f -p 80 -h /tmp/www"}}"#
    );
    let json = format!(r#"{{"secrets": ["DB_PASSWORD"], "services": [{service}]}}"#);
    let script = format!(
        "{}[ \"$DB_PASSWORD\" = 's3rvice-pa55word' ] && echo job has it\n",
        fetch("env.txt").replace(
            "wget -q -O - http://db/env.txt",
            "wget -q -O - http://db/env.txt | sed 's/^/service-env: /'"
        )
    );
    let repo = Repo::with_script(&script, Some(&json));
    let (_sweep, d) = start(Options {
        repo: "secrets = { DB_PASSWORD = \"env:MICROCI_TEST_DB_PASSWORD\" }\n".into(),
        env: vec![("MICROCI_TEST_DB_PASSWORD".into(), "s3rvice-pa55word".into())],
        ..options().for_repo(&repo)
    });
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(log.contains("service-env: DB_PASSWORD=***\n"), "{log}");
    assert!(log.contains("\njob has it\n"), "{log}");
    assert!(!log.contains("s3rvice-pa55word"), "{log}");
    assert_nothing_left(&d, id).await;

    // A service cannot list a secret its job does not ask for.
    let json = format!(r#"{{"services": [{service}]}}"#);
    let repo = Repo::with_script("true\n", Some(&json));
    let (_sweep, d) = start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains("lists the secret \"DB_PASSWORD\""),
        "{reason}"
    );
}
