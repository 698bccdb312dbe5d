//! `microcid`: receives forge webhooks, records jobs in SQLite, runs them in Docker, and serves the
//! control socket and a read-only web page. `main.rs` only parses arguments and calls [`daemon`].

pub mod config;
pub mod control;
pub mod daemon;
pub mod events;
pub mod forge;
pub mod git;
pub mod http;
pub mod logs;
pub mod repo_config;
pub mod runner;
pub mod scheduler;
pub mod state;
pub mod store;
pub mod systemd;
