//! The UI's run loop, where all its I/O lives: one `tokio::select!` over terminal input, frames
//! from the daemon, the reconnect timer, a slow tick (status bar and ages) and SIGTERM/SIGHUP.
//! It redraws after a wake-up that changed something (a burst of daemon frames is taken whole
//! before one redraw) and sleeps otherwise. Requests from `update` are sent here and
//! their ids remembered, so answers and events come back to `update` with the tag they were
//! sent with. The terminal is restored on every exit path (`ratatui::init` also installs a panic
//! hook that restores it).

use super::model::{Command, Model, Tag};
use super::update::{Msg, update};
use super::view::view;
use crate::client::{ClientError, Connection};
use crate::endpoint::Endpoint;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::{FutureExt, StreamExt};
use microci_proto::{Event, Reply, Request, ServerMessage};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, sleep_until};

type Connecting = Pin<Box<dyn Future<Output = Result<Connection, ClientError>> + Send>>;

/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the status bar is refreshed.
const TICK: Duration = Duration::from_secs(5);

/// Why the loop woke up.
// One value per wake-up, handled at once: boxing the server's message would only add an
// allocation per frame.
#[allow(clippy::large_enum_variant)]
enum Wake {
    Terminal(Option<std::io::Result<TermEvent>>),
    Server(Result<ServerMessage, ClientError>),
    Connected(Result<Connection, ClientError>),
    Countdown,
    Tick,
    Signal,
}

/// Runs the interactive UI against the daemon at `socket` until the person quits.
///
/// The first connection is made before the terminal is taken over, so a wrong socket path or a
/// protocol mismatch is an ordinary error message; later drops are retried with backoff.
pub async fn run(endpoint: Endpoint) -> Result<(), super::UiError> {
    let conn = endpoint.connect().await?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(e.into());
        }
    };
    let size = terminal
        .size()
        .map(|s| (s.width, s.height))
        .unwrap_or((80, 24));
    let mut lp = Loop {
        endpoint,
        model: Model::new(size, no_color),
        conn: None,
        routes: HashMap::new(),
        backoff: Duration::from_secs(1),
        next_attempt: None,
    };
    let result = lp.run(&mut terminal, conn, &mut sigterm, &mut sighup).await;
    ratatui::restore();
    result
}

struct Loop {
    endpoint: Endpoint,
    model: Model,
    conn: Option<Connection>,
    routes: HashMap<u64, Tag>,
    backoff: Duration,
    next_attempt: Option<Instant>,
}

impl Loop {
    async fn run(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        first: Connection,
        sigterm: &mut tokio::signal::unix::Signal,
        sighup: &mut tokio::signal::unix::Signal,
    ) -> Result<(), super::UiError> {
        let mut events = EventStream::new();
        let mut connecting: Option<Connecting> = None;
        let mut tick = tokio::time::interval(TICK);
        tick.reset();
        let version = first.server_version().to_string();
        self.conn = Some(first);
        if self.apply(Msg::Connected { version }).await {
            return Ok(());
        }
        let mut dirty = true;
        loop {
            if dirty {
                terminal.draw(|f| view(&self.model, f))?;
            }
            dirty = false;
            let waiting = self.conn.is_none() && connecting.is_none();
            let countdown_at = self
                .next_attempt
                .map(|t| t.min(Instant::now() + Duration::from_secs(1)))
                .unwrap_or_else(Instant::now);
            let wake = tokio::select! {
                ev = events.next() => Wake::Terminal(ev),
                r = recv(&mut self.conn) => Wake::Server(r),
                r = poll_connecting(&mut connecting) => Wake::Connected(r),
                _ = sleep_until(countdown_at), if waiting => Wake::Countdown,
                _ = tick.tick() => Wake::Tick,
                _ = sigterm.recv() => Wake::Signal,
                _ = sighup.recv() => Wake::Signal,
            };
            let msg = match wake {
                Wake::Signal => return Ok(()),
                Wake::Terminal(None) => return Ok(()),
                Wake::Terminal(Some(Err(e))) => return Err(e.into()),
                Wake::Terminal(Some(Ok(TermEvent::Key(k)))) if k.kind == KeyEventKind::Press => {
                    Msg::Key(k)
                }
                Wake::Terminal(Some(Ok(TermEvent::Resize(w, h)))) => Msg::Resize(w, h),
                Wake::Terminal(Some(Ok(_))) => continue,
                Wake::Tick => Msg::Tick,
                Wake::Server(Ok(frame)) => match self.route(frame) {
                    Some(msg) => msg,
                    None => continue,
                },
                Wake::Server(Err(e)) => self.lost(e.to_string()),
                Wake::Connected(Ok(conn)) => {
                    connecting = None;
                    self.backoff = Duration::from_secs(1);
                    self.next_attempt = None;
                    let version = conn.server_version().to_string();
                    self.conn = Some(conn);
                    Msg::Connected { version }
                }
                Wake::Connected(Err(e)) => {
                    connecting = None;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    self.lost(e.to_string())
                }
                Wake::Countdown => {
                    let at = self.next_attempt.unwrap_or_else(Instant::now);
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        let endpoint = self.endpoint.clone();
                        connecting = Some(Box::pin(async move { endpoint.connect().await }));
                        continue;
                    }
                    Msg::Disconnected {
                        error: String::new(),
                        retry_in: left.as_secs_f64().ceil() as u64,
                    }
                }
            };
            dirty = true;
            if self.apply(msg).await {
                return Ok(());
            }
            // Take a burst of daemon frames that are already here before drawing once.
            for _ in 0..256 {
                let Some(conn) = self.conn.as_mut() else {
                    break;
                };
                let Some(r) = conn.recv().now_or_never() else {
                    break;
                };
                let msg = match r {
                    Ok(frame) => match self.route(frame) {
                        Some(msg) => msg,
                        None => continue,
                    },
                    Err(e) => self.lost(e.to_string()),
                };
                if self.apply(msg).await {
                    return Ok(());
                }
            }
        }
    }

    /// Forgets the connection and schedules the next attempt.
    fn lost(&mut self, error: String) -> Msg {
        self.conn = None;
        self.routes.clear();
        self.next_attempt = Some(Instant::now() + self.backoff);
        Msg::Disconnected {
            error,
            retry_in: self.backoff.as_secs(),
        }
    }

    /// Turns a daemon frame into a message for `update`, by the tag its id was sent with.
    fn route(&mut self, frame: ServerMessage) -> Option<Msg> {
        match frame {
            ServerMessage::Ok { id, reply } => {
                let tag = if reply == Reply::Subscribed {
                    self.routes.get(&id).cloned()
                } else {
                    self.routes.remove(&id)
                }?;
                Some(Msg::Reply(tag, reply))
            }
            ServerMessage::Error { id, message, .. } => {
                let tag = self.routes.remove(&id).unwrap_or(Tag::Action);
                Some(Msg::Failed(tag, message))
            }
            ServerMessage::Event { id, event } => {
                let tag = if event == Event::End {
                    self.routes.remove(&id)
                } else {
                    self.routes.get(&id).cloned()
                }?;
                Some(Msg::Event(tag, event))
            }
            ServerMessage::Hello { .. } => None,
        }
    }

    /// Runs `update` and carries out its commands; true when the UI should quit.
    async fn apply(&mut self, msg: Msg) -> bool {
        let mut queue = vec![msg];
        while let Some(msg) = queue.pop() {
            let mut sends = Vec::new();
            for cmd in update(&mut self.model, msg) {
                match cmd {
                    Command::Quit => return true,
                    Command::Send(tag, request) => sends.push((tag, request)),
                    Command::Unsubscribe(tag) => {
                        let ids: Vec<u64> = self
                            .routes
                            .iter()
                            .filter(|(_, t)| **t == tag)
                            .map(|(id, _)| *id)
                            .collect();
                        for id in ids {
                            self.routes.remove(&id);
                            sends.push((
                                Tag::Unsubscribe,
                                Request::Unsubscribe { subscription: id },
                            ));
                        }
                    }
                }
            }
            for (tag, request) in sends {
                let Some(conn) = self.conn.as_mut() else {
                    break;
                };
                match conn.send(request).await {
                    Ok(id) => {
                        self.routes.insert(id, tag);
                    }
                    Err(e) => {
                        let m = self.lost(e.to_string());
                        queue.push(m);
                        break;
                    }
                }
            }
        }
        false
    }
}

async fn recv(conn: &mut Option<Connection>) -> Result<ServerMessage, ClientError> {
    match conn {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

async fn poll_connecting(c: &mut Option<Connecting>) -> Result<Connection, ClientError> {
    match c {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}
