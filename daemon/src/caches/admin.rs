//! Looking after the saved caches: measuring them, keeping a repository's under
//! `docker.cache_max`, listing and clearing them (`microci-tui cache`), and removing volumes no
//! head names and no running job uses.

use super::{Entry, Kind, branch_text, entries, heads};
use crate::jobs::Jobs;
use crate::runner::{Engine, EngineError, Mount};
use microci_proto::CacheInfo;
use std::collections::{HashMap, HashSet};

/// What [`fit`] did.
#[derive(Debug, Default)]
pub(super) struct Fit {
    /// The saved cache's size, when measured.
    pub own: Option<u64>,
    /// It was over the cap on its own and was dropped.
    pub dropped_own: bool,
    /// Other caches of the repository removed, by name for people.
    pub pruned: Vec<String>,
    /// The keys of every cache removed, whose volumes can go.
    pub keys: Vec<String>,
}

/// Keeps `repo`'s caches at or under `max` bytes (0: no limit) after cache `own` was saved: the
/// least recently saved others go first, then `own` itself if it alone is over. Call with the
/// lock held.
pub(super) async fn fit<E: Engine>(
    jobs: &Jobs<E>,
    repo: &str,
    own: &str,
    max: u64,
) -> Result<Fit, EngineError> {
    let engine = jobs.engine.as_ref();
    let all = entries(engine).await?;
    let current = heads(&all);
    let mut caches: Vec<(&str, &str, i64, &str)> = current
        .iter()
        .filter(|(_, h)| h.0.repo == repo)
        .map(|(key, h)| (*key, h.1, h.2, h.0.branch.as_str()))
        .collect();
    let parts: Vec<&Entry> = all
        .iter()
        .filter(|e| matches!(&e.kind, Kind::Part { generation, .. } if caches.iter().any(|c| c.1 == generation)))
        .collect();
    let sizes = measure(engine, &parts).await?;
    let size_of = |generation: &str| -> u64 {
        parts
            .iter()
            .filter(|p| matches!(&p.kind, Kind::Part { generation: g, .. } if g == generation))
            .map(|p| sizes.get(&p.volume).copied().unwrap_or(0))
            .sum()
    };
    let mut fit = Fit {
        own: caches.iter().find(|c| c.0 == own).map(|c| size_of(c.1)),
        ..Fit::default()
    };
    if max == 0 {
        return Ok(fit);
    }
    let mut total: u64 = caches.iter().map(|c| size_of(c.1)).sum();
    // Oldest first; the cache just saved last of all.
    caches.sort_by_key(|c| (c.0 == own, c.2));
    let mut gone = Vec::new();
    for (key, generation, _, branch) in &caches {
        if total <= max {
            break;
        }
        total = total.saturating_sub(size_of(generation));
        gone.push(*key);
        fit.keys.push(key.to_string());
        if *key == own {
            fit.dropped_own = true;
        } else if branch.is_empty() {
            fit.pruned.push("the repository".into());
        } else {
            fit.pruned.push(format!("branch {}", branch_text(branch)));
        }
    }
    for key in &gone {
        remove_heads(engine, &all, key).await;
    }
    Ok(fit)
}

/// Removes every head of `key`: the cache is empty from now on.
async fn remove_heads<E: Engine>(engine: &E, all: &[Entry], key: &str) {
    for e in all {
        if e.key == key
            && matches!(e.kind, Kind::Head { .. })
            && let Err(err) = engine.remove_volume(&e.volume).await
        {
            tracing::warn!("cannot remove cache volume {}: {err}", e.volume);
        }
    }
}

/// Sizes of the volumes of `parts`, in bytes, measured by `du` in one helper container.
async fn measure<E: Engine>(
    engine: &E,
    parts: &[&Entry],
) -> Result<HashMap<String, u64>, EngineError> {
    if parts.is_empty() {
        return Ok(HashMap::new());
    }
    let mounts: Vec<Mount> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| Mount {
            volume: p.volume.clone(),
            path: format!("/v/{i}"),
            read_only: true,
        })
        .collect();
    let dirs: Vec<&str> = mounts.iter().map(|m| m.path.as_str()).collect();
    let output = engine
        .helper(&format!("du -sk {}", dirs.join(" ")), &mounts)
        .await?;
    let mut sizes = HashMap::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        let (Some(kib), Some(dir)) = (words.next(), words.next()) else {
            continue;
        };
        let index = dir
            .strip_prefix("/v/")
            .and_then(|i| i.parse::<usize>().ok());
        if let (Ok(kib), Some(p)) = (kib.parse::<u64>(), index.and_then(|i| parts.get(i))) {
            sizes.insert(p.volume.clone(), kib * 1024);
        }
    }
    Ok(sizes)
}

/// Removes the volumes of `keys` (all keys when empty) that are not current and that no running
/// job (nor a job in `keep`) uses: old heads, failed and superseded generations. Call with the
/// lock held.
pub(super) async fn collect<E: Engine>(jobs: &Jobs<E>, keys: &[&str], keep: &HashSet<i64>) {
    let engine = jobs.engine.as_ref();
    let all = match entries(engine).await {
        Ok(a) => a,
        Err(e) => return tracing::warn!("cannot list cache volumes: {e}"),
    };
    let current = heads(&all);
    for e in &all {
        if !keys.is_empty() && !keys.contains(&e.key.as_str()) {
            continue;
        }
        let head = current.get(e.key.as_str());
        let stale = match &e.kind {
            Kind::Head { .. } => head.is_some_and(|h| h.0.volume != e.volume),
            Kind::Part {
                generation, job, ..
            } => {
                head.is_none_or(|h| h.1 != generation)
                    && !jobs.caches.is_used(generation)
                    && !keep.contains(job)
            }
        };
        if stale {
            match engine.remove_volume(&e.volume).await {
                Ok(true) => tracing::debug!("removed cache volume {}", e.volume),
                Ok(false) => tracing::debug!("cache volume {} is still in use", e.volume),
                Err(err) => tracing::warn!("cannot remove cache volume {}: {err}", e.volume),
            }
        }
    }
}

/// At start, before any job runs: removes cache volumes of jobs that ended while no daemon
/// watched them (and stale heads), keeping those of the jobs in `keep` (re-attached).
pub async fn sweep<E: Engine>(jobs: &Jobs<E>, keep: &HashSet<i64>) {
    let _changing = jobs.caches.lock.lock().await;
    collect(jobs, &[], keep).await;
}

/// The saved caches, of `repo` or of all repositories, with their sizes.
pub async fn list<E: Engine>(
    jobs: &Jobs<E>,
    repo: Option<&str>,
) -> Result<Vec<CacheInfo>, EngineError> {
    let engine = jobs.engine.as_ref();
    let all = entries(engine).await?;
    let current = heads(&all);
    let mut caches = Vec::new();
    let mut parts: Vec<&Entry> = Vec::new();
    for (head, generation, saved) in current.values() {
        if repo.is_some_and(|r| r != head.repo) {
            continue;
        }
        let mine: Vec<&Entry> = all
            .iter()
            .filter(|e| matches!(&e.kind, Kind::Part { generation: g, .. } if g == generation))
            .collect();
        let (mut paths, mut job) = (Vec::new(), 0);
        for p in &mine {
            if let Kind::Part { path, job: j, .. } = &p.kind {
                paths.push(path.clone());
                job = *j;
            }
        }
        paths.sort();
        let saved_at = time::OffsetDateTime::from_unix_timestamp_nanos(*saved as i128 * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        caches.push((
            CacheInfo {
                repo: head.repo.clone(),
                branch: (!head.branch.is_empty()).then(|| head.branch.clone()),
                paths,
                size: 0,
                saved_at,
                job,
            },
            mine.iter().map(|p| p.volume.clone()).collect::<Vec<_>>(),
        ));
        parts.extend(mine);
    }
    let sizes = measure(engine, &parts).await?;
    let mut out: Vec<CacheInfo> = caches
        .into_iter()
        .map(|(mut info, volumes)| {
            info.size = volumes.iter().filter_map(|v| sizes.get(v)).sum();
            info
        })
        .collect();
    out.sort_by(|a, b| (&a.repo, &a.branch).cmp(&(&b.repo, &b.branch)));
    Ok(out)
}

/// Removes `repo`'s saved caches (only branch `branch`'s when given: `main` or a full ref);
/// returns how many. Volumes a running job still copies from go when it ends.
pub async fn clear<E: Engine>(
    jobs: &Jobs<E>,
    repo: &str,
    branch: Option<&str>,
) -> Result<u64, EngineError> {
    let branch = branch.map(|b| {
        if b.starts_with("refs/") {
            b.to_string()
        } else {
            format!("refs/heads/{b}")
        }
    });
    let engine = jobs.engine.as_ref();
    let _changing = jobs.caches.lock.lock().await;
    let all = entries(engine).await?;
    let keys: Vec<String> = heads(&all)
        .values()
        .filter(|h| h.0.repo == repo && branch.as_ref().is_none_or(|b| *b == h.0.branch))
        .map(|h| h.0.key.clone())
        .collect();
    for key in &keys {
        remove_heads(engine, &all, key).await;
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    if !keys.is_empty() {
        collect(jobs, &keys, &HashSet::new()).await;
    }
    Ok(keys.len() as u64)
}
