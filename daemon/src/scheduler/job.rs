//! One job, start to end: clone the commit, read its `.microci.json`, run its container with the
//! output going to the log, and say how it ended; then clean its workspace up.

use super::end;
use crate::events::{Bus, BusEvent};
use crate::jobs::Jobs;
use crate::logs::LogWriter;
use crate::repo_config::RepoConfig;
use crate::runner::{
    self, Begin, Engine, EngineError, JobSpec, Limits, Placed, Placement, Resume, RunOutcome,
};
use crate::store::{JobRecord, Run, StoreError, Transition};
use futures_util::future::BoxFuture;
use microci_proto::{Job, JobStatus};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// A job's STARTED mark, committing while its clone runs (the clone need not wait for an fsync).
/// No container starts before the mark is confirmed: a job cancelled while it was still queued
/// never gets one, and its end, recorded from STARTED, then changes nothing.
pub(super) struct Start<'a, E: Engine> {
    jobs: &'a Jobs<E>,
    pending: Option<BoxFuture<'static, Result<Option<Job>, StoreError>>>,
    confirmed: bool,
}

impl<'a, E: Engine> Start<'a, E> {
    /// `pending` is the queued PENDING → STARTED transition.
    pub(super) fn new(
        jobs: &'a Jobs<E>,
        pending: BoxFuture<'static, Result<Option<Job>, StoreError>>,
    ) -> Self {
        Start {
            jobs,
            pending: Some(pending),
            confirmed: false,
        }
    }

    /// Waits for the mark (once) and tells subscribers; false when the job was not PENDING any
    /// more (cancelled) or the store failed.
    pub(super) async fn confirmed(&mut self) -> bool {
        if let Some(pending) = self.pending.take() {
            match pending.await {
                Ok(Some(job)) => {
                    self.jobs.publish(&job);
                    self.jobs.measure(&job).await;
                    self.confirmed = true;
                }
                Ok(None) => {}
                Err(e) => tracing::error!("cannot start a job: {e}"),
            }
        }
        self.confirmed
    }
}

/// What a job leaves behind, removed once its end is recorded ([`clean_up`]): a crash before the
/// end is in the database finds the container still there and re-attaches to it.
pub(super) struct Leftovers<H> {
    /// A container of the job ran: its workspace may hold files the daemon cannot delete itself.
    pub(super) image_ran: bool,
    /// The job's container, not removed yet.
    pub(super) container: Option<H>,
    /// The job's generation of its cache: its volumes go once the container has.
    pub(super) cache: Option<crate::caches::Generation>,
    /// Its checkout found its `.microci.json`'s concurrency group held by another job: the
    /// group, and that job. It goes back to the queue instead of ending.
    pub(super) wait_for: Option<(String, i64)>,
    /// No engine could take it now (why, for `show`): it goes back to the queue, which passes it
    /// over until one can ([`Engine::ready`]).
    pub(super) wait_engine: Option<String>,
}

impl<H> Default for Leftovers<H> {
    fn default() -> Self {
        Leftovers {
            image_ran: false,
            container: None,
            cache: None,
            wait_for: None,
            wait_engine: None,
        }
    }
}

/// Removes what a job left: its container, then its workspace.
pub(super) async fn clean_up<E: Engine>(jobs: &Jobs<E>, id: i64, left: Leftovers<E::Handle>) {
    if let Some(handle) = left.container
        && let Err(e) = jobs.engine.teardown(&handle).await
    {
        tracing::warn!("could not remove container: {e}");
    }
    crate::caches::discard(jobs, left.cache).await;
    jobs.engine.release(id);
    remove_workspace(jobs, &jobs.workspace(id), left.image_ran).await;
}

/// Runs one job and says how it ended, with what it left to clean up. Never panics on the job's
/// input; every path that is not the command's own result ends ERRORED with a reason a person
/// can act on.
pub(super) async fn execute<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    cancel: &CancellationToken,
    start: &mut Start<'_, E>,
) -> (Transition, Leftovers<E::Handle>) {
    let id = rec.job.id;
    let errored = |reason: String| end(id, JobStatus::Errored, Some(reason), None);
    let mut log = match jobs.logs.writer(id, jobs.config().docker.max_log) {
        Ok(l) => l,
        Err(e) => {
            let full = if crate::disk::is_full(&e) {
                "disk full: "
            } else {
                ""
            };
            let reason = format!("{full}cannot create the job's log: {e}");
            return (errored(reason), Leftovers::default());
        }
    };
    say(
        &jobs.bus,
        &mut log,
        id,
        &format!(
            "job {id}: {} {} at {}",
            rec.job.repo, rec.job.git_ref, rec.job.commit
        ),
    );

    let workspace = jobs.workspace(id);
    let mut left = Leftovers::default();
    let outcome = prepare_and_run(jobs, rec, &workspace, &mut log, cancel, start, &mut left).await;
    if left.wait_for.is_some() || left.wait_engine.is_some() {
        // Not an end: the scheduler queues it again.
        return (end(id, JobStatus::Pending, None, None), left);
    }
    if let Some(handle) = &left.container {
        super::artifacts::collect(jobs, id, handle, &mut log).await;
    }
    if let Some(cache) = &left.cache {
        let succeeded = matches!(outcome, Ok(RunOutcome::Exited(0)));
        let mut note = |text: &str| say(&jobs.bus, &mut log, id, text);
        crate::caches::finish(jobs, cache, succeeded, rec.job.untrusted, &mut note).await;
    }
    (ending(jobs, id, outcome, &mut log), left)
}

/// Picks up a job whose container a previous daemon started: the output the log lacks, then live
/// to its end, with what is left of its timeout; says how it ended, like [`execute`].
pub(super) async fn reattach<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    run: Run,
    cancel: &CancellationToken,
) -> (Transition, Leftovers<E::Handle>) {
    let id = rec.job.id;
    let handle = jobs.engine.adopt(id, &run.container);
    let cache = crate::caches::adopt(jobs, id).await;
    let outcome = match jobs.logs.writer(id, jobs.config().docker.max_log) {
        Ok(mut log) => {
            let written_until = jobs
                .logs
                .modified(id)
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            let from = resume_point(&log, &run, written_until);
            tracing::info!(
                "re-attaching to container {} ({} bytes of output already logged)",
                run.container.get(..12).unwrap_or(&run.container),
                from.skip
            );
            let config = jobs.config();
            let masker = super::secrets::masker(&config, &rec.job.repo, &Default::default());
            let begin = Begin::Resume(from);
            let outcome = attend(jobs, &handle, begin, run.clone(), &mut log, cancel, masker).await;
            let outcome = through_outages(jobs, rec, &handle, run, &mut log, cancel, outcome).await;
            super::artifacts::collect(jobs, id, &handle, &mut log).await;
            if let Some(cache) = &cache {
                let succeeded = outcome == RunOutcome::Exited(0);
                let mut note = |text: &str| say(&jobs.bus, &mut log, id, text);
                crate::caches::finish(jobs, cache, succeeded, rec.job.untrusted, &mut note).await;
            }
            ending(jobs, id, Ok(outcome), &mut log)
        }
        Err(e) => {
            let reason = format!("cannot open the job's log: {e}");
            end(id, JobStatus::Errored, Some(reason), None)
        }
    };
    let left = Leftovers {
        image_ran: true,
        container: Some(handle),
        cache,
        wait_for: None,
        wait_engine: None,
    };
    (outcome, left)
}

/// Where the output of run `run` picks up, the log being `log`: the output bytes it already
/// stands for, and when it was last written (`written_until`).
fn resume_point(log: &LogWriter, run: &Run, written_until: std::time::SystemTime) -> Resume {
    // Masked secrets made the log shorter than the output it stands for (counted beside the
    // log as it is written, like what was dropped over the cap).
    let logged = log.size() as i64 - run.output_at as i64 + log.masked();
    Resume {
        skip: logged.max(0) as u64 + log.dropped(),
        written_until,
    }
}

/// Runs a prepared or adopted container with what is left of the job's timeout. Should the
/// daemon write into the middle of the output, where the output starts is recorded again.
async fn attend<E: Engine>(
    jobs: &Jobs<E>,
    handle: &E::Handle,
    begin: Begin,
    run: Run,
    log: &mut LogWriter,
    cancel: &CancellationToken,
    masker: crate::secrets::mask::Masker,
) -> RunOutcome {
    let elapsed = (now_ms() - run.started_ms).max(0) as u64;
    let limits = Limits {
        timeout: run.timeout,
        left: run
            .timeout
            .saturating_sub(std::time::Duration::from_millis(elapsed)),
        grace: jobs.config().docker.stop_grace,
    };
    let id = run.id;
    let output_at = std::sync::atomic::AtomicU64::new(run.output_at);
    let noted = |added: u64| {
        let at = output_at.fetch_add(added, std::sync::atomic::Ordering::SeqCst) + added;
        let recorded = jobs.writer.record_run(Run {
            output_at: at,
            ..run.clone()
        });
        tokio::spawn(async move {
            if let Err(e) = recorded.await {
                tracing::warn!(job_id = id, "cannot record where the output starts: {e}");
            }
        });
    };
    let engine = jobs.engine.as_ref();
    runner::attend(
        engine, handle, id, begin, log, &jobs.bus, limits, cancel, &noted, masker,
    )
    .await
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The job's end from how its container ended, with the closing lines of its log.
fn ending<E: Engine>(
    jobs: &Jobs<E>,
    id: i64,
    outcome: Result<RunOutcome, String>,
    log: &mut LogWriter,
) -> Transition {
    let errored = |reason: String| end(id, JobStatus::Errored, Some(reason), None);
    let mut transition = match outcome {
        Ok(RunOutcome::Exited(0)) => end(id, JobStatus::Succeed, None, Some(0)),
        Ok(RunOutcome::Exited(code)) => end(
            id,
            JobStatus::Failed,
            Some(format!("command exited with code {code}")),
            Some(code),
        ),
        Ok(RunOutcome::TimedOut(after)) => end(
            id,
            JobStatus::Failed,
            Some(format!(
                "timed out after {}",
                humantime::format_duration(after)
            )),
            None,
        ),
        Ok(RunOutcome::Canceled) => {
            let why = jobs.slots.cancel_reason(id);
            end(
                id,
                JobStatus::Canceled,
                Some(why.unwrap_or("canceled".into())),
                None,
            )
        }
        Ok(RunOutcome::Errored(reason)) => {
            jobs.metrics.docker_error();
            errored(reason)
        }
        Ok(RunOutcome::EngineLost(why)) => errored(format!("engine lost: {why}")),
        Err(reason) => errored(reason),
    };
    transition.log_dropped = log.dropped();
    if log.dropped() > 0 {
        let note = format!(
            "output over docker.max_log ({}): {} bytes dropped",
            bytes_text(jobs.config().docker.max_log),
            log.dropped()
        );
        say(&jobs.bus, log, id, &note);
    }
    let summary = match &transition.reason {
        Some(r) => format!("{}: {}", transition.to, crate::store::clean_reason(r)),
        None => transition.to.to_string(),
    };
    say(&jobs.bus, log, id, &summary);
    transition.log_size = log.size();
    transition
}

/// `67108864` → `64 MiB`, for the people reading a log.
fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Where the job's commit is fetched from: the repository's clone URL, or for a pull request
/// from a fork (Bitbucket), the fork at the same server.
fn source_url(rec: &JobRecord) -> Result<String, String> {
    let Some(fork) = &rec.source_repo else {
        return Ok(rec.clone_url.clone());
    };
    crate::git::fork_url(&rec.clone_url, &rec.job.repo, fork).ok_or_else(|| {
        format!(
            "clone failed: cannot tell where fork {fork:?} is: the clone URL {} does not end \
             with the repository's path {:?}",
            crate::git::redact_url(&rec.clone_url),
            rec.job.repo
        )
    })
}

/// Whether a push to the job's ref came after it while it was checked out (before it knew it
/// is interruptible): then it stops now, superseded, instead of running for nothing.
async fn superseded_meanwhile<E: Engine>(jobs: &Jobs<E>, rec: &JobRecord) -> bool {
    let job = &rec.job;
    if !jobs.config().cancel_superseded(&job.repo, &job.git_ref) {
        return false;
    }
    let newer = jobs
        .reader
        .newer_push(job.repo.clone(), job.git_ref.clone(), job.id)
        .await;
    match newer {
        Ok(Some(by)) => {
            let why = format!("canceled: superseded by job {by}");
            jobs.slots.note_reason(job.id, why);
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(job_id = job.id, "cannot look for a newer push: {e}");
            false
        }
    }
}

/// Records the full commit id an abbreviated one (a Bitbucket pull request's) resolved to: the
/// job, its commit statuses and its forge link use it from now on.
async fn record_full_commit<E: Engine>(
    jobs: &Jobs<E>,
    log: &mut LogWriter,
    rec: &JobRecord,
    full: String,
) {
    let id = rec.job.id;
    say(
        &jobs.bus,
        log,
        id,
        &format!("commit {} is {full}", rec.job.commit),
    );
    match jobs.writer.resolved(id, full).await {
        Ok(Some(job)) => jobs.publish(&job),
        Ok(None) => {}
        Err(e) => tracing::warn!(job_id = id, "cannot record the full commit id: {e}"),
    }
}

async fn prepare_and_run<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    workspace: &std::path::Path,
    log: &mut LogWriter,
    cancel: &CancellationToken,
    start: &mut Start<'_, E>,
    left: &mut Leftovers<E::Handle>,
) -> Result<RunOutcome, String> {
    let id = rec.job.id;
    // One snapshot for the whole start: a reload meanwhile applies to the next job.
    let config = jobs.config();
    let docker = &config.docker;
    let creds = config.credentials_for(&rec.job.repo);
    let url = source_url(rec)?;
    let (git_ref, commit, dest) = (
        rec.job.git_ref.clone(),
        rec.job.commit.clone(),
        workspace.to_path_buf(),
    );
    let fetching = match &rec.source_ref {
        Some(branch) => format!(
            "fetching {} from {}",
            branch.strip_prefix("refs/heads/").unwrap_or(branch),
            crate::git::redact_url(&url)
        ),
        None => format!("fetching {}", crate::git::redact_url(&url)),
    };
    say(&jobs.bus, log, id, &fetching);
    // The clone is the job's work too: it stops when the job is cancelled, and it gets at most
    // the default job timeout (a server that trickles bytes cannot hold a slot for ever).
    let clone_cancel = cancel.child_token();
    let repo = rec.job.repo.clone();
    let source_ref = rec.source_ref.clone();
    let checkout = jobs
        .git
        .locked(&rec.job.repo, &clone_cancel, move |git, token| {
            let _ = std::fs::remove_dir_all(&dest);
            match source_ref {
                Some(source) => git.checkout_source(
                    &repo, &url, &creds, &source, &git_ref, &commit, &dest, token,
                ),
                None => git
                    .checkout(&repo, &url, &creds, &git_ref, &commit, &dest, token)
                    .map(|()| commit),
            }
        });
    match tokio::time::timeout(docker.timeout, checkout).await {
        Ok(Ok(full)) if full != rec.job.commit => record_full_commit(jobs, log, rec, full).await,
        Ok(Ok(_)) => {}
        Ok(Err(crate::git::GitError::Canceled)) => return Ok(RunOutcome::Canceled),
        Ok(Err(e)) => return Err(format!("clone failed: {e}")),
        Err(_) => {
            clone_cancel.cancel();
            return Err(format!(
                "clone failed: timed out after {}",
                humantime::format_duration(docker.timeout)
            ));
        }
    }
    let default_image = docker.default_image.clone();
    let ws = workspace.to_path_buf();
    let repo_config = tokio::task::spawn_blocking(move || RepoConfig::load(&ws, &default_image))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if repo_config.interruptible && superseded_meanwhile(jobs, rec).await {
        return Ok(RunOutcome::Canceled);
    }
    if config.concurrency(&rec.job.repo).is_none()
        && let Some(group) = &repo_config.concurrency
        && let Err(holder) = super::groups::claim_after_checkout(jobs, rec, group).await
    {
        let text = crate::jobs::waiting_text(group, holder);
        say(
            &jobs.bus,
            log,
            id,
            &format!("{text}: queued again until it ends"),
        );
        left.wait_for = Some((group.clone(), holder));
        return Ok(RunOutcome::Canceled);
    }
    let timeout = match repo_config.timeout {
        None => docker.timeout,
        Some(t) if t <= docker.max_timeout => t,
        Some(t) => {
            return Err(format!(
                ".microci.json: \"timeout\" {} is over docker.max_timeout ({})",
                humantime::format_duration(t),
                humantime::format_duration(docker.max_timeout)
            ));
        }
    };
    let granted = super::secrets::grant(&config, rec, &repo_config)?;
    let masker = super::secrets::masker(&config, &rec.job.repo, &granted);
    if let Some(note) = &granted.note {
        say(&jobs.bus, log, id, note);
    }
    // A run's parameters are the person's word for this one job: over the repository's `env`.
    // A secret the job receives is not theirs to replace.
    if let Some(k) = rec
        .job
        .params
        .keys()
        .find(|k| granted.env.iter().any(|(s, _)| s == *k))
    {
        return Err(format!(
            "parameter {k:?} names a secret this job receives: it cannot be overridden"
        ));
    }
    let mut env = repo_config.env;
    env.extend(rec.job.params.clone());
    if !rec.job.params.is_empty() {
        let names: Vec<&str> = rec.job.params.keys().map(String::as_str).collect();
        say(
            &jobs.bus,
            log,
            id,
            &format!("parameters: {}", names.join(", ")),
        );
    }
    super::artifacts::want(jobs, id, &repo_config.artifacts).await?;
    let services = repo_config
        .services
        .iter()
        .map(|service| {
            let mut spec = crate::runner::services::ServiceSpec::from(service);
            // What the job is given of what the service lists; nothing when it is withheld.
            spec.secret_env = granted
                .env
                .iter()
                .filter(|(name, _)| service.secrets.contains(name))
                .cloned()
                .collect();
            spec
        })
        .collect();
    let mut spec = JobSpec {
        id,
        image: repo_config.image.clone(),
        argv: repo_config.command.argv(),
        env: env.into_iter().collect(),
        workspace: workspace.to_path_buf(),
        secret_env: granted.env,
        secret_files: granted.files,
        services,
        mounts: Vec::new(),
    };
    let running = format!(
        "running {:?} in {} (timeout {})",
        spec.argv,
        spec.image,
        humantime::format_duration(timeout)
    );
    if !start.confirmed().await {
        return Ok(RunOutcome::Canceled);
    }
    let want = Placement {
        job: id,
        repo: rec.job.repo.clone(),
        image: spec.image.clone(),
        runs_on: repo_config.runs_on.clone(),
        cache: !repo_config.cache.is_empty(),
    };
    let engine = jobs.engine.as_ref();
    let mut attempts = 0;
    let handle = loop {
        if let Some(why) = place(jobs, &want, log).await? {
            say(
                &jobs.bus,
                log,
                id,
                &format!("{why}: queued again until one has room"),
            );
            left.wait_engine = Some(why);
            return Ok(RunOutcome::Canceled);
        }
        if attempts == 0 {
            say(&jobs.bus, log, id, &running);
        }
        left.image_ran = true;
        if left.cache.is_none() {
            let mut note = |text: &str| say(&jobs.bus, log, id, text);
            let cache = crate::caches::prepare(
                jobs,
                &rec.job,
                &repo_config.cache,
                repo_config.cache_scope,
                &mut note,
            )
            .await?;
            if let Some(cache) = cache {
                spec.mounts = cache.mounts.clone();
                left.cache = Some(cache);
                if cancel.is_cancelled() {
                    return Ok(RunOutcome::Canceled);
                }
            }
        }
        let prepared = tokio::select! {
            h = engine.prepare(&spec) => h,
            _ = cancel.cancelled() => return Ok(RunOutcome::Canceled),
        };
        match prepared {
            Ok(h) => break h,
            // The engine went away before the job had anything there but its cache: another
            // may take it (a cache stays with its engine).
            Err(EngineError::Unreachable(why)) if left.cache.is_none() && attempts < 3 => {
                say(&jobs.bus, log, id, &format!("{why}: placing the job again"));
                jobs.engine.release(id);
                attempts += 1;
            }
            Err(e) => return Ok(RunOutcome::Errored(e.to_string())),
        }
    };
    if let Some(note) = engine.prepared_note(&handle) {
        say(&jobs.bus, log, id, &note);
    }
    // Recorded before it starts: a daemon started again re-attaches to it.
    let run = Run {
        id,
        container: engine.container_id(&handle),
        output_at: log.size(),
        timeout,
        started_ms: now_ms(),
        interruptible: repo_config.interruptible,
    };
    let outcome = match jobs.writer.record_run(run.clone()).await {
        // A push after the look at the checkout but before this record found the job not yet
        // interruptible, so it stopped nothing: look once more, now that later pushes see it.
        Ok(()) if run.interruptible && superseded_meanwhile(jobs, rec).await => {
            RunOutcome::Canceled
        }
        Ok(()) => match super::services::start(jobs, &handle, &spec, log, cancel).await {
            Ok(()) => {
                let outcome = attend(
                    jobs,
                    &handle,
                    Begin::Start,
                    run.clone(),
                    log,
                    cancel,
                    masker,
                )
                .await;
                through_outages(jobs, rec, &handle, run, log, cancel, outcome).await
            }
            Err(outcome) => outcome,
        },
        Err(e) => RunOutcome::Errored(format!("cannot record the job's container: {e}")),
    };
    left.container = Some(handle);
    Ok(outcome)
}

/// Finds the job an engine (see [`Engine::place`]) and records which. `Some(why)` when every
/// engine that could take it is busy, drained or down: it goes back to the queue rather than
/// hold a slot; an error when no engine ever could take it.
async fn place<E: Engine>(
    jobs: &Jobs<E>,
    want: &Placement,
    log: &mut LogWriter,
) -> Result<Option<String>, String> {
    let id = want.job;
    match jobs.engine.place(want).await.map_err(|e| e.to_string())? {
        Placed::Here(Some(name)) => {
            // Said where there is a choice.
            if jobs.engine.engines().await.len() > 1 {
                say(&jobs.bus, log, id, &format!("engine {name}"));
            }
            match jobs.writer.placed(id, name).await {
                Ok(Some(job)) => jobs.publish(&job),
                Ok(None) => {}
                Err(e) => tracing::warn!(job_id = id, "cannot record the job's engine: {e}"),
            }
            Ok(None)
        }
        Placed::Here(None) => Ok(None),
        Placed::Wait(why) => Ok(Some(why)),
    }
}

/// Carries a job through its engine's outages: when the engine stopped answering, waits for it
/// (up to `docker.engine_down_timeout` from when it went down) and re-attaches to the container
/// from where the log stopped, like a restarted daemon; ERRORED "engine lost" when it does not
/// return in time. The job keeps its slot meanwhile, and its container is never started twice.
async fn through_outages<E: Engine>(
    jobs: &Jobs<E>,
    rec: &JobRecord,
    handle: &E::Handle,
    mut run: Run,
    log: &mut LogWriter,
    cancel: &CancellationToken,
    mut outcome: RunOutcome,
) -> RunOutcome {
    let id = run.id;
    while let RunOutcome::EngineLost(why) = &outcome {
        let config = jobs.config();
        let within = config.docker.engine_down_timeout;
        let before = log.size();
        // The container's output ends here in the log; the daemon's lines follow.
        let written_until = jobs
            .logs
            .modified(id)
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        say(
            &jobs.bus,
            log,
            id,
            &format!(
                "{why}: waiting up to {} for it to return",
                humantime::format_duration(within)
            ),
        );
        let back = tokio::select! {
            back = jobs.engine.returned(handle, within) => back,
            () = cancel.cancelled() => return RunOutcome::Canceled,
        };
        if !back {
            return RunOutcome::Errored(format!(
                "engine lost: {why}, and not back within {}",
                humantime::format_duration(within)
            ));
        }
        say(
            &jobs.bus,
            log,
            id,
            "the engine answers again: re-attaching to the job's container",
        );
        // The daemon's own lines are not the container's output: where it starts moves on.
        run.output_at += log.size() - before;
        if let Err(e) = jobs.writer.record_run(run.clone()).await {
            tracing::warn!(job_id = id, "cannot record where the output starts: {e}");
        }
        let from = resume_point(log, &run, written_until);
        let masker = super::secrets::masker(&config, &rec.job.repo, &Default::default());
        outcome = attend(
            jobs,
            handle,
            Begin::Resume(from),
            run.clone(),
            log,
            cancel,
            masker,
        )
        .await;
    }
    outcome
}

/// Writes one `[microci]` line of the daemon's own into the job's log and tells followers.
pub(super) fn say(bus: &Bus, log: &mut LogWriter, id: i64, text: &str) {
    if let Ok(size) = log.line(&format!("[microci] {text}")) {
        bus.publish(BusEvent::Log { id, size });
    }
}

/// Removes a job's workspace. When the job left files the daemon may not delete (it ran as root
/// in its container, the daemon does not), they are removed from inside a helper container first
/// (the trusted `docker.helper_image`, never the job's own, with limits and a deadline).
pub(super) async fn remove_workspace<E: Engine>(
    jobs: &Jobs<E>,
    dir: &std::path::Path,
    image_ran: bool,
) {
    // A job that ended before its checkout has nothing to remove (a stat, not a thread hop).
    if std::fs::symlink_metadata(dir).is_err() {
        return;
    }
    let remove = |d: PathBuf| async move {
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    };
    match remove(dir.to_path_buf()).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && image_ran => {
            if let Err(e) = jobs.engine.scrub(dir).await {
                tracing::warn!("cannot clean workspace {}: {e}", dir.display());
            }
            if let Err(e) = remove(dir.to_path_buf()).await {
                tracing::warn!("cannot remove workspace {}: {e}", dir.display());
            }
        }
        Err(e) => tracing::warn!("cannot remove workspace {}: {e}", dir.display()),
    }
}
