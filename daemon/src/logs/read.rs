//! Reading a log window (blocking): raw bytes, or text cut on a UTF-8 character boundary.

use microci_proto::{LogChunk, MAX_LOG_READ};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Reads up to `max` bytes of the log at `path` from `offset`, cut back to a UTF-8 character
/// boundary so a multi-byte character is never split between two chunks. A missing file reads
/// as empty (the job has printed nothing yet).
pub(super) fn chunk(path: &Path, id: i64, offset: u64, max: u32) -> std::io::Result<LogChunk> {
    let max = max.clamp(1, MAX_LOG_READ) as usize;
    let mut buf = Vec::with_capacity(max.min(64 * 1024));
    match std::fs::File::open(path) {
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

/// Up to `max` raw bytes of the log at `path` from `offset` (clamped to its size), and its size.
pub(super) fn raw(path: &Path, offset: u64, max: u64) -> std::io::Result<(Vec<u8>, u64)> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    f.seek(SeekFrom::Start(offset.min(size)))?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok((buf, size))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_never_split_characters() {
        let dir = tempfile::tempdir().unwrap();
        let text = "aé€😀b".repeat(100);
        std::fs::write(dir.path().join("1.log"), &text).unwrap();
        for max in 1..12u32 {
            let mut offset = 0;
            let mut out = String::new();
            loop {
                let c = chunk(&dir.path().join("1.log"), 1, offset, max).unwrap();
                if c.next_offset == offset {
                    // A window smaller than one character: widen it, as a client would.
                    let c = chunk(&dir.path().join("1.log"), 1, offset, 4).unwrap();
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
        let c = chunk(&dir.path().join("9.log"), 9, 0, 100).unwrap();
        assert_eq!((c.data.as_str(), c.next_offset), ("", 0));
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2.log"), b"ok\xff\xfe!").unwrap();
        let c = chunk(&dir.path().join("2.log"), 2, 0, 100).unwrap();
        assert_eq!(c.data, "ok\u{fffd}\u{fffd}!");
        assert_eq!(c.next_offset, 5);
    }
}
