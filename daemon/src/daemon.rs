//! Start and stop. [`start`] takes a locked state directory, bound listeners and an engine, opens
//! the store, ends what the previous run left behind, and serves; [`Running::shutdown`] stops in
//! order. Signals, socket activation and systemd stay with the caller (`main.rs`), so a test can
//! run a whole daemon in-process on port 0.

use crate::config::Config;
use crate::control::{ControlError, ControlSocket};
use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::state_dir::{StateDir, StateDirError};
use crate::store::StoreError;
use crate::systemd::Activated;
use crate::{http, scheduler, store};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory is missing, unusable or another daemon's.
    #[error(transparent)]
    StateDir(#[from] StateDirError),
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    /// The control socket could not be set up.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The HTTP listener could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Http {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The two sockets the daemon serves.
pub struct Listeners {
    /// Webhooks and pages.
    pub http: TcpListener,
    /// The administration socket.
    pub control: ControlSocket,
}

impl Listeners {
    /// The sockets systemd passed, else bound where the config says. Call with the state
    /// directory locked: a stale control socket is replaced here.
    pub async fn bind(config: &Config, activated: Activated) -> Result<Listeners, StartError> {
        let control = match activated.control {
            Some(l) => ControlSocket::from_listener(l).map_err(|source| ControlError::Io {
                path: "(passed by systemd)".into(),
                source,
            })?,
            None => ControlSocket::bind(&config.socket, &config.socket_group)?,
        };
        let http_error = |addr: String| move |source| StartError::Http { addr, source };
        let http = match activated.http {
            Some(l) => l
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(l))
                .map_err(http_error("(passed by systemd)".into()))?,
            None => TcpListener::bind(config.http.listen)
                .await
                .map_err(http_error(config.http.listen.to_string()))?,
        };
        Ok(Listeners { http, control })
    }
}

/// A daemon that is serving.
pub struct Running<E: Engine> {
    jobs: Arc<Jobs<E>>,
    http_addr: SocketAddr,
    shutdown: CancellationToken,
    front: Vec<JoinHandle<()>>,
    scheduler: JoinHandle<()>,
    _state: StateDir,
}

/// Starts serving: the store is opened (and migrated), jobs a previous run left STARTED end
/// ERRORED and its containers and workspaces are removed, then the listeners and the scheduler
/// run until [`Running::shutdown`].
pub async fn start<E: Engine>(
    config: Config,
    state: StateDir,
    listeners: Listeners,
    engine: E,
) -> Result<Running<E>, StartError> {
    state.create_layout()?;
    let config = Arc::new(config);
    let store = store::open(&state.database())?;
    let jobs = Arc::new(Jobs::new(config.clone(), &state, store, Arc::new(engine)));
    scheduler::recover(&jobs).await;

    let shutdown = CancellationToken::new();
    let http_addr = listeners
        .http
        .local_addr()
        .map_err(|source| StartError::Http {
            addr: config.http.listen.to_string(),
            source,
        })?;
    let http = {
        let (routes, stop, limits) = (
            http::routes(jobs.clone()),
            shutdown.clone(),
            config.http.clone(),
        );
        let listener = listeners.http;
        tokio::spawn(async move { http::serve(listener, routes, &limits, stop).await })
    };
    let control = tokio::spawn(listeners.control.serve(jobs.clone(), shutdown.clone()));
    let scheduler = scheduler::spawn(jobs.clone(), shutdown.clone());
    tracing::info!(
        "listening on http://{http_addr} and {}",
        config.socket.display()
    );
    Ok(Running {
        jobs,
        http_addr,
        shutdown,
        front: vec![http, control],
        scheduler,
        _state: state,
    })
}

impl<E: Engine> Running<E> {
    /// The job service, for what the caller reports (systemd status, tests).
    pub fn jobs(&self) -> &Arc<Jobs<E>> {
        &self.jobs
    }

    /// Where the HTTP listener listens (the port, when it was 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops: the listeners first (open requests may finish for a few seconds), then the
    /// scheduler, which stops running jobs and records them as interrupted. The state directory's
    /// lock is released last.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.front {
            let _ = task.await;
        }
        let _ = self.scheduler.await;
    }
}
