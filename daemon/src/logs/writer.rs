//! Appending to one job's log: the job's output up to a limit, the daemon's own lines always.
//!
//! Appends are plain `write(2)` calls into the page cache, made on the calling thread: they take
//! microseconds, far less than a hop to the blocking pool per chunk, and a reader told "the log
//! grew" finds the bytes at once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Appends to one job's log file, keeping at most `limit` bytes of the job's own output so one
/// job cannot fill the disk; the daemon's own lines always go in. How much was dropped is kept
/// beside the log (`<id>.dropped`) as it grows, so a daemon started again counts on from there.
pub struct LogWriter {
    file: std::fs::File,
    dropped_path: std::path::PathBuf,
    dropped_file: Option<std::fs::File>,
    written: u64,
    /// Output bytes still accepted (`u64::MAX` when there is no limit).
    room: u64,
    dropped: u64,
    /// Whether the last byte written ends a line (the daemon's own lines start on their own).
    at_line_start: bool,
    /// Output bytes taken but written shorter (secrets masked as `***`).
    masked: super::masked::MaskedCount,
}

impl LogWriter {
    /// Opens (creating, mode [`crate::state_dir::FILE_MODE`]) the log at `path` for appending; `limit`
    /// caps the job's output in it (0: no cap).
    pub(super) fn open(path: &Path, limit: u64) -> std::io::Result<LogWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(crate::state_dir::FILE_MODE)
            .open(path)?;
        let written = file.metadata()?.len();
        let room = if limit == 0 {
            u64::MAX
        } else {
            limit.saturating_sub(written)
        };
        // Reopened after a restart: the daemon's next line must still start on its own.
        let mut last = [b'\n'];
        if written > 0 {
            use std::os::unix::fs::FileExt;
            file.read_exact_at(&mut last, written - 1)?;
        }
        let dropped_path = path.with_extension("dropped");
        let dropped = std::fs::read_to_string(&dropped_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Ok(LogWriter {
            file,
            dropped_path,
            dropped_file: None,
            written,
            room,
            dropped,
            at_line_start: last[0] == b'\n',
            masked: super::masked::MaskedCount::load(path),
        })
    }

    /// Keeps the dropped count beside the log (a fixed-width overwrite: one `pwrite`).
    fn save_dropped(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        if self.dropped_file.is_none() {
            self.dropped_file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .mode(crate::state_dir::FILE_MODE)
                    .open(&self.dropped_path)?,
            );
        }
        match &self.dropped_file {
            Some(f) => f.write_all_at(format!("{:020}\n", self.dropped).as_bytes(), 0),
            None => Ok(()),
        }
    }

    /// Appends the job's output, as much as the limit still allows, and counts the rest as
    /// dropped; returns the new size of the log.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let keep = bytes.len().min(self.room.min(usize::MAX as u64) as usize);
        self.room -= keep as u64;
        if keep < bytes.len() {
            self.dropped += (bytes.len() - keep) as u64;
            self.save_dropped()?;
        }
        self.note(&bytes[..keep])
    }

    /// Appends masked output `text` that stands for `raw` bytes of the job's output, keeping
    /// the difference beside the log; returns the new size of the log.
    pub fn append_masked(&mut self, text: &[u8], raw: usize) -> std::io::Result<u64> {
        let size = self.append(text)?;
        self.masked.add(raw as i64 - text.len() as i64)?;
        Ok(size)
    }

    /// How many more output bytes the log stands for than it holds (negative for a moment when
    /// a mask is written before all of its secret has come).
    pub fn masked(&self) -> i64 {
        self.masked.value()
    }

    /// Appends the daemon's own text, whatever the limit; returns the new size of the log.
    fn note(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        if !bytes.is_empty() {
            self.file.write_all(bytes)?;
            self.written += bytes.len() as u64;
            self.at_line_start = bytes.ends_with(b"\n");
        }
        Ok(self.written)
    }

    /// Appends one line of the daemon's own, starting a new line when the job's output
    /// stopped in the middle of one.
    pub fn line(&mut self, text: &str) -> std::io::Result<u64> {
        let mut s = String::with_capacity(text.len() + 2);
        if !self.at_line_start {
            s.push('\n');
        }
        s.push_str(text);
        s.push('\n');
        self.note(s.as_bytes())
    }

    /// Size so far.
    pub fn size(&self) -> u64 {
        self.written
    }

    /// Output bytes not kept because of the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_log_starts_the_daemons_line_on_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("4.log");
        LogWriter::open(&path, 0).unwrap().append(b"half").unwrap();
        LogWriter::open(&path, 0)
            .unwrap()
            .line("[microci] back")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "half\n[microci] back\n");
    }

    #[test]
    fn output_past_the_limit_is_counted_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("3.log");
        let mut log = LogWriter::open(&path, 10).unwrap();
        log.line("[microci] hi").unwrap();
        assert_eq!(log.append(b"0123456").unwrap(), 20);
        assert_eq!(log.append(b"789abcdef").unwrap(), 23);
        assert_eq!(log.append(b"more").unwrap(), 23);
        assert_eq!(log.dropped(), 10);
        assert_eq!(log.line("end").unwrap(), 28);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "[microci] hi\n0123456789\nend\n");
        // Opened again (a daemon started again): the count goes on from where it was.
        let mut again = LogWriter::open(&path, 10).unwrap();
        assert_eq!(again.dropped(), 10);
        again.append(b"xy").unwrap();
        assert_eq!(again.dropped(), 12);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            mode & 0o040,
            "group may read, others nothing: {mode:o}"
        );
    }
}
