//! The interactive UI (`microci-tui` with no subcommand): model / message / update / view, with
//! all I/O in [`run()`]'s loop.

// What the UI knows: jobs, filter, the open job and its log window, overlays, connection.
pub mod model;
// The input components the overlays are made of: `Prompt`, `Confirm`, `Pick`.
pub mod prompt;
// `update(&mut Model, Msg) -> Vec<Command>`: every change, synchronous, no I/O.
pub mod update;
// `view(&Model, &mut Frame)`: draws the model, nothing else.
pub mod view;

// The loop: terminal input, daemon frames, reconnects, ticks; sends what `update` asks.
mod run;
pub use run::run;

// `update` and `view` driven without a terminal.
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
