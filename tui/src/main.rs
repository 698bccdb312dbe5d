//! The `microci-tui` binary: parse arguments, run a verb (or the UI), map the result to an exit
//! code: 0 success, 1 a job that did not end SUCCEED (`logs`), 2 usage or daemon errors.

use clap::Parser;
use microci_tui::cli::Cli;
use microci_tui::commands::{self, Outcome};
use microci_tui::endpoint::Endpoint;
use microci_tui::sanitize::one_line;
use microci_tui::ssh::SshTunnel;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::JobNotSucceeded) => ExitCode::from(1),
        Err(e) => {
            // Daemon errors can quote untrusted text (a job's reason, a repository name).
            eprintln!("microci-tui: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Kept alive until the command or the UI ends; dropping it stops ssh.
        let endpoint = match &cli.ssh {
            Some(target) => {
                let ssh_command = std::env::var("MICROCI_SSH_COMMAND").ok();
                let tunnel =
                    SshTunnel::start(target, &cli.remote_socket, ssh_command.as_deref(), false)
                        .await?;
                Endpoint::ssh(
                    target.clone(),
                    cli.remote_socket.clone(),
                    ssh_command,
                    tunnel,
                )
            }
            None => Endpoint::Socket(cli.socket.clone()),
        };
        match cli.command {
            Some(command) => {
                let socket = match &endpoint {
                    Endpoint::Socket(path) => path.clone(),
                    Endpoint::Ssh(forward) => forward
                        .lock()
                        .await
                        .tunnel
                        .as_ref()
                        .map(|t| t.local().to_path_buf())
                        .unwrap_or_default(),
                };
                Ok(commands::execute(&socket, command).await?)
            }
            None => {
                microci_tui::ui::run(endpoint).await?;
                Ok(Outcome::Success)
            }
        }
    })
}
