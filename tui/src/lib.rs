//! microci's terminal client: the scripting subcommands (`jobs`, `show`, `logs`, `cancel`,
//! `retry`, `run`, `status`, `engines`, `drain`, …) and the interactive UI, over the control
//! socket. `main.rs` parses the arguments and calls in here.

#![cfg_attr(test, allow(clippy::unwrap_used))]

// Command-line arguments: the verbs and flags scripts rely on.
pub mod cli;
// The connection to the daemon's control socket: hello, requests, subscriptions.
pub mod client;
// The scripting subcommands, one file per verb.
pub mod commands;
// Where the UI reconnects to: a socket, or an `--ssh` forward it restarts.
pub mod endpoint;
// Text for people: times, widths, the `jobs` table, `show` and `status` text.
pub mod format;
// The one parser that makes untrusted text (job output, names, messages) inert; it lives in
// the protocol crate so the daemon's web pages render log colours through the same one.
pub use microci_proto::sanitize;
// `--ssh`: OpenSSH's Unix-socket forwarding to a remote daemon.
pub mod ssh;
// The interactive UI: model, update, view, and the run loop that does its I/O.
pub mod ui;
