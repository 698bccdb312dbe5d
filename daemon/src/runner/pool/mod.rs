//! Several engines behind one [`Engine`]: the scheduler sees one backend, and the pool decides
//! where each job goes ([`place`]), remembers it, and sends every call about the job's
//! containers and volumes to that engine. A container is recorded as `<engine>/<id>` (an id
//! without `/`, recorded before pools existed, is the first engine's), a volume as
//! `<engine>/<name>`. Health ([`health`]) is a ping per engine on a period: an engine that does
//! not answer is down, gets no new jobs, and its running jobs wait for it.

mod erased;
mod health;
mod place;
#[cfg(test)]
mod tests;

use super::{
    ArchiveStream, Engine, EngineError, Found, JobSpec, Mount, OutputStream, Placed, Placement,
    Resume, Room, ServiceExit, Volume,
};
use crate::config::{EngineSettings, WorkspaceMode};
use erased::{AnyHandle, Erased};
use microci_proto::EngineInfo;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The engines jobs run on.
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    members: Vec<Member>,
    state: Mutex<State>,
    /// Woken when a waiting job may be placed now.
    changed: Notify,
    /// How often each engine is pinged (`docker.engine_ping`).
    ping_every: Duration,
    /// The pool is `[docker]`'s one engine: its `max_jobs` follows `docker.max_jobs` on reload.
    implicit: bool,
}

/// One engine of the pool: what the configuration says of it, and the engine itself.
struct Member {
    name: String,
    host: String,
    labels: Vec<String>,
    workspace: WorkspaceMode,
    engine: Box<dyn Erased>,
    /// Whether it answered its last ping; the jobs running on it watch this.
    up: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    /// The engine (index) of every job placed and not yet released.
    placed: HashMap<i64, usize>,
    members: Vec<Health>,
    /// The engine that holds each repository's cache, as far as this run of the daemon knows.
    affinity: HashMap<String, usize>,
    /// Jobs told to wait for an engine: they will not take room an engine has for others.
    waiting: HashSet<i64>,
    /// The `"runs_on"` of jobs sent back to the queue to wait for an engine, until one is placed:
    /// the queue passes them over while no engine they need has room ([`Engine::ready`]).
    parked: HashMap<i64, Vec<String>>,
}

/// What the pool knows of one engine now.
#[derive(Default)]
struct Health {
    max_jobs: usize,
    down: Option<Down>,
    drained: bool,
    version: Option<String>,
    /// Images it was seen to hold.
    images: HashSet<String>,
    /// It answered the last listing of containers.
    listed: bool,
}

/// Since when and why an engine does not answer.
#[derive(Clone)]
struct Down {
    since: Instant,
    at: time::OffsetDateTime,
    error: String,
}

/// A container on one engine of the pool.
pub struct PoolHandle {
    member: usize,
    inner: AnyHandle,
}

/// An engine to add to a [`Pool`], with its settings.
pub struct Entry {
    settings: EngineSettings,
    engine: Box<dyn Erased>,
}

impl Entry {
    /// `engine`, as `settings` describe it.
    pub fn new<E: Engine>(settings: EngineSettings, engine: E) -> Entry {
        Entry {
            settings,
            engine: Box::new(engine),
        }
    }
}

impl Pool {
    /// A pool of `entries` (at least one), pinged every `ping_every` once [`Engine::monitor`]
    /// runs. Engines are taken to be up until a ping says otherwise. `implicit`: the one engine
    /// `[docker]` describes.
    pub fn new(entries: Vec<Entry>, ping_every: Duration, implicit: bool) -> Pool {
        let mut members = Vec::new();
        let mut state = State::default();
        for e in entries {
            state.members.push(Health {
                max_jobs: e.settings.max_jobs,
                listed: true,
                ..Health::default()
            });
            members.push(Member {
                name: e.settings.name,
                host: e.settings.host.display(),
                labels: e.settings.labels,
                workspace: e.settings.workspace,
                engine: e.engine,
                up: watch::channel(true).0,
            });
        }
        Pool {
            inner: Arc::new(Inner {
                members,
                state: Mutex::new(state),
                changed: Notify::new(),
                ping_every,
                implicit,
            }),
        }
    }

    /// The pool a configuration describes: a Docker Engine client per `[[engine]]` (or the one
    /// `[docker]` describes), all named after this installation.
    pub fn for_config(config: &crate::config::Config) -> Pool {
        let entries = config
            .engines
            .iter()
            .map(|e| {
                Entry::new(
                    e.clone(),
                    super::docker::DockerEngine::for_config(config, e),
                )
            })
            .collect();
        let implicit =
            config.engines.len() == 1 && config.engines[0].name == crate::config::IMPLICIT_ENGINE;
        Pool::new(entries, config.docker.engine_ping, implicit)
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn member(&self, i: usize) -> &Member {
        &self.members[i.min(self.members.len() - 1)]
    }

    /// The engine and its own id of a recorded container (`<engine>/<id>`).
    fn locate<'a>(&self, container: &'a str) -> Option<(usize, &'a str)> {
        match container.split_once('/') {
            Some((name, id)) => self
                .members
                .iter()
                .position(|m| m.name == name)
                .map(|i| (i, id)),
            None => Some((0, container)),
        }
    }

    /// Records that engine `i` answered.
    fn mark_up(&self, i: usize) -> bool {
        let was_down = self.state().members[i].down.take().is_some();
        if was_down {
            self.members[i].up.send_replace(true);
            self.changed.notify_waiters();
        }
        was_down
    }

    /// Records that engine `i` does not answer; true when it was up until now.
    fn mark_down(&self, i: usize, error: String) -> bool {
        let mut state = self.state();
        let health = &mut state.members[i];
        if let Some(down) = &mut health.down {
            down.error = error;
            return false;
        }
        health.down = Some(Down {
            since: Instant::now(),
            at: time::OffsetDateTime::now_utc(),
            error,
        });
        drop(state);
        self.members[i].up.send_replace(false);
        true
    }

    /// An engine's failure, told apart: when the engine no longer answers a ping, it is down
    /// and the failure is [`EngineError::Unreachable`] (its jobs wait for it).
    async fn classify(&self, i: usize, e: EngineError) -> EngineError {
        let m = self.member(i);
        let answers = match &e {
            EngineError::Unreachable(_) => false,
            _ => matches!(
                tokio::time::timeout(PROBE, m.engine.ping()).await,
                Ok(Ok(()))
            ),
        };
        if answers {
            return e;
        }
        let text = format!("engine {} does not answer: {e}", m.name);
        if self.mark_down(i, text.clone()) {
            tracing::warn!("{text}");
        }
        EngineError::Unreachable(text)
    }

    /// Every engine as placement weighs it now, for a job of `image` whose cache engine `affinity`
    /// holds.
    fn candidates<'a>(
        &'a self,
        state: &'a State,
        image: Option<&str>,
        affinity: Option<usize>,
    ) -> Vec<place::Candidate<'a>> {
        let placed = self.placed_per_engine(state);
        self.members
            .iter()
            .zip(&state.members)
            .enumerate()
            .map(|(i, (m, h))| place::Candidate {
                name: &m.name,
                labels: &m.labels,
                up: h.down.is_none(),
                drained: h.drained,
                placed: placed[i],
                max_jobs: h.max_jobs,
                has_image: image.is_some_and(|image| h.images.contains(image)),
                holds_cache: affinity == Some(i),
            })
            .collect()
    }

    /// How many jobs are placed on each engine, in the configuration's order.
    fn placed_per_engine(&self, state: &State) -> Vec<usize> {
        let mut placed = vec![0usize; self.members.len()];
        for &i in state.placed.values() {
            placed[i] += 1;
        }
        placed
    }

    fn info(&self) -> Vec<EngineInfo> {
        let state = self.state();
        let running = self.placed_per_engine(&state);
        self.members
            .iter()
            .zip(&state.members)
            .zip(running)
            .map(|((m, h), running)| EngineInfo {
                name: m.name.clone(),
                host: m.host.clone(),
                healthy: h.down.is_none(),
                error: h.down.as_ref().map(|d| d.error.clone()),
                down_since: h.down.as_ref().and_then(|d| {
                    d.at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                }),
                drained: h.drained,
                running: running as u64,
                max_jobs: h.max_jobs as u64,
                labels: m.labels.clone(),
                workspace: match m.workspace {
                    WorkspaceMode::Bind => "bind".into(),
                    WorkspaceMode::Copy => "copy".into(),
                },
                version: h.version.clone(),
            })
            .collect()
    }
}

/// How long a ping after a failed call may take before the engine counts as down.
const PROBE: Duration = Duration::from_secs(3);

/// How long placement waits for engines to say whether they hold an image.
const IMAGE_PROBE: Duration = Duration::from_secs(2);

impl Engine for Pool {
    type Handle = PoolHandle;

    async fn prepare(&self, spec: &JobSpec) -> Result<PoolHandle, EngineError> {
        let placed = self.inner.state().placed.get(&spec.id).copied();
        let i = match placed {
            Some(i) => i,
            None => {
                // Placed without asking: only by code that runs a job without the scheduler.
                let want = Placement {
                    job: spec.id,
                    repo: String::new(),
                    image: spec.image.clone(),
                    runs_on: Vec::new(),
                    cache: false,
                };
                match self.place(&want).await? {
                    Placed::Here(_) => self
                        .inner
                        .state()
                        .placed
                        .get(&spec.id)
                        .copied()
                        .unwrap_or(0),
                    Placed::Wait(why) => return Err(EngineError::Unreachable(why)),
                }
            }
        };
        let m = self.inner.member(i);
        // The job's volumes by the engine's own names: they are on its engine.
        let mut own = spec.clone();
        for mount in &mut own.mounts {
            match self.inner.locate(&mount.volume) {
                Some((at, name)) if at == i => mount.volume = name.to_string(),
                _ => {
                    return Err(EngineError::Engine(format!(
                        "volume {} is not on engine {}",
                        mount.volume, m.name
                    )));
                }
            }
        }
        match m.engine.prepare(&own).await {
            Ok(inner) => {
                self.inner.state().members[i]
                    .images
                    .insert(spec.image.clone());
                Ok(PoolHandle { member: i, inner })
            }
            Err(e) => Err(self.inner.classify(i, e).await),
        }
    }

    async fn start(&self, h: &PoolHandle) -> Result<OutputStream, EngineError> {
        let m = self.inner.member(h.member);
        match m.engine.start(&h.inner).await {
            Ok(s) => Ok(s),
            Err(e) => Err(self.inner.classify(h.member, e).await),
        }
    }

    fn container_id(&self, h: &PoolHandle) -> String {
        let m = self.inner.member(h.member);
        format!("{}/{}", m.name, m.engine.container_id(&h.inner))
    }

    /// A job's container found again holds the job's place on its engine (until released), so
    /// an engine coming back does not take it for a leftover.
    fn adopt(&self, job: i64, container: &str) -> PoolHandle {
        let (member, id) = self.inner.locate(container).unwrap_or((0, container));
        if job > 0 {
            self.inner.state().placed.entry(job).or_insert(member);
        }
        PoolHandle {
            member,
            inner: self.inner.member(member).engine.adopt(job, id),
        }
    }

    async fn resume(&self, h: &PoolHandle, from: Resume) -> Result<OutputStream, EngineError> {
        let m = self.inner.member(h.member);
        match m.engine.resume(&h.inner, from).await {
            Ok(s) => Ok(s),
            Err(e) => Err(self.inner.classify(h.member, e).await),
        }
    }

    async fn containers(&self) -> Result<Vec<Found>, EngineError> {
        let lists = futures_util::future::join_all(self.inner.members.iter().map(|m| async {
            match tokio::time::timeout(self.inner.ping_every.max(PROBE), m.engine.containers())
                .await
            {
                Ok(r) => r,
                Err(_) => Err(EngineError::Unreachable(format!(
                    "engine {} did not answer in time",
                    m.name
                ))),
            }
        }))
        .await;
        let mut found = Vec::new();
        let mut first_error = None;
        let mut state = self.inner.state();
        for (i, list) in lists.into_iter().enumerate() {
            let name = &self.inner.members[i].name;
            state.members[i].listed = list.is_ok();
            match list {
                Ok(list) => found.extend(list.into_iter().map(|f| Found {
                    container: format!("{name}/{}", f.container),
                    ..f
                })),
                Err(e) => {
                    tracing::warn!("cannot list the containers of engine {name}: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if state.members.iter().all(|h| !h.listed) => Err(e),
            _ => Ok(found),
        }
    }

    async fn wait(&self, h: &PoolHandle) -> Result<i64, EngineError> {
        let m = self.inner.member(h.member);
        match m.engine.wait(&h.inner).await {
            Ok(code) => Ok(code),
            Err(e) => Err(self.inner.classify(h.member, e).await),
        }
    }

    async fn stop(&self, h: &PoolHandle, grace: Duration) -> Result<(), EngineError> {
        self.inner
            .member(h.member)
            .engine
            .stop(&h.inner, grace)
            .await
    }

    async fn teardown(&self, h: &PoolHandle) -> Result<(), EngineError> {
        self.inner.member(h.member).engine.teardown(&h.inner).await
    }

    async fn scrub(&self, dir: &std::path::Path) -> Result<(), EngineError> {
        // Only an engine that bind-mounts the workspace can leave files there.
        match self
            .inner
            .members
            .iter()
            .find(|m| m.workspace == WorkspaceMode::Bind)
        {
            Some(m) => m.engine.scrub(dir).await,
            None => Ok(()),
        }
    }

    async fn start_service(&self, h: &PoolHandle, name: &str) -> Result<(), EngineError> {
        let m = self.inner.member(h.member);
        m.engine.start_service(&h.inner, name).await
    }

    async fn service_exit(&self, h: &PoolHandle) -> ServiceExit {
        self.inner
            .member(h.member)
            .engine
            .service_exit(&h.inner)
            .await
    }

    async fn sweep(&self, keep: &HashSet<i64>) -> Result<(), EngineError> {
        let listed: Vec<bool> = self
            .inner
            .state()
            .members
            .iter()
            .map(|h| h.listed)
            .collect();
        let mut result = Ok(());
        for (m, listed) in self.inner.members.iter().zip(listed) {
            if listed && let Err(e) = m.engine.sweep(keep).await {
                result = Err(e);
            }
        }
        result
    }

    async fn archive(
        &self,
        h: &PoolHandle,
        path: &str,
    ) -> Result<Option<ArchiveStream>, EngineError> {
        self.inner
            .member(h.member)
            .engine
            .archive(&h.inner, path)
            .await
    }

    async fn volumes(&self, label: &str) -> Result<Vec<Volume>, EngineError> {
        let mut all = Vec::new();
        let mut first_error = None;
        let down: Vec<bool> = self
            .inner
            .state()
            .members
            .iter()
            .map(|h| h.down.is_some())
            .collect();
        for (m, down) in self.inner.members.iter().zip(down) {
            if down {
                continue;
            }
            match m.engine.volumes(label).await {
                Ok(v) => all.extend(v.into_iter().map(|v| Volume {
                    name: format!("{}/{}", m.name, v.name),
                    ..v
                })),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if all.is_empty() => Err(e),
            _ => Ok(all),
        }
    }

    async fn create_volume(
        &self,
        job: i64,
        suffix: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        // A job's volume goes where the job is placed.
        let i = self.inner.state().placed.get(&job).copied().unwrap_or(0);
        let m = self.inner.member(i);
        let name = m.engine.create_volume(job, suffix, labels).await?;
        Ok(format!("{}/{name}", m.name))
    }

    async fn remove_volume(&self, name: &str) -> Result<bool, EngineError> {
        let (i, own) = self
            .inner
            .locate(name)
            .ok_or_else(|| EngineError::Engine(format!("volume {name}: no such engine")))?;
        self.inner.member(i).engine.remove_volume(own).await
    }

    async fn helper(&self, script: &str, mounts: &[Mount]) -> Result<String, EngineError> {
        let mut at = None;
        let mut own = Vec::new();
        for mount in mounts {
            let (i, name) = self.inner.locate(&mount.volume).ok_or_else(|| {
                EngineError::Engine(format!("volume {}: no such engine", mount.volume))
            })?;
            if at.is_some_and(|a| a != i) {
                return Err(EngineError::Engine(
                    "a helper cannot mount volumes of two engines".into(),
                ));
            }
            at = Some(i);
            own.push(Mount {
                volume: name.to_string(),
                ..mount.clone()
            });
        }
        self.inner
            .member(at.unwrap_or(0))
            .engine
            .helper(script, &own)
            .await
    }

    /// Pings every engine now (each within a few seconds), recording what it learns like the
    /// periodic pings do: `Ok` when at least one answers.
    async fn ping(&self) -> Result<(), EngineError> {
        let rounds = (0..self.inner.members.len()).map(|i| health::check(&self.inner, i));
        futures_util::future::join_all(rounds).await;
        let state = self.inner.state();
        if state.members.iter().any(|h| h.down.is_none()) {
            return Ok(());
        }
        let errors: Vec<String> = state
            .members
            .iter()
            .filter_map(|h| h.down.as_ref().map(|d| d.error.clone()))
            .collect();
        Err(EngineError::Unreachable(errors.join("; ")))
    }

    async fn has_image(&self, image: &str) -> bool {
        self.inner
            .state()
            .members
            .iter()
            .any(|h| h.images.contains(image))
    }

    async fn place(&self, want: &Placement) -> Result<Placed, EngineError> {
        let inner = &self.inner;
        if let Some(&i) = inner.state().placed.get(&want.job) {
            return Ok(Placed::Here(Some(inner.member(i).name.clone())));
        }
        // Which engines hold the image, asked of those that could take the job and are not
        // known to have it yet (outside the lock: engines answer slowly).
        let ask: Vec<usize> = {
            let state = inner.state();
            (0..inner.members.len())
                .filter(|&i| {
                    let h = &state.members[i];
                    h.down.is_none()
                        && !h.images.contains(&want.image)
                        && want
                            .runs_on
                            .iter()
                            .all(|l| inner.members[i].labels.contains(l))
                })
                .collect()
        };
        if inner.members.len() > 1 && !ask.is_empty() {
            let answers = futures_util::future::join_all(ask.iter().map(|&i| async move {
                let has = tokio::time::timeout(
                    IMAGE_PROBE,
                    inner.members[i].engine.has_image(&want.image),
                )
                .await
                .unwrap_or(false);
                (i, has)
            }))
            .await;
            let mut state = inner.state();
            for (i, has) in answers {
                if has {
                    state.members[i].images.insert(want.image.clone());
                }
            }
        }
        let mut state = inner.state();
        let affinity = want
            .cache
            .then(|| state.affinity.get(&want.repo).copied())
            .flatten();
        let choice = place::choose(
            &inner.candidates(&state, Some(&want.image), affinity),
            &want.runs_on,
        );
        match choice {
            place::Choice::Engine(i) => {
                state.waiting.remove(&want.job);
                state.parked.remove(&want.job);
                state.placed.insert(want.job, i);
                if want.cache {
                    state.affinity.insert(want.repo.clone(), i);
                }
                Ok(Placed::Here(Some(inner.members[i].name.clone())))
            }
            place::Choice::Wait(why) => {
                state.waiting.insert(want.job);
                state.parked.insert(want.job, want.runs_on.clone());
                Ok(Placed::Wait(why))
            }
            place::Choice::Never(why) => Err(EngineError::Engine(why)),
        }
    }

    async fn changed(&self) {
        self.inner.changed.notified().await
    }

    fn release(&self, job: i64) {
        let mut state = self.inner.state();
        state.waiting.remove(&job);
        if state.placed.remove(&job).is_some() {
            drop(state);
            self.inner.changed.notify_waiters();
        }
    }

    fn ready(&self, job: i64) -> bool {
        let state = self.inner.state();
        let Some(runs_on) = state.parked.get(&job) else {
            return true;
        };
        let candidates = self.inner.candidates(&state, None, None);
        // A label no engine has any more (a restart with other engines) is for its start to say.
        !matches!(place::choose(&candidates, runs_on), place::Choice::Wait(_))
    }

    fn room(&self) -> Option<Room> {
        let state = self.inner.state();
        let placed = self.inner.placed_per_engine(&state);
        let free = state
            .members
            .iter()
            .zip(&placed)
            .filter(|(h, _)| h.down.is_none() && !h.drained)
            .map(|(h, &p)| h.max_jobs.saturating_sub(p))
            .sum();
        Some(Room {
            free,
            settled: state.placed.len() + state.waiting.len(),
        })
    }

    async fn lost(&self, h: &PoolHandle) -> String {
        let m = self.inner.member(h.member);
        let mut up = m.up.subscribe();
        let _ = up.wait_for(|up| !*up).await;
        let state = self.inner.state();
        match &state.members[h.member].down {
            Some(d) => d.error.clone(),
            None => format!("engine {} stopped answering", m.name),
        }
    }

    async fn returned(&self, h: &PoolHandle, within: Duration) -> bool {
        let m = self.inner.member(h.member);
        let since = self.inner.state().members[h.member]
            .down
            .as_ref()
            .map(|d| d.since)
            .unwrap_or_else(Instant::now);
        let left = within.saturating_sub(since.elapsed());
        let mut up = m.up.subscribe();
        matches!(
            tokio::time::timeout(left, up.wait_for(|up| *up)).await,
            Ok(Ok(_))
        )
    }

    fn reachable(&self, container: &str) -> bool {
        match self.inner.locate(container) {
            Some((i, _)) => self.inner.state().members[i].listed,
            None => true,
        }
    }

    fn holds(&self, job: i64, volume: &str) -> bool {
        let state = self.inner.state();
        match (state.placed.get(&job), self.inner.locate(volume)) {
            (Some(&at), Some((i, _))) => at == i,
            _ => true,
        }
    }

    fn prepared_note(&self, h: &PoolHandle) -> Option<String> {
        self.inner.member(h.member).engine.prepared_note(&h.inner)
    }

    async fn engines(&self) -> Vec<EngineInfo> {
        self.inner.info()
    }

    fn drain(&self, name: &str, drained: bool) -> bool {
        let Some(i) = self.inner.members.iter().position(|m| m.name == name) else {
            return false;
        };
        self.inner.state().members[i].drained = drained;
        self.inner.changed.notify_waiters();
        true
    }

    fn down(&self) -> Vec<String> {
        let state = self.inner.state();
        self.inner
            .members
            .iter()
            .zip(&state.members)
            .filter(|(_, h)| h.down.is_some())
            .map(|(m, _)| m.name.clone())
            .collect()
    }

    fn monitor(&self, shutdown: CancellationToken) {
        tokio::spawn(health::watch(self.inner.clone(), shutdown));
    }

    fn reconfigure(&self, settings: &crate::config::DockerSettings) {
        for m in &self.inner.members {
            m.engine.reconfigure(settings);
        }
        if self.inner.implicit {
            self.inner.state().members[0].max_jobs = settings.max_jobs;
            self.inner.changed.notify_waiters();
        }
    }
}
