//! How many more output bytes a job's log stands for than it holds, because secrets in the
//! output were written as `***`: kept beside the log (`<id>.masked`) as it changes, so a daemon
//! re-attaching to the job skips exactly the output the log already has.

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The count and its file (opened on the first change).
pub(super) struct MaskedCount {
    path: PathBuf,
    file: Option<std::fs::File>,
    value: i64,
}

impl MaskedCount {
    /// The count kept beside the log at `log` (0 when there is none).
    pub(super) fn load(log: &Path) -> MaskedCount {
        let path = log.with_extension("masked");
        let value = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        MaskedCount {
            path,
            file: None,
            value,
        }
    }

    /// The count now.
    pub(super) fn value(&self) -> i64 {
        self.value
    }

    /// Adds `by` and saves it (a fixed-width overwrite: one `pwrite`).
    pub(super) fn add(&mut self, by: i64) -> std::io::Result<()> {
        if by == 0 {
            return Ok(());
        }
        self.value += by;
        if self.file.is_none() {
            self.file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .mode(crate::state_dir::FILE_MODE)
                    .open(&self.path)?,
            );
        }
        match &self.file {
            Some(f) => f.write_all_at(format!("{:+020}\n", self.value).as_bytes(), 0),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_count_survives_a_reopen_and_may_dip_below_zero() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("7.log");
        let mut c = MaskedCount::load(&log);
        assert_eq!(c.value(), 0);
        c.add(-2).unwrap();
        assert_eq!(MaskedCount::load(&log).value(), -2);
        c.add(25).unwrap();
        c.add(0).unwrap();
        assert_eq!(MaskedCount::load(&log).value(), 23);
        assert!(dir.path().join("7.masked").exists());
    }
}
