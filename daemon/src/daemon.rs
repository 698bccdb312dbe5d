//! Boot and shutdown: open the store, recover from the previous run, bind the listeners, start
//! the scheduler, tell systemd we are ready, and on SIGTERM stop in order.

use crate::config::Config;
use crate::control::ControlSocket;
use crate::events::Bus;
use crate::git::GitCache;
use crate::runner::Engine;
use crate::runner::docker::DockerEngine;
use crate::scheduler::{self, Context};
use crate::state::{Ping, Shared};
use crate::{store, systemd};
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = Arc::new(config);
    for dir in ["logs", "workspaces", "git", "git-config"] {
        let path = config.state_dir.join(dir);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    crate::git::init(&config.state_dir.join("git-config"), config.git.timeouts)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let (writer, reader) = store::open(&config.state_dir)
        .with_context(|| format!("cannot open the database in {}", config.state_dir.display()))?;
    let instance = format!(
        "{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let engine = Arc::new(DockerEngine::new(
        config.docker.clone(),
        owner_id(&config),
        instance,
    ));
    let bus = Bus::new();
    let git = Arc::new(GitCache::new(config.state_dir.join("git")));
    let ctx = Arc::new(Context {
        config: config.clone(),
        writer: writer.clone(),
        reader: reader.clone(),
        bus: bus.clone(),
        engine: engine.clone(),
        git: git.clone(),
    });
    scheduler::recover(&ctx).await;

    let activated = systemd::activated();
    let control = match activated.control {
        Some(l) => ControlSocket::from_listener(l)
            .context("cannot use the control socket systemd passed")?,
        None => ControlSocket::bind(&config.socket, &config.socket_group)?,
    };
    let http_listener = match activated.http {
        Some(l) => {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)?
        }
        None => tokio::net::TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.http.listen))?,
    };
    let shutdown = CancellationToken::new();
    let (sched, sched_task) = scheduler::spawn(ctx, shutdown.clone());
    let ping: Ping = {
        let engine = engine.clone();
        Arc::new(move || {
            let engine = engine.clone();
            Box::pin(async move { engine.ping().await.map_err(|e| e.to_string()) })
        })
    };
    let shared = Arc::new(Shared {
        config: config.clone(),
        writer,
        reader,
        bus,
        scheduler: sched,
        git,
        ping,
        started,
    });

    tracing::info!(
        "listening on http://{} and {}",
        http_listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        config.socket.display()
    );
    let http_task = {
        let (routes, stop, limits) = (
            crate::http::routes(shared.clone()),
            shutdown.clone(),
            config.http.clone(),
        );
        tokio::spawn(async move { crate::http::serve(http_listener, routes, &limits, stop).await })
    };
    let control_task = tokio::spawn(control.serve(shared.clone(), shutdown.clone()));
    let status_task = tokio::spawn(report_status(shared.clone(), shutdown.clone()));
    systemd::ready();
    tracing::info!("ready in {} ms", started.elapsed().as_millis());

    wait_for_signal().await;
    tracing::info!("stopping");
    systemd::stopping();
    shutdown.cancel();
    let _ = sched_task.await;
    let _ = control_task.await;
    let _ = http_task.await;
    let _ = status_task.await;
    Ok(())
}

/// Names this installation: the host and the state directory, hashed. Stable across restarts,
/// different for two daemons sharing one Docker Engine.
fn owner_id(config: &Config) -> String {
    use sha2::Digest;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let state =
        std::fs::canonicalize(&config.state_dir).unwrap_or_else(|_| config.state_dir.clone());
    let digest = sha2::Sha256::digest(format!("{}\0{}", host.trim(), state.display()).as_bytes());
    hex::encode(&digest[..8])
}

/// Keeps `systemctl status` current and pets the watchdog while the scheduler answers.
async fn report_status(shared: Arc<Shared>, shutdown: CancellationToken) {
    let period = systemd::watchdog_interval().unwrap_or(std::time::Duration::from_secs(5));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Asking the scheduler is the liveness check: a wedged scheduler stops the pets.
        let running = shared.scheduler.running().await;
        let queued = shared.reader.counts().await.map(|(q, _)| q).unwrap_or(0);
        systemd::status(&format!("{running} running, {queued} queued"));
        systemd::watchdog();
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
