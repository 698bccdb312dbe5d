//! `[docker]`: what every job container gets — limits, time, log size, capabilities — and the
//! trusted helper image the daemon's own containers (workspace clean-up) run.

use super::credentials::KeyError;
use super::raw::RawDocker;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

/// How the checkout reaches the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceMode {
    /// Bind-mount the workspace directory at `/repo` (the Engine shares our filesystem).
    Bind,
    /// Copy the checkout in through the Engine's archive API (a remote Engine).
    Copy,
}

/// What happens to running jobs when the daemon stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStop {
    /// Containers keep running; the daemon started again re-attaches to them.
    Detach,
    /// Containers are stopped and removed; their jobs end CANCELED.
    Cancel,
}

/// Limits and placement for job containers.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// Jobs running at once.
    pub max_jobs: usize,
    /// Image when `.microci.json` names none.
    pub default_image: String,
    /// Image of the daemon's own helper containers (workspace clean-up): trusted, never a job's.
    pub helper_image: String,
    /// How long a helper container may run before it is removed.
    pub helper_timeout: Duration,
    /// Engine address (`unix:///…`, `tcp://…`); unset uses `DOCKER_HOST` or the local socket.
    pub host: Option<String>,
    /// Bind mount or archive copy.
    pub workspace: WorkspaceMode,
    /// Memory limit in bytes (0 = none).
    pub memory: i64,
    /// CPU limit in nano-CPUs (0 = none).
    pub nano_cpus: i64,
    /// Process limit (0 = none).
    pub pids: i64,
    /// Default job timeout (also bounds the clone).
    pub timeout: Duration,
    /// The longest timeout `.microci.json` may ask for.
    pub max_timeout: Duration,
    /// How long a cancelled job gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// How often every engine is pinged; one that does not answer within it is down.
    pub engine_ping: Duration,
    /// How long the jobs of a down engine wait for it before they end ERRORED "engine lost".
    pub engine_down_timeout: Duration,
    /// Whether running jobs outlive a stopping daemon.
    pub on_stop: OnStop,
    /// Most bytes of one job's output kept in its log (0 = no limit).
    pub max_log: u64,
    /// Most bytes of artifacts kept per job; collection stops at it.
    pub max_artifacts: u64,
    /// Docker network mode for jobs (unset: the Engine's default bridge).
    pub network: Option<String>,
    /// Extra labels on every job container (for the operator's own tooling).
    pub labels: HashMap<String, String>,
    /// Capabilities added to job containers (Docker's names, without `CAP_`).
    pub cap_add: Vec<String>,
    /// Capabilities dropped from job containers.
    pub cap_drop: Vec<String>,
    /// Most bytes the caches of one repository keep (`"cache"` in `.microci.json`); the least
    /// recently saved go first (0 = no limit).
    pub cache_max: u64,
}

/// Capabilities Docker gives containers by default; only these may be dropped or re-added freely.
const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Every other capability Linux has: adding one widens what hostile job code can do to the host.
const EXTRA_CAPS: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "DAC_READ_SEARCH",
    "IPC_LOCK",
    "IPC_OWNER",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "NET_ADMIN",
    "NET_BROADCAST",
    "PERFMON",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// `"cap_net_raw"` → `"NET_RAW"`; `None` for a name Linux does not have.
fn capability(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
    (bare == "ALL" || DEFAULT_CAPS.contains(&bare.as_str()) || EXTRA_CAPS.contains(&bare.as_str()))
        .then_some(bare)
}

/// Parses `"512m"`, `"2g"`, `"1048576"` (binary units) into bytes.
pub(super) fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0 && n * (mult as f64) < i64::MAX as f64).then_some((n * mult as f64) as i64)
}

/// Parses a duration like `"30m"`, naming the key when it is not one.
pub(super) fn duration(
    key: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, KeyError> {
    match value {
        None => Ok(default),
        Some(v) => humantime::parse_duration(&v).map_err(|e| {
            (
                key.to_string(),
                format!("{v:?} is not a duration like \"30m\": {e}"),
            )
        }),
    }
}

/// Validates `[docker]`; the second value says whether dangerous capabilities were forced (a
/// warning for `status`).
pub(super) fn docker_settings(d: RawDocker) -> Result<(DockerSettings, bool), KeyError> {
    let invalid = |key: &str, message: String| (format!("docker.{key}"), message);
    let max_jobs = d.max_jobs.unwrap_or(2);
    if max_jobs == 0 {
        return Err(invalid("max_jobs", "must be at least 1".into()));
    }
    let size = |key: &str, value: Option<String>, default: i64| match value.as_deref() {
        None => Ok(default),
        Some(m) => parse_bytes(m)
            .ok_or_else(|| invalid(key, format!("{m:?} is not a size like \"512m\" or \"2g\""))),
    };
    let memory = size("memory", d.memory, 2 << 30)?;
    let max_log = size("max_log", d.max_log, 64 << 20)? as u64;
    let max_artifacts = size("max_artifacts", d.max_artifacts, 500 << 20)? as u64;
    let cache_max = size("cache_max", d.cache_max, 5 << 30)? as u64;
    let cpus = d.cpus.unwrap_or(1.0);
    if !(0.0..=1024.0).contains(&cpus) {
        return Err(invalid("cpus", format!("{cpus} is out of range")));
    }
    let pids = d.pids.unwrap_or(1024);
    if pids < 0 {
        return Err(invalid("pids", "must not be negative".into()));
    }
    let timeout = duration("docker.timeout", d.timeout, Duration::from_secs(3600))?;
    let max_timeout = duration(
        "docker.max_timeout",
        d.max_timeout,
        Duration::from_secs(3 * 3600),
    )?;
    if timeout > max_timeout {
        return Err(invalid(
            "timeout",
            format!(
                "{} is longer than docker.max_timeout ({})",
                humantime::format_duration(timeout),
                humantime::format_duration(max_timeout)
            ),
        ));
    }
    let stop_grace = duration("docker.stop_grace", d.stop_grace, Duration::from_secs(10))?;
    let engine_ping = duration("docker.engine_ping", d.engine_ping, Duration::from_secs(5))?;
    let engine_down_timeout = duration(
        "docker.engine_down_timeout",
        d.engine_down_timeout,
        Duration::from_secs(600),
    )?;
    let helper_timeout = duration(
        "docker.helper_timeout",
        d.helper_timeout,
        Duration::from_secs(120),
    )?;
    let labels = d.labels.unwrap_or_default();
    if let Some(k) = labels.keys().find(|k| k.starts_with("microci.")) {
        return Err(invalid(
            "labels",
            format!("{k:?}: labels starting with \"microci.\" are the daemon's own"),
        ));
    }
    let caps = |key: &str, names: Vec<String>| -> Result<Vec<String>, KeyError> {
        names
            .iter()
            .map(|n| {
                capability(n)
                    .ok_or_else(|| invalid(key, format!("{n:?} is not a Linux capability")))
            })
            .collect()
    };
    let cap_add = caps("cap_add", d.cap_add.unwrap_or_default())?;
    let forced = d.allow_dangerous_caps.unwrap_or(false);
    if let Some(c) = cap_add
        .iter()
        .find(|c| !DEFAULT_CAPS.contains(&c.as_str()))
        .filter(|_| !forced)
    {
        return Err(invalid(
            "cap_add",
            format!(
                "{c} gives job code power over the host; set docker.allow_dangerous_caps = true \
                 if you really mean it"
            ),
        ));
    }
    let mut cap_drop = caps(
        "cap_drop",
        d.cap_drop.unwrap_or_else(|| vec!["NET_RAW".into()]),
    )?;
    cap_drop.retain(|c| !cap_add.contains(c));
    let default_image = d
        .default_image
        .unwrap_or_else(|| "debian:stable-slim".into());
    let settings = DockerSettings {
        max_jobs: max_jobs as usize,
        helper_image: d.helper_image.unwrap_or_else(|| default_image.clone()),
        helper_timeout,
        default_image,
        host: d.host,
        workspace: d.workspace.unwrap_or(WorkspaceMode::Bind),
        memory,
        nano_cpus: (cpus * 1e9) as i64,
        pids,
        timeout,
        max_timeout,
        stop_grace,
        engine_ping,
        engine_down_timeout,
        on_stop: d.on_stop.unwrap_or(OnStop::Detach),
        max_log,
        max_artifacts,
        network: d.network,
        labels,
        cap_add,
        cap_drop,
        cache_max,
    };
    let dangerous = forced
        && settings
            .cap_add
            .iter()
            .any(|c| !DEFAULT_CAPS.contains(&c.as_str()));
    Ok((settings, dangerous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_bytes("-1"), None);
        assert_eq!(parse_bytes("99999999999t"), None);
    }

    #[test]
    fn capability_names() {
        assert_eq!(capability("cap_net_raw").as_deref(), Some("NET_RAW"));
        assert_eq!(capability("SYS_ADMIN").as_deref(), Some("SYS_ADMIN"));
        assert_eq!(capability("all").as_deref(), Some("ALL"));
        assert_eq!(capability("NOPE"), None);
    }
}
