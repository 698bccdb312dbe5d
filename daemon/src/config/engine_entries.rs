//! Validation of `[[engine]]` entries: names and labels, the `host` address and the files each
//! transport needs (read once here, so a missing key or CA fails the start, not the first job),
//! and the rules that keep a remote engine safe: TLS trusting only the configured CA, plain
//! HTTP only on a loopback address, SSH host keys pinned, no bind mounts across machines.

use super::WorkspaceMode;
use super::credentials::KeyError;
use super::engines::{EngineHost, EngineSettings, TlsFiles};
use super::raw::RawEngine;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Jobs an engine runs at once when its entry does not say.
pub(super) const DEFAULT_MAX_JOBS: usize = 2;

/// Validates every `[[engine]]`; `resolve` makes a relative file path relative to the config
/// file's directory.
pub(super) fn engine_entries(
    raw: Vec<RawEngine>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Vec<EngineSettings>, KeyError> {
    let mut names = HashSet::new();
    let mut engines = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = format!("engine[{i}]");
        let e = entry(&key, r, resolve)?;
        if !names.insert(e.name.clone()) {
            return Err((
                format!("{key}.name"),
                format!("{:?} is configured twice", e.name),
            ));
        }
        engines.push(e);
    }
    Ok(engines)
}

/// A name or label: `[A-Za-z0-9._-]{1,64}` (no `/`: a recorded container is `<engine>/<id>`).
fn is_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn entry(
    key: &str,
    r: RawEngine,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<EngineSettings, KeyError> {
    let err = |field: &str, message: String| (format!("{key}.{field}"), message);
    let name = r
        .name
        .ok_or_else(|| err("name", "is required, e.g. name = \"build-1\"".into()))?;
    if !is_token(&name) {
        return Err(err(
            "name",
            format!("{name:?} must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ));
    }
    let host_text = r.host.ok_or_else(|| {
        err(
            "host",
            "is required: unix:///path, tcp://host:port or ssh://[user@]host[:port]".into(),
        )
    })?;
    let max_jobs = match r.max_jobs {
        None => DEFAULT_MAX_JOBS,
        Some(0) => return Err(err("max_jobs", "must be at least 1".into())),
        Some(n) => n as usize,
    };
    let labels = r.labels.unwrap_or_default();
    let mut seen = HashSet::new();
    for l in &labels {
        if !is_token(l) {
            return Err(err(
                "labels",
                format!("{l:?} must be 1 to 64 letters, digits, '.', '_' or '-'"),
            ));
        }
        if !seen.insert(l) {
            return Err(err("labels", format!("{l:?} is listed twice")));
        }
    }
    let file = |field: &str, p: Option<PathBuf>| -> Result<Option<PathBuf>, KeyError> {
        let Some(p) = p else { return Ok(None) };
        let p = resolve(p);
        readable(&p).map_err(|m| err(field, m))?;
        Ok(Some(p))
    };
    let tls_given = [&r.tls_ca, &r.tls_cert, &r.tls_key]
        .iter()
        .filter(|f| f.is_some())
        .count();
    let insecure = r.insecure.unwrap_or(false);
    let ssh_given = r.ssh_key.is_some() || r.known_hosts.is_some();

    let host = if let Some(path) = host_text.strip_prefix("unix://") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(err(
                "host",
                "a unix:// address needs an absolute path, e.g. unix:///run/docker.sock".into(),
            ));
        }
        if tls_given > 0 || insecure || ssh_given {
            return Err(err(
                "host",
                "a unix:// engine takes no tls_*, insecure, ssh_key or known_hosts".into(),
            ));
        }
        EngineHost::Unix(path)
    } else if let Some(rest) = host_text.strip_prefix("tcp://") {
        let (ip, addr) = tcp_address(rest).map_err(|m| err("host", m))?;
        if ssh_given {
            return Err(err(
                "host",
                "a tcp:// engine takes tls_ca, tls_cert and tls_key, not ssh_key or known_hosts"
                    .into(),
            ));
        }
        let tls = match (tls_given, insecure) {
            (3, false) => Some(TlsFiles {
                ca: file("tls_ca", r.tls_ca)?.unwrap_or_default(),
                cert: file("tls_cert", r.tls_cert)?.unwrap_or_default(),
                key: file("tls_key", r.tls_key)?.unwrap_or_default(),
            }),
            (0, true) if ip.is_some_and(|ip| ip.is_loopback()) => None,
            (0, true) => {
                return Err(err(
                    "insecure",
                    "plain HTTP is only allowed to a loopback address (127.0.0.1, ::1, written \
                     as an address, not a name): anyone on the path could run containers; give \
                     tls_ca, tls_cert and tls_key instead"
                        .into(),
                ));
            }
            (_, true) => {
                return Err(err(
                    "insecure",
                    "insecure = true and tls_* together: remove one".into(),
                ));
            }
            (0, false) => {
                return Err(err(
                    "host",
                    "a tcp:// engine needs mutual TLS: tls_ca (the CA that signed the engine's \
                     certificate), tls_cert and tls_key (this daemon's client certificate)"
                        .into(),
                ));
            }
            (_, false) => {
                let missing: Vec<&str> = [
                    ("tls_ca", &r.tls_ca),
                    ("tls_cert", &r.tls_cert),
                    ("tls_key", &r.tls_key),
                ]
                .into_iter()
                .filter(|(_, f)| f.is_none())
                .map(|(n, _)| n)
                .collect();
                return Err(err(
                    missing[0],
                    format!(
                        "tls_ca, tls_cert and tls_key go together: {} missing",
                        missing.join(" and ")
                    ),
                ));
            }
        };
        EngineHost::Tcp { addr, tls }
    } else if let Some(rest) = host_text.strip_prefix("ssh://") {
        let (destination, port) = ssh_address(rest).map_err(|m| err("host", m))?;
        if tls_given > 0 || insecure {
            return Err(err(
                "host",
                "an ssh:// engine takes ssh_key and known_hosts, not tls_* or insecure".into(),
            ));
        }
        let key_path = file("ssh_key", r.ssh_key)?.ok_or_else(|| {
            err(
                "ssh_key",
                "an ssh:// engine needs the private key to log in with".into(),
            )
        })?;
        let known_hosts = file("known_hosts", r.known_hosts)?.ok_or_else(|| {
            err(
                "known_hosts",
                "an ssh:// engine needs a known_hosts file holding the engine host's key \
                 (e.g. from ssh-keyscan, checked by hand): no other key is accepted"
                    .into(),
            )
        })?;
        EngineHost::Ssh {
            destination,
            port,
            key: key_path,
            known_hosts,
        }
    } else {
        return Err(err(
            "host",
            format!(
                "{host_text:?} is not unix:///path, tcp://host:port or ssh://[user@]host[:port]"
            ),
        ));
    };
    let remote = !matches!(host, EngineHost::Unix(_) | EngineHost::Default);
    let workspace = match r.workspace {
        Some(WorkspaceMode::Bind) if remote => {
            return Err(err(
                "workspace",
                "\"bind\" needs the engine to see this machine's files, which a tcp:// or \
                 ssh:// engine cannot: use \"copy\""
                    .into(),
            ));
        }
        Some(w) => w,
        None if remote => WorkspaceMode::Copy,
        None => WorkspaceMode::Bind,
    };
    Ok(EngineSettings {
        name,
        host,
        max_jobs,
        labels,
        workspace,
    })
}

/// Reads the file, so one that is missing or unreadable is refused now, with the reason.
fn readable(p: &Path) -> Result<(), String> {
    std::fs::read(p)
        .map(|_| ())
        .map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// `host:port` after `tcp://`: the address as written, and the IP when it is one.
fn tcp_address(rest: &str) -> Result<(Option<IpAddr>, String), String> {
    let bad = || format!("tcp://{rest} is not tcp://host:port (e.g. tcp://10.0.0.5:2376)");
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    let ip = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(IpAddr::V6(v6.parse().map_err(|_| bad())?))
    } else if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        Some(IpAddr::V4(v4))
    } else if is_hostname(host) {
        None
    } else {
        return Err(bad());
    };
    Ok((ip, rest.to_string()))
}

/// `[user@]host[:port]` after `ssh://`: what `ssh` takes as its destination, and the port.
fn ssh_address(rest: &str) -> Result<(String, Option<u16>), String> {
    let bad = || {
        format!("ssh://{rest} is not ssh://[user@]host[:port] (e.g. ssh://ci@build-1.example.com)")
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = user {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if u.is_empty() || u.starts_with('-') || !u.chars().all(ok) {
            return Err(bad());
        }
    }
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or_else(bad)?;
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (v6.to_string(), port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.parse::<IpAddr>().is_err() && !is_hostname(&host) {
        return Err(bad());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad()),
            Ok(22) => None,
            Ok(n) => Some(n),
        },
    };
    let destination = match user {
        Some(u) => format!("{u}@{host}"),
        None => host,
    };
    Ok((destination, port))
}

/// A DNS name: labels of letters, digits and `-`, not starting with `-` (never an option to
/// `ssh`).
fn is_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tcp_addresses() {
        let ok = |s: &str| tcp_address(s).unwrap();
        assert_eq!(
            ok("10.0.0.5:2376"),
            (Some("10.0.0.5".parse().unwrap()), "10.0.0.5:2376".into())
        );
        assert_eq!(ok("[::1]:2375").0, Some("::1".parse().unwrap()));
        assert_eq!(
            ok("build.example.com:2376"),
            (None, "build.example.com:2376".into())
        );
        for bad in [
            "10.0.0.5",
            "10.0.0.5:0",
            "x:y",
            ":2376",
            "a b:1",
            "[::1:2375",
            "u@h:1",
            "-h:1",
        ] {
            assert!(tcp_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_addresses() {
        let ok = |s: &str| ssh_address(s).unwrap();
        assert_eq!(ok("ci@build-1"), ("ci@build-1".into(), None));
        assert_eq!(ok("build-1:2222"), ("build-1".into(), Some(2222)));
        assert_eq!(ok("ci@10.213.0.2:22"), ("ci@10.213.0.2".into(), None));
        assert_eq!(ok("ci@[::1]:2222"), ("ci@::1".into(), Some(2222)));
        for bad in [
            "-oProxyCommand=x",
            "-x@h",
            "ci@",
            "@h",
            "ci@h:x",
            "ci@h/p",
            "a;b",
            "h:0",
            "",
        ] {
            assert!(ssh_address(bad).is_err(), "{bad}");
        }
    }
}
