//! Concurrency groups (`"concurrency": "deploy"`): which job holds each group. A job runs only
//! while it holds its group, so the jobs of one group run one at a time, across repositories.
//! Waiting is done in the queue (PENDING), never in a `max_jobs` slot: see the scheduler.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The groups held now, by name; in memory only: after a restart the scheduler claims them again
/// for the jobs it re-attaches to, before it starts anything new.
#[derive(Default)]
pub(crate) struct Groups {
    held: Mutex<HashMap<String, i64>>,
    /// A job went back to the queue, or jobs were skipped for their group: the scheduler's read
    /// ahead of the queue no longer holds every job it should consider, and is read again.
    stale: AtomicBool,
    /// How many queued jobs the last pass skipped for their group: the next read of the queue
    /// takes that many more, so waiting jobs never hide the ones behind them.
    skipped: AtomicUsize,
}

impl Groups {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `group` for job `id` if no other job holds it; otherwise says which job does.
    pub(crate) fn claim(&self, group: &str, id: i64) -> Result<(), i64> {
        let mut held = self.held();
        match held.get(group) {
            Some(&holder) if holder != id => Err(holder),
            _ => {
                held.insert(group.to_string(), id);
                Ok(())
            }
        }
    }

    /// Frees the group job `id` holds, if any; true when it held one.
    pub(crate) fn release(&self, id: i64) -> bool {
        let mut held = self.held();
        let before = held.len();
        held.retain(|_, holder| *holder != id);
        held.len() != before
    }

    /// The job holding `group`, if any.
    #[cfg(test)]
    pub(crate) fn holder(&self, group: &str) -> Option<i64> {
        self.held().get(group).copied()
    }

    /// Says the scheduler must read the queue again.
    pub(crate) fn touch(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Whether the queue must be read again (and forgets it).
    pub(crate) fn take_stale(&self) -> bool {
        self.stale.swap(false, Ordering::SeqCst)
    }

    /// Records how many queued jobs the last pass skipped.
    pub(crate) fn set_skipped(&self, n: usize) {
        self.skipped.store(n, Ordering::Relaxed);
    }

    /// How many queued jobs the last pass skipped.
    pub(crate) fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }
}

/// What `show` says of a job waiting for `group`, held by job `holder`.
pub(crate) fn waiting_text(group: &str, holder: i64) -> String {
    format!("waiting for {group} (job {holder})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_group_until_released() {
        let g = Groups::default();
        assert_eq!(g.claim("deploy", 41), Ok(()));
        assert_eq!(g.claim("deploy", 41), Ok(()), "claiming again is harmless");
        assert_eq!(g.claim("deploy", 42), Err(41));
        assert_eq!(g.claim("docs", 42), Ok(()), "other groups are independent");
        assert!(g.release(41));
        assert!(!g.release(41));
        assert_eq!(g.holder("deploy"), None);
        assert_eq!(g.claim("deploy", 43), Ok(()));
        assert_eq!(waiting_text("deploy", 43), "waiting for deploy (job 43)");
    }
}
