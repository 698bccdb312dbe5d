//! A process's memory as the kernel counts it, from `/proc/PID/status`: what the bench reports
//! and what tests bound.

use crate::ok;
use anyhow::{Context, Result, anyhow};

/// Resident and peak resident memory of one process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most it was ever resident.
    pub hwm: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn try_memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("no {name} in {path}"))?;
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("bad {name} line {line:?}"))
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
    })
}

/// [`try_memory`] for tests.
pub fn memory(pid: u32) -> Memory {
    ok(try_memory(pid))
}
