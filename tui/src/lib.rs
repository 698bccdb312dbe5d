//! microci's terminal client: the scripting subcommands (`jobs`, `show`, `logs`, `cancel`,
//! `retry`, `run`, `status`) and the interactive UI, over the control socket.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cli;
pub mod client;
pub mod commands;
pub mod endpoint;
pub mod format;
pub mod sanitize;
pub mod ssh;
pub mod ui;

#[cfg(test)]
mod testing;
