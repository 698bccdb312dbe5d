//! The extra Docker Engines of `microci_testkit::engines`, proved with the real docker CLI, curl,
//! ssh and the kernel's own view (`ip netns`, `/proc`): each capability the engine pool's tests
//! rely on, and that nothing is left behind or touched on the host's Engine.

use microci_testkit::engines::{
    BASE_DIR, EngineOptions, ExtraEngine, alive, cgroups_named, mounts_under,
};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "microci-test/busybox:latest";

fn full() -> EngineOptions {
    EngineOptions {
        tls: true,
        ssh: true,
        ..Default::default()
    }
}

fn tls_only() -> EngineOptions {
    EngineOptions {
        tls: true,
        ..Default::default()
    }
}

/// A command's output (the command is bounded by its own timeout flags).
fn output(cmd: &mut Command) -> Output {
    match cmd.stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => panic!("{cmd:?}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// `docker ARGS` against the host's Engine.
fn host_docker(args: &[&str]) -> String {
    let out = output(
        Command::new("docker")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .args(args),
    );
    assert!(out.status.success(), "host docker {args:?}: {out:?}");
    text(&out.stdout)
}

/// `curl https://<engine>:2376/_ping` with the given client certificate, if any.
fn curl_ping(e: &ExtraEngine, cert: Option<(&Path, &Path)>, max_time: &str) -> Output {
    curl_ping_with(e, cert, max_time, None)
}

/// [`curl_ping`] with the highest TLS version curl may use.
fn curl_ping_with(
    e: &ExtraEngine,
    cert: Option<(&Path, &Path)>,
    max_time: &str,
    tls_max: Option<&str>,
) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", max_time, "--cacert"])
        .arg(e.ca())
        .arg(format!("https://{}/_ping", e.tcp_addr()));
    if let Some((c, k)) = cert {
        cmd.arg("--cert").arg(c).arg("--key").arg(k);
    }
    if let Some(v) = tls_max {
        cmd.args(["--tls-max", v]);
    }
    output(&mut cmd)
}

fn ssh(e: &ExtraEngine) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.arg("-i")
        .arg(e.ssh_key())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", e.known_hosts().display()))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
        ])
        .arg(e.ssh_destination());
    cmd
}

#[test]
fn a_container_on_an_extra_engine_is_not_seen_by_the_host_engine() {
    let defaults = [
        "network", "inspect", "-f", "{{.Id}}", "bridge", "host", "none",
    ];
    let networks_before = host_docker(&defaults);
    let e = ExtraEngine::start(EngineOptions::default());
    e.load_image(IMAGE);
    let id = e.docker(&["run", "-d", "--name", "extra-only", IMAGE, "sleep", "60"]);
    assert_eq!(
        e.docker(&["inspect", "-f", "{{.State.Running}}", &id]),
        "true"
    );
    assert_eq!(
        e.docker(&["exec", "extra-only", "echo", "hello from the extra engine"]),
        "hello from the extra engine"
    );
    assert_eq!(
        host_docker(&["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")]),
        ""
    );
    assert_eq!(
        e.docker(&["info", "-f", "{{.DockerRootDir}}"]),
        e.dir().join("data").display().to_string()
    );
    drop(e);
    assert_eq!(
        host_docker(&defaults),
        networks_before,
        "the host Engine's default networks are untouched"
    );
    let link = output(Command::new("ip").args(["link", "show", "docker0"]));
    assert!(link.status.success(), "the host's docker0 is still there");
}

#[test]
fn tls_answers_the_right_client_certificate_and_refuses_others() {
    let e = ExtraEngine::start(tls_only());
    let right = curl_ping(&e, Some((e.client_cert(), e.client_key())), "5");
    assert!(right.status.success(), "{right:?}\n{}", e.log());
    assert_eq!(text(&right.stdout), "OK");

    // TLS 1.3 (curl's default) learns of the refusal on its first read, as a reset or an
    // alert; TLS 1.2 during the handshake itself. Either way: no answer, not a timeout.
    for tls_max in [None, Some("1.2")] {
        for (what, cert) in [
            (
                "a foreign CA's client certificate",
                Some((e.wrong_cert(), e.wrong_key())),
            ),
            ("no client certificate", None),
        ] {
            let refused = curl_ping_with(&e, cert, "5", tls_max);
            assert_eq!(
                text(&refused.stdout),
                "",
                "{what}, TLS max {tls_max:?}: {refused:?}"
            );
            let code = refused.status.code();
            assert!(
                matches!(code, Some(35 | 55 | 56)),
                "{what}, TLS max {tls_max:?}: refused in TLS, got {refused:?}"
            );
            if tls_max.is_some() {
                assert!(
                    text(&refused.stderr).contains("alert"),
                    "{what}: {refused:?}"
                );
            }
        }
    }

    // The server certificate is for this address, signed by this CA: curl verified it above;
    // the docker CLI speaks the same TLS.
    let version = output(
        Command::new("docker")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_HOST", e.tcp_host())
            .arg("--tlsverify")
            .arg(format!("--tlscacert={}", e.ca().display()))
            .arg(format!("--tlscert={}", e.client_cert().display()))
            .arg(format!("--tlskey={}", e.client_key().display()))
            .args(["info", "-f", "{{.DockerRootDir}}"]),
    );
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        text(&version.stdout),
        e.docker(&["info", "-f", "{{.DockerRootDir}}"])
    );
    assert!(text(&version.stdout).ends_with(&format!("{}/data", e.dir().display())));
}

#[test]
fn ssh_with_the_engine_key_reaches_that_engine() {
    let e = ExtraEngine::start(EngineOptions {
        ssh: true,
        ..Default::default()
    });
    let over_ssh = output(ssh(&e).args(["docker", "info", "-f", "{{.DockerRootDir}}"]));
    assert!(over_ssh.status.success(), "{over_ssh:?}\n{}", e.log());
    assert_eq!(
        text(&over_ssh.stdout),
        e.docker(&["info", "-f", "{{.DockerRootDir}}"])
    );
    assert!(text(&over_ssh.stdout).ends_with(&format!("{}/data", e.dir().display())));

    // What a client's SSH transport does: HTTP through `docker system dial-stdio`.
    let mut dial = ssh(&e)
        .args(["docker", "system", "dial-stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ssh");
    dial.stdin
        .take()
        .expect("stdin")
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .expect("write the request");
    let reply = dial.wait_with_output().expect("ssh dial-stdio");
    let reply_text = String::from_utf8_lossy(&reply.stdout);
    assert!(reply_text.starts_with("HTTP/1.0 200"), "{reply:?}");
    assert!(reply_text.ends_with("OK"), "{reply_text}");

    // Another key is refused, and a host key not in known_hosts is not trusted.
    let other = Path::new(e.dir()).join("ssh/other_key");
    let kg = output(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other),
    );
    assert!(kg.status.success());
    let refused = output(
        Command::new("ssh")
            .arg("-i")
            .arg(&other)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", e.known_hosts().display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5"])
            .arg(e.ssh_destination())
            .arg("true"),
    );
    assert!(!refused.status.success(), "{refused:?}");
}

#[test]
fn a_killed_engine_restarts_with_its_live_restore_container_still_running() {
    let e = ExtraEngine::start(EngineOptions::default());
    e.load_image(IMAGE);
    let id = e.docker(&["run", "-d", IMAGE, "sleep", "300"]);
    let pid_before = e.docker(&["inspect", "-f", "{{.State.Pid}}", &id]);
    let dockerd = e.dockerd_pid().expect("dockerd runs");
    e.kill();
    assert!(!alive(dockerd), "dockerd is dead");
    assert!(!e.ping());
    assert!(e.try_docker(&["ps"]).is_err(), "the socket does not answer");
    let container_pid: u32 = pid_before.parse().expect("a pid");
    assert!(alive(container_pid), "the container outlives its dockerd");
    e.restart();
    assert_ne!(e.dockerd_pid(), Some(dockerd));
    assert_eq!(
        e.docker(&["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", &id]),
        format!("true {pid_before}"),
        "the same container process, re-attached\n{}",
        e.log()
    );
    assert_eq!(e.docker(&["exec", &id, "echo", "still here"]), "still here");
}

#[test]
fn a_partition_times_out_tcp_and_heal_restores_it() {
    let e = ExtraEngine::start(tls_only());
    let cert = Some((e.client_cert(), e.client_key()));
    assert!(curl_ping(&e, cert, "5").status.success());
    e.partition();
    let started = Instant::now();
    let cut = curl_ping(&e, cert, "2");
    assert_eq!(
        cut.status.code(),
        Some(28),
        "a timeout, not a refusal: {cut:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(e.ping(), "the Unix socket is not behind the link");
    e.heal();
    let healed = curl_ping(&e, cert, "5");
    assert!(healed.status.success(), "{healed:?}");
    assert_eq!(text(&healed.stdout), "OK");
}

#[test]
fn parallel_engines_get_their_own_addresses_and_drop_leaves_nothing() {
    let t = Instant::now();
    let engines = ExtraEngine::start_all(&[full(), full(), EngineOptions::default()]);
    eprintln!(
        "3 engines (2 with tls+ssh) started in parallel in {:?}",
        t.elapsed()
    );
    let ips: std::collections::BTreeSet<_> = engines.iter().map(ExtraEngine::ip).collect();
    assert_eq!(ips.len(), 3, "{ips:?}");
    for e in &engines {
        e.load_image(IMAGE);
        e.docker(&["run", "-d", IMAGE, "sleep", "300"]);
    }
    // The worst case for clean-up: a crashed dockerd whose container still runs.
    engines[1].kill();
    let mut pids = Vec::new();
    let mut names = Vec::new();
    let mut dirs = Vec::new();
    for e in &engines {
        pids.extend(e.dockerd_pid());
        pids.extend(e.containerd_pid());
        pids.extend(e.sshd_pid());
        let shim_and_below = output(Command::new("ip").args(["netns", "pids", e.name()]));
        pids.extend(
            text(&shim_and_below.stdout)
                .lines()
                .filter_map(|l| l.parse::<u32>().ok()),
        );
        names.push(e.name().to_string());
        dirs.push(e.dir().to_path_buf());
    }
    assert!(pids.len() >= 8, "{pids:?}");
    for e in &engines {
        assert!(
            !cgroups_named(e.name()).is_empty(),
            "its containers' cgroups are under its own parent"
        );
    }
    drop(engines);
    let netns = text(&output(Command::new("ip").args(["netns", "list"])).stdout);
    for name in &names {
        assert!(!netns.contains(name.as_str()), "{name} is gone: {netns}");
    }
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} is gone");
    }
    for name in &names {
        assert_eq!(cgroups_named(name), Vec::<std::path::PathBuf>::new());
    }
    for dir in &dirs {
        assert_eq!(mounts_under(dir), Vec::<String>::new());
        assert!(!dir.exists(), "{} is removed", dir.display());
    }
    let links = text(&output(Command::new("ip").args(["-o", "addr", "show"])).stdout);
    for ip in ips {
        assert!(!links.contains(&format!("inet {}", ip)), "{ip} is gone");
    }
}

#[test]
fn start_with_tls_and_ssh_is_quick() {
    let t = Instant::now();
    let e = ExtraEngine::start(full());
    let started = t.elapsed();
    let t = Instant::now();
    e.load_image(IMAGE);
    eprintln!(
        "start with tls+ssh: {started:?}; load {IMAGE}: {:?}",
        t.elapsed()
    );
    assert!(started < Duration::from_secs(20), "{started:?}");
    e.docker(&["run", "-d", IMAGE, "sleep", "300"]);
    let t = Instant::now();
    drop(e);
    eprintln!("drop with a running container: {:?}", t.elapsed());
}

#[test]
fn sweep_stale_removes_only_the_namespaces_of_dead_runs() {
    // A pid that existed and is gone: a finished child's.
    let mut child = Command::new("true").spawn().expect("spawn true");
    let dead = child.id();
    child.wait().expect("wait");
    assert!(!alive(dead));
    let stale = format!("mcitest-{dead}-0");
    let live = format!("mcitest-{}-9999", std::process::id());
    let stale_dir = Path::new(BASE_DIR).join(format!("{dead}-0"));
    for ns in [&stale, &live] {
        let add = output(Command::new("ip").args(["netns", "add", ns]));
        assert!(add.status.success(), "{add:?}");
    }
    std::fs::create_dir_all(stale_dir.join("data")).expect("stale dir");
    // What a killed run leaves: a process in its namespace and a mount under its directory.
    let mut left_running = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{stale}"))
        .args(["--", "sleep", "300"])
        .spawn()
        .expect("a process in the stale namespace");
    let mount = output(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(stale_dir.join("data")),
    );
    assert!(mount.status.success(), "{mount:?}");
    microci_testkit::engines::sweep_stale();
    let status = left_running.wait().expect("reap");
    assert!(!status.success(), "killed: {status:?}");
    assert_eq!(mounts_under(&stale_dir), Vec::<String>::new());
    let netns = text(&output(Command::new("ip").args(["netns", "list"])).stdout);
    let _ = Command::new("ip").args(["netns", "del", &live]).output();
    assert!(!netns.contains(&stale), "{netns}");
    assert!(
        netns.contains(&live),
        "a live run's namespace stays: {netns}"
    );
    assert!(!stale_dir.exists());
}
