//! `microcid`: receives forge webhooks, records jobs in SQLite, runs them in Docker, and serves
//! the control socket and a read-only web page. `main.rs` is the OS around it; the modules:
//!
//! - [`daemon`] — start and stop: listeners, recovery, scheduler, in order.
//! - [`state_dir`] — the state directory's layout and the lock that makes it one daemon's.
//! - [`disk`] — free space: jobs wait while it is low; a full disk is named.
//! - [`health`] — what `/healthz` checks: the store, the Docker Engine (cached), the disk.
//! - [`metrics`] — the Prometheus metrics `/metrics` serves.
//! - [`config`] — `config.toml`: parsing, validation, webhook policy, credentials, limits.
//! - [`jobs`] — the job service every front door and the scheduler go through.
//! - [`scheduler`] — starts queued jobs in order, within `docker.max_jobs`, and re-attaches to
//!   those a previous daemon left running; concurrency groups run one job at a time.
//! - [`schedule`] — `[[repo]] schedule`: jobs started by the clock, missed runs caught up.
//! - [`runner`] — the container engine behind one trait (Docker now).
//! - [`caches`] — job caches: Docker volumes kept between jobs, saved only when a job succeeds.
//! - [`git`] — bare caches per repository, checkouts, credentials bound to their host.
//! - [`repo_config`] — a repository's `.microci.json`.
//! - [`repo_services`] — its `"services"`: containers beside the job, on a network of its own.
//! - [`logs`] — one append-only file per job, read by offset.
//! - [`secrets`] — job secrets: where values are read from, and masking them in output.
//! - [`retention`] — pruning old jobs, logs, git caches and idle containers.
//! - [`store`] — SQLite: one writer thread, pooled readers.
//! - [`events`] — the in-process bus of job changes and log growth.
//! - [`forge`] — webhook payloads of each forge: inspect, verify, interpret.
//! - [`status`] — commit statuses: the outbox and each forge's status API.
//! - [`notify`] — notifications (`[[notify]]`): mail, webhooks and commands, through an outbox.
//! - [`http`] — webhooks and the public pages.
//! - [`control`] — the administration socket (`microci-tui`).
//! - [`systemd`] — sd_notify, socket activation, and other OS glue.
//! - [`memory`] — keeping an idle daemon's resident memory small.

pub mod artifacts;
pub mod caches;
pub mod config;
pub mod control;
pub mod daemon;
pub mod disk;
pub mod events;
pub mod forge;
pub mod git;
pub mod health;
pub mod http;
pub mod jobs;
pub mod logs;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod repo_config;
pub mod repo_services;
pub mod retention;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod state_dir;
pub mod status;
pub mod store;
pub mod systemd;
#[cfg(test)]
mod testing;
