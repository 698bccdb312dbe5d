//! One job's generation of its cache: copied in from the current one before the job
//! ([`prepare`]), made current if the job succeeded ([`finish`]), its volumes removed otherwise
//! once the job's container is gone ([`release`]).

use super::{
    BASE, BRANCH, CACHE, Entry, GENERATION, HEAD, Kind, PATH, REPO, SAVED, Scope, branch_text,
    entries, heads, key, now_ms, size_text,
};
use crate::jobs::Jobs;
use crate::runner::docker::JOB_LABEL;
use crate::runner::{Engine, Mount};
use std::collections::{HashMap, HashSet};

/// A job's own copy of its cache.
#[derive(Debug)]
pub struct Generation {
    /// The job it is for.
    job: i64,
    key: String,
    repo: String,
    branch: String,
    /// `<job>-<nonce>`: unique, even for a job started again.
    id: String,
    /// The generation it was copied from; empty when the cache was empty.
    base: String,
    /// The job's volumes, to mount read-write.
    pub mounts: Vec<Mount>,
}

/// Copies the current generation of the job's cache into fresh volumes for it; `None` when
/// `.microci.json` asks for no cache. `say` writes a line into the job's log.
pub async fn prepare<E: Engine>(
    jobs: &Jobs<E>,
    job: &microci_proto::Job,
    paths: &[String],
    scope: Scope,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<Option<Generation>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let engine = jobs.engine.as_ref();
    let branch = match scope {
        Scope::Repo => String::new(),
        Scope::Branch => job.git_ref.clone(),
    };
    let key = key(&job.repo, &branch);
    let nonce = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut generation = Generation {
        job: job.id,
        id: format!("{}-{nonce:x}", job.id),
        key,
        repo: job.repo.clone(),
        branch,
        base: String::new(),
        mounts: Vec::new(),
    };
    let from: HashMap<String, (String, i64)> = {
        let _changing = jobs.caches.lock.lock().await;
        // Only what the job's own engine holds (in a pool, each engine keeps its caches).
        let mut all = entries(engine).await.map_err(|e| format!("cache: {e}"))?;
        all.retain(|e| engine.holds(job.id, &e.volume));
        if let Some((_, base, _)) = heads(&all).get(generation.key.as_str()) {
            generation.base = base.to_string();
        }
        jobs.caches.use_generation(&generation.id);
        if !generation.base.is_empty() {
            jobs.caches.use_generation(&generation.base);
        }
        all.into_iter()
            .filter_map(|e| match e.kind {
                Kind::Part {
                    generation: g,
                    path,
                    job,
                    ..
                } if g == generation.base => Some((path, (e.volume, job))),
                _ => None,
            })
            .collect()
    };
    let mut copies = Vec::new();
    let mut copy_mounts = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let labels = HashMap::from([
            (CACHE.to_string(), generation.key.clone()),
            (REPO.to_string(), generation.repo.clone()),
            (BRANCH.to_string(), generation.branch.clone()),
            (PATH.to_string(), path.clone()),
            (GENERATION.to_string(), generation.id.clone()),
            (BASE.to_string(), generation.base.clone()),
            (JOB_LABEL.to_string(), job.id.to_string()),
        ]);
        let suffix = format!("cache-{}-{}-{i}", generation.key, generation.id);
        let volume = match engine.create_volume(job.id, &suffix, labels).await {
            Ok(v) => v,
            Err(e) => {
                release(jobs, generation).await;
                return Err(format!("cache: {e}"));
            }
        };
        if let Some((old, _)) = from.get(path) {
            let n = copies.len();
            copies.push(format!("cp -a /from/{n}/. /to/{n}/"));
            copy_mounts.push(Mount {
                volume: old.clone(),
                path: format!("/from/{n}"),
                read_only: true,
            });
            copy_mounts.push(Mount {
                volume: volume.clone(),
                path: format!("/to/{n}"),
                read_only: false,
            });
        }
        generation.mounts.push(Mount {
            volume,
            path: path.clone(),
            read_only: false,
        });
    }
    if !copies.is_empty() {
        let script = format!("set -e; {}", copies.join("; "));
        if let Err(e) = engine.helper(&script, &copy_mounts).await {
            release(jobs, generation).await;
            return Err(format!("cache: cannot copy the saved cache in: {e}"));
        }
    }
    let whose = match from.values().next() {
        Some((_, job)) => format!("from job {job}"),
        None => "empty: nothing saved yet".to_string(),
    };
    let mut line = format!("cache {}: {whose}", paths.join(", "));
    if !generation.branch.is_empty() {
        line.push_str(&format!(" (branch {})", branch_text(&generation.branch)));
    }
    say(&line);
    Ok(Some(generation))
}

/// Makes the job's generation the current one when the job succeeded, it is trusted (not a
/// fork's pull request) and the cache has not changed since it was copied; then prunes the
/// repository's caches down to `docker.cache_max`. Says what happened in the job's log.
pub async fn finish<E: Engine>(
    jobs: &Jobs<E>,
    generation: &Generation,
    succeeded: bool,
    untrusted: bool,
    say: &mut (dyn FnMut(&str) + Send),
) {
    if !succeeded {
        say("cache not saved: the job did not succeed (the saved cache is unchanged)");
        return;
    }
    if untrusted {
        say("cache not saved: a fork's pull request only reads the cache");
        return;
    }
    let engine = jobs.engine.as_ref();
    let _changing = jobs.caches.lock.lock().await;
    let all = match entries(engine).await {
        Ok(mut a) => {
            a.retain(|e| engine.holds(generation.job, &e.volume));
            a
        }
        Err(e) => return say(&format!("cache not saved: {e}")),
    };
    let current = heads(&all)
        .get(generation.key.as_str())
        .map(|h| h.1.to_string())
        .unwrap_or_default();
    if current == generation.id {
        return say("cache saved");
    }
    if current != generation.base {
        let why = if current.is_empty() {
            "it was cleared while this job ran"
        } else {
            "another job saved it while this job ran"
        };
        return say(&format!("cache not saved: {why}"));
    }
    let labels = HashMap::from([
        (CACHE.to_string(), generation.key.clone()),
        (REPO.to_string(), generation.repo.clone()),
        (BRANCH.to_string(), generation.branch.clone()),
        (HEAD.to_string(), generation.id.clone()),
        (SAVED.to_string(), now_ms().to_string()),
    ]);
    let suffix = format!("cache-{}-head-{}", generation.key, generation.id);
    if let Err(e) = engine.create_volume(generation.job, &suffix, labels).await {
        return say(&format!("cache not saved: {e}"));
    }
    let max = jobs.config().docker.cache_max;
    let note = match super::admin::fit(jobs, &generation.repo, &generation.key, max).await {
        Ok(fit) => fit,
        Err(e) => {
            tracing::warn!("cannot measure the caches of {}: {e}", generation.repo);
            super::admin::Fit::default()
        }
    };
    match note.own {
        Some(size) if note.dropped_own => say(&format!(
            "cache dropped: at {} it is over docker.cache_max ({}) on its own",
            size_text(size),
            size_text(max)
        )),
        Some(size) => say(&format!("cache saved ({})", size_text(size))),
        None => say("cache saved"),
    }
    for other in &note.pruned {
        say(&format!(
            "cache of {other} removed (least recently saved) to keep {}'s caches under \
             docker.cache_max ({})",
            generation.repo,
            size_text(max)
        ));
    }
    let mut keys: Vec<&str> = note.keys.iter().map(String::as_str).collect();
    keys.push(&generation.key);
    super::admin::collect(jobs, &keys, &HashSet::new()).await;
}

/// Lets go of a job's generation once its container is gone: removes its volumes unless it was
/// saved, and whatever of its cache no one uses any more.
pub async fn release<E: Engine>(jobs: &Jobs<E>, generation: Generation) {
    jobs.caches.release(&generation.id);
    if !generation.base.is_empty() {
        jobs.caches.release(&generation.base);
    }
    let _changing = jobs.caches.lock.lock().await;
    super::admin::collect(jobs, &[generation.key.as_str()], &HashSet::new()).await;
}

/// The generation a previous daemon made for job `id`, for a re-attached job to finish.
pub async fn adopt<E: Engine>(jobs: &Jobs<E>, id: i64) -> Option<Generation> {
    let all = match entries(jobs.engine.as_ref()).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(job_id = id, "cannot list cache volumes: {e}");
            return None;
        }
    };
    let mut found: Option<Generation> = None;
    for Entry {
        volume,
        key,
        repo,
        branch,
        kind,
    } in all
    {
        let Kind::Part {
            generation,
            base,
            path,
            job,
        } = kind
        else {
            continue;
        };
        if job != id {
            continue;
        }
        let g = found.get_or_insert_with(|| Generation {
            job: id,
            key,
            repo,
            branch,
            id: generation,
            base,
            mounts: Vec::new(),
        });
        g.mounts.push(Mount {
            volume,
            path,
            read_only: false,
        });
    }
    if let Some(g) = &found {
        jobs.caches.use_generation(&g.id);
        if !g.base.is_empty() {
            jobs.caches.use_generation(&g.base);
        }
    }
    found
}

/// [`release`] for a generation that may not exist.
pub async fn discard<E: Engine>(jobs: &Jobs<E>, generation: Option<Generation>) {
    if let Some(g) = generation {
        release(jobs, g).await;
    }
}
