//! The scripting subcommands, one file per verb. Each takes an open [`Connection`] and the
//! writers to print to, so tests can run them against a fake daemon and read what they print.
//! Whether stdout is a terminal is asked once, in [`execute`], and passed down as a
//! [`Terminal`], so tests can run the verbs as if on a terminal or into a pipe.

mod artifacts;
mod cache;
mod cancel;
mod engines;
mod jobs;
mod logs;
mod prune;
mod retry;
mod run;
mod show;
mod status;

pub use artifacts::artifacts;
pub use cache::{cache_clear, cache_list};
pub use cancel::cancel;
pub use engines::{drain, engines, undrain};
pub use jobs::jobs;
pub use logs::logs;
pub use prune::prune;
pub use retry::retry;
pub use run::run;
pub use show::show;
pub use status::status;

use crate::cli::{CacheCommand, Command};
use crate::client::{ClientError, Connection};
use std::io::{self, IsTerminal, Write};
use std::path::Path;

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the job did not end SUCCEED (or has not ended).
    JobNotSucceeded,
}

/// Why a command failed (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Talking to the daemon failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// stdout or stderr could not be written.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    /// JSON output could not be produced.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The verb could not do what was asked (one sentence saying why).
    #[error("{0}")]
    Failed(String),
}

/// Where output goes, as far as escape sequences are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// stdout is a terminal, which would obey escape sequences in untrusted text.
    pub stdout: bool,
    /// `NO_COLOR` is set (non-empty): text for a terminal carries no colours either.
    pub no_color: bool,
}

impl Terminal {
    /// Asks the OS about this process's stdout and environment.
    pub fn detect() -> Terminal {
        Terminal {
            stdout: io::stdout().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// Connects to `socket` and runs one verb, printing to stdout and stderr.
pub async fn execute(socket: &Path, command: Command) -> Result<Outcome, CommandError> {
    let term = Terminal::detect();
    let mut conn = Connection::connect(socket).await?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    let outcome = match command {
        Command::Jobs {
            status,
            repo,
            limit,
            json,
            raw,
        } => jobs(&mut conn, status, repo, limit, json, raw, &mut out).await?,
        Command::Show { id, json, raw } => show(&mut conn, id, json, raw, &mut out).await?,
        Command::Logs { id, follow, raw } => {
            logs(&mut conn, id, follow, raw, term, &mut out, &mut err).await?
        }
        Command::Cancel { id } => cancel(&mut conn, id, &mut out).await?,
        Command::Retry { id } => retry(&mut conn, id, &mut out).await?,
        Command::Run { repo, git_ref, env } => run(&mut conn, repo, git_ref, env, &mut out).await?,
        Command::Status { json } => status(&mut conn, json, &mut out).await?,
        Command::Prune { dry_run, json } => prune(&mut conn, dry_run, json, &mut out).await?,
        Command::Artifacts {
            id,
            get,
            output,
            json,
        } => artifacts(&mut conn, id, get, output, json, &mut out).await?,
        Command::Cache(CacheCommand::List { repo, json }) => {
            cache_list(&mut conn, repo, json, &mut out).await?
        }
        Command::Cache(CacheCommand::Clear { repo, branch }) => {
            cache_clear(&mut conn, repo, branch, &mut out).await?
        }
        Command::Engines { json } => engines(&mut conn, json, &mut out).await?,
        Command::Drain { name } => drain(&mut conn, name, &mut out).await?,
        Command::Undrain { name } => undrain(&mut conn, name, &mut out).await?,
    };
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(outcome)
}

/// Writes one JSON document and a newline.
fn write_json<T: serde::Serialize>(out: &mut impl Write, value: &T) -> Result<(), CommandError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A reply of the wrong kind for the request.
fn unexpected(reply: microci_proto::Reply) -> CommandError {
    ClientError::Unexpected(format!("{reply:?}")).into()
}

#[cfg(test)]
mod tests;
