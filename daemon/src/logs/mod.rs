//! Job logs: one append-only file per job, addressed by byte offset. [`LogStore`] is the only
//! owner of those files — their paths, sizes, windows of text or raw bytes, and writers — and runs
//! the blocking reads off the async threads. Nothing holds a whole log in memory.

mod masked;
mod read;
mod writer;

pub use writer::LogWriter;

use microci_proto::LogChunk;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file system said no.
    #[error("cannot read the log: {0}")]
    Io(#[from] std::io::Error),
    /// The blocking read task died.
    #[error("cannot read the log: {0}")]
    Task(String),
}

/// The directory of job logs; cheap to clone.
#[derive(Debug, Clone)]
pub struct LogStore {
    dir: Arc<PathBuf>,
}

impl LogStore {
    /// Logs under `dir`, which must exist (the state directory's layout creates it).
    pub fn new(dir: PathBuf) -> LogStore {
        LogStore { dir: Arc::new(dir) }
    }

    fn path(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    /// Bytes in job `id`'s log now (0 before it has any).
    pub fn size(&self, id: i64) -> u64 {
        std::fs::metadata(self.path(id))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// When job `id`'s log was last written.
    pub fn modified(&self, id: i64) -> Option<std::time::SystemTime> {
        std::fs::metadata(self.path(id))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Removes job `id`'s log and what is kept beside it (retention); blocking.
    pub fn remove(&self, id: i64) {
        let log = self.path(id);
        let _ = std::fs::remove_file(log.with_extension("dropped"));
        let _ = std::fs::remove_file(log.with_extension("masked"));
        let _ = std::fs::remove_file(log);
    }

    /// A writer appending to job `id`'s log, keeping at most `limit` bytes of its output (0: no
    /// limit).
    pub fn writer(&self, id: i64, limit: u64) -> std::io::Result<LogWriter> {
        LogWriter::open(&self.path(id), limit)
    }

    /// Up to `max` bytes (at most [`microci_proto::MAX_LOG_READ`]) of job `id`'s log from
    /// `offset`, as text cut on a character boundary: continue from `next_offset`.
    pub async fn chunk(&self, id: i64, offset: u64, max: u32) -> Result<LogChunk, LogError> {
        let path = self.path(id);
        blocking(move || read::chunk(&path, id, offset, max)).await
    }

    /// Up to `max` raw bytes of job `id`'s log from `offset`, and the log's size.
    pub async fn raw(&self, id: i64, offset: u64, max: u64) -> Result<(Vec<u8>, u64), LogError> {
        let path = self.path(id);
        blocking(move || read::raw(&path, offset, max)).await
    }

    /// The directory, for tests that look at the files themselves.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LogError::Task(e.to_string()))?
        .map_err(LogError::Io)
}
