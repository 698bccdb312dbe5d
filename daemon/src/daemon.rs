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

/// Starts serving: the store is opened (and migrated), the jobs a previous run left STARTED are
/// taken over (re-attached, or queued again when they were still in their checkout), then the
/// listeners and the scheduler run until [`Running::shutdown`].
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
    // Which engines answer, before anything is placed or re-attached.
    if let Err(e) = jobs.engine.ping().await {
        tracing::warn!("no engine answers: {e}");
    }
    let reattach = scheduler::recover(&jobs).await;

    let shutdown = CancellationToken::new();
    jobs.engine.monitor(shutdown.clone());
    let http_addr = listeners
        .http
        .local_addr()
        .map_err(|source| StartError::Http {
            addr: config.http.listen.to_string(),
            source,
        })?;
    let http = {
        let (routes, stop, limits) = (
            http::routes(jobs.clone(), shutdown.clone()),
            shutdown.clone(),
            config.http.clone(),
        );
        let listener = listeners.http;
        tokio::spawn(async move { http::serve(listener, routes, &limits, stop).await })
    };
    let control = tokio::spawn(listeners.control.serve(jobs.clone(), shutdown.clone()));
    let scheduler = scheduler::spawn(jobs.clone(), reattach, shutdown.clone());
    let retention = crate::retention::spawn(jobs.clone(), shutdown.clone());
    let statuses = crate::status::spawn(jobs.clone(), shutdown.clone());
    let notices = crate::notify::spawn(jobs.clone(), shutdown.clone());
    let schedules = crate::schedule::spawn(jobs.clone(), shutdown.clone());
    tracing::info!(
        "listening on http://{http_addr} and {}",
        config.socket.display()
    );
    Ok(Running {
        jobs,
        http_addr,
        shutdown,
        front: vec![http, control, retention, statuses, notices, schedules],
        scheduler,
        _state: state,
    })
}

impl<E: Engine> Running<E> {
    /// The job service, for what the caller reports (systemd status, tests).
    pub fn jobs(&self) -> &Arc<Jobs<E>> {
        &self.jobs
    }

    /// Re-reads the configuration file (SIGHUP). A file that does not parse or validate is
    /// refused — the daemon runs on with what it had, and `status` says the reload failed —
    /// otherwise jobs, webhooks and requests from now on use it, and the settings that only
    /// change on restart are returned.
    pub fn reload(
        &self,
        path: &std::path::Path,
        dirs: &crate::config::SystemdDirs,
    ) -> Result<Vec<&'static str>, crate::config::ConfigError> {
        match Config::load(path, dirs) {
            Ok(new) => {
                for warning in &new.warnings {
                    tracing::warn!("{warning}");
                }
                Ok(self.jobs.reload(new))
            }
            Err(e) => {
                self.jobs.set_reload_error(Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Where the HTTP listener listens (the port, when it was 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops: the listeners first (open requests may finish for a few seconds), then the
    /// scheduler, which leaves running containers to the next start (or stops them, per
    /// `docker.on_stop`). The state directory's lock is released last.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.front {
            let _ = task.await;
        }
        let _ = self.scheduler.await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::SystemdDirs;
    use crate::runner::fake::FakeEngine;
    use crate::testing::{repo, script};
    use microci_proto::JobStatus;
    use std::path::Path;

    /// A whole daemon in this process: port 0, a socket in a temp dir, the fake engine. A signed
    /// push over real HTTP becomes a job that runs and succeeds; shutdown releases the state dir.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_daemon_runs_in_process_on_port_0() {
        let dir = tempfile::Builder::new()
            .prefix("mcd")
            .tempdir_in("/tmp")
            .unwrap();
        let repo_dir = dir.path().join("repo");
        std::fs::create_dir_all(&repo_dir).unwrap();
        let commit = repo(&repo_dir, &[&script(&["print:in process", "exit:0"], None)])
            .pop()
            .unwrap();
        let secret = "0123456789abcdef0123";
        let text = format!(
            "state_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[control]\nsocket = \"{}\"\n\
             [docker]\ndefault_image = \"fake\"\n[webhook]\nsecret = \"{secret}\"\n\
             [[repo]]\nname = \"a/b\"\nclone_url = \"{}\"\n",
            dir.path().join("state").display(),
            dir.path().join("c.sock").display(),
            repo_dir.display()
        );
        let config = Config::parse(Path::new("/c.toml"), &text, &SystemdDirs::default()).unwrap();
        let state = StateDir::lock(&config.state_dir).unwrap();
        let listeners = Listeners::bind(&config, Activated::default())
            .await
            .unwrap();
        let running = start(config, state, listeners, FakeEngine::default())
            .await
            .unwrap();
        let port = running.http_addr().port();
        assert_ne!(port, 0);

        let body = serde_json::json!({
            "ref": "refs/heads/main", "before": "0".repeat(40), "after": commit,
            "repository": {"full_name": "a/b", "clone_url": "https://forge.invalid/a/b.git"},
            "pusher": {"login": "alice"}
        })
        .to_string();
        let sig = crate::forge::signature::hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
        let request = format!(
            "POST /hooks/gogs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             X-Gogs-Event: push\r\nX-Gogs-Signature: {sig}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");

        let jobs = running.jobs().clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let job = loop {
            let job = jobs.job(1).await.unwrap().unwrap();
            if job.status.is_final() {
                break job;
            }
            assert!(std::time::Instant::now() < deadline, "{job:?}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
        let log = jobs
            .logs
            .chunk(1, 0, microci_proto::MAX_LOG_READ)
            .await
            .unwrap();
        assert!(log.data.contains("\nin process\n"), "{}", log.data);
        drop(jobs);
        running.shutdown().await;
        // The state directory is free again.
        StateDir::lock(&dir.path().join("state")).unwrap();
    }
}
