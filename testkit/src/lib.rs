//! microci's test kit: the real `microcid` in a temp dir, real git repositories and git servers,
//! real HTTP and control-socket clients, webhook deliveries, job fixtures, and a fake daemon for
//! clients' tests — for the daemon's tests, the TUI's tests and the load bench alike.
//!
//! Every constructor comes twice, and the second is built on the first:
//! - `try_…` (`TestDaemon::try_start`, `Client::try_connect`, `GitDaemon::try_start`, …) returns
//!   an [`anyhow::Result`] with context, for the bench, which reports a failed scenario and goes
//!   on to the next;
//! - the plain name (`start`, `connect`, …) panics with that error, for tests.
//!
//! Everything that starts a process or a server stops it on `Drop`; everything is on 127.0.0.1,
//! except the extra Docker Engines of [`engines`], each in a network namespace of its own.

pub mod browser;
pub mod control;
pub mod daemon;
pub mod docker_proxy;
pub mod engines;
pub mod fixtures;
pub mod forge_api;
pub mod git_servers;
pub mod hooks;
pub mod http;
pub mod memory;
pub mod peer;
pub mod podman;
pub mod python;
pub mod recorder;
pub mod repo;
pub mod smtp;
pub mod tmux;

use anyhow::{Context, Result};

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, release it), for a server that
/// must be told its port before it starts.
pub fn try_free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr().context("local_addr")?.port())
}

/// [`try_free_port`] for tests: panics when no port can be had.
pub fn free_port() -> u16 {
    ok(try_free_port())
}

/// The panicking half of every pair: a test fails with the whole chain of context.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{e:#}"),
    }
}
