//! The `microci-tui` binary: parse arguments, run a verb (or the UI), map the result to an exit
//! code: 0 success, 1 a job that did not end SUCCEED (`logs`), 2 usage or daemon errors.

use clap::Parser;
use microci_tui::cli::Cli;
use microci_tui::commands::{self, Outcome};
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
        match cli.command {
            Some(command) => Ok(commands::execute(&cli.socket, command).await?),
            None => {
                microci_tui::ui::run(&cli.socket).await?;
                Ok(Outcome::Success)
            }
        }
    })
}
