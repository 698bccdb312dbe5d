//! Remote engines for real: a job's container run by a Docker Engine reached over mutual TLS and
//! one reached over SSH (each a real dockerd in its own network namespace, from
//! `microci_testkit::engines`), and the refusals a person must be able to read: a client
//! certificate the engine does not accept, a host key that is not in `known_hosts`.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::{IMAGE, Options, TestDaemon};
use microci_testkit::engines::{EngineOptions, ExtraEngine};
use microci_testkit::hooks::push;
use microci_testkit::repo::Repo;
use microcid::config::{Config, SystemdDirs};
use microcid::runner::docker::DockerEngine;
use microcid::runner::{Engine, EngineError};
use std::path::Path;
use std::time::{Duration, Instant};

fn tls_engine() -> ExtraEngine {
    ExtraEngine::start(EngineOptions {
        tls: true,
        ..Default::default()
    })
}

fn ssh_engine() -> ExtraEngine {
    ExtraEngine::start(EngineOptions {
        ssh: true,
        ..Default::default()
    })
}

/// `[[engine]]` for `e`'s TLS listener with this client certificate.
pub(crate) fn tls_entry(e: &ExtraEngine, cert: &Path, key: &Path) -> String {
    format!(
        "[[engine]]\nname = \"remote-tls\"\nhost = \"{}\"\ntls_ca = \"{}\"\ntls_cert = \"{}\"\n\
         tls_key = \"{}\"\n",
        e.tcp_host(),
        e.ca().display(),
        cert.display(),
        key.display()
    )
}

/// `[[engine]]` for `e`'s sshd, checking its host key against `known_hosts`.
fn ssh_entry(e: &ExtraEngine, known_hosts: &Path) -> String {
    format!(
        "[[engine]]\nname = \"remote-ssh\"\nhost = \"ssh://{}\"\nssh_key = \"{}\"\n\
         known_hosts = \"{}\"\n",
        e.ssh_destination(),
        e.ssh_key().display(),
        known_hosts.display()
    )
}

/// The engine an `[[engine]]` entry describes, driven directly (no daemon).
fn engine_of(entry: &str) -> DockerEngine {
    let config = Config::parse(
        Path::new("/nonexistent/config.toml"),
        entry,
        &SystemdDirs::default(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{entry}"));
    DockerEngine::new(
        config.docker.clone(),
        &config.engines[0],
        "engines-remote-test".into(),
        "0".into(),
    )
}

/// Runs a job through a daemon whose only engine is `entry`, and checks the job's container was
/// on `e` (seen there while it ran), the checkout was copied in, and the job succeeded.
async fn job_runs_on(e: &ExtraEngine, entry: String) {
    e.load_image(IMAGE);
    let repo = Repo::with_script("echo start; sleep 3; cat /repo/marker.txt\n", None);
    let d = TestDaemon::start(Options {
        extra: entry,
        ..options().for_repo(&repo)
    });
    repo.commit(&[("marker.txt", "copied to the remote engine")], "one");
    let id = push(&d, &repo, "d-1");
    let label = format!("label=microci.job={id}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    while seen.is_empty() && Instant::now() < deadline {
        seen = e.docker(&["ps", "-aq", "--filter", &label]);
        if seen.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert!(
        !seen.is_empty(),
        "the job's container never appeared on the remote engine\n{job:?}\n{log}\n{}\n{}",
        d.log(),
        e.log()
    );
    assert_eq!(
        job.status,
        JobStatus::Succeed,
        "{job:?}\n{log}\n{}",
        d.log()
    );
    assert!(log.contains("copied to the remote engine"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_on_an_engine_reached_over_mutual_tls() {
    let e = tls_engine();
    let entry = tls_entry(&e, e.client_cert(), e.client_key());
    job_runs_on(&e, entry).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_on_an_engine_reached_over_ssh() {
    let e = ssh_engine();
    let entry = ssh_entry(&e, &e.known_hosts());
    job_runs_on(&e, entry).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_engine_refuses_a_client_certificate_of_another_ca_and_says_so() {
    let e = tls_engine();
    let good = engine_of(&tls_entry(&e, e.client_cert(), e.client_key()));
    tokio::time::timeout(Duration::from_secs(30), good.ping())
        .await
        .expect("ping in time")
        .unwrap_or_else(|err| panic!("the right certificate is refused: {err}\n{}", e.log()));

    let wrong = engine_of(&tls_entry(&e, e.wrong_cert(), e.wrong_key()));
    let err = tokio::time::timeout(Duration::from_secs(30), wrong.ping())
        .await
        .expect("refusal in time")
        .expect_err("a foreign client certificate must be refused");
    let EngineError::Unreachable(message) = &err else {
        panic!("not a transport failure: {err:?}");
    };
    let host = format!("cannot reach the Docker Engine at {}", e.tcp_host());
    assert!(
        message.starts_with(&host)
            && message.contains(
                "the engine refused this daemon's client certificate (tls_cert, tls_key)"
            ),
        "{message}"
    );
}

/// Only `tls_ca` is trusted: an engine whose certificate another CA signed is refused, even with
/// a client certificate it would accept.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_engine_whose_certificate_tls_ca_did_not_sign_is_refused() {
    let e = tls_engine();
    let mut entry = tls_entry(&e, e.client_cert(), e.client_key());
    let foreign = &e.tls().expect("tls").wrong_ca;
    entry = entry.replace(
        &format!("tls_ca = \"{}\"", e.ca().display()),
        &format!("tls_ca = \"{}\"", foreign.display()),
    );
    assert!(entry.contains(&foreign.display().to_string()), "{entry}");
    let err = tokio::time::timeout(Duration::from_secs(30), engine_of(&entry).ping())
        .await
        .expect("refusal in time")
        .expect_err("an engine certificate from another CA must be refused");
    let EngineError::Unreachable(message) = &err else {
        panic!("not a transport failure: {err:?}");
    };
    assert!(
        message.contains("the engine's certificate is not signed by tls_ca")
            && message.contains("certificate verify failed"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssh_engine_whose_host_key_is_not_known_is_refused_and_says_so() {
    let e = ssh_engine();
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").expect("write known_hosts");
    let engine = engine_of(&ssh_entry(&e, &empty));
    let err = tokio::time::timeout(Duration::from_secs(30), engine.ping())
        .await
        .expect("refusal in time")
        .expect_err("an unknown host key must be refused");
    let EngineError::Unreachable(message) = &err else {
        panic!("not a transport failure: {err:?}");
    };
    assert!(
        message.starts_with(&format!(
            "cannot reach the Docker Engine at ssh://{}",
            e.ssh_destination()
        )) && message.contains("ssh exited with status 255")
            && message.contains("Host key verification failed"),
        "{message}"
    );

    // With the host's key pinned, the same engine answers; its ssh processes end with it.
    let known = engine_of(&ssh_entry(&e, &e.known_hosts()));
    tokio::time::timeout(Duration::from_secs(30), known.ping())
        .await
        .expect("ping in time")
        .unwrap_or_else(|err| panic!("{err}\n{}", e.log()));
    let to = e.ssh_destination();
    assert!(
        !dial_processes(&to).is_empty(),
        "no ssh kept for the next request"
    );
    drop(known);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dial_processes(&to).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dial_processes(&to),
        Vec::<u32>::new(),
        "ssh outlived its engine"
    );
}

/// Pids of this process's children running `ssh … <to> docker system dial-stdio`.
fn dial_processes(to: &str) -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 4, after the parenthesised command name.
        let parent = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .to_string();
        let ours = parent == me
            && args.first() == Some(&b"ssh".as_slice())
            && args.contains(&to.as_bytes())
            && args.contains(&b"dial-stdio".as_slice());
        ours.then_some(pid)
    })
    .collect()
}
