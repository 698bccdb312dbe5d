//! The interactive UI (`microci-tui` with no subcommand): model / message / update / view, with
//! all I/O in [`run`]'s loop.

pub mod model;
pub mod prompt;
pub mod update;
pub mod view;

mod run;
pub use run::run;

#[cfg(test)]
mod tests;

/// Why the UI stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The first connection failed.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}
