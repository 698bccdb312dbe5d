//! Job caches (`"cache"` in `.microci.json`): directories kept from one job of a repository (or
//! of one branch of it) to the next, in Docker volumes of this installation.
//!
//! A job never writes into the cache the next job reads. Each cache is a chain of *generations*:
//! before a job runs, the current generation is copied into fresh volumes (by a helper container
//! of the trusted `docker.helper_image`), and the job mounts those. Only if the job succeeds —
//! and is not a fork's pull request — does its generation become the current one, and only if the
//! cache did not change meanwhile (compare and swap: of two jobs that started from the same
//! generation, the first to succeed wins; a cache cleared meanwhile stays cleared). A failed,
//! cancelled or timed-out job's volumes are removed.
//!
//! Which generation is current is recorded by a *head*: an empty volume whose labels name the
//! generation and when it was saved; it is created before the old head goes, so a crash at any
//! point leaves either the old or the new cache whole. Volumes that no head names and no running
//! job uses are removed at the next save, clear or start of the daemon. `docker.cache_max` bounds
//! the sum of a repository's caches: after a save, the least recently saved caches of the
//! repository go until it fits; a cache alone over the cap is dropped, and its job's log says so.

mod admin;
mod generation;

pub use admin::{clear, list, sweep};
pub use generation::{Generation, adopt, discard, finish, prepare, release};

use crate::runner::Volume;
use serde::Deserialize;
use std::collections::HashMap;

/// Most cache directories one job may ask for.
pub const MAX_PATHS: usize = 8;

/// Whether branches share a cache (`"cache_scope"` in `.microci.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One cache per repository (the default).
    #[default]
    Repo,
    /// One cache per branch (per ref: tags and pull requests each get their own).
    Branch,
}

/// Label on every cache volume: the cache's key (repository and branch, hashed).
const CACHE: &str = "microci.cache";
/// The repository's full name.
const REPO: &str = "microci.cache.repo";
/// The ref of a per-branch cache; empty for a repository's.
const BRANCH: &str = "microci.cache.branch";
/// On a generation's volume: the directory it is mounted at.
const PATH: &str = "microci.cache.path";
/// On a generation's volume: the generation (`<job>-<nonce>`).
const GENERATION: &str = "microci.cache.generation";
/// On a generation's volume: the generation it was copied from (empty: none).
const BASE: &str = "microci.cache.base";
/// On a head: the generation that is current.
const HEAD: &str = "microci.cache.head";
/// On a head: when it was saved, in Unix milliseconds (the newest head of a key wins; the
/// least recently saved cache of a repository is pruned first).
const SAVED: &str = "microci.cache.saved";

/// Checks the `"cache"` directories: absolute, clean, not `/`, not `/repo` or in it, not a
/// kernel file system, not inside one another, at most [`MAX_PATHS`]. Returns them without a
/// trailing slash.
pub fn paths(raw: Vec<String>) -> Result<Vec<String>, String> {
    if raw.len() > MAX_PATHS {
        return Err(format!(
            "\"cache\" lists {} directories; at most {MAX_PATHS} are allowed",
            raw.len()
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for p in raw {
        let bad = |why: &str| Err(format!("\"cache\" entry {p:?} {why}"));
        if !p.starts_with('/') {
            return bad("is not an absolute path");
        }
        if p.len() > 255 {
            return bad("is longer than 255 bytes");
        }
        if let Some(c) = p
            .chars()
            .find(|c| c.is_control() || matches!(c, ':' | ',' | '\\'))
        {
            return bad(&format!("contains the character {c:?}"));
        }
        let clean = p.trim_end_matches('/');
        if clean.is_empty() {
            return bad("is \"/\", the whole file system");
        }
        if clean[1..]
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return bad("is not a clean path (empty, \".\" or \"..\" parts)");
        }
        for reserved in ["/repo", "/proc", "/sys", "/dev"] {
            if within(clean, reserved) {
                return bad(&format!("is {reserved} or inside it"));
            }
        }
        if out.iter().any(|o| o == clean) {
            return bad("is listed twice");
        }
        if let Some(o) = out.iter().find(|o| within(clean, o) || within(o, clean)) {
            return bad(&format!("is inside {o:?}, or it inside it"));
        }
        out.push(clean.to_string());
    }
    Ok(out)
}

/// Whether `path` is `dir` or under it.
fn within(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The key of the cache of `repo` (and `branch`, for a per-branch cache): hex, safe in a
/// volume name whatever the names hold.
fn key(repo: &str, branch: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{repo}\0{branch}").as_bytes());
    hex::encode(&digest[..8])
}

/// What the daemon keeps in memory: one lock for every change of which generation is current,
/// and the generations running jobs use (their own, and the one they copy from), which no
/// clean-up may remove.
#[derive(Default)]
pub struct Caches {
    lock: tokio::sync::Mutex<()>,
    in_use: std::sync::Mutex<HashMap<String, usize>>,
}

impl Caches {
    fn use_generation(&self, generation: &str) {
        *self.uses().entry(generation.to_string()).or_default() += 1;
    }

    fn release(&self, generation: &str) {
        let mut uses = self.uses();
        if let Some(n) = uses.get_mut(generation) {
            *n -= 1;
            if *n == 0 {
                uses.remove(generation);
            }
        }
    }

    fn is_used(&self, generation: &str) -> bool {
        self.uses().contains_key(generation)
    }

    fn uses(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.in_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A cache volume, read from its labels.
#[derive(Debug, Clone)]
struct Entry {
    volume: String,
    key: String,
    repo: String,
    branch: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Names the current generation of its key.
    Head { generation: String, saved: i64 },
    /// One directory of a generation.
    Part {
        generation: String,
        base: String,
        path: String,
        job: i64,
    },
}

impl Entry {
    fn read(v: Volume) -> Option<Entry> {
        let l = &v.labels;
        let get = |k: &str| l.get(k).cloned();
        let kind = match get(HEAD) {
            Some(generation) => Kind::Head {
                generation,
                saved: get(SAVED)?.parse().ok()?,
            },
            None => Kind::Part {
                generation: get(GENERATION)?,
                base: get(BASE).unwrap_or_default(),
                path: get(PATH)?,
                job: get(crate::runner::docker::JOB_LABEL)?.parse().ok()?,
            },
        };
        Some(Entry {
            key: get(CACHE)?,
            repo: get(REPO)?,
            branch: get(BRANCH).unwrap_or_default(),
            volume: v.name,
            kind,
        })
    }
}

/// Every cache volume of this installation, understood.
async fn entries<E: crate::runner::Engine>(
    engine: &E,
) -> Result<Vec<Entry>, crate::runner::EngineError> {
    Ok(engine
        .volumes(CACHE)
        .await?
        .into_iter()
        .filter_map(Entry::read)
        .collect())
}

/// The current head of each key: the newest.
fn heads(entries: &[Entry]) -> HashMap<&str, (&Entry, &str, i64)> {
    let mut heads: HashMap<&str, (&Entry, &str, i64)> = HashMap::new();
    for e in entries {
        if let Kind::Head { generation, saved } = &e.kind {
            let newer = heads.get(e.key.as_str()).is_none_or(|h| *saved > h.2);
            if newer {
                heads.insert(&e.key, (e, generation, *saved));
            }
        }
    }
    heads
}

/// `12345` → `12.1 KiB`, for logs.
pub(crate) fn size_text(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `refs/heads/main` → `main`, for people.
fn branch_text(branch: &str) -> &str {
    branch.strip_prefix("refs/heads/").unwrap_or(branch)
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_checked() {
        let ok = paths(vec![
            "/root/.cargo/registry/".into(),
            "/app/node_modules".into(),
        ]);
        assert_eq!(ok.unwrap(), ["/root/.cargo/registry", "/app/node_modules"]);
        assert!(paths(vec!["/repository".into()]).is_ok());
        assert!(paths(vec!["/repo".into()]).is_err());
        assert!(paths(vec!["/a/./b".into()]).is_err());
        assert!(paths(vec!["/a//b".into()]).is_err());
        assert!(paths(vec!["//".into()]).is_err());
        assert!(paths(vec!["/a\nb".into()]).is_err());
    }

    #[test]
    fn keys_differ_by_repo_and_branch_and_are_name_safe() {
        let a = key("alice/app", "");
        assert_eq!(a, key("alice/app", ""));
        assert_ne!(a, key("alice/app", "refs/heads/main"));
        assert_ne!(a, key("bob/app", ""));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(10), "10 bytes");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(5 << 30), "5.0 GiB");
    }
}
