//! `update(&mut Model, Msg) -> Vec<Command>`: every change to the UI state, synchronous and
//! free of I/O. Keys, daemon answers and connection changes come in as [`Msg`]; requests go out
//! as [`Command`]s that the run loop sends.

use super::model::{
    Command, Conn, ConnOpt, JobView, LOG_READ, LogWindow, Model, Overlay, PromptKind, Tag,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use microci_proto::{Event, Job, JobStatus, Reply, Request};

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The terminal changed size.
    Resize(u16, u16),
    /// A connection was made and greeted.
    Connected {
        /// The daemon's release.
        version: String,
    },
    /// The connection is gone; another try in `retry_in` seconds.
    Disconnected {
        /// Why.
        error: String,
        /// Seconds until the retry.
        retry_in: u64,
    },
    /// Periodic: refresh the status bar and ages.
    Tick,
    /// A request succeeded.
    Reply(Tag, Reply),
    /// A request failed.
    Failed(Tag, String),
    /// A subscription event.
    Event(Tag, Event),
}

/// Applies one message.
pub fn update(m: &mut Model, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(k) => key(m, k),
        Msg::Resize(w, h) => {
            m.size = (w, h);
            Vec::new()
        }
        Msg::Connected { version } => {
            m.conn = ConnOpt(Conn::Connected { version });
            let mut cmds = vec![
                Command::Send(Tag::Status, Request::Status),
                Command::Send(Tag::Watch, Request::WatchJobs),
            ];
            cmds.extend(reload(m));
            if let Some(v) = &m.job_view {
                let id = v.job.id;
                cmds.push(Command::Send(Tag::Job, Request::GetJob { job: id }));
                cmds.extend(refollow(m));
            }
            cmds
        }
        Msg::Disconnected { error, retry_in } => {
            if !error.is_empty() {
                m.message = Some(format!("connection lost: {error}"));
            }
            m.conn = ConnOpt(Conn::Disconnected { error, retry_in });
            m.loading = false;
            if let Some(v) = &mut m.job_view {
                v.log.pending_older = false;
                v.log.pending_newer = false;
            }
            Vec::new()
        }
        Msg::Tick => {
            if m.connected() {
                vec![Command::Send(Tag::Status, Request::Status)]
            } else {
                Vec::new()
            }
        }
        Msg::Reply(tag, reply) => on_reply(m, tag, reply),
        Msg::Failed(tag, error) => {
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
                Tag::Repos => m.overlay = Overlay::None,
                _ => {}
            }
            m.message = Some(error);
            Vec::new()
        }
        Msg::Event(tag, event) => on_event(m, tag, event),
    }
}

/// Starts the list over with the current filter.
fn reload(m: &mut Model) -> Vec<Command> {
    m.list_generation += 1;
    m.loading = true;
    m.more_older = true;
    let generation = m.list_generation;
    vec![Command::Send(
        Tag::Jobs {
            generation,
            older: false,
        },
        Request::ListJobs(m.filter.query(None)),
    )]
}

/// Asks for the next older page when the highlight nears the end of what is loaded.
fn maybe_page(m: &mut Model) -> Vec<Command> {
    if m.loading || !m.more_older || !m.connected() || m.selected + 10 < m.jobs.len() {
        return Vec::new();
    }
    m.loading = true;
    let before = m.jobs.last().map(|j| j.id);
    vec![Command::Send(
        Tag::Jobs {
            generation: m.list_generation,
            older: true,
        },
        Request::ListJobs(m.filter.query(before)),
    )]
}

/// Opens (or re-opens) a follow subscription for the job view from the tail of its log; the
/// one it replaces, if any, is ended.
fn refollow(m: &mut Model) -> Vec<Command> {
    m.follow_generation += 1;
    let generation = m.follow_generation;
    let Some(v) = &mut m.job_view else {
        return Vec::new();
    };
    let mut cmds = Vec::new();
    if v.generation != 0 {
        cmds.push(Command::Unsubscribe(Tag::Follow {
            generation: v.generation,
        }));
    }
    // A detached window starts over at the tail; an attached one continues where it ends, so
    // a reconnect neither repeats nor skips anything.
    let from = if v.log.detached {
        let end = v.log.live_end.max(v.job.log_size);
        let from = end.saturating_sub(LOG_READ);
        v.log = LogWindow::at(from);
        v.log.live_end = end;
        v.top = 0;
        from
    } else {
        v.log.end()
    };
    v.generation = generation;
    v.log.detached = false;
    cmds.push(Command::Send(
        Tag::Follow { generation },
        Request::FollowLog {
            job: v.job.id,
            offset: from,
        },
    ));
    cmds
}

fn open_job(m: &mut Model, job: Job) -> Vec<Command> {
    let from = job.log_size.saturating_sub(LOG_READ);
    m.job_view = Some(JobView {
        log: LogWindow::at(from),
        job,
        follow: true,
        top: 0,
        generation: 0,
    });
    refollow(m)
}

fn on_reply(m: &mut Model, tag: Tag, reply: Reply) -> Vec<Command> {
    match (tag, reply) {
        (Tag::Status, Reply::Status(s)) => m.status = Some(s),
        (Tag::Jobs { generation, older }, Reply::Jobs { jobs }) => {
            if generation != m.list_generation {
                return Vec::new();
            }
            m.loading = false;
            m.more_older = jobs.len() as u32 >= super::model::PAGE;
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
                    return refollow(m);
                }
            }
        }
        (Tag::Action, Reply::Created { job }) => m.message = Some(format!("job {job} created")),
        (Tag::Action, Reply::Job { job }) => {
            m.message = Some(format!("job {} is {}", job.id, job.status));
            upsert(m, job);
        }
        (Tag::Repos, Reply::Repos { repos }) => {
            if matches!(m.overlay, Overlay::PickRepo { .. }) {
                if repos.is_empty() {
                    m.overlay = Overlay::None;
                    m.message = Some("the daemon knows no repositories yet".into());
                } else {
                    m.overlay = Overlay::PickRepo { repos, selected: 0 };
                }
            }
        }
        (_, Reply::Subscribed) | (Tag::Unsubscribe, Reply::Done) => {}
        (tag, reply) => m.message = Some(format!("unexpected answer for {tag:?}: {reply:?}")),
    }
    Vec::new()
}

/// A live job change: update it in place, or add it at the top when it is new and matches.
fn upsert(m: &mut Model, job: Job) {
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

fn on_event(m: &mut Model, tag: Tag, event: Event) -> Vec<Command> {
    match (tag, event) {
        (Tag::Watch, Event::Job { job }) => upsert(m, job),
        (Tag::Watch, Event::Lagged) => return reload(m),
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
                    } else if v.log.bytes() + chunk.data.len() as u64 > super::model::LOG_CAP {
                        v.log.detached = true;
                    } else {
                        v.log.push_back(chunk);
                    }
                }
                Event::Job { job } => {
                    v.job = job.clone();
                    upsert(m, job);
                }
                Event::Lagged => return refollow(m),
                Event::End => {}
            }
        }
        _ => {}
    }
    Vec::new()
}

fn key(m: &mut Model, k: KeyEvent) -> Vec<Command> {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return vec![Command::Quit];
    }
    match m.overlay.clone() {
        Overlay::None => {}
        Overlay::Help => {
            m.overlay = Overlay::None;
            return Vec::new();
        }
        Overlay::ConfirmCancel(id) => {
            m.overlay = Overlay::None;
            if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                return vec![Command::Send(Tag::Action, Request::Cancel { job: id })];
            }
            m.message = Some("not cancelled".into());
            return Vec::new();
        }
        Overlay::Prompt { kind, mut text } => {
            match k.code {
                KeyCode::Esc => m.overlay = Overlay::None,
                KeyCode::Enter => {
                    m.overlay = Overlay::None;
                    let value = (!text.trim().is_empty()).then(|| text.trim().to_string());
                    return match kind {
                        PromptKind::Search => {
                            m.filter.search = value;
                            reload(m)
                        }
                        PromptKind::Repo => {
                            m.filter.repo = value;
                            reload(m)
                        }
                        PromptKind::Ref { repo } => vec![Command::Send(
                            Tag::Action,
                            Request::Run {
                                repo,
                                git_ref: value,
                            },
                        )],
                    };
                }
                KeyCode::Backspace => {
                    text.pop();
                    m.overlay = Overlay::Prompt { kind, text };
                }
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < 200 => {
                    text.push(c);
                    m.overlay = Overlay::Prompt { kind, text };
                }
                _ => {}
            }
            return Vec::new();
        }
        Overlay::PickRepo { repos, selected } => {
            match k.code {
                KeyCode::Esc | KeyCode::Char('q') => m.overlay = Overlay::None,
                KeyCode::Up | KeyCode::Char('k') => {
                    m.overlay = Overlay::PickRepo {
                        selected: selected.saturating_sub(1),
                        repos,
                    }
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    m.overlay = Overlay::PickRepo {
                        selected: (selected + 1).min(repos.len().saturating_sub(1)),
                        repos,
                    }
                }
                KeyCode::Enter => {
                    if let Some(r) = repos.get(selected) {
                        m.overlay = Overlay::Prompt {
                            kind: PromptKind::Ref {
                                repo: r.name.clone(),
                            },
                            text: r.default_branch.clone(),
                        };
                    }
                }
                _ => {}
            }
            return Vec::new();
        }
    }
    m.message = None;
    if m.job_view.is_some() {
        job_key(m, k)
    } else {
        list_key(m, k)
    }
}

/// Cancel / retry / run keys, shared by both screens.
fn action_key(m: &mut Model, code: KeyCode, target: Option<&Job>) -> Option<Vec<Command>> {
    let needs_conn = matches!(code, KeyCode::Char('c' | 'r' | 'n'));
    if needs_conn && !m.connected() {
        m.message = Some("not connected".into());
        return Some(Vec::new());
    }
    match code {
        KeyCode::Char('?') => m.overlay = Overlay::Help,
        KeyCode::Char('c') => match target {
            Some(j) if !j.status.is_final() => m.overlay = Overlay::ConfirmCancel(j.id),
            Some(j) => m.message = Some(format!("job {} is already {}", j.id, j.status)),
            None => {}
        },
        KeyCode::Char('r') => {
            if let Some(j) = target {
                return Some(vec![Command::Send(
                    Tag::Action,
                    Request::Retry { job: j.id },
                )]);
            }
        }
        KeyCode::Char('n') => {
            m.overlay = Overlay::PickRepo {
                repos: Vec::new(),
                selected: 0,
            };
            return Some(vec![Command::Send(Tag::Repos, Request::ListRepos)]);
        }
        _ => return None,
    }
    Some(Vec::new())
}

fn list_key(m: &mut Model, k: KeyEvent) -> Vec<Command> {
    let target = m.jobs.get(m.selected).cloned();
    if let Some(cmds) = action_key(m, k.code, target.as_ref()) {
        return cmds;
    }
    let last = m.jobs.len().saturating_sub(1);
    let page = m.list_rows().max(1);
    match k.code {
        KeyCode::Char('q') => return vec![Command::Quit],
        KeyCode::Down | KeyCode::Char('j') => m.selected = (m.selected + 1).min(last),
        KeyCode::Up | KeyCode::Char('k') => m.selected = m.selected.saturating_sub(1),
        KeyCode::PageDown => m.selected = (m.selected + page).min(last),
        KeyCode::PageUp => m.selected = m.selected.saturating_sub(page),
        KeyCode::Home | KeyCode::Char('g') => m.selected = 0,
        KeyCode::End | KeyCode::Char('G') => m.selected = last,
        KeyCode::Enter => {
            if let Some(job) = target {
                return open_job(m, job);
            }
        }
        KeyCode::Char('s') => {
            m.filter.status = match m.filter.status {
                None => Some(JobStatus::ALL[0]),
                Some(s) => JobStatus::ALL
                    .iter()
                    .position(|x| *x == s)
                    .and_then(|i| JobStatus::ALL.get(i + 1).copied()),
            };
            return reload(m);
        }
        KeyCode::Char('/') => {
            m.overlay = Overlay::Prompt {
                kind: PromptKind::Search,
                text: m.filter.search.clone().unwrap_or_default(),
            }
        }
        KeyCode::Char('R') => {
            m.overlay = Overlay::Prompt {
                kind: PromptKind::Repo,
                text: m.filter.repo.clone().unwrap_or_default(),
            }
        }
        KeyCode::Char('x') | KeyCode::Esc => {
            if m.filter != Default::default() {
                m.filter = Default::default();
                return reload(m);
            }
        }
        _ => return Vec::new(),
    }
    maybe_page(m)
}

fn job_key(m: &mut Model, k: KeyEvent) -> Vec<Command> {
    let target = m.job_view.as_ref().map(|v| v.job.clone());
    if let Some(cmds) = action_key(m, k.code, target.as_ref()) {
        return cmds;
    }
    let rows = m.log_rows().max(1);
    let connected = m.connected();
    let Some(v) = &mut m.job_view else {
        return Vec::new();
    };
    let count = v.log.line_count();
    let bottom = count.saturating_sub(rows);
    let top = if v.follow { bottom } else { v.top.min(bottom) };
    let new_top = match k.code {
        KeyCode::Char('q') | KeyCode::Esc => {
            let generation = v.generation;
            m.job_view = None;
            // The daemon would otherwise keep streaming a log nobody looks at.
            return vec![Command::Unsubscribe(Tag::Follow { generation })];
        }
        KeyCode::Up | KeyCode::Char('k') => top.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => top + 1,
        KeyCode::PageUp => top.saturating_sub(rows),
        KeyCode::PageDown | KeyCode::Char(' ') => top + rows,
        KeyCode::Home | KeyCode::Char('g') if v.log.start() > 0 && connected => {
            // The real start of the log, not of the window: start a window there and read on
            // from it; the live stream is ignored until G/f.
            let live_end = v.log.live_end;
            v.log = LogWindow::at(0);
            v.log.live_end = live_end;
            v.log.detached = true;
            v.log.pending_newer = true;
            v.follow = false;
            v.top = 0;
            return vec![Command::Send(
                Tag::LogNewer {
                    generation: v.generation,
                },
                Request::ReadLog {
                    job: v.job.id,
                    offset: 0,
                    max: LOG_READ as u32,
                },
            )];
        }
        KeyCode::Home | KeyCode::Char('g') => 0,
        KeyCode::End | KeyCode::Char('G') | KeyCode::Char('f') => {
            v.follow = true;
            if v.log.detached && connected {
                return refollow(m);
            }
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    // Scrolling up turns following off; only f/G/End turn it back on.
    v.follow = v.follow && new_top >= bottom;
    v.top = new_top.min(bottom);
    let mut cmds = Vec::new();
    if !connected {
        return cmds;
    }
    // Near the top of the window with more above: read the part before it.
    if v.top < rows && v.log.start() > 0 && !v.log.pending_older {
        v.log.pending_older = true;
        let start = v.log.start();
        let offset = start.saturating_sub(LOG_READ);
        cmds.push(Command::Send(
            Tag::LogOlder {
                generation: v.generation,
            },
            Request::ReadLog {
                job: v.job.id,
                offset,
                max: (start - offset) as u32,
            },
        ));
    }
    // At the bottom of a detached window: read on, or re-attach to the live stream.
    if v.log.detached && new_top >= bottom && !v.log.pending_newer {
        v.log.pending_newer = true;
        cmds.push(Command::Send(
            Tag::LogNewer {
                generation: v.generation,
            },
            Request::ReadLog {
                job: v.job.id,
                offset: v.log.end(),
                max: LOG_READ as u32,
            },
        ));
    }
    cmds
}
