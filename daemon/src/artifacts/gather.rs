//! Copying a job's artifacts out of its ended container: one archive per root directory the
//! globs need, streamed from the engine into [`Collector`] on a blocking thread, the whole copy
//! bounded by a deadline. Returns the lines the job's log gets.

use super::collect::Collector;
use super::{ArtifactStore, Patterns};
use crate::runner::{ArchiveStream, Engine};
use bytes::Bytes;
use futures_util::StreamExt;
use std::io::Read;
use std::time::Duration;
use tokio::sync::mpsc;

/// Copies job `id`'s artifacts (`patterns`, at most `cap` bytes) out of `handle` into `store`
/// within `deadline`; always records a manifest, even an empty one, and returns the lines the
/// job's log gets (one per refusal, one per glob that matched nothing, a summary).
pub async fn gather<E: Engine>(
    engine: &E,
    handle: &E::Handle,
    store: &ArtifactStore,
    id: i64,
    patterns: Patterns,
    cap: u64,
    deadline: Duration,
) -> Vec<String> {
    let sources: Vec<String> = patterns.sources().map(str::to_string).collect();
    let roots = patterns.roots();
    let fresh = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.fresh_dir(id)).await
    };
    let dest = match fresh {
        Ok(Ok(dir)) => dir,
        Ok(Err(e)) => return vec![format!("artifacts: cannot create their directory: {e}")],
        Err(e) => return vec![format!("artifacts: cannot create their directory: {e}")],
    };
    let mut collector = Some(Collector::new(patterns, dest, cap));
    let mut lines = Vec::new();
    let copy = async {
        for root in &roots {
            let path = if root.is_empty() {
                "/repo".to_string()
            } else {
                format!("/repo/{root}")
            };
            let stream = match engine.archive(handle, &path).await {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    lines.push(format!("artifacts: cannot copy {path} out: {e}"));
                    return;
                }
            };
            let Some(c) = collector.take() else { return };
            let (c, error) = read_archive(c, stream, root.is_empty()).await;
            if let Some(e) = error {
                lines.push(format!("artifacts: copying {path} out failed: {e}"));
            }
            let full = c.as_ref().is_none_or(|c| c.full);
            collector = c;
            if full {
                return;
            }
        }
    };
    let timed_out = tokio::time::timeout(deadline, copy).await.is_err();
    if timed_out {
        lines.push(format!(
            "artifacts: copying stopped after {} (docker.helper_timeout){}",
            humantime::format_duration(deadline),
            if collector.is_some() {
                "; the files before are kept"
            } else {
                " in the middle of an archive; none are kept"
            }
        ));
    }
    let (kept, used) = match collector {
        Some(c) => {
            let mut notes: Vec<String> =
                c.notes.iter().map(|n| format!("artifacts: {n}")).collect();
            notes.append(&mut lines);
            lines = notes;
            for (glob, matched) in sources.iter().zip(&c.matched) {
                if !matched && !c.full && !timed_out {
                    lines.push(format!("artifacts: {glob:?} matched no file"));
                }
            }
            for a in &c.kept {
                lines.push(format!(
                    "artifact {} ({} bytes, sha256 {})",
                    a.name, a.size, a.sha256
                ));
            }
            (c.kept, c.used)
        }
        // The reader was abandoned mid-archive (the deadline) or failed: what it kept is not
        // known for sure, so nothing is listed.
        None => (Vec::new(), 0),
    };
    let count = kept.len();
    let saved = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.finish(id, sources, kept)).await
    };
    match saved {
        Ok(Ok(())) => lines.push(format!("artifacts: {count} kept, {used} bytes")),
        Ok(Err(e)) => lines.push(format!("artifacts: cannot record them: {e}")),
        Err(e) => lines.push(format!("artifacts: cannot record them: {e}")),
    }
    lines
}

/// Feeds one archive stream to the collector on a blocking thread; gives the collector back
/// (unless its thread died), with the first error (the stream's or the archive's).
async fn read_archive(
    mut collector: Collector,
    mut stream: ArchiveStream,
    of_repo: bool,
) -> (Option<Collector>, Option<String>) {
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let reader = tokio::task::spawn_blocking(move || {
        let result = collector.take(
            ChannelReader {
                rx,
                buf: Bytes::new(),
            },
            of_repo,
        );
        (collector, result)
    });
    let mut stream_error = None;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(bytes) => {
                // The reader stopped (a cap, or a broken archive): stop reading too.
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                stream_error = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    match reader.await {
        Ok((c, Ok(()))) => (Some(c), stream_error),
        Ok((c, Err(e))) => (Some(c), stream_error.or(Some(e.to_string()))),
        Err(e) => (None, Some(format!("the reader failed: {e}"))),
    }
}

/// A blocking [`Read`] over the bytes the async side sends.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    buf: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.buf = b,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}
