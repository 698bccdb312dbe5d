//! `microcid`: receives forge webhooks, records jobs in SQLite, runs them in Docker, and serves the
//! control socket and a read-only web page. `main.rs` only parses arguments and calls [`daemon`].

pub mod git;
