//! `[[engine]]` validation: every refused entry names its key and says why; defaults follow the
//! transport; the global job bound; reload treats engines as restart-only.
#![allow(clippy::unwrap_used)]

use super::*;

/// A directory with readable `ca.pem`, `cert.pem`, `key.pem`, `id`, `known_hosts`.
fn files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem", "id", "known_hosts"] {
        std::fs::write(dir.path().join(f), "x").unwrap();
    }
    dir
}

fn parse_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
    Config::parse(&dir.join("config.toml"), text, &SystemdDirs::default())
}

const TLS: &str = "tls_ca = \"ca.pem\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n";
const SSH: &str = "ssh_key = \"id\"\nknown_hosts = \"known_hosts\"\n";

#[test]
fn entries_parse_with_defaults_per_transport() {
    let dir = files();
    let text = format!(
        "[[engine]]\nname = \"local\"\nhost = \"unix:///run/docker.sock\"\nlabels = [\"amd64\"]\n\
         [[engine]]\nname = \"tls-1\"\nhost = \"tcp://10.0.0.5:2376\"\nmax_jobs = 4\n{TLS}\
         [[engine]]\nname = \"ssh.1\"\nhost = \"ssh://ci@build-2:2222\"\nlabels = [\"arm64\", \"big\"]\n{SSH}\
         [[engine]]\nname = \"lo\"\nhost = \"tcp://127.0.0.1:2375\"\ninsecure = true\n"
    );
    let c = parse_in(dir.path(), &text).unwrap();
    let d = dir.path();
    assert_eq!(
        c.engines,
        vec![
            EngineSettings {
                name: "local".into(),
                host: EngineHost::Unix("/run/docker.sock".into()),
                max_jobs: 2,
                labels: vec!["amd64".into()],
                workspace: WorkspaceMode::Bind,
            },
            EngineSettings {
                name: "tls-1".into(),
                host: EngineHost::Tcp {
                    addr: "10.0.0.5:2376".into(),
                    tls: Some(TlsFiles {
                        ca: d.join("ca.pem"),
                        cert: d.join("cert.pem"),
                        key: d.join("key.pem"),
                    }),
                },
                max_jobs: 4,
                labels: vec![],
                workspace: WorkspaceMode::Copy,
            },
            EngineSettings {
                name: "ssh.1".into(),
                host: EngineHost::Ssh {
                    destination: "ci@build-2".into(),
                    port: Some(2222),
                    key: d.join("id"),
                    known_hosts: d.join("known_hosts"),
                },
                max_jobs: 2,
                labels: vec!["arm64".into(), "big".into()],
                workspace: WorkspaceMode::Copy,
            },
            EngineSettings {
                name: "lo".into(),
                host: EngineHost::Tcp {
                    addr: "127.0.0.1:2375".into(),
                    tls: None,
                },
                max_jobs: 2,
                labels: vec![],
                workspace: WorkspaceMode::Copy,
            },
        ]
    );
    // Unwritten, the global bound is the engines' sum; written, it stays.
    assert_eq!(c.docker.max_jobs, 10);
    let bounded = parse_in(dir.path(), &format!("[docker]\nmax_jobs = 3\n{text}")).unwrap();
    assert_eq!(bounded.docker.max_jobs, 3);
    let ipv6 = "[[engine]]\nname = \"a\"\nhost = \"tcp://[::1]:2375\"\ninsecure = true\n";
    assert!(parse_in(dir.path(), ipv6).is_ok());
}

#[test]
fn refused_entries_name_the_key_and_say_why() {
    let dir = files();
    let missing = dir.path().join("absent.pem");
    let missing = missing.display();
    let engine = |rest: &str| format!("[[engine]]\nname = \"e\"\n{rest}");
    let cases: Vec<(String, &str, &str)> = vec![
        ("[[engine]]\nhost = \"unix:///x\"\n".into(), "engine[0].name", "required"),
        ("[[engine]]\nname = \"a/b\"\nhost = \"unix:///x\"\n".into(), "engine[0].name", "letters"),
        (format!("[[engine]]\nname = \"{}\"\nhost = \"unix:///x\"\n", "n".repeat(65)), "engine[0].name", "1 to 64"),
        (
            "[[engine]]\nname = \"e\"\nhost = \"unix:///x\"\n[[engine]]\nname = \"e\"\nhost = \"unix:///y\"\n".into(),
            "engine[1].name",
            "configured twice",
        ),
        (engine(""), "engine[0].host", "required"),
        (engine("host = \"http://x:1\"\n"), "engine[0].host", "is not unix:///path"),
        (engine("host = \"unix://run/docker.sock\"\n"), "engine[0].host", "absolute path"),
        (engine("host = \"unix:///x\"\nmax_jobs = 0\n"), "engine[0].max_jobs", "at least 1"),
        (engine("host = \"unix:///x\"\nlabels = [\"a b\"]\n"), "engine[0].labels", "letters"),
        (engine("host = \"unix:///x\"\nlabels = [\"\"]\n"), "engine[0].labels", "1 to 64"),
        (engine("host = \"unix:///x\"\nlabels = [\"a\", \"a\"]\n"), "engine[0].labels", "twice"),
        (engine("host = \"unix:///x\"\nlabel = [\"a\"]\n"), "label", "unknown field"),
        (engine(&format!("host = \"unix:///x\"\n{TLS}")), "engine[0].host", "takes no tls_*"),
        (engine("host = \"tcp://10.0.0.5\"\n"), "engine[0].host", "tcp://host:port"),
        (engine("host = \"tcp://10.0.0.5:2376\"\n"), "engine[0].host", "needs mutual TLS"),
        (
            engine("host = \"tcp://10.0.0.5:2376\"\ntls_ca = \"ca.pem\"\ntls_key = \"key.pem\"\n"),
            "engine[0].tls_cert",
            "go together: tls_cert missing",
        ),
        (
            engine(&format!("host = \"tcp://10.0.0.5:2376\"\ntls_ca = \"{missing}\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n")),
            "engine[0].tls_ca",
            "cannot read",
        ),
        (engine("host = \"tcp://10.0.0.5:2375\"\ninsecure = true\n"), "engine[0].insecure", "only allowed to a loopback"),
        (engine("host = \"tcp://localhost:2375\"\ninsecure = true\n"), "engine[0].insecure", "not a name"),
        (engine(&format!("host = \"tcp://127.0.0.1:2376\"\ninsecure = true\n{TLS}")), "engine[0].insecure", "remove one"),
        (engine(&format!("host = \"tcp://10.0.0.5:2376\"\nworkspace = \"bind\"\n{TLS}")), "engine[0].workspace", "use \"copy\""),
        (engine(&format!("host = \"tcp://10.0.0.5:2376\"\n{TLS}{SSH}")), "engine[0].host", "not ssh_key"),
        (engine("host = \"ssh://ci@b\"\nknown_hosts = \"known_hosts\"\n"), "engine[0].ssh_key", "private key"),
        (engine("host = \"ssh://ci@b\"\nssh_key = \"id\"\n"), "engine[0].known_hosts", "no other key"),
        (
            engine(&format!("host = \"ssh://ci@b\"\nssh_key = \"id\"\nknown_hosts = \"{missing}\"\n")),
            "engine[0].known_hosts",
            "cannot read",
        ),
        (engine("host = \"ssh://-oProxyCommand=x\"\n"), "engine[0].host", "ssh://[user@]host"),
        (engine(&format!("host = \"ssh://ci@b\"\n{SSH}workspace = \"bind\"\n")), "engine[0].workspace", "cannot"),
        (engine(&format!("host = \"ssh://ci@b\"\n{SSH}{TLS}")), "engine[0].host", "not tls_*"),
        (
            format!("[docker]\nhost = \"unix:///x\"\n{}", engine("host = \"unix:///y\"\n")),
            "docker.host",
            "remove docker.host",
        ),
    ];
    for (text, key, why) in cases {
        let e = parse_in(dir.path(), &text).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains(why), "{text}\n→ {e}");
    }
}

#[test]
fn engines_are_restart_only_but_the_implicit_one_follows_docker_max_jobs() {
    let dir = files();
    let one = "[[engine]]\nname = \"a\"\nhost = \"unix:///x\"\n";
    let old = parse_in(dir.path(), one).unwrap();
    let new = parse_in(dir.path(), &format!("{one}labels = [\"big\"]\n")).unwrap();
    assert_eq!(restart_only_changes(&old, &new), ["[[engine]]"]);
    assert!(restart_only_changes(&old, &old).is_empty());
    let implicit = parse_in(dir.path(), "").unwrap();
    assert_eq!(restart_only_changes(&implicit, &old), ["[[engine]]"]);
    let more = parse_in(dir.path(), "[docker]\nmax_jobs = 5\n").unwrap();
    assert!(restart_only_changes(&implicit, &more).is_empty());
    assert_eq!(more.engines[0].max_jobs, 5);
}
