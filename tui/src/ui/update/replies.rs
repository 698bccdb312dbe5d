//! The daemon's side: answers to requests (success or failure) and subscription events, routed
//! by the [`Tag`] they were sent with. Answers for an older list or follow generation are
//! dropped here.

use super::super::model::{Command, LOG_CAP, Model, Overlay, PAGE, Tag};
use super::super::prompt::Pick;
use super::{job, list};
use microci_proto::{Event, Job, Reply};

/// A request succeeded.
pub(super) fn on_reply(m: &mut Model, tag: Tag, reply: Reply) -> Vec<Command> {
    match (tag, reply) {
        (Tag::Status, Reply::Status(s)) => m.status = Some(s),
        (Tag::Jobs { generation, older }, Reply::Jobs { jobs }) => {
            if generation != m.list_generation {
                return Vec::new();
            }
            m.loading = false;
            m.more_older = jobs.len() as u32 >= PAGE;
            if older {
                let last = m.jobs.last().map_or(i64::MAX, |j| j.id);
                m.jobs.extend(jobs.into_iter().filter(|j| j.id < last));
            } else {
                // A fresh first page (after connect or a filter change) replaces the list;
                // the highlight stays on the same job when it is still there.
                let keep = m.jobs.get(m.selected).map(|j| j.id);
                m.jobs = jobs;
                m.selected = keep
                    .and_then(|id| m.jobs.iter().position(|j| j.id == id))
                    .unwrap_or(0);
            }
        }
        (Tag::Job, Reply::Job { job }) => {
            if let Some(v) = &mut m.job_view
                && v.job.id == job.id
            {
                v.job = job;
            }
        }
        (Tag::LogOlder { generation }, Reply::Log(chunk)) => {
            if let Some(v) = &mut m.job_view
                && v.generation == generation
            {
                v.log.pending_older = false;
                if let Some(added) = v.log.push_front(chunk) {
                    v.top += added;
                    v.log.trim_back();
                }
            }
        }
        (Tag::LogNewer { generation }, Reply::Log(chunk)) => {
            if let Some(v) = &mut m.job_view
                && v.generation == generation
            {
                v.log.pending_newer = false;
                let at_live_end = chunk.data.is_empty();
                if !at_live_end && v.log.push_back(chunk) {
                    let removed = v.log.trim_front();
                    v.top = v.top.saturating_sub(removed);
                } else if at_live_end && !v.job.status.is_final() {
                    v.log.detached = false;
                    return job::refollow(m);
                }
            }
        }
        (Tag::Action, Reply::Created { job }) => m.message = Some(format!("job {job} created")),
        (Tag::Action, Reply::Job { job }) => {
            m.message = Some(format!("job {} is {}", job.id, job.status));
            upsert(m, job);
        }
        (Tag::Artifacts, Reply::Artifacts { job, artifacts }) => {
            if matches!(m.overlay, Overlay::Artifacts { job: open, .. } if open == job) {
                if artifacts.is_empty() {
                    m.overlay = Overlay::None;
                    m.message = Some(format!("job {job} kept no artifacts"));
                } else {
                    m.overlay = Overlay::Artifacts {
                        job,
                        pick: Pick::new(artifacts),
                    };
                }
            }
        }
        (Tag::Repos, Reply::Repos { repos }) => {
            if matches!(m.overlay, Overlay::PickRepo(_)) {
                if repos.is_empty() {
                    m.overlay = Overlay::None;
                    m.message = Some("the daemon knows no repositories yet".into());
                } else {
                    m.overlay = Overlay::PickRepo(Pick::new(repos));
                }
            }
        }
        (_, Reply::Subscribed) | (Tag::Unsubscribe, Reply::Done) => {}
        (tag, reply) => m.message = Some(format!("unexpected answer for {tag:?}: {reply:?}")),
    }
    Vec::new()
}

/// A request failed: what waited for it stops waiting, and the daemon's sentence is shown.
pub(super) fn on_failure(m: &mut Model, tag: Tag, error: String) -> Vec<Command> {
    match tag {
        // Raced the subscription's own end; nothing to tell.
        Tag::Unsubscribe => return Vec::new(),
        Tag::Jobs { .. } => m.loading = false,
        Tag::LogOlder { .. } | Tag::LogNewer { .. } => {
            if let Some(v) = &mut m.job_view {
                v.log.pending_older = false;
                v.log.pending_newer = false;
            }
        }
        Tag::Repos | Tag::Artifacts => m.overlay = Overlay::None,
        _ => {}
    }
    m.message = Some(error);
    Vec::new()
}

/// A live job change: update it in place, or add it at the top when it is new and matches.
pub(super) fn upsert(m: &mut Model, job: Job) {
    if let Some(v) = &mut m.job_view
        && v.job.id == job.id
    {
        v.job = job.clone();
    }
    if let Some(pos) = m.jobs.iter().position(|j| j.id == job.id) {
        if m.filter.matches(&job) {
            m.jobs[pos] = job;
        } else {
            m.jobs.remove(pos);
            if m.selected > pos {
                m.selected -= 1;
            }
            m.selected = m.selected.min(m.jobs.len().saturating_sub(1));
        }
    } else if m.filter.matches(&job) && m.jobs.first().is_none_or(|j| job.id > j.id) {
        m.jobs.insert(0, job);
        if m.selected > 0 {
            m.selected += 1;
        }
    }
}

/// Shown when the daemon says it is stopping, until the connection is back.
pub(super) const STOPPING: &str = "the daemon is stopping (a restart or an upgrade): reconnecting";

/// A subscription event: a job changed (`WatchJobs`), or the open job's log grew (`FollowLog`).
pub(super) fn on_event(m: &mut Model, tag: Tag, event: Event) -> Vec<Command> {
    match (tag, event) {
        // The connection closes next; the reconnect re-reads and re-follows from where it was.
        (_, Event::Stopping) => m.message = Some(STOPPING.into()),
        (Tag::Watch, Event::Job { job }) => upsert(m, job),
        (Tag::Watch, Event::Lagged) => return list::reload(m),
        (Tag::Follow { generation }, event) => {
            let Some(v) = &mut m.job_view else {
                return Vec::new();
            };
            if v.generation != generation {
                return Vec::new();
            }
            match event {
                Event::Log(chunk) => {
                    v.log.live_end = v.log.live_end.max(chunk.next_offset);
                    if v.log.detached {
                        return Vec::new();
                    }
                    if v.follow {
                        if v.log.push_back(chunk) {
                            v.log.trim_front();
                        }
                    } else if v.log.bytes() + chunk.data.len() as u64 > LOG_CAP {
                        v.log.detached = true;
                    } else {
                        v.log.push_back(chunk);
                    }
                }
                Event::Job { job } => {
                    v.job = job.clone();
                    upsert(m, job);
                }
                Event::Lagged => return job::refollow(m),
                Event::End | Event::Stopping => {}
            }
        }
        _ => {}
    }
    Vec::new()
}
