//! End to end: the real `microcid` binary, the real Docker Engine with a locally built image, real
//! git repositories, real HTTP requests and the real control socket, all from `microci-testkit`.

mod artifacts;
mod bitbucket_pulls;
mod caches;
mod cli;
mod clone;
mod concurrency;
mod control;
mod disk;
mod engines_remote;
mod filters;
mod jobs;
mod lifecycle;
mod metrics;
mod notify;
mod params;
mod podman;
mod pool;
mod pulls;
mod reload;
mod restart;
mod retention;
mod schedules;
mod sec_creds;
mod sec_hooks;
mod sec_jobs;
mod sec_pages;
mod secrets;
mod services;
mod statuses;
mod superseded;
mod tui;
mod web;
mod web_http;
mod webhook;

use microci_testkit::daemon::Options;

/// The daemon Cargo built for these tests, with the test kit's defaults.
fn options() -> Options {
    Options::new(env!("CARGO_BIN_EXE_microcid"))
}
