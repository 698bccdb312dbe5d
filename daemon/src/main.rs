//! The `microcid` binary: argument parsing and logging set-up; everything else is the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use microcid::config::{Config, SystemdDirs};
use std::path::PathBuf;
use std::process::ExitCode;

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
        return ExitCode::SUCCESS;
    }
    init_logging();
    microcid::systemd::restrict_umask();
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("microcid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(microcid::daemon::run(config))
}

/// Plain lines on stderr; under journald no colours or timestamps (journald adds its own).
fn init_logging() {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let filter = tracing_subscriber::EnvFilter::try_from_env("MICROCI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    if journald {
        builder.without_time().init();
    } else {
        builder.init();
    }
}
