//! `update(&mut Model, Msg) -> Vec<Command>`: every change to the UI state, synchronous and
//! free of I/O. Keys, daemon answers and connection changes come in as [`Msg`]; requests go out
//! as [`Command`]s that the run loop sends. This file dispatches; like `view`, the rest is split
//! by what is on screen: `list` and `job` keys, the `overlays`, and the daemon's `replies` and
//! events.

mod job;
mod list;
mod overlays;
mod replies;

use super::model::{Command, Conn, Model, Tag};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use microci_proto::{Event, Reply, Request};

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
            m.conn = Conn::Connected { version };
            if m.message.as_deref() == Some(replies::STOPPING) {
                m.message = None;
            }
            let mut cmds = vec![
                Command::Send(Tag::Status, Request::Status),
                Command::Send(Tag::Watch, Request::WatchJobs),
            ];
            cmds.extend(list::reload(m));
            if let Some(v) = &m.job_view {
                let id = v.job.id;
                cmds.push(Command::Send(Tag::Job, Request::GetJob { job: id }));
                cmds.extend(job::refollow(m));
            }
            cmds
        }
        Msg::Disconnected { error, retry_in } => {
            // "Stopping" says more than the closed connection that follows it.
            if !error.is_empty() && m.message.as_deref() != Some(replies::STOPPING) {
                m.message = Some(format!("connection lost: {error}"));
            }
            m.conn = Conn::Disconnected { error, retry_in };
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
        Msg::Reply(tag, reply) => replies::on_reply(m, tag, reply),
        Msg::Failed(tag, error) => replies::on_failure(m, tag, error),
        Msg::Event(tag, event) => replies::on_event(m, tag, event),
    }
}

/// A key: Ctrl-C quits from anywhere; an open overlay takes the others, then the screen does.
fn key(m: &mut Model, k: KeyEvent) -> Vec<Command> {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return vec![Command::Quit];
    }
    if let Some(cmds) = overlays::key(m, k) {
        return cmds;
    }
    m.message = None;
    if m.job_view.is_some() {
        job::key(m, k)
    } else {
        list::key(m, k)
    }
}
