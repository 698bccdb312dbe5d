//! Free space on the state directory's file system: below `retention.min_free` no job starts
//! (they wait PENDING, "waiting for disk space") until space returns, and a write that meets a
//! full disk is named as such.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Reason shown on PENDING jobs while the disk is low.
pub const WAITING: &str = "waiting for disk space";

/// The state directory's free space as last checked.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    /// What `status` says while space is low; `None` while it is not.
    low: RwLock<Option<String>>,
}

impl Disk {
    /// Watches the file system of `dir`.
    pub fn new(dir: PathBuf) -> Disk {
        Disk {
            dir,
            low: RwLock::new(None),
        }
    }

    /// Checks now (one `statvfs`) against `min_free` bytes (0: never low); true when there is
    /// room to start a job. A file system that cannot be asked counts as having room.
    pub fn check(&self, min_free: u64) -> bool {
        let free = if min_free == 0 {
            None
        } else {
            free_bytes(&self.dir).ok()
        };
        let low = match free {
            Some(free) if free < min_free => Some(format!(
                "{WAITING}: {} free on {}, retention.min_free is {}",
                size(free),
                self.dir.display(),
                size(min_free)
            )),
            _ => None,
        };
        let ok = low.is_none();
        let mut state = self.low.write().unwrap_or_else(|e| e.into_inner());
        if *state != low {
            match &low {
                Some(why) => tracing::warn!("{why}; new jobs wait"),
                None => tracing::info!("disk space is back: jobs start again"),
            }
            *state = low;
        }
        ok
    }

    /// Bytes free for the daemon on the state directory's file system now.
    pub fn free(&self) -> std::io::Result<u64> {
        free_bytes(&self.dir)
    }

    /// Why jobs wait, when they do (as of the last check).
    pub fn low(&self) -> Option<String> {
        self.low.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Bytes an unprivileged writer may still use on `path`'s file system.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Whether an I/O error is the disk being full.
pub fn is_full(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT)
}

fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn low_is_said_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::new(dir.path().to_path_buf());
        assert!(disk.check(0), "0 never waits");
        assert!(!disk.check(u64::MAX));
        let why = disk.low().unwrap();
        assert!(why.starts_with("waiting for disk space: "), "{why}");
        assert!(why.contains(", retention.min_free is "), "{why}");
        assert!(disk.check(1));
        assert_eq!(disk.low(), None);
        assert!(is_full(&std::io::Error::from_raw_os_error(libc::ENOSPC)));
    }
}
