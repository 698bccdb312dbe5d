//! The `microci-tui` binary: parse arguments, run a verb (or the UI), map the result to an exit
//! code: 0 success, 1 a job that did not end SUCCEED (`logs`), 2 usage or daemon errors.

use clap::Parser;
use microci_tui::cli::Cli;
use microci_tui::commands::{self, Outcome};
use microci_tui::ssh::SshTunnel;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::JobNotSucceeded) => ExitCode::from(1),
        Err(e) => {
            eprintln!("microci-tui: {e:#}");
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
        let tunnel = match &cli.ssh {
            Some(target) => {
                let ssh_command = std::env::var("MICROCI_SSH_COMMAND").ok();
                Some(SshTunnel::start(target, &cli.remote_socket, ssh_command.as_deref()).await?)
            }
            None => None,
        };
        let socket = tunnel
            .as_ref()
            .map_or(cli.socket.clone(), |t| t.local().to_path_buf());
        match cli.command {
            Some(command) => Ok(commands::execute(&socket, command).await?),
            None => {
                microci_tui::ui::run(&socket).await?;
                Ok(Outcome::Success)
            }
        }
    })
}
