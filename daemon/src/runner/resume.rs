//! Picking a container's output up where the log stopped: the engine replays the entries it
//! holds, each stamped with when it was written; the bytes the log already has are skipped, and
//! when the engine no longer holds some of them (its log rotated) the gap is said, not hidden.

use super::{EngineError, OutputStream, Piece, Resume};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::time::{Duration, SystemTime};

/// How much later than the log's modification time a logged entry may be stamped: the file's
/// time comes from the kernel's coarse clock, the engine's stamp from a precise one.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// The engine's timestamped entries (`2026-12-01T10:00:00.123456789Z payload`) as output,
/// without the first `from.skip` bytes. Every byte in the log was stamped before the log was
/// last written, so meeting a later stamp (or the end) with bytes still to skip means the engine
/// lost the start of what is missing: [`Piece::Lost`] goes there and the rest follows.
pub fn skip_logged<S>(entries: S, from: Resume) -> OutputStream
where
    S: Stream<Item = Result<Bytes, EngineError>> + Send + 'static,
{
    let until = from.written_until + CLOCK_SLACK;
    let state = Skip {
        left: from.skip,
        until,
    };
    futures_util::stream::unfold(
        (Box::pin(entries), state, false),
        |(mut entries, mut state, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match entries.next().await {
                    Some(Ok(entry)) => {
                        let pieces: Vec<_> = state.take(&entry).into_iter().map(Ok).collect();
                        if !pieces.is_empty() {
                            return Some((
                                futures_util::stream::iter(pieces),
                                (entries, state, false),
                            ));
                        }
                    }
                    Some(Err(e)) => {
                        return Some((
                            futures_util::stream::iter(vec![Err(e)]),
                            (entries, state, true),
                        ));
                    }
                    None => {
                        // The container's output ended before the log's did: the engine lost
                        // some of what the log has, and perhaps more.
                        let lost = (state.left > 0).then_some(Ok(Piece::Lost));
                        return lost.map(|l| {
                            (futures_util::stream::iter(vec![l]), (entries, state, true))
                        });
                    }
                }
            }
        },
    )
    .flatten()
    .boxed()
}

/// What is left to skip.
struct Skip {
    left: u64,
    until: SystemTime,
}

impl Skip {
    /// The output one entry adds to the log.
    fn take(&mut self, entry: &[u8]) -> Vec<Piece> {
        let (stamp, payload) = split(entry);
        if self.left == 0 {
            return output(payload);
        }
        let logged = stamp.is_some_and(|t| t <= self.until);
        if logged {
            let n = (payload.len() as u64).min(self.left) as usize;
            self.left -= n as u64;
            return output(&payload[n..]);
        }
        // Written after the log was, yet bytes remain to skip: they are gone from the engine.
        self.left = 0;
        let mut pieces = vec![Piece::Lost];
        pieces.extend(output(payload));
        pieces
    }
}

fn output(bytes: &[u8]) -> Vec<Piece> {
    if bytes.is_empty() {
        Vec::new()
    } else {
        vec![Piece::Output(Bytes::copy_from_slice(bytes))]
    }
}

/// The entry's stamp (when it parses) and its payload.
fn split(entry: &[u8]) -> (Option<SystemTime>, &[u8]) {
    let Some(space) = entry.iter().position(|&b| b == b' ') else {
        return (None, entry);
    };
    let stamp = std::str::from_utf8(&entry[..space]).ok().and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    });
    match stamp {
        Some(t) => (Some(t.into()), &entry[space + 1..]),
        None => (None, entry),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn entry(secs: u64, text: &str) -> Result<Bytes, EngineError> {
        let t = time::OffsetDateTime::from(at(secs))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        Ok(Bytes::from(format!("{t} {text}")))
    }

    async fn resumed(entries: Vec<Result<Bytes, EngineError>>, skip: u64, until: u64) -> String {
        let from = Resume {
            skip,
            written_until: at(until),
        };
        let pieces: Vec<_> = skip_logged(futures_util::stream::iter(entries), from)
            .collect()
            .await;
        pieces
            .into_iter()
            .map(|p| match p.unwrap() {
                Piece::Output(b) => String::from_utf8(b.to_vec()).unwrap(),
                Piece::Lost => "<lost>".into(),
            })
            .collect()
    }

    #[tokio::test]
    async fn the_logged_bytes_are_skipped_exactly_even_inside_an_entry() {
        let entries = || vec![entry(100, "1\n"), entry(101, "22\n"), entry(110, "333\n")];
        assert_eq!(resumed(entries(), 0, 105).await, "1\n22\n333\n");
        assert_eq!(resumed(entries(), 4, 105).await, "\n333\n");
        assert_eq!(resumed(entries(), 5, 105).await, "333\n");
        // Logged output may carry a later stamp than the file (coarse clock): still skipped.
        assert_eq!(resumed(entries(), 7, 109).await, "3\n");
    }

    #[tokio::test]
    async fn output_the_engine_no_longer_holds_is_said() {
        // The log holds 9 bytes written up to t=105; the engine rotated and holds only what
        // came at t=200.
        let rotated = vec![entry(200, "after\n")];
        assert_eq!(resumed(rotated, 9, 105).await, "<lost>after\n");
        // The job ended and the engine holds less than the log: lost, at the end.
        let short = vec![entry(100, "1\n")];
        assert_eq!(resumed(short, 9, 105).await, "<lost>");
    }

    #[tokio::test]
    async fn an_unstamped_entry_is_output_and_errors_end_the_stream() {
        let entries = vec![
            Ok(Bytes::from_static(b"nostamp\n")),
            Err(EngineError::Engine("gone".into())),
            entry(1, "never\n"),
        ];
        let from = Resume {
            skip: 0,
            written_until: at(0),
        };
        let pieces: Vec<_> = skip_logged(futures_util::stream::iter(entries), from)
            .collect()
            .await;
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert!(matches!(&pieces[0], Ok(Piece::Output(b)) if &b[..] == b"nostamp\n"));
        assert!(pieces[1].is_err());
    }
}
