//! A process's memory as the kernel counts it, from `/proc/PID/status` and `smaps_rollup`: what
//! the bench reports and what tests bound.

use crate::ok;
use anyhow::{Context, Result, anyhow};

/// Resident and peak resident memory of one process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most it was ever resident.
    pub hwm: u64,
    /// `RssAnon`: resident memory that is the process's own (heap, stacks, written pages).
    pub anon: u64,
    /// `Pss`: resident memory with pages shared with other processes divided among them.
    pub pss: u64,
}

/// The memory of `pid`.
pub fn try_memory(pid: u32) -> Result<Memory> {
    let read = |file: &str| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::read_to_string(&path)
            .with_context(|| format!("read {path}"))
            .map(|text| (path, text))
    };
    let field = |(path, text): &(String, String), name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("no {name} in {path}"))?;
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("bad {name} line {line:?}"))
    };
    let (status, rollup) = (read("status")?, read("smaps_rollup")?);
    Ok(Memory {
        rss: field(&status, "VmRSS:")?,
        hwm: field(&status, "VmHWM:")?,
        anon: field(&status, "RssAnon:")?,
        pss: field(&rollup, "Pss:")?,
    })
}

/// [`try_memory`] for tests.
pub fn memory(pid: u32) -> Memory {
    ok(try_memory(pid))
}
