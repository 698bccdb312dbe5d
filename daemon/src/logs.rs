//! Job logs: one append-only file per job, addressed by byte offset. Nothing here holds a whole
//! log in memory; readers take a window `[offset, offset + max)`.

use microci_proto::LogChunk;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Largest window one read returns (keeps a frame well under the protocol's cap).
pub const MAX_READ: u32 = 256 * 1024;

/// Reads up to `max` bytes of job `id`'s log from `offset`, cut back to a UTF-8 character
/// boundary so a multi-byte character is never split between two chunks. A missing file reads
/// as empty (the job has printed nothing yet).
pub fn read_chunk(logs_dir: &Path, id: i64, offset: u64, max: u32) -> std::io::Result<LogChunk> {
    let max = max.clamp(1, MAX_READ) as usize;
    let mut buf = Vec::with_capacity(max.min(64 * 1024));
    match std::fs::File::open(crate::store::log_path(logs_dir, id)) {
        Ok(mut f) => {
            f.seek(SeekFrom::Start(offset))?;
            f.take(max as u64).read_to_end(&mut buf)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Also at the end of the file: a live log may end inside a character whose rest is still
    // on its way; it is sent whole with the next read.
    let keep = utf8_safe_len(&buf);
    buf.truncate(keep);
    Ok(LogChunk {
        id,
        offset,
        next_offset: offset + keep as u64,
        data: String::from_utf8_lossy(&buf).into_owned(),
    })
}

/// Length of the longest prefix that does not end inside an incomplete UTF-8 sequence. Invalid
/// bytes are not our concern here (they become U+FFFD); only a sequence cut by the window is.
fn utf8_safe_len(buf: &[u8]) -> usize {
    let n = buf.len();
    for back in 1..=3.min(n) {
        let b = buf[n - back];
        if b & 0xC0 != 0x80 {
            // A lead byte `back` bytes from the end: does its sequence fit?
            let need = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if need > back { n - back } else { n };
        }
    }
    n
}

/// Appends to one job's log file, keeping at most `limit` bytes of the job's own output so one
/// job cannot fill the disk; the daemon's own lines always go in.
pub struct LogWriter {
    file: tokio::fs::File,
    written: u64,
    /// Output bytes still accepted (`u64::MAX` when there is no limit).
    room: u64,
    dropped: u64,
    /// Whether the last byte written ends a line (the daemon's own lines start on their own).
    at_line_start: bool,
}

impl LogWriter {
    /// Opens (creating, mode 0640) the log of job `id` for appending; `limit` caps the job's
    /// output in it (0: no cap).
    pub async fn open(logs_dir: &Path, id: i64, limit: u64) -> std::io::Result<LogWriter> {
        tokio::fs::create_dir_all(logs_dir).await?;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::store::FILE_MODE)
            .open(crate::store::log_path(logs_dir, id))
            .await?;
        let written = file.metadata().await?.len();
        let room = if limit == 0 {
            u64::MAX
        } else {
            limit.saturating_sub(written)
        };
        Ok(LogWriter {
            file,
            written,
            room,
            dropped: 0,
            at_line_start: true,
        })
    }

    /// Appends the job's output, as much as the limit still allows, and counts the rest as
    /// dropped; returns the new size of the log.
    pub async fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let keep = bytes.len().min(self.room.min(usize::MAX as u64) as usize);
        self.dropped += (bytes.len() - keep) as u64;
        self.room -= keep as u64;
        self.note(&bytes[..keep]).await
    }

    /// Appends the daemon's own text, whatever the limit; returns the new size of the log.
    pub async fn note(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        if !bytes.is_empty() {
            self.file.write_all(bytes).await?;
            // tokio hands the write to a blocking thread and returns; flushing waits for it, so
            // a reader told "the log grew" finds the bytes in the file.
            self.file.flush().await?;
            self.written += bytes.len() as u64;
            self.at_line_start = bytes.ends_with(b"\n");
        }
        Ok(self.written)
    }

    /// Appends one line of the daemon's own, starting a new line when the job's output
    /// stopped in the middle of one.
    pub async fn line(&mut self, text: &str) -> std::io::Result<u64> {
        let mut s = String::with_capacity(text.len() + 2);
        if !self.at_line_start {
            s.push('\n');
        }
        s.push_str(text);
        s.push('\n');
        self.note(s.as_bytes()).await
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

    #[tokio::test]
    async fn output_past_the_limit_is_counted_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::open(dir.path(), 3, 10).await.unwrap();
        log.note(b"[microci] hi\n").await.unwrap();
        assert_eq!(log.append(b"0123456").await.unwrap(), 20);
        assert_eq!(log.append(b"789abcdef").await.unwrap(), 23);
        assert_eq!(log.append(b"more").await.unwrap(), 23);
        assert_eq!(log.dropped(), 10);
        assert_eq!(log.line("end").await.unwrap(), 28);
        let text = std::fs::read_to_string(crate::store::log_path(dir.path(), 3)).unwrap();
        assert_eq!(text, "[microci] hi\n0123456789\nend\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(crate::store::log_path(dir.path(), 3))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            mode & 0o040,
            "group may read, others nothing: {mode:o}"
        );
    }

    #[test]
    fn windows_never_split_characters() {
        let dir = tempfile::tempdir().unwrap();
        let text = "aé€😀b".repeat(100);
        std::fs::write(crate::store::log_path(dir.path(), 1), &text).unwrap();
        for max in 1..12u32 {
            let mut offset = 0;
            let mut out = String::new();
            loop {
                let c = read_chunk(dir.path(), 1, offset, max).unwrap();
                if c.next_offset == offset {
                    // A window smaller than one character: widen it, as a client would.
                    let c = read_chunk(dir.path(), 1, offset, 4).unwrap();
                    if c.next_offset == offset {
                        break;
                    }
                    out.push_str(&c.data);
                    offset = c.next_offset;
                    continue;
                }
                out.push_str(&c.data);
                offset = c.next_offset;
            }
            assert_eq!(out, text, "window {max}");
        }
    }

    #[test]
    fn missing_log_reads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let c = read_chunk(dir.path(), 9, 0, 100).unwrap();
        assert_eq!((c.data.as_str(), c.next_offset), ("", 0));
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(crate::store::log_path(dir.path(), 2), b"ok\xff\xfe!").unwrap();
        let c = read_chunk(dir.path(), 2, 0, 100).unwrap();
        assert_eq!(c.data, "ok\u{fffd}\u{fffd}!");
        assert_eq!(c.next_offset, 5);
    }
}
