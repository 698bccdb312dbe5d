//! The job screen's keys, and its log requests: opening a job follows the tail of its log;
//! scrolling reads the part above the kept window, or below it once detached from the live
//! stream; `g` starts a window at the real start of the log and `G`/`f` follow the tail again.

use super::super::model::{Command, JobView, LOG_READ, LogWindow, Model, Tag};
use super::overlays;
use crossterm::event::{KeyCode, KeyEvent};
use microci_proto::{Job, Request};

/// Opens the job view on `job`, following the tail of its log.
pub(super) fn open(m: &mut Model, job: Job) -> Vec<Command> {
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

/// Opens (or re-opens) a follow subscription for the job view from the tail of its log; the
/// one it replaces, if any, is ended.
pub(super) fn refollow(m: &mut Model) -> Vec<Command> {
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

/// A key on the job screen.
pub(super) fn key(m: &mut Model, k: KeyEvent) -> Vec<Command> {
    let target = m.job_view.as_ref().map(|v| v.job.clone());
    if let Some(cmds) = overlays::action_key(m, k.code, target.as_ref()) {
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
