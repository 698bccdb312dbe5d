//! Command-line arguments. The verbs and flags are a contract (README.md, "Command line");
//! scripts depend on them.

use crate::client::DEFAULT_SOCKET;
use clap::{Parser, Subcommand};
use microci_proto::JobStatus;
use std::path::PathBuf;

/// microci's terminal UI and command-line client. Without a subcommand it opens the
/// interactive UI.
#[derive(Debug, Parser)]
#[command(name = "microci-tui", version, about)]
pub struct Cli {
    /// The daemon's control socket.
    #[arg(long, global = true, env = "MICROCI_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Reach the daemon on [user@]host through ssh (Unix-socket forwarding); the ssh program
    /// and its options come from MICROCI_SSH_COMMAND (default "ssh").
    #[arg(long, global = true, value_name = "[USER@]HOST")]
    pub ssh: Option<String>,
    /// The control socket's path on the --ssh host.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub remote_socket: String,
    /// What to do; none opens the interactive UI.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The scripting verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List jobs, newest first.
    Jobs {
        /// Only jobs in this state (PENDING, STARTED, SUCCEED, FAILED, ERRORED, CANCELED).
        #[arg(long)]
        status: Option<JobStatus>,
        /// Only jobs of this repository (full name, e.g. alice/app).
        #[arg(long)]
        repo: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON array of job objects instead of a table.
        #[arg(long)]
        json: bool,
        /// Print repository names, refs and messages verbatim, escape sequences and all
        /// (they are cleaned by default).
        #[arg(long, conflicts_with = "json")]
        raw: bool,
    },
    /// Show one job.
    Show {
        /// Job id.
        id: i64,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Print the job's fields verbatim, escape sequences and all (cleaned by default).
        #[arg(long, conflicts_with = "json")]
        raw: bool,
    },
    /// Print a job's log; exits 0 only if the job ended SUCCEED. On a terminal the log is made
    /// inert (colours kept, other escape sequences removed); into a pipe or file it is verbatim.
    Logs {
        /// Job id.
        id: i64,
        /// Keep streaming until the job ends.
        #[arg(long, short)]
        follow: bool,
        /// Write the log's bytes verbatim even to a terminal, escape sequences and all.
        #[arg(long)]
        raw: bool,
    },
    /// Cancel a pending or running job.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Start a new job for the same commit; prints its id.
    Retry {
        /// Job id.
        id: i64,
    },
    /// Start a manual build; prints its id.
    Run {
        /// Repository full name, e.g. alice/app.
        repo: String,
        /// Branch, tag, full ref or commit (default: the repository's default branch).
        #[arg(value_name = "REF")]
        git_ref: Option<String>,
        /// Extra environment for the job's container, over the repository's own `env`;
        /// repeatable. Recorded on the job (and kept by its retries).
        #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_param)]
        env: Vec<(String, String)>,
    },
    /// Daemon version, uptime, running/queued counts, Docker reachable, the engines down, and
    /// warnings about settings that weaken the daemon.
    Status {
        /// The status object as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the files a job kept (.microci.json "artifacts"), or download one with --get.
    Artifacts {
        /// Job id.
        id: i64,
        /// Download this artifact (its name as listed), checked against its SHA-256.
        #[arg(long, value_name = "NAME")]
        get: Option<String>,
        /// Where --get writes the file (named after the last part of its name); default: here.
        #[arg(long, short = 'o', value_name = "DIR", requires = "get")]
        output: Option<PathBuf>,
        /// The listing as one JSON array of {name, size, sha256}.
        #[arg(long, conflicts_with = "get")]
        json: bool,
    },
    /// Run retention now ([retention] in the daemon's config): finished jobs past max_age,
    /// keep_per_repo or max_log_bytes, quiet git caches, idle containers.
    Prune {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The job caches kept between jobs ("cache" in .microci.json).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// List the engines jobs run on ([[engine]] in the daemon's config): health, drained,
    /// running/max_jobs, labels, workspace, version and host; why each one down is.
    Engines {
        /// One JSON array of engine objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Take an engine out of placement: it gets no new jobs, the jobs running on it finish.
    Drain {
        /// The engine's name ([[engine]] name; `local` without [[engine]]).
        name: String,
    },
    /// Let a drained engine take new jobs again.
    Undrain {
        /// The engine's name.
        name: String,
    },
}

/// `cache list|clear`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the saved caches with their sizes, when they were saved and by which job.
    List {
        /// Only this repository's (full name, e.g. alice/app).
        repo: Option<String>,
        /// One JSON array of cache objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a repository's saved caches: its next job starts with an empty cache.
    Clear {
        /// Repository full name, e.g. alice/app.
        repo: String,
        /// Only the per-branch cache of this branch ("cache_scope": "branch").
        #[arg(long)]
        branch: Option<String>,
    },
}

/// `KEY=VALUE` → `(KEY, VALUE)`; the value may hold `=` and be empty.
pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_contract_forms() {
        let c = Cli::try_parse_from(["microci-tui", "jobs", "--status", "failed", "--limit", "5"])
            .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Jobs {
                status: Some(JobStatus::Failed),
                limit: 5,
                json: false,
                ..
            })
        ));
        let c = Cli::try_parse_from(["microci-tui", "run", "alice/app", "main"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Run {
                git_ref: Some(_),
                ..
            })
        ));
        let c = Cli::try_parse_from([
            "microci-tui",
            "run",
            "alice/app",
            "-e",
            "TARGET=staging",
            "--env",
            "URL=a=b",
            "-e",
            "EMPTY=",
        ])
        .unwrap();
        let Some(Command::Run { git_ref, env, .. }) = c.command else {
            panic!("not a run")
        };
        assert_eq!(git_ref, None);
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            env,
            [
                pair("TARGET", "staging"),
                pair("URL", "a=b"),
                pair("EMPTY", "")
            ]
        );
        for bad in ["NOVALUE", "=x"] {
            let e = Cli::try_parse_from(["microci-tui", "run", "a/b", "-e", bad]).unwrap_err();
            assert!(e.to_string().contains("is not KEY=VALUE"), "{e}");
        }
        let c = Cli::try_parse_from(["microci-tui", "--socket", "/tmp/x", "logs", "3", "--follow"])
            .unwrap();
        assert_eq!(c.socket, PathBuf::from("/tmp/x"));
        assert!(Cli::try_parse_from(["microci-tui", "jobs", "--status", "done"]).is_err());
        let c = Cli::try_parse_from(["microci-tui", "logs", "3", "--raw"]).unwrap();
        assert!(matches!(c.command, Some(Command::Logs { raw: true, .. })));
        let c = Cli::try_parse_from(["microci-tui", "show", "3", "--raw"]).unwrap();
        assert!(matches!(c.command, Some(Command::Show { raw: true, .. })));
        let c = Cli::try_parse_from([
            "microci-tui",
            "artifacts",
            "7",
            "--get",
            "a/b.deb",
            "-o",
            "/tmp",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Artifacts {
                id: 7,
                get: Some(_),
                output: Some(_),
                json: false
            })
        ));
        assert!(Cli::try_parse_from(["microci-tui", "artifacts", "7", "-o", "/tmp"]).is_err());
        let c = Cli::try_parse_from([
            "microci-tui",
            "cache",
            "clear",
            "alice/app",
            "--branch",
            "dev",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Cache(CacheCommand::Clear {
                branch: Some(_),
                ..
            }))
        ));
        let c = Cli::try_parse_from(["microci-tui", "cache", "list"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Cache(CacheCommand::List { repo: None, .. }))
        ));
        assert!(Cli::try_parse_from(["microci-tui", "cache", "clear"]).is_err());
        let c = Cli::try_parse_from(["microci-tui", "engines", "--json"]).unwrap();
        assert!(matches!(c.command, Some(Command::Engines { json: true })));
        let c = Cli::try_parse_from(["microci-tui", "drain", "arm"]).unwrap();
        assert!(matches!(c.command, Some(Command::Drain { name }) if name == "arm"));
        let c = Cli::try_parse_from(["microci-tui", "undrain", "arm"]).unwrap();
        assert!(matches!(c.command, Some(Command::Undrain { name }) if name == "arm"));
        assert!(Cli::try_parse_from(["microci-tui", "drain"]).is_err());
        // JSON is escaped already; asking for both is a mistake worth saying.
        assert!(Cli::try_parse_from(["microci-tui", "jobs", "--raw", "--json"]).is_err());
    }
}
