//! Leaving nothing behind: the processes of a namespace and their descendants (containerd, the
//! shims and the containers they hold), the mounts under an Engine's directory, and the
//! namespaces that test runs killed half-way left behind ([`sweep_stale`]).

use super::command::run;
use super::netns::{BASE_DIR, PREFIX};
use rustix::process::{Pid, Signal, kill_process};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether `pid` is a live process (a zombie counts as dead: it only waits to be reaped).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Sends `signal` to `pid`; an absent process is not an error.
pub fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, signal);
    }
}

/// Waits up to `limit` for every pid in `pids` to be dead; whether they all are.
pub fn wait_dead(pids: &[u32], limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if pids.iter().all(|p| !alive(*p)) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `pid -> parent pid` for every process.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The processes in namespace `ns` and all their descendants (containers live in namespaces
/// of their own, under a shim that lives in `ns`).
pub fn processes_of(ns: &str) -> Vec<u32> {
    let Ok(listed) = run(Command::new("ip").args(["netns", "pids", ns])) else {
        return Vec::new();
    };
    let mut found: HashSet<u32> = listed
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let parents = parents();
    loop {
        let more: Vec<u32> = parents
            .iter()
            .filter(|(pid, ppid)| found.contains(ppid) && !found.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            break;
        }
        found.extend(more);
    }
    found.into_iter().filter(|p| alive(*p)).collect()
}

/// SIGKILLs everything [`processes_of`] finds in `ns` and waits (bounded) for it to die; what
/// is still alive after 10 s.
pub fn kill_namespace(ns: &str) -> Vec<u32> {
    let pids = processes_of(ns);
    for pid in &pids {
        signal(*pid, Signal::KILL);
    }
    wait_dead(&pids, Duration::from_secs(10));
    pids.into_iter().filter(|p| alive(*p)).collect()
}

/// The cgroup directories named `name` in every hierarchy (cgroup v1 and v2).
pub fn cgroups_named(name: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut bases = vec![root.to_path_buf()];
    if let Ok(dir) = std::fs::read_dir(root) {
        bases.extend(dir.flatten().map(|e| e.path()));
    }
    bases
        .iter()
        .map(|b| b.join(name))
        .filter(|p| p.is_dir())
        .collect()
}

/// Removes the (empty, once their processes are dead) cgroups named `name` in every hierarchy,
/// children first: dockerd's `--cgroup-parent` and the containers' cgroups under it. Only
/// directories are removed, which is all cgroupfs allows.
pub fn remove_cgroups(name: &str) {
    for parent in cgroups_named(name) {
        if let Ok(children) = std::fs::read_dir(&parent) {
            for child in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        let _ = std::fs::remove_dir(&parent);
    }
}

/// Mount points at or under `dir` in this mount namespace, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().trim_end_matches('/').to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(String::from)
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.len()));
    found.dedup();
    found
}

/// Unmounts (lazily) everything under `dir`, then removes it.
pub fn remove_dir(dir: &Path) {
    for _ in 0..3 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            break;
        }
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).output();
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes what test runs that died without dropping their Engines left: the namespaces named
/// `mcitest-<pid>-<n>` whose `<pid>` is no longer alive (their processes killed, then the
/// namespace and its link deleted, their cgroups removed) and the directories `BASE_DIR/<pid>-…` of such runs.
/// Namespaces and directories of live processes, and anything not named so, are never touched.
pub fn sweep_stale() {
    let dead = |pid: &str| pid.parse::<u32>().is_ok_and(|p| !alive(p));
    let listed = run(Command::new("ip").args(["netns", "list"])).unwrap_or_default();
    for ns in listed.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(rest) = ns.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        if !dead(pid) {
            continue;
        }
        kill_namespace(ns);
        remove_cgroups(ns);
        // The host end of its veth goes with the namespace.
        let _ = run(Command::new("ip").args(["netns", "del", ns]));
    }
    let Ok(dir) = std::fs::read_dir(BASE_DIR) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name
            .split_once('-')
            .is_some_and(|(pid, _)| dead(pid) && !name.starts_with('.'))
        {
            remove_dir(&entry.path());
        }
    }
}
