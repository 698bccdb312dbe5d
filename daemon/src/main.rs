//! The `microcid` binary: arguments, configuration, logging, and the OS around the daemon —
//! the state directory's lock, systemd's sockets and notifications, signals. Everything else is
//! the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use microcid::config::{Config, SystemdDirs};
use microcid::daemon::{self, Listeners};
use microcid::runner::pool::Pool;
use microcid::state_dir::StateDir;
use microcid::systemd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// microci daemon: webhooks in, Docker jobs out.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file [default: $CONFIGURATION_DIRECTORY/config.toml or /etc/microci/config.toml]
    #[arg(long, env = "MICROCI_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Validate the configuration file and exit; names the first bad key.
    CheckConfig,
}

fn main() -> ExitCode {
    microcid::memory::one_malloc_arena();
    let args = Args::parse();
    let dirs = SystemdDirs::from_env();
    let path = dirs.config_path(args.config.as_deref());
    let config = match Config::load(&path, &dirs) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("microcid: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::CheckConfig) = args.command {
        println!("{}: ok", path.display());
        for warning in &config.warnings {
            println!("warning: {warning}");
        }
        return ExitCode::SUCCESS;
    }
    init_logging();
    systemd::restrict_umask();
    let served = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking-pool threads (SQLite reads, git, file removal) end soon after their work:
        // an idle daemon keeps no stacks it does not use.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(serve(config, &path, &dirs)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("microcid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the configuration from `path`.
async fn serve(config: Config, path: &std::path::Path, dirs: &SystemdDirs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Listening for signals from the start: a SIGTERM while the daemon is still starting stops
    // it cleanly once it has started, instead of killing it half-way.
    let signals = Signals::new()?;
    // Before anything in the state directory is read or changed: a second daemon stops here.
    let state = StateDir::lock(&config.state_dir)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let listeners = Listeners::bind(&config, systemd::activated()).await?;
    let engine = Pool::for_config(&config);
    let running = daemon::start(config, state, listeners, engine).await?;
    systemd::report_status(running.jobs()).await;
    let stop_reporting = CancellationToken::new();
    let report = tokio::spawn(systemd::report(
        running.jobs().clone(),
        stop_reporting.clone(),
    ));
    // Start-up's work is done: hand its code back, then say so.
    microcid::memory::release_startup_pages();
    systemd::ready();
    tracing::info!("ready in {} ms", started.elapsed().as_millis());

    let mut signals = signals;
    while let Signal::Reload = signals.next().await {
        systemd::reloading();
        match running.reload(path, dirs) {
            Ok(restart_only) if restart_only.is_empty() => {
                tracing::info!("configuration reloaded from {}", path.display())
            }
            Ok(restart_only) => tracing::warn!(
                "configuration reloaded from {}, except {}: those change only on restart, \
                 and their old values stay in effect",
                path.display(),
                restart_only.join(", ")
            ),
            Err(e) => tracing::error!("reload refused, the previous configuration stays: {e}"),
        }
        systemd::report_status(running.jobs()).await;
        systemd::ready();
    }
    tracing::info!("stopping");
    systemd::stopping();
    stop_reporting.cancel();
    let _ = report.await;
    running.shutdown().await;
    Ok(())
}

/// Under journald (stderr is the stream `JOURNAL_STREAM` names), native journal entries: the
/// priority, and a job's `JOB_ID`, `REPO` and `COMMIT` as fields (`journalctl -u microcid
/// JOB_ID=42`). Elsewhere plain lines on stderr.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // `MICROCI_LOG=debug` or `info,microcid::git=debug`; anything unreadable means `info`.
    // bollard never logs below INFO: its debug and trace lines are the requests' bodies, which
    // hold a job's secret variables and files.
    let filter = || {
        std::env::var("MICROCI_LOG")
            .ok()
            .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
            .unwrap_or_else(|| {
                tracing_subscriber::filter::Targets::new()
                    .with_default(tracing::level_filters::LevelFilter::INFO)
            })
            .with_target("bollard", tracing::level_filters::LevelFilter::INFO)
    };
    if systemd::stderr_is_journal()
        && let Ok(journal) = tracing_journald::layer()
    {
        let journal = journal
            .with_field_prefix(None)
            .with_syslog_identifier("microcid".into());
        tracing_subscriber::registry()
            .with(filter())
            .with(journal)
            .init();
        return;
    }
    tracing_subscriber::registry()
        .with(filter())
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(false),
        )
        .init();
}

/// SIGTERM, SIGINT and SIGHUP, caught from the moment this exists.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// What a signal asks for.
enum Signal {
    Stop,
    Reload,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot catch SIGHUP")?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
