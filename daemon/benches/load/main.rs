//! Load benchmarks against the real release `microcid` (and `microci-tui`), on 127.0.0.1 only.
//!
//! `cargo bench -p microcid --bench load -- [scenario ...]`; no scenario runs them all. Scenarios:
//! `idle_rss`, `webhooks`, `latency`, `log_throughput`, `tui_jobs`, `status_page`, `startup`,
//! `rss_running`, `slow_clients`, `binary_size`, `scheduler_pace`, `restart_reattach`, `prune`,
//! `web_live`, `pool_overhead`, `pool_throughput`, `engine_down_detect` (or their numbers 1–17;
//! the last three start extra Docker Engines in network namespaces of their own, as root). Build
//! the binaries first: `cargo build --release -p microcid -p microci-tui`. With
//! `MICROCID_BASELINE=/path/to/older/microcid`, `idle_rss`, `binary_size` and `scheduler_pace`
//! also measure that binary, in the same run.
//!
//! Daemons, repositories and clients come from `microci-testkit`. Every daemon runs in a temp dir
//! with its own config, port and short socket path; every job container carries the label
//! `microci-bench.daemon=<tag>` and every container left with that label is removed when the
//! daemon is dropped. Every loop is bounded in count and in time. One file per scenario (or per
//! family sharing a setup); `common.rs` holds what they share.

mod common;
mod durability;
mod idle;
mod latency;
mod log_throughput;
mod pace;
mod pool;
mod running;
mod slow_clients;
mod stored;
mod web_live;
mod webhooks;

use anyhow::{Context, Result, anyhow};
use common::Bins;
use std::time::Instant;

const SCENARIOS: [&str; 17] = [
    "idle_rss",
    "webhooks",
    "latency",
    "log_throughput",
    "tui_jobs",
    "status_page",
    "startup",
    "rss_running",
    "slow_clients",
    "binary_size",
    "scheduler_pace",
    "restart_reattach",
    "prune",
    "web_live",
    "pool_overhead",
    "pool_throughput",
    "engine_down_detect",
];

/// One line of the result table.
struct Row {
    what: String,
    value: String,
    target: String,
    pass: bool,
}

fn row(what: &str, value: String, target: &str, pass: bool) -> Row {
    println!(
        "  => {what}: {value} (target {target}) {}",
        if pass { "PASS" } else { "MISS" }
    );
    Row {
        what: what.into(),
        value,
        target: target.into(),
        pass,
    }
}

fn main() -> Result<()> {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mut chosen: Vec<&str> = Vec::new();
    for w in &wanted {
        let name = match w.parse::<usize>() {
            Ok(n) if (1..=SCENARIOS.len()).contains(&n) => SCENARIOS[n - 1],
            _ => SCENARIOS
                .iter()
                .copied()
                .find(|s| s == w)
                .ok_or_else(|| anyhow!("unknown scenario {w:?}; known: {SCENARIOS:?}"))?,
        };
        chosen.push(name);
    }
    if chosen.is_empty() {
        chosen = SCENARIOS.to_vec();
    }
    let bins = Bins::find()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let mut rows = Vec::new();
    for s in chosen {
        println!("== {s} (loadavg {})", loadavg());
        let t = Instant::now();
        let got = match s {
            "idle_rss" => idle::idle_rss(&bins),
            "webhooks" => webhooks::webhooks(&bins, &rt),
            "latency" => latency::latency(&bins, &rt),
            "log_throughput" => log_throughput::log_throughput(&bins, &rt),
            "tui_jobs" => stored::tui_jobs(&bins),
            "status_page" => stored::status_page(&bins, &rt),
            "startup" => stored::startup(&bins),
            "rss_running" => running::rss_running(&bins, &rt),
            "slow_clients" => slow_clients::slow_clients(&bins, &rt),
            "binary_size" => idle::binary_size(&bins),
            "scheduler_pace" => pace::scheduler_pace(&bins, &rt),
            "restart_reattach" => durability::restart_reattach(&bins, &rt),
            "prune" => durability::prune(&bins, &rt),
            "web_live" => web_live::web_live(&bins, &rt),
            "pool_overhead" => pool::pool_overhead(&bins, &rt),
            "pool_throughput" => pool::pool_throughput(&bins, &rt),
            "engine_down_detect" => pool::engine_down_detect(&bins, &rt),
            _ => unreachable!("scenario names are checked above"),
        };
        match got {
            Ok(r) => rows.extend(r),
            Err(e) => {
                println!("  !! {s} failed: {e:#}");
                rows.push(Row {
                    what: s.into(),
                    value: format!("failed: {e:#}"),
                    target: "-".into(),
                    pass: false,
                });
            }
        }
        println!("   ({s} took {:.1} s)", t.elapsed().as_secs_f64());
    }
    println!();
    println!("| what | measured | target | |");
    println!("| --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.what,
            r.value,
            r.target,
            if r.pass { "PASS" } else { "MISS" }
        );
    }
    Ok(())
}

/// The first three fields of /proc/loadavg: the machine is shared, so say how busy it was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
