//! `[[repo]] schedule`: jobs started by the clock. One task sleeps until the next planned time of
//! any schedule, then starts a job of the branch's head like `run REPO BRANCH` does (trigger
//! `schedule`; branch and path filters and skip-ci do not apply). For each schedule the database
//! keeps the time up to which every planned run is handled, so a run missed while the daemon was
//! down runs once at start when it is less than a day late ([`plan::due`]). A reload re-plans.

pub mod plan;

pub use plan::{Clock, SystemClock};

use crate::config::Schedule;
use crate::jobs::Jobs;
use crate::runner::Engine;
use jiff::Timestamp;
use plan::Due;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Who scheduled jobs are by.
pub const AUTHOR: &str = "microci schedule";

/// The loop looks again at least this often, whatever the next planned time: the system's clock
/// may be set or jump meanwhile.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Starts the schedule task with the system's clock.
pub fn spawn<E: Engine>(
    jobs: Arc<Jobs<E>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    spawn_with(jobs, Arc::new(SystemClock), shutdown)
}

/// Starts the schedule task with `clock` (a test's, or the system's).
pub fn spawn_with<E: Engine>(
    jobs: Arc<Jobs<E>>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut handled: HashMap<String, Timestamp> = HashMap::new();
        while !shutdown.is_cancelled() {
            let next = pass(&jobs, clock.as_ref(), &mut handled).await;
            let wait = next.map_or(MAX_SLEEP, |at| {
                let ms = at.duration_since(clock.now()).as_millis().max(0) as u64;
                Duration::from_millis(ms + 1).min(MAX_SLEEP)
            });
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = jobs.replan.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Starts what is due now and returns the next planned time of any schedule.
async fn pass<E: Engine>(
    jobs: &Arc<Jobs<E>>,
    clock: &dyn Clock,
    handled: &mut HashMap<String, Timestamp>,
) -> Option<Timestamp> {
    let config = jobs.config();
    let now = clock.now();
    let mut next: Option<Timestamp> = None;
    let mut configured = Vec::new();
    let mut repos: Vec<_> = config.repos.values().collect();
    repos.sort_by(|a, b| a.name.cmp(&b.name));
    for r in repos {
        for s in &r.schedules {
            let key = s.key(&r.name);
            configured.push(key.clone());
            let last = match handled.get(&key) {
                Some(&t) => t,
                None => first_sight(jobs, &key, now).await,
            };
            let last = match plan::due(s, last, now) {
                Due::Nothing => last,
                Due::Run(at) => {
                    start(jobs, &r.name, s, at);
                    record(jobs, &key, now).await;
                    now
                }
                Due::TooLate(at) => {
                    tracing::info!(
                        repo = %r.name,
                        "schedule {:?}: the run planned at {} was missed by more than a day: skipped",
                        s.pattern,
                        at.to_zoned(s.zone.clone())
                    );
                    record(jobs, &key, now).await;
                    now
                }
            };
            handled.insert(key, last);
            if let Some(n) = plan::next_after(s, last.max(now)) {
                next = Some(next.map_or(n, |m| m.min(n)));
            }
        }
    }
    handled.retain(|k, _| configured.contains(k));
    next
}

/// Where a schedule stands when this daemon first sees it: as recorded by an earlier run, or,
/// for a new schedule, now (a new schedule does not make up for times before it existed).
async fn first_sight<E: Engine>(jobs: &Jobs<E>, key: &str, now: Timestamp) -> Timestamp {
    match jobs.reader.schedule_last(key.to_string()).await {
        Ok(Some(ms)) => Timestamp::from_millisecond(ms).unwrap_or(now),
        Ok(None) => {
            record(jobs, key, now).await;
            now
        }
        Err(e) => {
            tracing::warn!("cannot read when a schedule last ran: {e}");
            now
        }
    }
}

/// Records that every planned time of schedule `key` up to `at` is handled.
async fn record<E: Engine>(jobs: &Jobs<E>, key: &str, at: Timestamp) {
    if let Err(e) = jobs
        .writer
        .schedule_ran(key.to_string(), at.as_millisecond())
        .await
    {
        tracing::warn!("cannot record a schedule's run: {e}");
    }
}

/// Starts the job of a schedule's run planned at `at` (in its own task: resolving the branch
/// asks the git server, and other schedules need not wait for it).
fn start<E: Engine>(jobs: &Arc<Jobs<E>>, repo: &str, s: &Schedule, at: Timestamp) {
    let (jobs, repo, s) = (jobs.clone(), repo.to_string(), s.clone());
    tokio::spawn(async move {
        let planned = at.to_zoned(s.zone.clone());
        match jobs
            .run_as(
                &repo,
                s.branch.as_deref(),
                Default::default(),
                AUTHOR,
                "schedule",
            )
            .await
        {
            Ok(id) => tracing::info!(
                job_id = id,
                repo = %repo,
                "schedule {:?}: started the run planned at {planned}",
                s.pattern
            ),
            Err(e) => tracing::warn!(
                repo = %repo,
                "schedule {:?}: cannot start the run planned at {planned}: {e}",
                s.pattern
            ),
        }
    });
}
